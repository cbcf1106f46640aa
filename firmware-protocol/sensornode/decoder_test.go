package sensornode

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

// cat joins byte groups so stream tests read like annotated captures.
func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// drain reads d until the reader's error, collecting frames and frame errors.
func drain(t *testing.T, d *Decoder) (frames []Frame, ferrs []*FrameError, final error) {
	t.Helper()
	for range 10000 {
		f, err := d.Next()
		var fe *FrameError
		switch {
		case err == nil:
			frames = append(frames, f)
		case errors.As(err, &fe):
			ferrs = append(ferrs, fe)
		default:
			return frames, ferrs, err
		}
	}
	t.Fatal("decoder did not terminate")
	return
}

func TestDecoderStream(t *testing.T) {
	sos := AppendEvent(nil, 0x0A0B0C0D, 1, EventSOS, 87, 0)
	sosRetx := AppendEvent(nil, 0x0A0B0C0D, 1, EventSOS, 87, FlagRetransmit)
	motion := AppendEvent(nil, 0x00C0FFEE, 3, EventMotion, 90, 0)
	ack := AppendAck(nil, 0x0A0B0C0D, 1)
	corrupt := append([]byte(nil), motion...)
	corrupt[8] ^= 0x10 // bit error in the node ID
	v2 := []byte{
		0xA5, 0x5A, // sync
		0x02,             // version 2
		0x03,             // length 3
		0x01, 0x02, 0x03, // body
		0xAF, 0x62, // valid CRC
	}

	tests := []struct {
		name     string
		in       []byte
		frames   int
		errs     []error
		skipped  int64
		errAt    []int64 // stream offsets of the frame errors
		buffered int
	}{
		{"clean", cat(sos, ack, motion), 3, nil, 0, nil, 0},
		{
			"noise and preamble",
			cat(
				[]byte{0x00, 0xFF, 0x5A, 0x55, 0xA5, 0xA5, 0x01, 0x3F}, // line noise, incl. a lone A5
				[]byte{0x55, 0x55, 0x55, 0x55},                         // OOK preamble
				sos,
				[]byte{0xA5, 0x5A, 0x01, 0x08}, // false sync: next byte A5 is no v1 kind
				sosRetx,
				[]byte{0xA5}, // may be the start of the next frame: kept
			),
			2, nil, 8 + 4 + 4, nil, 1,
		},
		{
			"idle-line false syncs",
			cat(
				[]byte{0xA5, 0x5A, 0x00, 0x0A}, // version 0 never exists
				[]byte{0xA5, 0x5A, 0xFF, 0x0A}, // nor version 255
				[]byte{0xA5, 0x5A, 0x01, 0x00}, // length 0
				[]byte{0xA5, 0x5A, 0x01, 0x40}, // length 64 > 52
				motion,
			),
			1, nil, 16, nil, 0,
		},
		{
			"corrupted frame then good one",
			cat(corrupt, motion),
			1, []error{ErrCRC}, 16, []int64{14}, 0,
		},
		{
			"dropped byte inside a frame",
			cat(sos[:9], sos[10:], motion), // one node byte lost on air
			1, []error{ErrCRC}, 15, []int64{14}, 0,
		},
		{
			"duplicated byte inside a frame",
			cat(sos[:9], sos[8:], motion),
			1, []error{ErrCRC}, 17, []int64{14}, 0,
		},
		{
			"newer version skipped whole",
			cat(sos, v2, motion),
			2, []error{ErrVersion}, int64(len(v2)), []int64{16 + 2}, 0,
		},
		{
			"truncated at end stays buffered",
			cat(sos, motion[:7]),
			1, nil, 0, nil, 7,
		},
		{
			"sync split across the end",
			cat(motion, []byte{0xA5}),
			1, nil, 0, nil, 1,
		},
	}
	readers := map[string]func(io.Reader) io.Reader{
		"whole":    func(r io.Reader) io.Reader { return r },
		"one-byte": iotest.OneByteReader,
		"half":     iotest.HalfReader,
	}
	for _, tc := range tests {
		for rname, wrap := range readers {
			t.Run(tc.name+"/"+rname, func(t *testing.T) {
				d := NewDecoder(wrap(bytes.NewReader(tc.in)))
				frames, ferrs, final := drain(t, d)
				if final != io.EOF {
					t.Fatalf("final error %v, want EOF", final)
				}
				if len(frames) != tc.frames {
					t.Errorf("got %d frames %v, want %d", len(frames), frames, tc.frames)
				}
				if len(ferrs) != len(tc.errs) {
					t.Fatalf("got frame errors %v, want %v", ferrs, tc.errs)
				}
				for i, fe := range ferrs {
					if !errors.Is(fe, tc.errs[i]) || fe.Offset != tc.errAt[i] {
						t.Errorf("error %d = %v (offset %d), want %v at %d", i, fe, fe.Offset, tc.errs[i], tc.errAt[i])
					}
				}
				if d.Skipped() != tc.skipped {
					t.Errorf("skipped %d, want %d", d.Skipped(), tc.skipped)
				}
				if got := d.end - d.start; got != tc.buffered {
					t.Errorf("buffered %d, want %d", got, tc.buffered)
				}
				// Every stream byte is accounted for exactly once.
				used := int64(0)
				for _, f := range frames {
					used += int64(len(encode(f)))
				}
				if used+d.Skipped()+int64(tc.buffered) != int64(len(tc.in)) {
					t.Errorf("frames %d + skipped %d + buffered %d != %d input bytes",
						used, d.Skipped(), tc.buffered, len(tc.in))
				}
			})
		}
	}
}

// chunkReader hands out the given chunks, then EOF; a nil chunk is a read
// timeout as tarm/serial reports it on Linux: 0 bytes and io.EOF.
type chunkReader struct{ chunks [][]byte }

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.chunks) == 0 {
		return 0, io.EOF
	}
	c := r.chunks[0]
	r.chunks = r.chunks[1:]
	if c == nil {
		return 0, io.EOF
	}
	return copy(p, c), nil
}

func TestDecoderTimeoutLosesNothing(t *testing.T) {
	sos := AppendEvent(nil, 0x0A0B0C0D, 1, EventSOS, 87, 0)
	r := &chunkReader{chunks: [][]byte{sos[:5], nil, sos[5:11], nil, sos[11:]}}
	d := NewDecoder(r)
	for i := range 2 {
		if _, err := d.Next(); err != io.EOF {
			t.Fatalf("read %d: got %v, want the timeout's io.EOF", i, err)
		}
	}
	f, err := d.Next()
	if err != nil || f.Event != EventSOS {
		t.Fatalf("after timeouts: %v %v", f, err)
	}
}

func TestDecoderIdleReleasesFrameBehindFalseSync(t *testing.T) {
	// Noise that looks like a v1 event header with a long (corrupted)
	// length makes the decoder wait for 52 body bytes. When the line goes
	// quiet the SOS behind it must still come out, not wait for more noise.
	sos := AppendEvent(nil, 0x0A0B0C0D, 1, EventSOS, 87, 0)
	falseSync := []byte{
		0xA5, 0x5A, // sync
		0x01, // version 1
		0x34, // length 52: needs 58 bytes in all
		0x01, // kind event
	}
	r := &chunkReader{chunks: [][]byte{falseSync, sos, nil}}
	d := NewDecoder(r)
	f, err := d.Next()
	if err != nil || f.Event != EventSOS {
		t.Fatalf("got %v, %v; want the SOS", f, err)
	}
	if d.Skipped() != int64(len(falseSync)) {
		t.Errorf("skipped %d, want %d", d.Skipped(), len(falseSync))
	}
	if _, err := d.Next(); err != io.EOF {
		t.Fatalf("then %v, want EOF", err)
	}
}

func TestDecoderReaderErrors(t *testing.T) {
	sos := AppendEvent(nil, 0x0A0B0C0D, 1, EventSOS, 87, 0)
	boom := errors.New("port unplugged")
	// Data and an error in the same read: the frame first, then the error.
	d := NewDecoder(iotest.DataErrReader(io.MultiReader(bytes.NewReader(sos), iotest.ErrReader(boom))))
	if f, err := d.Next(); err != nil || f.Event != EventSOS {
		t.Fatalf("got %v, %v", f, err)
	}
	if _, err := d.Next(); err != boom {
		t.Fatalf("got %v, want %v", err, boom)
	}
	// A reader that never makes progress is reported, not spun on.
	d = NewDecoder(zeroReader{})
	if _, err := d.Next(); err != io.ErrNoProgress {
		t.Fatalf("got %v, want io.ErrNoProgress", err)
	}
}

type zeroReader struct{}

func (zeroReader) Read([]byte) (int, error) { return 0, nil }

func TestDecoderLongNoise(t *testing.T) {
	// Far more noise than the buffer holds, with sync-like bytes sprinkled in.
	noise := bytes.Repeat([]byte{0xA5, 0x5A, 0x01, 0x0A, 0x01, 0x33, 0xA5}, 500)
	sos := AppendEvent(nil, 0x0A0B0C0D, 1, EventSOS, 87, 0)
	d := NewDecoder(bytes.NewReader(cat(noise, sos)))
	frames, ferrs, final := drain(t, d)
	if final != io.EOF || len(frames) != 1 || frames[0].Event != EventSOS {
		t.Fatalf("frames %v, final %v", frames, final)
	}
	// Each pseudo-header is plausible, so each costs a CRC error report.
	if len(ferrs) == 0 || d.Skipped() != int64(len(noise)) {
		t.Fatalf("errors %d, skipped %d of %d", len(ferrs), d.Skipped(), len(noise))
	}
}
