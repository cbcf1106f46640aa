package meterbus_test

import (
	"context"
	"io"
	"log/slog"
	"math"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shouwang-care/shouwang/edge/meterbus"
	"github.com/shouwang-care/shouwang/edge/metersim"
	"github.com/shouwang-care/shouwang/firmware-protocol/event"
)

const (
	elecAddr  = "000012345678"
	waterAddr = "00000087654321"
	// waitFor deadline: generous, the tests assert order, not speed.
	patience = 30 * time.Second
)

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// fastBus is a bus config with test-friendly timing.
func fastBus(port string, meters ...meterbus.MeterConfig) meterbus.BusConfig {
	return meterbus.BusConfig{
		Port:            port,
		ResponseTimeout: 300 * time.Millisecond,
		InterFrameGap:   20 * time.Millisecond,
		RetryBackoff:    20 * time.Millisecond,
		FaultAfter:      3,
		ReopenMax:       time.Second,
		Meters:          meters,
	}
}

func elecMeter() meterbus.MeterConfig {
	return meterbus.MeterConfig{Protocol: meterbus.DLT645, Address: elecAddr, Interval: 100 * time.Millisecond}
}

func waterMeter() meterbus.MeterConfig {
	return meterbus.MeterConfig{Protocol: meterbus.CJT188, Address: waterAddr, Interval: 100 * time.Millisecond}
}

// rig is a simulator on one end of a pty pair and a bus on the other, both
// opened with the production tarm/serial opener.
type rig struct {
	t      *testing.T
	socat  *metersim.Socat
	sim    *metersim.Sim
	bus    *meterbus.Bus
	events chan event.Event
	seen   []event.Event

	simMu     sync.Mutex
	simCancel context.CancelFunc
	simDone   chan error
}

func newRig(t *testing.T, sim *metersim.Sim, cfg func(port string) meterbus.BusConfig) *rig {
	t.Helper()
	r := &rig{t: t, socat: metersim.StartSocat(t), sim: sim, events: make(chan event.Event, 64)}
	bus, err := meterbus.NewBus(cfg(r.socat.B), meterbus.OpenSerial, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	r.bus = bus
	r.startSim()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- bus.Run(ctx, r.events) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after cancel")
		}
		r.stopSim()
	})
	return r
}

// startSim opens the simulator's end and serves it until stopSim.
func (r *rig) startSim() {
	r.t.Helper()
	p, err := meterbus.OpenSerial(meterbus.PortConfig{Path: r.socat.A, Baud: 2400})
	if err != nil {
		r.t.Fatalf("open simulator end: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		err := r.sim.Serve(ctx, p)
		p.Close()
		done <- err
	}()
	r.simMu.Lock()
	r.simCancel, r.simDone = cancel, done
	r.simMu.Unlock()
}

// stopSim stops the simulator and returns Serve's error (expected after the
// ports vanished).
func (r *rig) stopSim() error {
	r.simMu.Lock()
	cancel, done := r.simCancel, r.simDone
	r.simCancel, r.simDone = nil, nil
	r.simMu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		r.t.Error("simulator did not stop")
		return nil
	}
}

// waitFor returns the first event satisfying ok, failing the test after patience.
func (r *rig) waitFor(what string, ok func(event.Event) bool) event.Event {
	r.t.Helper()
	deadline := time.After(patience)
	for {
		select {
		case e := <-r.events:
			r.seen = append(r.seen, e)
			if err := e.Validate(); err != nil {
				r.t.Fatalf("invalid event %+v: %v", e, err)
			}
			if ok(e) {
				return e
			}
		case <-deadline:
			r.t.Fatalf("no %s within %v; events seen: %s", what, patience, describe(r.seen))
		}
	}
}

func describe(evs []event.Event) string {
	var b strings.Builder
	for _, e := range evs {
		b.WriteString("\n  ")
		b.WriteString(e.Sensor + " " + string(e.Kind))
		if e.TotalKWh != nil {
			b.WriteString(" kWh=" + fmtF(*e.TotalKWh))
		}
		if e.TotalM3 != nil {
			b.WriteString(" m3=" + fmtF(*e.TotalM3))
		}
		if e.Detail != "" {
			b.WriteString(" " + e.Detail)
		}
	}
	return b.String()
}

func fmtF(v float64) string { return strings.TrimRight(strings.TrimRight(strconvF(v), "0"), ".") }

func meterTotal(e event.Event) (float64, bool) {
	switch {
	case e.Kind != event.Meter:
		return 0, false
	case e.TotalKWh != nil:
		return *e.TotalKWh, true
	case e.TotalM3 != nil:
		return *e.TotalM3, true
	}
	return 0, false
}

func isMeter(sensor string, want float64) func(event.Event) bool {
	return func(e event.Event) bool {
		v, ok := meterTotal(e)
		return ok && e.Sensor == sensor && math.Abs(v-want) < 1e-9
	}
}

func isFault(sensor, prefix string) func(event.Event) bool {
	return func(e event.Event) bool {
		return e.Kind == event.Fault && e.Sensor == sensor && strings.HasPrefix(e.Detail, prefix)
	}
}

func newSim(t *testing.T, specs ...metersim.Spec) *metersim.Sim {
	t.Helper()
	s, err := metersim.New(specs...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func bothMeters(t *testing.T) *metersim.Sim {
	return newSim(t,
		metersim.Spec{Protocol: metersim.DLT645, Address: elecAddr, Total: 1234.56},
		metersim.Spec{Protocol: metersim.CJT188, Address: waterAddr, Total: 12.345, Litres: true},
	)
}

// TestBusFaultInjection polls an electricity and a water meter on one line
// while the simulator misbehaves, and checks that readings still arrive and
// that no fault is reported for recoverable trouble.
func TestBusFaultInjection(t *testing.T) {
	tests := []struct {
		name   string
		faults metersim.Faults
		check  func(t *testing.T, s meterbus.Stats)
	}{
		{name: "clean"},
		{name: "noise around frames", faults: metersim.Faults{NoiseBefore: 37, NoiseAfter: 23}},
		{name: "checksum errors retried", faults: metersim.Faults{CorruptChecksum: true, Times: 2},
			check: func(t *testing.T, s meterbus.Stats) {
				if s.Garbled == 0 || s.Retries == 0 {
					t.Errorf("stats %+v: want garbled replies retried", s)
				}
			}},
		{name: "slow answer beyond timeout retried", faults: metersim.Faults{Delay: 700 * time.Millisecond, Times: 1},
			check: func(t *testing.T, s meterbus.Stats) {
				if s.NoAnswer == 0 || s.Retries == 0 {
					t.Errorf("stats %+v: want a timeout then a retry", s)
				}
			}},
		{name: "partial frame retried", faults: metersim.Faults{Partial: true, Times: 2}},
		{name: "silent for one poll", faults: metersim.Faults{Silent: true, Times: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sim := bothMeters(t)
			if err := sim.SetFaults("", tc.faults); err != nil {
				t.Fatal(err)
			}
			r := newRig(t, sim, func(p string) meterbus.BusConfig { return fastBus(p, elecMeter(), waterMeter()) })
			r.waitFor("electricity reading", isMeter("power", 1234.56))
			r.waitFor("water reading", isMeter("water", 12.345))
			sim.AddEnergy(0.5)
			sim.AddWater(10) // litres
			r.waitFor("electricity after use", isMeter("power", 1235.06))
			r.waitFor("water after use", isMeter("water", 12.355))
			for _, e := range r.seen {
				if e.Kind == event.Fault {
					t.Errorf("unexpected fault event %q", e.Detail)
				}
			}
			if tc.check != nil {
				tc.check(t, r.bus.Stats())
			}
		})
	}
}

// TestBusSilentMeter: a meter that stops answering yields one device-fault
// event after FaultAfter polls, the other meter keeps reporting, and a
// "recovered:" event follows when it answers again.
func TestBusSilentMeter(t *testing.T) {
	sim := bothMeters(t)
	r := newRig(t, sim, func(p string) meterbus.BusConfig { return fastBus(p, elecMeter(), waterMeter()) })
	r.waitFor("water reading", isMeter("water", 12.345))
	if err := sim.SetFaults(waterAddr, metersim.Faults{Silent: true}); err != nil {
		t.Fatal(err)
	}
	f := r.waitFor("fault event", isFault("water", "meter "+waterAddr+" not answering after 3 polls"))
	t.Logf("fault: %s", f.Detail)
	sim.AddEnergy(1)
	r.waitFor("electricity reading while water is silent", isMeter("power", 1235.56))
	if err := sim.SetFaults(waterAddr, metersim.Faults{}); err != nil {
		t.Fatal(err)
	}
	rec := r.waitFor("recovery event", isFault("water", meterbus.RecoveredPrefix))
	t.Logf("recovery: %s", rec.Detail)
	r.waitFor("water reading after recovery", isMeter("water", 12.345))
	faults := 0
	for _, e := range r.seen {
		if e.Kind == event.Fault && !strings.HasPrefix(e.Detail, meterbus.RecoveredPrefix) {
			faults++
		}
	}
	if faults != 1 {
		t.Errorf("%d fault events, want exactly 1: %s", faults, describe(r.seen))
	}
}

// TestBusPortVanishes unplugs the "adapter" (socat exits, both ptys vanish) and
// plugs it back under the same names: the bus reports the meters as not
// answering, reopens the path when it reappears and resumes.
func TestBusPortVanishes(t *testing.T) {
	sim := bothMeters(t)
	r := newRig(t, sim, func(p string) meterbus.BusConfig { return fastBus(p, elecMeter(), waterMeter()) })
	r.waitFor("electricity reading", isMeter("power", 1234.56))

	r.socat.Stop()
	if err := r.stopSim(); err != nil {
		t.Logf("simulator after unplug: %v", err)
	}
	r.waitFor("fault while unplugged", isFault("power", "meter "+elecAddr+" not answering"))

	sim.AddEnergy(2)
	r.socat.Start()
	r.startSim()
	r.waitFor("recovery after replug", isFault("power", meterbus.RecoveredPrefix))
	r.waitFor("electricity reading after replug", isMeter("power", 1236.56))
	if s := r.bus.Stats(); s.Closes == 0 {
		t.Errorf("stats %+v: want the port closed and reopened", s)
	}
}

// TestBusCounterAnomalies drives rollover, replacement and a leap through the
// simulator: the emitted total never decreases and only plausible use counts.
func TestBusCounterAnomalies(t *testing.T) {
	sim := newSim(t, metersim.Spec{Protocol: metersim.DLT645, Address: elecAddr, Total: 999999.5})
	r := newRig(t, sim, func(p string) meterbus.BusConfig { return fastBus(p, elecMeter()) })
	r.waitFor("reading near the maximum", isMeter("power", 999999.5))

	sim.AddEnergy(1) // the display wraps to 0000.50
	r.waitFor("continued total after rollover", isMeter("power", 1000000.5))

	if err := sim.SetTotal(elecAddr, 0.2); err != nil { // a new meter, below the wrapped display
		t.Fatal(err)
	}
	r.waitFor("replacement fault", isFault("power", "meter "+elecAddr+": reading went backwards"))
	r.waitFor("total held across replacement", isMeter("power", 1000000.5))
	sim.AddEnergy(0.25)
	r.waitFor("use on the new meter", isMeter("power", 1000000.75))
	// Hold the line until the new meter's reading is the baseline.

	sim.AddEnergy(500) // implausible within an hour
	r.waitFor("jump fault", isFault("power", "meter "+elecAddr+": implausible jump"))
	sim.AddEnergy(0.25)
	r.waitFor("use after the jump", isMeter("power", 1000001))

	last := 0.0
	for _, e := range r.seen {
		if v, ok := meterTotal(e); ok {
			if v < last {
				t.Errorf("total decreased %v → %v", last, v)
			}
			last = v
		}
	}
	if s := r.bus.Stats(); s.Wraps != 1 || s.Backwards != 1 || s.Jumps != 1 {
		t.Errorf("stats %+v: want one wrap, one backwards, one jump", s)
	}
}
