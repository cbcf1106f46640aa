package gpiosensor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/shouwang-care/shouwang/firmware-protocol/event"
)

const (
	high = gpio.High
	low  = gpio.Low
)

func resolveTo(pins map[string]gpio.PinIO) Resolver {
	return func(name string) (gpio.PinIO, error) {
		if p, ok := pins[name]; ok {
			return p, nil
		}
		return nil, &PinNotFoundError{Pin: name}
	}
}

type sim struct {
	initial gpio.Level
	edges   []simEdge
	end     time.Duration
	poll    time.Duration
	totals  map[string]float64
	setup   func(w *Watcher, p *simPin)
}

// simulate runs one sensor on virtual time until s.end and returns its events
// in the form of describe.
func simulate(t *testing.T, sc SensorConfig, s sim) []string {
	t.Helper()
	clock := newSimClock()
	p := &simPin{name: sc.Pin, clock: clock, level: s.initial, edges: s.edges, end: s.end}
	w, err := Open(Config{Sensors: []SensorConfig{sc}}, Options{
		Resolve: resolveTo(map[string]gpio.PinIO{sc.Pin: p}),
		Now:     clock.Now,
		Sleep:   clock.Sleep,
		Poll:    s.poll,
		Totals:  s.totals,
	})
	if err != nil {
		t.Fatal(err)
	}
	if s.setup != nil {
		s.setup(w, p)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p.stop = cancel
	out := make(chan event.Event, 100000)
	if err := w.Run(ctx, out); err != nil {
		t.Fatal(err)
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatal("simulation did not reach its end")
	}
	if len(p.badWaits) > 0 {
		t.Errorf("WaitForEdge called with timeouts %v; want > 0 always", p.badWaits)
	}
	close(out)
	var got []string
	for e := range out {
		if err := e.Validate(); err != nil {
			t.Errorf("invalid event %+v: %v", e, err)
		}
		got = append(got, describe(e))
	}
	return got
}

// describe renders an event as "offset kind value", offset from t0.
func describe(e event.Event) string {
	s := fmt.Sprintf("%v %s", e.T.Sub(t0), e.Kind)
	switch e.Kind {
	case event.Door:
		if *e.Open {
			return s + " open"
		}
		return s + " closed"
	case event.Button:
		return s + " " + string(e.Press)
	case event.Meter:
		return s + " " + strconv.FormatFloat(*e.TotalM3, 'f', -1, 64)
	case event.Fault:
		code, rec, ok := FaultCode(e.Detail)
		if !ok {
			return s + " unparsed " + e.Detail
		}
		if rec {
			return s + " recovered " + code
		}
		return s + " " + code
	}
	return s
}

func check(t *testing.T, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("events:\n got  %q\n want %q", got, want)
	}
}

var (
	pir    = SensorConfig{Name: "pir.bathroom", Type: TypePIR, Pin: "GPIO17", Pull: PullDown}
	door   = SensorConfig{Name: "door.front", Type: TypeDoor, Pin: "GPIO27", Pull: PullUp}
	button = SensorConfig{Name: "button.sos", Type: TypeButton, Pin: "GPIO22", Pull: PullUp, ActiveLow: true}
	water  = SensorConfig{Name: "water.main", Type: TypePulseWater, Pin: "GPIO23", Pull: PullUp, ActiveLow: true,
		LitresPerPulse: 1, MaxFlowLPM: 60, Debounce: 100 * time.Millisecond}
)

func pulse(at time.Duration) []simEdge { return []simEdge{{at, high}, {at + 2*time.Second, low}} }

func TestPIR(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edges []simEdge
		want  []string
	}{
		{"bounce train of 5 edges in 3 ms is one motion",
			script(bounce(time.Second, high, 5), bounce(5*time.Second, low, 5)),
			[]string{"1s motion"}},
		{"1 ms glitch is shorter than the debounce",
			[]simEdge{{time.Second, high}, {time.Second + time.Millisecond, low}},
			nil},
		{"re-triggers within hold_off are one motion",
			script(pulse(time.Second), pulse(11*time.Second), pulse(41*time.Second)),
			[]string{"1s motion", "41s motion"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := simulate(t, pir, sim{initial: low, edges: tc.edges, end: time.Minute})
			check(t, got, tc.want)
		})
	}
}

func TestDoor(t *testing.T) {
	got := simulate(t, door, sim{initial: low, end: 10 * time.Second,
		edges: script(bounce(2*time.Second, high, 5), bounce(7*time.Second, low, 5))})
	check(t, got, []string{"2s door open", "7s door closed"})
}

func TestButton(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		name    string
		initial gpio.Level
		edges   []simEdge
		want    []string
	}{
		{"short press with bounce", high,
			script(bounce(time.Second, low, 5), bounce(1500*ms, high, 5)),
			[]string{"1.5s button short"}},
		{"released just before the threshold", high,
			script(bounce(time.Second, low, 5), bounce(3990*ms, high, 5)),
			[]string{"3.99s button short"}},
		{"long press is sent at 3 s while still held, nothing on release", high,
			script(bounce(time.Second, low, 5), bounce(6*time.Second, high, 5)),
			[]string{"4s button long"}},
		{"held at start: no press reported", low,
			bounce(2*time.Second, high, 5),
			nil},
		{"held 70 s: long, then stuck, then recovery", high,
			script(bounce(time.Second, low, 5), bounce(71*time.Second, high, 5)),
			[]string{"4s button long", "1m1s fault stuck", "1m11s fault recovered stuck"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := simulate(t, button, sim{initial: tc.initial, edges: tc.edges, end: 80 * time.Second})
			check(t, got, tc.want)
		})
	}
}

// reedPulses is n meter pulses at max flow: every period the reed closes
// (active low) for closed, each transition a 5-edge bounce train.
func reedPulses(start, period, closed time.Duration, n int) []simEdge {
	var out []simEdge
	for k := range n {
		at := start + time.Duration(k)*period
		out = append(out, bounce(at, low, 5)...)
		out = append(out, bounce(at+closed, high, 5)...)
	}
	return out
}

func TestPulseWaterAtMaxFlow(t *testing.T) {
	// 1 L/pulse at 60 L/min: a pulse every 1 s; debounce 100 ms is the most
	// Validate allows (a tenth of the period).
	period := water.PulsePeriod()
	if period != time.Second || water.MaxPulseDebounce() != 100*time.Millisecond {
		t.Fatalf("period %v, max debounce %v", period, water.MaxPulseDebounce())
	}
	for _, tc := range []struct {
		name   string
		closed time.Duration
		want   int
	}{
		{"reed closed 50% of the period", period / 2, 120},
		{"reed closed 20% of the period", period / 5, 120},
		// Why the rule has a margin: a phase shorter than the debounce is
		// swallowed whole.
		{"reed closed 5% of the period (below the rule's assumption)", period / 20, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := simulate(t, water, sim{initial: high, end: 3 * time.Minute,
				edges: reedPulses(10*time.Second, period, tc.closed, 120)})
			if len(got) != tc.want {
				t.Fatalf("%d events, want %d: %q", len(got), tc.want, got)
			}
			if tc.want == 0 {
				return
			}
			if got[0] != "10s meter 0.001" || got[119] != "2m9s meter 0.12" {
				t.Errorf("first %q last %q", got[0], got[119])
			}
		})
	}
}

func TestPulseWaterTotals(t *testing.T) {
	sc := water
	sc.LitresPerPulse, sc.BaseTotalM3 = 10, 100
	edges := reedPulses(time.Second, 20*time.Second, 5*time.Second, 2)
	check(t, simulate(t, sc, sim{initial: high, end: time.Minute, edges: edges}),
		[]string{"1s meter 100.01", "21s meter 100.02"})
	// A total restored from the event log carries on from there.
	check(t, simulate(t, sc, sim{initial: high, end: time.Minute, edges: edges, totals: map[string]float64{sc.Name: 123.45}}),
		[]string{"1s meter 123.46", "21s meter 123.47"})
}

func TestDoorStuckOpen(t *testing.T) {
	got := simulate(t, door, sim{initial: low, end: 30 * time.Hour, poll: time.Minute,
		edges: script(bounce(time.Hour, high, 5), bounce(26*time.Hour, low, 5))})
	check(t, got, []string{"1h0m0s door open", "25h0m0s fault stuck", "26h0m0s door closed", "26h0m0s fault recovered stuck"})
}

func TestPIRSilent(t *testing.T) {
	hourly := func(from, to time.Duration) func(*Watcher, *simPin) {
		return func(w *Watcher, p *simPin) {
			for at := from; at <= to; at += time.Hour {
				p.hooks = append(p.hooks, simHook{at, w.Activity})
			}
		}
	}
	for _, tc := range []struct {
		name  string
		setup func(*Watcher, *simPin)
		edges []simEdge
		end   time.Duration
		want  []string
	}{
		{"home active all along: fault at 48 h", hourly(time.Hour, 60*time.Hour), nil, 60 * time.Hour,
			[]string{"48h0m0s fault silent"}},
		{"motion again: recovery", hourly(time.Hour, 60*time.Hour), pulse(50 * time.Hour), 60 * time.Hour,
			[]string{"48h0m0s fault silent", "50h0m0s fault recovered silent", "50h0m0s motion"}},
		{"nobody home: no fault", nil, nil, 100 * time.Hour, nil},
		{"back after 40 h: fault once active elsewhere for 24 h", hourly(40*time.Hour, 80*time.Hour), nil, 80 * time.Hour,
			[]string{"64h0m0s fault silent"}},
		{"motion resets the count", hourly(time.Hour, 80*time.Hour), pulse(30 * time.Hour), 80 * time.Hour,
			// Silence is checked once per poll (1 min here), whose phase the
			// edges at 30 h shifted by 2.05 s.
			[]string{"30h0m0s motion", "78h0m2.05s fault silent"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := simulate(t, pir, sim{initial: low, edges: tc.edges, end: tc.end, poll: time.Minute, setup: tc.setup})
			check(t, got, tc.want)
		})
	}
}

func TestSupervisorCountsOtherSensors(t *testing.T) {
	s := newSupervisor()
	s.addPIR("pir.a", 48*time.Hour)
	s.addPIR("pir.b", 48*time.Hour)
	s.start("pir.a", t0)
	s.start("pir.b", t0)
	for h := 1; h <= 48; h++ {
		at := t0.Add(time.Duration(h) * time.Hour)
		s.trigger("pir.b", at)
		s.activity("pir.b", at)
	}
	if d := s.silent("pir.b", t0.Add(48*time.Hour)); d != "" {
		t.Errorf("pir.b triggers but is silent: %s", d)
	}
	d := s.silent("pir.a", t0.Add(48*time.Hour))
	if code, rec, ok := FaultCode(d); !ok || rec || code != FaultSilent {
		t.Fatalf("pir.a: %q", d)
	}
	if again := s.silent("pir.a", t0.Add(49*time.Hour)); again != "" {
		t.Errorf("fault raised twice: %q", again)
	}
}

// TestHost78 drives a line whose WaitForEdge returns at once (periph host#78)
// on the real clock: the sensor must not spin, and must still see the level
// change by polling.
func TestHost78(t *testing.T) {
	p := &host78Pin{level: high}
	w, err := Open(Config{Sensors: []SensorConfig{{Name: "door.front", Type: TypeDoor, Pin: "GPIO78", Pull: PullUp}}},
		Options{Resolve: resolveTo(map[string]gpio.PinIO{"GPIO78": p}), Poll: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan event.Event, 10)
	done := make(chan error)
	go func() { done <- w.Run(ctx, out) }()
	time.Sleep(150 * time.Millisecond)
	p.set(low)
	select {
	case e := <-out:
		if e.Kind != event.Door || *e.Open {
			t.Errorf("got %+v, want door closed", e)
		}
	case <-time.After(2 * time.Second):
		t.Error("level change not seen by polling")
	}
	time.Sleep(200 * time.Millisecond)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// ~0.35 s at one call per 100 ms poll; a spinning loop makes millions.
	if n := p.calls(); n < 2 || n > 10 {
		t.Errorf("WaitForEdge called %d times in ~350 ms, want about 4", n)
	}
}

// TestEdgeChannel feeds edges through a channel on the real clock, as with
// periph's gpiotest.Pin.
func TestEdgeChannel(t *testing.T) {
	for _, tc := range []struct {
		name    string
		sc      SensorConfig
		initial gpio.Level
		trains  [][]gpio.Level
		want    []string
	}{
		{"pir bounce train", pir, low,
			[][]gpio.Level{{high, low, high, low, high}},
			[]string{"motion"}},
		{"button short press with bounces", button, high,
			[][]gpio.Level{{low, high, low, high, low}, {high, low, high, low, high}},
			[]string{"button short"}},
		{"door opens with bounces", SensorConfig{Name: "door.front", Type: TypeDoor, Pin: "GPIO27", Pull: PullNone}, low,
			[][]gpio.Level{{high, low, high}, {low, high, low}},
			[]string{"door open", "door closed"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, edges := newEdgePin(tc.sc.Pin, tc.initial)
			wp := &wrapPin{PinIO: p, configured: make(chan struct{})}
			w, err := Open(Config{Sensors: []SensorConfig{tc.sc}},
				Options{Resolve: resolveTo(map[string]gpio.PinIO{tc.sc.Pin: wp}), Poll: 100 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			out := make(chan event.Event, 10)
			done := make(chan error)
			go func() { done <- w.Run(ctx, out) }()
			<-wp.configured
			var got []string
			for _, train := range tc.trains {
				start := time.Now()
				for _, l := range train {
					edges <- l
				}
				if d := time.Since(start); d > 20*time.Millisecond {
					t.Logf("train took %v to deliver", d)
				}
				time.Sleep(200 * time.Millisecond) // > debounce: the contact has settled
			}
			time.Sleep(100 * time.Millisecond)
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			close(out)
			for e := range out {
				_, what, _ := strings.Cut(describe(e), " ") // drop the time
				got = append(got, what)
			}
			check(t, got, tc.want)
		})
	}
}

func TestRunErrors(t *testing.T) {
	clock := newSimClock()
	p := &simPin{name: "GPIO17", clock: clock, inErr: errors.New("line busy")}
	w, err := Open(Config{Sensors: []SensorConfig{pir}}, Options{Resolve: resolveTo(map[string]gpio.PinIO{"GPIO17": p}), Now: clock.Now, Sleep: clock.Sleep})
	if err != nil {
		t.Fatal(err)
	}
	err = w.Run(context.Background(), make(chan event.Event))
	if err == nil || !strings.Contains(err.Error(), "sensor pir.bathroom: configure GPIO17") || !strings.Contains(err.Error(), "line busy") {
		t.Errorf("Run: %v", err)
	}
	if err := w.Run(context.Background(), nil); err == nil {
		t.Error("second Run: no error")
	}
}

func TestIndicator(t *testing.T) {
	p := &simPin{name: "GPIO5", clock: newSimClock()}
	in := NewIndicator(p, true) // buzzer switched to ground
	if err := in.On(); err != nil {
		t.Fatal(err)
	}
	if err := in.Off(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var slept []time.Duration
	in.sleep = func(ctx context.Context, d time.Duration) error {
		slept = append(slept, d)
		if len(slept) == 5 {
			cancel()
		}
		return ctx.Err()
	}
	if err := in.Blink(ctx, PreAlarm); err != nil {
		t.Fatal(err)
	}
	// on, off, then Blink: on off on off on, and off when cancelled.
	want := []gpio.Level{low, high, low, high, low, high, low, high}
	if !slices.Equal(p.outs, want) {
		t.Errorf("levels %v, want %v", p.outs, want)
	}
	if !slices.Equal(slept, []time.Duration{150 * time.Millisecond, 850 * time.Millisecond, 150 * time.Millisecond, 850 * time.Millisecond, 150 * time.Millisecond}) {
		t.Errorf("slept %v", slept)
	}
	if err := in.Blink(context.Background(), Pattern{time.Second}); err == nil {
		t.Error("odd pattern accepted")
	}
}
