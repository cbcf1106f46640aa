package rules

import (
	"fmt"
	"testing"
	"time"

	"github.com/shouwang-care/shouwang/firmware-protocol/event"
	"github.com/shouwang-care/shouwang/firmware-protocol/mqttv1"
)

var t0 = time.Date(2026, 3, 1, 6, 0, 0, 0, time.FixedZone("CST", 8*3600))

func ids() func() string {
	n := 0
	return func() string { n++; return fmt.Sprintf("a%d", n) }
}

func water(at time.Duration, total float64) event.Event {
	return event.Event{T: t0.Add(at), Sensor: "water", Kind: event.Meter, TotalM3: event.Float(total)}
}

func TestNoWater(t *testing.T) {
	type step struct {
		ev   *event.Event
		tick time.Duration
		want string // "" or "rule/state"
	}
	ev := func(e event.Event) *event.Event { return &e }
	tests := []struct {
		name  string
		set   Settings
		steps []step
	}{
		{"quiet 12h raises once, use clears", Settings{NoWater: 12 * time.Hour}, []step{
			{ev: ev(water(0, 10))},
			{ev: ev(water(42*time.Minute, 10.01))}, // used at 06:42
			{tick: 12*time.Hour + 41*time.Minute},  // 11 h 59 min quiet
			{tick: 12*time.Hour + 42*time.Minute, want: "no_water/raised"},
			{tick: 13 * time.Hour}, // already open: no re-page
			{ev: ev(water(13*time.Hour+5*time.Minute, 10.02)), want: "no_water/cleared"},
		}},
		{"drip below half a litre is not use", Settings{NoWater: 12 * time.Hour}, []step{
			{ev: ev(water(0, 10))},
			{ev: ev(water(6*time.Hour, 10.0002))},
			{ev: ev(water(11*time.Hour, 10.0004))},
			{tick: 12 * time.Hour, want: "no_water/raised"},
		}},
		{"drips add up", Settings{NoWater: 12 * time.Hour}, []step{
			{ev: ev(water(0, 10))},
			{ev: ev(water(6*time.Hour, 10.0003))},
			{ev: ev(water(7*time.Hour, 10.0006))}, // 0.6 L since the baseline
			{tick: 12 * time.Hour},
			{tick: 19*time.Hour - time.Second},
			{tick: 19 * time.Hour, want: "no_water/raised"},
		}},
		{"meter going backwards is not use", Settings{NoWater: 12 * time.Hour}, []step{
			{ev: ev(water(0, 10))},
			{ev: ev(water(time.Hour, 3))},
			{tick: 12 * time.Hour, want: "no_water/raised"},
		}},
		{"away pauses", Settings{NoWater: 12 * time.Hour, Away: true}, []step{
			{ev: ev(water(0, 10))},
			{tick: 48 * time.Hour},
		}},
		{"sos raises at once", Settings{NoWater: 12 * time.Hour}, []step{
			{ev: &event.Event{T: t0, Sensor: "sos", Kind: event.Button}, want: "sos/raised"},
			{ev: &event.Event{T: t0.Add(time.Second), Sensor: "sos", Kind: event.Button}},
			{ev: &event.Event{T: t0.Add(2 * time.Second), Sensor: "sos", Kind: event.Button, Press: event.PressLong}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := New(tt.set, State{}, ids())
			for i, s := range tt.steps {
				var out []mqttv1.Alert
				if s.ev != nil {
					out = e.Observe(*s.ev)
				} else {
					out = e.Tick(t0.Add(s.tick))
				}
				got := ""
				if len(out) > 1 {
					t.Fatalf("step %d: %d transitions", i, len(out))
				}
				if len(out) == 1 {
					got = out[0].Rule + "/" + string(out[0].State)
					if out[0].Rule == NoWater && out[0].State == mqttv1.Raised {
						q := out[0].Evidence[0]
						if q.Signal != "water" || q.QuietSecs < q.Threshold || q.Threshold != int64(tt.set.NoWater/time.Second) {
							t.Errorf("step %d: evidence %+v", i, q)
						}
					}
				}
				if got != s.want {
					t.Fatalf("step %d: got %q, want %q", i, got, s.want)
				}
			}
		})
	}
}

// TestEvidence checks the headline example of the spec: last use 06:42, 12 h 03 min ago.
func TestEvidence(t *testing.T) {
	e := New(Settings{NoWater: 12 * time.Hour}, State{}, ids())
	e.Observe(water(0, 1))
	e.Observe(water(42*time.Minute, 1.01))
	e.Observe(event.Event{T: t0.Add(70 * time.Minute), Sensor: "pir.kitchen", Kind: event.Motion})
	out := e.Tick(t0.Add(12*time.Hour + 45*time.Minute))
	if len(out) != 1 {
		t.Fatalf("%+v", out)
	}
	w, m := out[0].Evidence[0], out[0].Evidence[1]
	if w.LastAt.Format("15:04") != "06:42" || w.QuietSecs != 12*3600+3*60 || m.Signal != "motion" || m.LastAt.Format("15:04") != "07:10" {
		t.Fatalf("evidence %+v %+v", w, m)
	}
}

// TestResumeFromState: a restart with persisted state neither resets the timer nor
// raises the open episode again.
func TestResumeFromState(t *testing.T) {
	e := New(Settings{NoWater: 12 * time.Hour}, State{}, ids())
	e.Observe(water(0, 5))
	st := e.State()
	e2 := New(Settings{NoWater: 12 * time.Hour}, st, ids())
	if out := e2.Tick(t0.Add(12 * time.Hour)); len(out) != 1 {
		t.Fatalf("timer reset by restart: %+v", out)
	}
	e3 := New(Settings{NoWater: 12 * time.Hour}, e2.State(), ids())
	if out := e3.Tick(t0.Add(13 * time.Hour)); len(out) != 0 {
		t.Fatalf("open episode raised again after restart: %+v", out)
	}
	if out := e3.Observe(water(14*time.Hour, 5.1)); len(out) != 1 || out[0].ID != "a1" || out[0].State != mqttv1.Cleared {
		t.Fatalf("clear after restart: %+v", out)
	}
}
