package sim

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/shouwang-care/shouwang/firmware-protocol/event"
	"github.com/shouwang-care/shouwang/firmware-protocol/sensornode"
)

type fakeMeters struct {
	mu          sync.Mutex
	litres, kwh float64
}

func (m *fakeMeters) AddWater(l float64)  { m.mu.Lock(); m.litres += l; m.mu.Unlock() }
func (m *fakeMeters) AddEnergy(k float64) { m.mu.Lock(); m.kwh += k; m.mu.Unlock() }

type fakeRadio struct {
	mu       sync.Mutex
	sent     []sensornode.Event
	checkIns int
}

func (r *fakeRadio) Has(s string) bool { return s == "pir.bathroom" }
func (r *fakeRadio) Send(_ string, ev sensornode.Event) error {
	r.mu.Lock()
	r.sent = append(r.sent, ev)
	r.mu.Unlock()
	return nil
}
func (r *fakeRadio) CheckInAll() error { r.mu.Lock(); r.checkIns++; r.mu.Unlock(); return nil }

// TestCollapseThroughDevices: with simulated meters and a radio node, the scenario's
// water and power go to the meters, the bathroom PIR goes over the radio, and only
// the other sensors are direct events.
func TestCollapseThroughDevices(t *testing.T) {
	start := time.Date(2026, 3, 1, 6, 0, 0, 0, time.FixedZone("CST", 8*3600))
	m, r := &fakeMeters{}, &fakeRadio{}
	h := &Home{Clock: NewClock(start, 100000), Scenario: Collapse(), Meters: m, Radio: r}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	out := make(chan event.Event, 100)
	h.Run(ctx, out)
	close(out)
	var direct []string
	for e := range out {
		if e.Kind == event.Meter {
			t.Errorf("meter event emitted directly: %+v", e)
		}
		direct = append(direct, e.Sensor)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.litres != 8.5 || m.kwh != 0.3 {
		t.Errorf("meters got %v L, %v kWh; want 8.5 L, 0.3 kWh", m.litres, m.kwh)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.sent) != 1 || r.sent[0] != sensornode.EventMotion || r.checkIns < 2 {
		t.Errorf("radio got %v and %d check-ins", r.sent, r.checkIns)
	}
	for _, s := range direct {
		if s == "pir.bathroom" {
			t.Error("the bathroom PIR bypassed the radio")
		}
	}
}
