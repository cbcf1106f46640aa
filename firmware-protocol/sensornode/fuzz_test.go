package sensornode

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

func fuzzSeeds() [][]byte {
	var seeds [][]byte
	for _, tc := range rawFrames {
		seeds = append(seeds, tc.raw)
	}
	ext := AppendEvent(nil, 1, 2, EventFall, 50, 0)
	ext[offLen] += 3
	ext = append(ext[:len(ext)-2], 0xA5, 0x5A, 0x01)
	ext = appendU16(ext, Checksum(ext[offVer:]))
	seeds = append(seeds, ext,
		[]byte{0xA5, 0x5A, 0x02, 0x03, 0x01, 0x02, 0x03, 0xAF, 0x62}, // version 2
		[]byte{0xA5, 0x5A, 0x01, 0x34, 0x01},                         // long false header
		cat([]byte{0x55, 0x55, 0xA5}, rawFrames[0].raw, rawFrames[1].raw[:7], rawFrames[2].raw),
	)
	return seeds
}

// appendU16 appends v big-endian, as frames carry their CRC.
func appendU16(b []byte, v uint16) []byte { return append(b, byte(v>>8), byte(v)) }

func FuzzDecode(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fr, n, err := Decode(data)
		if err != nil {
			var fe *FrameError
			if !errors.As(err, &fe) || fe.Offset < 0 || fe.Offset > int64(len(data)) {
				t.Fatalf("bad error %#v", err)
			}
			for _, s := range sentinels {
				if errors.Is(err, s) {
					return
				}
			}
			t.Fatalf("error %v wraps no sentinel", err)
		}
		if n < AckFrameLen || n > len(data) || n > MaxFrameLen {
			t.Fatalf("n = %d for %d bytes", n, len(data))
		}
		if Checksum(data[offVer:n]) != 0 {
			t.Fatal("accepted a frame whose CRC residue is not 0")
		}
		if fr2, n2, err := Decode(data[:n]); err != nil || fr2 != fr || n2 != n {
			t.Fatalf("not stable on its own bytes: %v %v %v", fr2, n2, err)
		}
		// A re-encoding decodes to the same frame, and is byte-identical
		// when the input had no extension bytes.
		enc := encode(fr)
		if fr3, _, err := Decode(enc); err != nil || fr3 != fr {
			t.Fatalf("re-encoded %X decodes to %v, %v", enc, fr3, err)
		}
		if int(data[offLen]) == fr.Kind.bodyLen() && !bytes.Equal(enc, data[:n]) {
			t.Fatalf("re-encoded %X, input %X", enc, data[:n])
		}
	})
}

// chunked returns data in pieces whose sizes cycle through a pattern
// derived from seed; it never returns 0 bytes before EOF.
type chunked struct {
	data []byte
	seed uint8
	i    int
}

func (c *chunked) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	c.i++
	n := 1 + (int(c.seed)*c.i)%23
	n = min(n, len(p), len(c.data))
	copy(p, c.data[:n])
	c.data = c.data[n:]
	return n, nil
}

type streamResult struct {
	frames  []Frame
	errs    []string
	skipped int64
	left    int
}

func runStream(t *testing.T, data []byte, r io.Reader) streamResult {
	t.Helper()
	d := NewDecoder(r)
	var res streamResult
	for range len(data) + 2 {
		pos, skipped := d.pos, d.skipped
		f, err := d.Next()
		if err == io.EOF {
			res.skipped, res.left = d.skipped, d.end-d.start
			if int(d.pos)+res.left != len(data) {
				t.Fatalf("pos %d + buffered %d != %d", d.pos, res.left, len(data))
			}
			return res
		}
		var fe *FrameError
		if errors.As(err, &fe) {
			res.errs = append(res.errs, fe.Error())
			continue
		}
		if err != nil {
			t.Fatalf("unexpected error %v", err)
		}
		// The bytes consumed for this frame are exactly a valid encoding of it,
		// preceded by what was skipped.
		raw := data[pos+(d.skipped-skipped) : d.pos]
		if g, n, err := Decode(raw); err != nil || g != f || n != len(raw) {
			t.Fatalf("frame %v came from %X: %v %v %v", f, raw, g, n, err)
		}
		res.frames = append(res.frames, f)
	}
	t.Fatal("decoder did not reach EOF")
	return res
}

func FuzzDecoderStream(f *testing.F) {
	for i, s := range fuzzSeeds() {
		f.Add(s, uint8(i))
	}
	f.Add(bytes.Repeat([]byte{0xA5, 0x5A, 0x01, 0x0A, 0x01}, 60), uint8(3))
	f.Fuzz(func(t *testing.T, data []byte, seed uint8) {
		whole := runStream(t, data, bytes.NewReader(data))
		part := runStream(t, data, &chunked{data: data, seed: seed})
		// How the port chunks its reads must not change what comes out.
		if len(whole.frames) != len(part.frames) || len(whole.errs) != len(part.errs) ||
			whole.skipped != part.skipped || whole.left != part.left {
			t.Fatalf("whole %+v\npart  %+v", whole, part)
		}
		for i := range whole.frames {
			if whole.frames[i] != part.frames[i] {
				t.Fatalf("frame %d: %v vs %v", i, whole.frames[i], part.frames[i])
			}
		}
		for i := range whole.errs {
			if whole.errs[i] != part.errs[i] {
				t.Fatalf("error %d: %s vs %s", i, whole.errs[i], part.errs[i])
			}
		}
		// Whatever noise came first, a clean frame after it is found once
		// the noise is flushed by a frame's worth of quiet bytes.
		tail := cat(data, bytes.Repeat([]byte{0}, MaxFrameLen), rawFrames[0].raw)
		got := runStream(t, tail, bytes.NewReader(tail))
		if n := len(got.frames); n == 0 || got.frames[n-1] != rawFrames[0].frame {
			t.Fatalf("clean frame after noise not found: %+v", got)
		}
	})
}
