package dlt645

import (
	"io"

	"github.com/shouwang-care/shouwang/firmware-protocol/framing"
)

// Find locates the first valid frame in buf and returns (start, end, incomplete):
// start is the index of its first 0x68 and end the index just past its 0x16, so
// buf[:start] was skipped (wake-up bytes, line noise, echoes of broken frames). If
// no complete frame is found, incomplete reports whether buf ends with what could
// still become one (from start on); callers reading a stream should then read more.
func Find(buf []byte) (int, int, bool) {
	var f Frame
	return framing.Find(buf, start, func(b []byte) (int, bool, bool) {
		n, p := decode(b, &f)
		return n, p.what == whatNone, p.what == whatTruncated
	})
}

// Split is a bufio.SplitFunc that yields one raw frame (0x68 … 0x16) per token,
// skipping wake-up bytes and garbage. Scanner wraps it and also reports how many
// bytes were skipped.
var Split = framing.SplitFunc(Find)

// Scanner reads frames from a byte stream such as a serial port, resynchronising
// after garbage or partial frames.
type Scanner = framing.Scanner[Frame]

// NewScanner returns a Scanner reading from r.
func NewScanner(r io.Reader) *Scanner {
	return framing.NewScanner(r, MaxFrameLen, Find, Decode)
}
