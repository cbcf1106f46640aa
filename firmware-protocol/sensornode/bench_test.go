package sensornode

import (
	"io"
	"testing"
	"time"
)

func BenchmarkChecksum(b *testing.B) {
	p := rawFrames[0].raw[offVer : EventFrameLen-crcLen]
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	for b.Loop() {
		Checksum(p)
	}
}

func BenchmarkDecode(b *testing.B) {
	raw := rawFrames[0].raw
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Decode(raw); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendEvent(b *testing.B) {
	buf := make([]byte, 0, EventFrameLen)
	b.SetBytes(EventFrameLen)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendEvent(buf[:0], 0x0A0B0C0D, 1, EventSOS, 87, 0)
	}
}

// loopReader serves the same capture forever, like a busy serial port.
type loopReader struct {
	data []byte
	off  int
}

func (r *loopReader) Read(p []byte) (int, error) {
	n := copy(p, r.data[r.off:])
	r.off = (r.off + n) % len(r.data)
	return n, nil
}

func benchStream(b *testing.B, capture []byte, frames int) {
	d := NewDecoder(&loopReader{data: capture})
	b.SetBytes(int64(len(capture)))
	b.ReportAllocs()
	for b.Loop() {
		for range frames {
			if _, err := d.Next(); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkDecoderStream: clean back-to-back frames, per capture of 3.
func BenchmarkDecoderStream(b *testing.B) {
	capture := cat(rawFrames[0].raw, rawFrames[2].raw, rawFrames[4].raw)
	benchStream(b, capture, 3)
}

// BenchmarkDecoderStreamNoisy: a frame behind 64 bytes of noise with
// false syncs that are rejected without a CRC (the common case on air).
func BenchmarkDecoderStreamNoisy(b *testing.B) {
	noise := make([]byte, 0, 64)
	for len(noise) < 64 {
		noise = append(noise, 0x00, 0xFF, 0xA5, 0x5A, 0x00, 0x13, 0x55, 0xA5)
	}
	benchStream(b, cat(noise, rawFrames[0].raw), 1)
}

func BenchmarkSupervisorObserve(b *testing.B) {
	s, err := NewSupervisor(SupervisorConfig{})
	if err != nil {
		b.Fatal(err)
	}
	for id := range NodeID(16) {
		if err := s.Enroll(id, 0); err != nil {
			b.Fatal(err)
		}
	}
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f := Frame{Kind: KindEvent, Event: EventMotion, Battery: 80}
	b.ReportAllocs()
	for b.Loop() {
		f.Seq++
		f.Node = NodeID(f.Seq % 16)
		at = at.Add(time.Second)
		s.Observe(f, at)
	}
}

var _ io.Reader = (*loopReader)(nil)
