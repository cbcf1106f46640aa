package meterbus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/shouwang-care/shouwang/firmware-protocol/cjt188"
	"github.com/shouwang-care/shouwang/firmware-protocol/dlt645"
)

var (
	// errNoAnswer: nothing usable arrived before the response timeout.
	errNoAnswer = errors.New("no answer")
	// errGarbled: a frame arrived but failed its checksum (line noise, a
	// collision, a meter browning out); worth a retry.
	errGarbled = errors.New("garbled reply (checksum mismatch)")
)

// portError is a failure of the line itself (unplugged adapter, hung-up pty):
// the bus closes the port and reopens it.
type portError struct {
	op  string
	err error
}

func (e *portError) Error() string { return fmt.Sprintf("%s: %v", e.op, e.err) }
func (e *portError) Unwrap() error { return e.err }

// maxBuffered bounds what a reader keeps while looking for a frame: a line
// spewing noise must not grow memory.
const maxBuffered = 4096

// frameReader pulls frames of one protocol out of a port, skipping wake-up
// bytes, echoes and noise.
type frameReader struct {
	port    Port
	proto   string
	buf     []byte
	chunk   []byte
	garbled bool // a complete frame with a bad checksum was seen
}

func newFrameReader(p Port, proto string) *frameReader {
	return &frameReader{port: p, proto: proto, buf: make([]byte, 0, 512), chunk: make([]byte, 256)}
}

// reset forgets buffered bytes; call it after sending a request.
func (r *frameReader) reset() {
	r.buf = r.buf[:0]
	r.garbled = false
}

func (r *frameReader) find(buf []byte) (int, int, bool) {
	if r.proto == DLT645 {
		return dlt645.Find(buf)
	}
	return cjt188.Find(buf)
}

// hasChecksumError reports whether some 0x68 in buf starts a complete frame
// whose checksum is wrong.
func (r *frameReader) hasChecksumError(buf []byte) bool {
	for i := 0; i < len(buf); i++ {
		k := bytes.IndexByte(buf[i:], 0x68)
		if k < 0 {
			return false
		}
		i += k
		var err error
		if r.proto == DLT645 {
			var f dlt645.Frame
			_, err = dlt645.Decode(buf[i:], &f)
			if errors.Is(err, dlt645.ErrChecksum) {
				return true
			}
		} else {
			var f cjt188.Frame
			_, err = cjt188.Decode(buf[i:], &f)
			if errors.Is(err, cjt188.ErrChecksum) {
				return true
			}
		}
	}
	return false
}

// next returns the next valid frame (0x68 … 0x16, valid until the next call).
// At the deadline it returns errGarbled if a corrupt frame was seen, else
// errNoAnswer. A corrupt frame with nothing after it that could still become a
// frame ends the wait early: the answer has come and gone.
func (r *frameReader) next(ctx context.Context, deadline time.Time) ([]byte, error) {
	for {
		start, end, incomplete := r.find(r.buf)
		if end > start {
			frame := r.buf[start:end]
			// Keep the rest for the next call; the caller is done with frame
			// before then, and the copy is within one buffer.
			rest := len(r.buf) - end
			out := append([]byte(nil), frame...)
			copy(r.buf, r.buf[end:])
			r.buf = r.buf[:rest]
			return out, nil
		}
		if !r.garbled && r.hasChecksumError(r.buf) {
			r.garbled = true
		}
		if !incomplete {
			r.buf = r.buf[:0]
			if r.garbled {
				return nil, errGarbled
			}
		} else if start > 0 {
			n := copy(r.buf, r.buf[start:])
			r.buf = r.buf[:n]
		}
		if len(r.buf) > maxBuffered {
			n := copy(r.buf, r.buf[len(r.buf)-maxBuffered/2:])
			r.buf = r.buf[:n]
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if !time.Now().Before(deadline) {
			if r.garbled {
				return nil, errGarbled
			}
			return nil, errNoAnswer
		}
		t0 := time.Now()
		n, err := r.port.Read(r.chunk)
		r.buf = append(r.buf, r.chunk[:n]...)
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, &portError{op: "read", err: err}
		}
		if n == 0 && time.Since(t0) < 5*time.Millisecond {
			// A port without a read timeout, or a hung-up tty, returns at
			// once: do not spin a core until the deadline.
			if err := sleepCtx(ctx, 20*time.Millisecond); err != nil {
				return nil, err
			}
		}
	}
}

// sleepCtx waits d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
