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

// The simulated day starts 06:00 yesterday, local, so its first readings are
// in the past (charts end at now) whatever the hour of the real clock.
func TestDayStart(t *testing.T) {
	sh, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ now, want string }{
		{"2026-12-08T00:01:00+08:00", "2026-12-07T06:00:00+08:00"}, // just after midnight: 18 h back
		{"2026-12-08T05:59:00+08:00", "2026-12-07T06:00:00+08:00"},
		{"2026-12-08T23:59:00+08:00", "2026-12-07T06:00:00+08:00"}, // 42 h back
		{"2027-01-01T03:00:00+08:00", "2026-12-31T06:00:00+08:00"}, // across a year
		{"2026-03-01T12:00:00+08:00", "2026-02-28T06:00:00+08:00"},
	} {
		now, _ := time.ParseInLocation(time.RFC3339, c.now, sh)
		now = now.In(sh)
		got := DayStart(now)
		if want, _ := time.Parse(time.RFC3339, c.want); !got.Equal(want) || got.Location() != sh {
			t.Errorf("DayStart(%s) = %s, want %s in Asia/Shanghai", c.now, got, c.want)
		}
		if back := now.Sub(got); back < 18*time.Hour || back > 42*time.Hour {
			t.Errorf("DayStart(%s) is %v before now, want 18–42 h", c.now, back)
		}
	}
}
