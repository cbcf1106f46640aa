package dlt645

import (
	"bytes"
	"testing"
)

var benchReply = []byte{
	0xFE, 0xFE, 0xFE, 0xFE, 0x68, 0x12, 0x00, 0x00, 0x00, 0x10, 0x20, 0x68, 0x91, 0x18,
	0x33, 0x32, 0x34, 0x33, 0x5C, 0x34, 0x33, 0x33, 0x95, 0x33, 0x33, 0x33, 0x93, 0x33,
	0x33, 0x33, 0x36, 0x33, 0x33, 0x33, 0x35, 0x33, 0x33, 0x33, 0x74, 0x16,
}

// BenchmarkDecodeFrame measures framing only (wake-up skip, checksum, 0x33 removal).
func BenchmarkDecodeFrame(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchReply)))
	var f Frame
	for b.Loop() {
		if _, err := Decode(benchReply, &f); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeReading is the edge daemon's hot path: frame plus a 5-value block.
func BenchmarkDecodeReading(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchReply)))
	var f Frame
	var r Reading
	for b.Loop() {
		if _, err := Decode(benchReply, &f); err != nil {
			b.Fatal(err)
		}
		if err := ParseReading(&f, &r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeFind measures resynchronisation over 64 bytes of garbage.
func BenchmarkDecodeFind(b *testing.B) {
	buf := append(bytes.Repeat([]byte{0x68, 0x00, 0xFE, 0x16}, 16), benchReply...)
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		if _, e, _ := Find(buf); e != len(buf) {
			b.Fatal("not found")
		}
	}
}

func TestDecodeZeroAllocs(t *testing.T) {
	var f Frame
	var r Reading
	allocs := testing.AllocsPerRun(100, func() {
		_, _ = Decode(benchReply, &f)
		_ = ParseReading(&f, &r)
		_, _, _ = Find(benchReply)
	})
	if allocs != 0 {
		t.Errorf("%v allocs per decode", allocs)
	}
}

// FuzzDecode checks that no input panics and that every accepted frame
// re-encodes to the same bytes.
func FuzzDecode(f *testing.F) {
	for _, tc := range publicFrames {
		f.Add(mustHex(f, tc.hex))
	}
	f.Add(benchReply)
	f.Fuzz(func(t *testing.T, data []byte) {
		var fr Frame
		n, err := Decode(data, &fr)
		if err == nil {
			var r Reading
			_ = ParseReading(&fr, &r)
			_ = fr.Address.String()
			start := bytes.IndexByte(data, 0x68)
			again, err := AppendFrame(nil, fr.Address, fr.Control, fr.Data())
			if err != nil || !bytes.Equal(again, data[start:n]) {
				t.Fatalf("re-encode mismatch: % X vs % X (%v)", again, data[start:n], err)
			}
			if r.Kind == KindValues || r.Kind == KindDate || r.Kind == KindTime {
				if _, err := AppendReadReply(nil, fr.Address, &r); err != nil && r.Kind != KindValues {
					t.Fatalf("re-encode reading: %v", err)
				}
			}
		}
		s, e, _ := Find(data)
		if s < 0 || e < s || e > len(data) {
			t.Fatalf("Find = %d, %d", s, e)
		}
		if e > s {
			if _, err := Decode(data[s:e], &fr); err != nil {
				t.Fatalf("Find returned an invalid frame: %v", err)
			}
		}
	})
}
