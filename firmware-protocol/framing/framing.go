// Package framing finds frames in a noisy byte stream for the meter protocols, which
// share their shape (a 0x68 start, a length, a checksum, a 0x16 end) but not their
// layout. Each codec supplies how to try a frame at a position; this package does
// the resynchronisation: skip garbage and wake-up bytes, wait for a frame that runs
// off the end of the buffer, but let a later complete frame win over a garbage 0x68
// that claims a large length.
package framing

import (
	"bufio"
	"bytes"
	"io"
)

// Try attempts a frame at the start of b: n is its length when complete; truncated
// reports that b ends before a frame that may yet be valid.
type Try func(b []byte) (n int, complete, truncated bool)

// Find locates the first valid frame in buf, starting at a startByte. start is
// where it begins and end just past it, so buf[:start] was skipped. With no complete
// frame, incomplete reports whether buf ends with what could still become one (from
// start on); a stream reader should then read more.
func Find(buf []byte, startByte byte, try Try) (start, end int, incomplete bool) {
	firstTruncated := -1
	for from := 0; from < len(buf); {
		k := bytes.IndexByte(buf[from:], startByte)
		if k < 0 {
			break
		}
		s := from + k
		n, complete, truncated := try(buf[s:])
		if complete {
			return s, s + n, false
		}
		if truncated && firstTruncated < 0 {
			firstTruncated = s
		}
		from = s + 1
	}
	if firstTruncated >= 0 {
		return firstTruncated, firstTruncated, true
	}
	return len(buf), len(buf), false
}

// SplitFunc makes a bufio.SplitFunc yielding one raw frame per token from a codec's
// Find, skipping garbage.
func SplitFunc(find func([]byte) (int, int, bool)) bufio.SplitFunc {
	return func(data []byte, atEOF bool) (int, []byte, error) {
		s, e, incomplete := find(data)
		switch {
		case e > s:
			return e, data[s:e], nil
		case incomplete && !atEOF:
			return s, nil, nil // drop what precedes the candidate, wait for more
		default:
			return len(data), nil, nil // garbage, or a partial frame at end of input
		}
	}
}

// Scanner reads frames of type F from a byte stream such as a serial port,
// resynchronising after garbage or partial frames.
type Scanner[F any] struct {
	sc      *bufio.Scanner
	decode  func([]byte, *F) (int, error)
	frame   F
	skipped int
	pending int
	err     error
}

// NewScanner returns a Scanner over r for a codec's Find and Decode; maxFrame
// bounds the buffer.
func NewScanner[F any](r io.Reader, maxFrame int, find func([]byte) (int, int, bool), decode func([]byte, *F) (int, error)) *Scanner[F] {
	s := &Scanner[F]{sc: bufio.NewScanner(r), decode: decode}
	s.sc.Buffer(make([]byte, 0, 2*maxFrame), 4*maxFrame)
	split := SplitFunc(find)
	s.sc.Split(func(data []byte, atEOF bool) (int, []byte, error) {
		adv, tok, err := split(data, atEOF)
		if tok == nil {
			s.pending += adv
		} else {
			s.pending += adv - len(tok)
		}
		return adv, tok, err
	})
	return s
}

// Scan advances to the next valid frame. It returns false at the end of input or
// on a read error (see Err).
func (s *Scanner[F]) Scan() bool {
	s.pending = 0
	if !s.sc.Scan() {
		s.skipped = s.pending
		s.err = s.sc.Err()
		return false
	}
	s.skipped = s.pending
	// find already validated the token, so this cannot fail.
	if _, err := s.decode(s.sc.Bytes(), &s.frame); err != nil {
		s.err = err
		return false
	}
	return true
}

// Frame returns the frame found by the last Scan; the next Scan overwrites it.
func (s *Scanner[F]) Frame() *F { return &s.frame }

// Bytes returns the raw frame found by the last Scan (0x68 … 0x16).
func (s *Scanner[F]) Bytes() []byte { return s.sc.Bytes() }

// Skipped returns how many bytes were discarded before the current frame (or, after
// Scan returned false, at the end of the input).
func (s *Scanner[F]) Skipped() int { return s.skipped }

// Err returns the first read error, if any.
func (s *Scanner[F]) Err() error { return s.err }
