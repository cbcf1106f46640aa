// Package sim is a simulated home on a fast clock, so a newcomer or a test sees the
// 12-hour rule fire in seconds: water and electricity meters, motion and a door.
package sim

import (
	"context"
	"time"

	"github.com/shouwang-care/shouwang/firmware-protocol/event"
	"github.com/shouwang-care/shouwang/firmware-protocol/sensornode"
)

// Clock runs virtual time at speed× real time from start.
type Clock struct {
	start     time.Time
	realStart time.Time
	speed     float64
}

// DayStart is where a simulated home's clock starts: 06:00 yesterday in now's
// location. Yesterday, so that the simulated readings lie 18–42 hours in the
// past at first: charts end at the real now, and a day starting today would
// put everything in the future whenever the real clock is before 06:00 plus
// the first reading (it did, for CI runs between 00:00 and 06:00 in Shanghai).
func DayStart(now time.Time) time.Time {
	y := now.AddDate(0, 0, -1)
	return time.Date(y.Year(), y.Month(), y.Day(), 6, 0, 0, 0, now.Location())
}

// NewClock starts a virtual clock at start.
func NewClock(start time.Time, speed float64) *Clock {
	return &Clock{start: start, realStart: time.Now(), speed: speed}
}

// Now returns the virtual time (monotonic underneath: real elapsed time is measured
// with time.Since, which ignores wall-clock jumps).
func (c *Clock) Now() time.Time {
	return c.start.Add(time.Duration(float64(time.Since(c.realStart)) * c.speed))
}

// Real converts a virtual duration to the real duration it takes.
func (c *Clock) Real(d time.Duration) time.Duration { return time.Duration(float64(d) / c.speed) }

// Scenario lists what the resident does, as offsets from the start of the day.
type Scenario struct {
	Name   string
	Events []Step
}

// Step is one act of the resident.
type Step struct {
	At     time.Duration // since the virtual start
	Kind   event.Kind
	Sensor string
	Litres float64 // water drawn (Meter)
	KWh    float64 // electricity used (Meter)
	Open   bool    // Door
}

// Collapse: a normal early morning, then nothing — the resident has fallen at 07:10.
// The no-water rule fires 12 h after the last use at 06:42.
func Collapse() Scenario {
	return Scenario{Name: "collapse", Events: []Step{
		{At: 5 * time.Minute, Kind: event.Motion, Sensor: "pir.bedroom"},
		{At: 20 * time.Minute, Kind: event.Motion, Sensor: "pir.bathroom"},
		{At: 21 * time.Minute, Kind: event.Meter, Sensor: "water", Litres: 6},
		{At: 30 * time.Minute, Kind: event.Motion, Sensor: "pir.kitchen"},
		{At: 31 * time.Minute, Kind: event.Meter, Sensor: "power", KWh: 0.3},
		{At: 42 * time.Minute, Kind: event.Meter, Sensor: "water", Litres: 2.5},
		{At: 70 * time.Minute, Kind: event.Motion, Sensor: "pir.kitchen"},
	}}
}

// Normal: a routine that never trips the rules (water every few hours, day after day).
func Normal() Scenario {
	var s []Step
	for day := range 30 {
		base := time.Duration(day) * 24 * time.Hour
		for _, h := range []time.Duration{30 * time.Minute, 3 * time.Hour, 6 * time.Hour, 10 * time.Hour, 13 * time.Hour, 15 * time.Hour} {
			s = append(s,
				Step{At: base + h, Kind: event.Motion, Sensor: "pir.kitchen"},
				Step{At: base + h + time.Minute, Kind: event.Meter, Sensor: "water", Litres: 8},
				Step{At: base + h + 2*time.Minute, Kind: event.Meter, Sensor: "power", KWh: 0.2})
		}
		s = append(s, Step{At: base + 4*time.Hour, Kind: event.Door, Sensor: "door.front", Open: true},
			Step{At: base + 4*time.Hour + time.Minute, Kind: event.Door, Sensor: "door.front", Open: false})
	}
	return Scenario{Name: "normal", Events: s}
}

// Meters is where the resident's water and electricity use goes when the meters
// are simulated devices (read by the daemon over a serial line) rather than events.
type Meters interface {
	AddWater(litres float64)
	AddEnergy(kwh float64)
}

// Radio is where sensors on battery radio nodes report: the home's movement in the
// bathroom goes over the air, framed by the sensor-node protocol.
type Radio interface {
	Has(sensor string) bool
	Send(sensor string, ev sensornode.Event) error
	CheckInAll() error
}

// Home plays a scenario on a clock.
type Home struct {
	// Radio, when set, carries the steps of the sensors it has (and a check-in
	// from every node each virtual hour); Home emits no events for them.
	Radio    Radio
	Clock    *Clock
	Scenario Scenario
	// Meters, when set, receives water and energy use and Home emits no meter
	// events: the daemon polls the simulated meters through the real codecs.
	Meters   Meters
	WaterM3  float64 // meter totals at the start (when Meters is nil)
	PowerKWh float64
	// ReadEvery is the virtual interval of meter readings, as a real meter poller would
	// produce whether or not anything was used.
	ReadEvery time.Duration
}

// Run emits the scenario's events on out until the scenario ends or ctx is done.
func (h *Home) Run(ctx context.Context, out chan<- event.Event) error {
	if h.ReadEvery == 0 {
		h.ReadEvery = 10 * time.Minute
	}
	start := h.Clock.start
	next, nextRead, nextCheckIn := 0, time.Duration(0), time.Duration(0)
	water, power := h.WaterM3, h.PowerKWh
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	emit := func(e event.Event) bool {
		select {
		case out <- e:
			return true
		case <-ctx.Done():
			return false
		}
	}
	for {
		elapsed := h.Clock.Now().Sub(start)
		// Merge scenario steps and periodic readings in time order, as real sensors would.
		for {
			stepDue := next < len(h.Scenario.Events) && h.Scenario.Events[next].At <= elapsed
			readDue := h.Meters == nil && nextRead <= elapsed
			if !stepDue && !readDue {
				break
			}
			if readDue && (!stepDue || nextRead < h.Scenario.Events[next].At) {
				t := start.Add(nextRead)
				nextRead += h.ReadEvery
				if !emit(event.Event{T: t, Sensor: "water", Kind: event.Meter, TotalM3: event.Float(water)}) ||
					!emit(event.Event{T: t, Sensor: "power", Kind: event.Meter, TotalKWh: event.Float(power)}) {
					return nil
				}
				continue
			}
			s := h.Scenario.Events[next]
			next++
			if h.Radio != nil && h.Radio.Has(s.Sensor) {
				if ev, ok := radioEvent(s); ok {
					if err := h.Radio.Send(s.Sensor, ev); err != nil {
						return err
					}
					continue
				}
			}
			e := event.Event{T: start.Add(s.At), Sensor: s.Sensor, Kind: s.Kind}
			switch s.Kind {
			case event.Meter:
				if h.Meters != nil {
					if s.Litres > 0 {
						h.Meters.AddWater(s.Litres)
					} else {
						h.Meters.AddEnergy(s.KWh)
					}
					continue
				}
				if s.Litres > 0 {
					water += s.Litres / 1000
					e.TotalM3 = event.Float(water)
				} else {
					power += s.KWh
					e.TotalKWh = event.Float(power)
				}
			case event.Door:
				e.Open = event.Bool(s.Open)
			}
			if !emit(e) {
				return nil
			}
		}
		if h.Radio != nil && elapsed >= nextCheckIn {
			nextCheckIn = elapsed + time.Hour
			if err := h.Radio.CheckInAll(); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// radioEvent maps a scenario step to the event code a node would send.
func radioEvent(s Step) (sensornode.Event, bool) {
	switch s.Kind {
	case event.Motion:
		return sensornode.EventMotion, true
	case event.Door:
		if s.Open {
			return sensornode.EventDoorOpen, true
		}
		return sensornode.EventDoorClose, true
	case event.Button:
		return sensornode.EventSOS, true
	}
	return 0, false
}
