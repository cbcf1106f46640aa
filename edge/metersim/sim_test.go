package metersim

import (
	"bytes"
	"context"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/shouwang-care/shouwang/firmware-protocol/cjt188"
	"github.com/shouwang-care/shouwang/firmware-protocol/dlt645"
)

// pipePort feeds queued requests to Serve and collects its replies.
type pipePort struct {
	mu  sync.Mutex
	in  []byte
	out bytes.Buffer
}

func (p *pipePort) Read(b []byte) (int, error) {
	p.mu.Lock()
	n := copy(b, p.in)
	p.in = p.in[n:]
	p.mu.Unlock()
	if n == 0 {
		time.Sleep(2 * time.Millisecond)
		return 0, io.EOF
	}
	return n, nil
}

func (p *pipePort) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

func (p *pipePort) roundTrip(t *testing.T, s *Sim, req []byte) []byte {
	t.Helper()
	p.mu.Lock()
	p.in = append(p.in, req...)
	p.out.Reset()
	p.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	s.Serve(ctx, p)
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]byte(nil), p.out.Bytes()...)
}

func TestSimReplies(t *testing.T) {
	s, err := New(
		Spec{Protocol: DLT645, Address: "12345678", Total: 999999.99},
		Spec{Protocol: CJT188, Address: "87654321", Total: 1.5, Litres: true},
	)
	if err != nil {
		t.Fatal(err)
	}
	dl, _ := dlt645.ParseAddress("12345678")
	cj, _ := cjt188.ParseAddress("87654321")
	p := new(pipePort)

	readKWh := func() (int64, []byte) {
		got := p.roundTrip(t, s, dlt645.AppendReadRequest(dlt645.AppendWakeUp(nil, 4), dl, dlt645.DIForwardActiveTotal))
		var f dlt645.Frame
		var r dlt645.Reading
		if _, err := dlt645.Decode(got, &f); err != nil {
			return -1, got
		}
		if err := dlt645.ParseReading(&f, &r); err != nil || r.Kind != dlt645.KindValues {
			t.Fatalf("reply %X: %v", got, err)
		}
		return r.Value().Int, got
	}
	if v, raw := readKWh(); v != 99999999 {
		t.Fatalf("energy %d (%X), want 99999999", v, raw)
	}
	s.AddEnergy(0.02) // the display wraps like a real counter
	if v, _ := readKWh(); v != 1 {
		t.Fatalf("after wrap %d, want 1 (0.01 kWh)", v)
	}

	got := p.roundTrip(t, s, cjt188.AppendReadRequest(nil, cjt188.TypeColdWater, cj, cjt188.DIMeterData, 7, cjt188.DILowFirst))
	var f cjt188.Frame
	var r cjt188.Reading
	if _, err := cjt188.Decode(got, &f); err != nil {
		t.Fatalf("water reply %X: %v", got, err)
	}
	if err := cjt188.ParseReading(&f, &r); err != nil || r.CurrentFlow.Int != 150000 || r.CurrentUnit != cjt188.UnitLitre || r.SER != 7 || r.DIOrder != cjt188.DILowFirst {
		t.Fatalf("water reading %+v %v", r, err)
	}

	// Counted faults clear themselves.
	s.SetFaults("12345678", Faults{Silent: true, Times: 1})
	if v, raw := readKWh(); v != -1 || len(raw) != 0 {
		t.Fatalf("silent meter answered %X", raw)
	}
	if v, _ := readKWh(); v != 1 {
		t.Fatalf("meter still silent after Times ran out")
	}
	s.SetFaults("12345678", Faults{CorruptChecksum: true, NoiseBefore: 5})
	if v, raw := readKWh(); v != -1 || len(raw) == 0 {
		t.Fatalf("corrupt reply decoded (%X)", raw)
	}
	if n := s.Requests("000012345678"); n != 5 {
		t.Errorf("Requests = %d, want 5", n)
	}
}

func TestNewRejects(t *testing.T) {
	for _, sp := range []Spec{{Protocol: "modbus", Address: "1"}, {Protocol: DLT645, Address: "12x"}, {Protocol: CJT188, Address: "1", Total: -1}} {
		if _, err := New(sp); err == nil {
			t.Errorf("New(%+v) accepted", sp)
		}
	}
}
