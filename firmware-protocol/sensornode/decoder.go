package sensornode

import (
	"bytes"
	"io"
)

// Decoder finds frames in a noisy byte stream, such as a serial port wired
// to a transparent radio module. It resynchronises on the sync bytes, skips
// everything that is not a valid frame and counts what it skipped.
//
// Configure the port with a read timeout (tarm/serial: Config.ReadTimeout,
// e.g. 100 ms). A read that returns no bytes is the Decoder's only sign that
// the line went quiet, and it uses it to release a valid frame held behind a
// false sync whose (corrupted) length points past the end of the data.
type Decoder struct {
	r       io.Reader
	buf     [4 * MaxFrameLen]byte
	start   int   // first unconsumed byte in buf
	end     int   // end of buffered data
	pos     int64 // stream offset of buf[start]
	skipped int64
	pending error // reader error to report once buffered frames are out
}

// NewDecoder returns a Decoder reading from r.
func NewDecoder(r io.Reader) *Decoder { return &Decoder{r: r} }

// Skipped returns how many stream bytes so far were not part of a returned
// frame: noise, preambles, corrupted frames and frames of unknown versions.
func (d *Decoder) Skipped() int64 { return d.skipped }

// maxEmptyReads mirrors bufio: a reader that keeps returning 0, nil is broken.
const maxEmptyReads = 100

// Next returns the next valid frame.
//
// A *FrameError reports a frame that had a plausible header but was rejected
// (bad CRC, unknown version or kind); the Decoder has already skipped it and
// Next may be called again. Any other error comes from the reader and is
// returned as is, after the frames buffered before it; bytes of an
// incomplete frame stay buffered, so calling Next again after a timeout
// (tarm/serial reports one as io.EOF) loses nothing.
func (d *Decoder) Next() (Frame, error) {
	empty := 0
	for {
		if f, err, ok := d.scan(false); ok {
			return f, err
		}
		if d.pending != nil {
			// The line is idle or gone: an incomplete candidate at the head
			// will not complete soon, so look past it.
			if f, err, ok := d.scan(true); ok {
				return f, err
			}
			err := d.pending
			d.pending = nil
			return Frame{}, err
		}
		if d.start > 0 {
			n := copy(d.buf[:], d.buf[d.start:d.end])
			d.start, d.end = 0, n
		}
		n, err := d.r.Read(d.buf[d.end:])
		d.end += n
		switch {
		case err != nil:
			d.pending = err
		case n == 0:
			if f, err, ok := d.scan(true); ok {
				return f, err
			}
			if empty++; empty >= maxEmptyReads {
				return Frame{}, io.ErrNoProgress
			}
		default:
			empty = 0
		}
	}
}

// skip drops n bytes from the head of the buffer as garbage.
func (d *Decoder) skip(n int) {
	d.start += n
	d.pos += int64(n)
	d.skipped += int64(n)
}

// consume drops n bytes from the head of the buffer as a delivered frame.
func (d *Decoder) consume(n int) {
	d.start += n
	d.pos += int64(n)
}

var syncBytes = []byte{Sync0, Sync1}

// scan looks for a frame in the buffered bytes. ok is false when it needs
// more input. Decisions depend only on the buffered bytes, never on how the
// reader chunked them, except in idle mode.
func (d *Decoder) scan(idle bool) (f Frame, err error, ok bool) {
	for {
		b := d.buf[d.start:d.end]
		i := bytes.Index(b, syncBytes)
		if i < 0 {
			// Keep a trailing first sync byte: its partner may be in the next read.
			keep := 0
			if len(b) > 0 && b[len(b)-1] == Sync0 {
				keep = 1
			}
			d.skip(len(b) - keep)
			return Frame{}, nil, false
		}
		d.skip(i)
		b = b[i:]
		if len(b) <= offKind {
			return Frame{}, nil, false
		}
		if !plausible(b) {
			d.skip(1)
			continue
		}
		n := headerLen + int(b[offLen]) + crcLen
		if len(b) < n {
			if idle {
				if j := nextValid(b); j > 0 {
					d.skip(j)
					continue
				}
			}
			return Frame{}, nil, false
		}
		f, _, err := Decode(b[:n])
		if err == nil {
			d.consume(n)
			return f, nil, true
		}
		fe, isFE := err.(*FrameError)
		if !isFE { // Decode only returns *FrameError; be safe rather than panic
			d.skip(1)
			return Frame{}, err, true
		}
		fe.Offset += d.pos
		if fe.Err == ErrCRC {
			// The length byte may be the corrupted one: resume right after
			// the sync instead of trusting it.
			d.skip(1)
		} else {
			// CRC-valid but not for us (newer version, unknown kind):
			// the length is trustworthy, so skip the whole frame.
			d.skip(n)
		}
		return Frame{}, fe, true
	}
}

// nextValid returns the offset of the first complete, valid frame after the
// head of b, or 0 if there is none.
func nextValid(b []byte) int {
	for j := 1; j < len(b); {
		k := bytes.Index(b[j:], syncBytes)
		if k < 0 {
			return 0
		}
		j += k
		if _, _, err := Decode(b[j:]); err == nil {
			return j
		}
		j++
	}
	return 0
}
