package meterbus_test

import (
	"context"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/shouwang-care/shouwang/edge/meterbus"
	"github.com/shouwang-care/shouwang/firmware-protocol/cjt188"
	"github.com/shouwang-care/shouwang/firmware-protocol/dlt645"
	"github.com/shouwang-care/shouwang/firmware-protocol/event"
)

// garbagePort answers every request with something hostile: random bytes,
// valid replies with bytes flipped, truncated frames, absurd lengths, replies
// for other addresses and, now and then, a read error.
type garbagePort struct {
	mu      sync.Mutex
	rng     *rand.Rand
	pending []byte
	closed  bool
}

func (p *garbagePort) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	dl, _ := dlt645.ParseAddress(elecAddr)
	cj, _ := cjt188.ParseAddress(waterAddr)
	r := dlt645.Reading{Kind: dlt645.KindValues, DI: dlt645.DIForwardActiveTotal, Unit: dlt645.UnitKWh, N: 1}
	r.Values[0] = dlt645.Value{Int: p.rng.Int64N(1e8), Decimals: 2, OK: true}
	dlReply, _ := dlt645.AppendReadReply(nil, dl, &r)
	md := cjt188.MeterData{CurrentFlow: cjt188.Value{Int: p.rng.Int64N(1e8), Decimals: 2, OK: true}, Unit: cjt188.Unit(p.rng.UintN(256))}
	cjReply, _ := cjt188.AppendMeterDataReply(nil, cjt188.TypeColdWater, cj, 0, cjt188.DIHighFirst, &md)
	var out []byte
	switch p.rng.IntN(7) {
	case 0:
		out = make([]byte, p.rng.IntN(600))
		for i := range out {
			out[i] = byte(p.rng.UintN(256))
		}
	case 1, 2:
		out = append(append(out, dlReply...), cjReply...)
		for n := p.rng.IntN(4); n >= 0; n-- {
			out[p.rng.IntN(len(out))] ^= byte(1 << p.rng.UintN(8))
		}
	case 3:
		out = append(dlReply[:p.rng.IntN(len(dlReply))], cjReply[:p.rng.IntN(len(cjReply))]...)
	case 4:
		out = []byte{0x68, 1, 2, 3, 4, 5, 6, 0x68, 0x91, 0xFF}
	case 5:
		out = dlt645.AppendErrorReply(nil, dl, dlt645.CtrlRead, dlt645.ErrorBits(p.rng.UintN(256)))
		out = cjt188.AppendErrorReply(out, cjt188.TypeColdWater, cj, cjt188.CtrlRead, 0, cjt188.Status{ST1: 0xFF})
	case 6:
		out = append(dlReply, cjReply...) // valid: keeps the counters moving
	}
	p.pending = append(p.pending, out...)
	return len(b), nil
}

func (p *garbagePort) Read(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.rng.IntN(500) == 0 {
		return 0, io.ErrUnexpectedEOF // the line "fails": the bus must reopen
	}
	n := copy(b[:min(len(b), 1+p.rng.IntN(64))], p.pending)
	p.pending = p.pending[n:]
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}

func (p *garbagePort) Flush() error { p.mu.Lock(); p.pending = nil; p.mu.Unlock(); return nil }
func (p *garbagePort) Close() error { return nil }

// TestBusSurvivesGarbage: nothing a port delivers may panic the bus or make it
// emit an invalid or decreasing total.
func TestBusSurvivesGarbage(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	open := func(meterbus.PortConfig) (meterbus.Port, error) { return &garbagePort{rng: rng}, nil }
	cfg := fastBus("/dev/null", elecMeter(), waterMeter())
	cfg.ResponseTimeout = 30 * time.Millisecond
	cfg.RetryBackoff = time.Millisecond
	cfg.Meters[0].Interval, cfg.Meters[1].Interval = time.Millisecond, time.Millisecond
	bus, err := meterbus.NewBus(cfg, open, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	events := make(chan event.Event)
	done := make(chan error, 1)
	go func() { done <- bus.Run(ctx, events) }()
	last := map[string]float64{}
	meterEvents := 0
	deadline := time.After(patience)
	for bus.Stats().Polls < 100 {
		select {
		case e := <-events:
			if err := e.Validate(); err != nil {
				t.Fatalf("invalid event %+v: %v", e, err)
			}
			if v, ok := meterTotal(e); ok {
				meterEvents++
				if v < last[e.Sensor] {
					t.Fatalf("%s total decreased %v → %v", e.Sensor, last[e.Sensor], v)
				}
				last[e.Sensor] = v
			}
		case <-deadline:
			t.Fatalf("only %d polls within %v", bus.Stats().Polls, patience)
		}
	}
	cancel()
	for {
		select {
		case <-events:
			continue
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		}
		break
	}
	t.Logf("stats %+v, %d meter events", bus.Stats(), meterEvents)
	if meterEvents == 0 {
		t.Error("no reading got through")
	}
}
