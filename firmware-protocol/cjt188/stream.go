package cjt188

import (
	"bufio"
	"bytes"
	"io"
)

// Find locates the first valid frame in buf. start is the index of its first
// 0x68 and end the index just past its 0x16, so buf[:start] was skipped
// (wake-up bytes, line noise, echoes of broken frames). If no complete frame is
// found, incomplete reports whether buf ends with what could still become one
// (from index start on); callers reading a stream should then read more.
func Find(buf []byte) (start, end int, incomplete bool) {
	var f Frame
	return find(buf, &f)
}

func find(buf []byte, f *Frame) (int, int, bool) {
	// A candidate that runs off the end might be real, but a later complete
	// frame wins: a garbage 0x68 followed by a large "length" byte must not
	// stall a stream.
	firstTruncated := -1
	from := 0
	for from < len(buf) {
		k := bytes.IndexByte(buf[from:], start)
		if k < 0 {
			break
		}
		s := from + k
		n, p := decode(buf[s:], f)
		if p.what == whatNone {
			return s, s + n, false
		}
		if p.what == whatTruncated && firstTruncated < 0 {
			firstTruncated = s
		}
		from = s + 1
	}
	if firstTruncated >= 0 {
		return firstTruncated, firstTruncated, true
	}
	return len(buf), len(buf), false
}

// Split is a bufio.SplitFunc that yields one raw frame (0x68 … 0x16) per token,
// skipping wake-up bytes and garbage. Scanner wraps it and also reports how many
// bytes were skipped.
func Split(data []byte, atEOF bool) (advance int, token []byte, err error) {
	s, e, incomplete := Find(data)
	switch {
	case e > s:
		return e, data[s:e], nil
	case incomplete && !atEOF:
		return s, nil, nil // drop what precedes the candidate, wait for more
	default:
		return len(data), nil, nil // garbage, or a partial frame at end of input
	}
}

// Scanner reads frames from a byte stream such as a serial port, resynchronising
// after garbage or partial frames.
type Scanner struct {
	sc      *bufio.Scanner
	frame   Frame
	skipped int
	pending int
	err     error
}

// NewScanner returns a Scanner reading from r.
func NewScanner(r io.Reader) *Scanner {
	s := &Scanner{sc: bufio.NewScanner(r)}
	s.sc.Buffer(make([]byte, 0, 2*MaxFrameLen), 4*MaxFrameLen)
	s.sc.Split(func(data []byte, atEOF bool) (int, []byte, error) {
		adv, tok, err := Split(data, atEOF)
		if tok == nil {
			s.pending += adv
		} else {
			s.pending += adv - len(tok)
		}
		return adv, tok, err
	})
	return s
}

// Scan advances to the next valid frame. It returns false at the end of input
// or on a read error (see Err).
func (s *Scanner) Scan() bool {
	s.pending = 0
	if !s.sc.Scan() {
		s.skipped = s.pending
		s.err = s.sc.Err()
		return false
	}
	s.skipped = s.pending
	// Split already validated the token, so this cannot fail.
	if _, err := Decode(s.sc.Bytes(), &s.frame); err != nil {
		s.err = err
		return false
	}
	return true
}

// Frame returns the frame found by the last Scan. It is overwritten by the next Scan.
func (s *Scanner) Frame() *Frame { return &s.frame }

// Bytes returns the raw frame found by the last Scan (0x68 … 0x16).
func (s *Scanner) Bytes() []byte { return s.sc.Bytes() }

// Skipped returns how many bytes were discarded before the current frame (or,
// after Scan returned false, at the end of the input).
func (s *Scanner) Skipped() int { return s.skipped }

// Err returns the first read error, if any.
func (s *Scanner) Err() error { return s.err }
