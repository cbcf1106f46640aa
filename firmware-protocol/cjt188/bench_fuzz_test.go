package cjt188

import (
	"bytes"
	"testing"
)

var benchReply = []byte{
	0xFE, 0xFE, 0x68, 0x10, 0x44, 0x33, 0x22, 0x11, 0x00, 0x33, 0x78, 0x81, 0x16, 0x1F, 0x90,
	0x00, 0x00, 0x77, 0x66, 0x55, 0x2C, 0x00, 0x77, 0x66, 0x55, 0x2C, 0x31, 0x01, 0x22, 0x11,
	0x05, 0x15, 0x20, 0x21, 0x84, 0x13, 0x16,
}

// BenchmarkDecodeFrame measures framing only.
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

// BenchmarkDecodeReading is the hot path: frame plus 901F fields.
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

// FuzzDecode: no panics, accepted frames re-encode identically, and 901F
// readings survive an encode/decode round trip.
func FuzzDecode(f *testing.F) {
	for _, tc := range publicFrames {
		f.Add(mustHex(f, tc.hex))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var fr Frame
		n, err := Decode(data, &fr)
		if err == nil {
			start := bytes.IndexByte(data, 0x68)
			again, err := AppendFrame(nil, fr.Type, fr.Address, fr.Control, fr.Data())
			if err != nil || !bytes.Equal(again, data[start:n]) {
				t.Fatalf("re-encode mismatch: % X vs % X", again, data[start:n])
			}
			var r Reading
			if ParseReading(&fr, &r) == nil && r.Kind == KindMeterData && r.CurrentUnit == r.SettlementUnit {
				m := MeterData{CurrentFlow: r.CurrentFlow, SettlementFlow: r.SettlementFlow, Unit: r.CurrentUnit,
					HasClock: r.Clock.OK, Status: r.Status}
				if r.Clock.OK {
					m.Clock = r.Clock.Time(nil)
				}
				raw, err := AppendMeterDataReply(nil, fr.Type, fr.Address, r.SER, r.DIOrder, &m)
				if err != nil {
					t.Fatalf("re-encode reading: %v", err)
				}
				var f2 Frame
				var r2 Reading
				if _, err := Decode(raw, &f2); err != nil {
					t.Fatal(err)
				}
				if err := ParseReading(&f2, &r2); err != nil {
					t.Fatal(err)
				}
				if r2.CurrentFlow != r.CurrentFlow || r2.SettlementFlow != r.SettlementFlow || r2.Clock.OK != r.Clock.OK || r2.Status != r.Status {
					t.Fatalf("round trip: %+v vs %+v", r2, r)
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
