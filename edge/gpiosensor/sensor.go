package gpiosensor

import (
	"context"
	"fmt"
	"math"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/shouwang-care/shouwang/firmware-protocol/event"
)

// minWait is the shortest timeout handed to WaitForEdge: gpioioctl treats 0 as
// "no deadline" and a negative one as "already expired".
const minWait = time.Millisecond

// sensor is one input and its state; the state belongs to the goroutine in run.
type sensor struct {
	cfg   SensorConfig // with defaults
	pin   Pin
	now   func() time.Time
	sleep func(context.Context, time.Duration) error
	poll  time.Duration
	sup   *supervisor
	base  float64 // pulse_water: m³ before the first pulse counted here

	active bool      // logical level (after active_low)
	since  time.Time // when active last changed

	lastMotion time.Time // pir: last Motion emitted

	pressed    bool // button
	pressStart time.Time
	longSent   bool

	pulses int64 // pulse_water

	stuck bool // a stuck fault is raised
}

type emitFunc func(event.Event) bool

func (s *sensor) read() bool {
	return (s.pin.Read() == gpio.High) != s.cfg.ActiveLow
}

// run watches the pin until ctx ends. Its only error is a pin that cannot be
// configured.
func (s *sensor) run(ctx context.Context, emit emitFunc) error {
	if err := s.pin.In(s.cfg.pull(), gpio.BothEdges); err != nil {
		return fmt.Errorf("sensor %s: configure %s as input with pull %s: %w", s.cfg.Name, s.pin.Name(), s.cfg.Pull, err)
	}
	now := s.now()
	s.active, s.since = s.read(), now
	if s.cfg.Type == TypeButton && s.active {
		// Held at start: we did not see the press begin, so report no press; the
		// stuck timer still runs from now.
		s.pressed, s.pressStart, s.longSent = true, now, true
	}
	s.sup.start(s.cfg.Name, now)

	for ctx.Err() == nil {
		wait := s.nextWait(s.now())
		before := s.now()
		if s.pin.WaitForEdge(wait) {
			t0 := s.now()
			s.settle()
			// The driver does not say which way the edge went: read the level.
			if !s.update(s.read(), t0, emit) {
				return nil
			}
		} else {
			if elapsed := s.now().Sub(before); elapsed < wait/2 {
				// The driver did not wait (periph host#78, or a line not set up
				// for edges): sleep out the rest so a broken driver costs one
				// call per wait instead of a spinning core. The level re-read
				// below then turns this into polling.
				if s.sleep(ctx, wait-elapsed) != nil {
					return nil
				}
			}
			// A level change whose edge was lost (queue overflow, broken driver)
			// still gets through, at most one poll late.
			if !s.update(s.read(), s.now(), emit) {
				return nil
			}
		}
		if !s.check(s.now(), emit) {
			return nil
		}
	}
	return nil
}

// settle waits until no edge has come for one debounce period: the bounce train
// of a contact ends before its level is worth reading.
func (s *sensor) settle() {
	d := s.cfg.Debounce
	if d <= 0 {
		return
	}
	if d < minWait {
		d = minWait
	}
	// A contact that chatters this long is not bouncing; take the level as it is
	// rather than stall the sensor.
	limit := 20 * d
	start := s.now()
	for s.pin.WaitForEdge(d) {
		if s.now().Sub(start) >= limit {
			return
		}
	}
}

// nextWait bounds the next WaitForEdge so timed decisions (long press, stuck)
// are taken on time, not up to a poll late.
func (s *sensor) nextWait(now time.Time) time.Duration {
	w := s.poll
	at := func(deadline time.Time) {
		if d := deadline.Sub(now); d < w {
			w = d
		}
	}
	if s.cfg.Type == TypeButton && s.pressed && !s.longSent {
		at(s.pressStart.Add(s.cfg.LongPress))
	}
	if s.cfg.StuckAfter > 0 && s.active && !s.stuck {
		at(s.since.Add(s.cfg.StuckAfter))
	}
	return max(w, minWait)
}

// update handles a (debounced) level read at t. It returns false when ctx ended
// during an emit.
func (s *sensor) update(active bool, t time.Time, emit emitFunc) bool {
	if active == s.active {
		return true // a glitch that came back, or a level already handled
	}
	held := t.Sub(s.since)
	s.active, s.since = active, t
	base := event.Event{T: t, Sensor: s.cfg.Name}

	switch s.cfg.Type {
	case TypePIR:
		if !active {
			break
		}
		if rec := s.sup.trigger(s.cfg.Name, t); rec != "" {
			if !emit(fault(base, rec)) {
				return false
			}
		}
		s.sup.activity(s.cfg.Name, t)
		// The PIR holds its output for seconds and re-triggers while someone
		// moves: one Motion per hold_off is all the rules need.
		if !s.lastMotion.IsZero() && t.Sub(s.lastMotion) < s.cfg.HoldOff {
			break
		}
		s.lastMotion = t
		e := base
		e.Kind = event.Motion
		if !emit(e) {
			return false
		}
	case TypeDoor:
		s.sup.activity(s.cfg.Name, t)
		e := base
		e.Kind, e.Open = event.Door, event.Bool(active)
		if !emit(e) {
			return false
		}
	case TypeButton:
		s.sup.activity(s.cfg.Name, t)
		if active {
			s.pressed, s.pressStart, s.longSent = true, t, false
			break
		}
		if !s.pressed {
			break
		}
		s.pressed = false
		if s.longSent {
			break
		}
		e := base
		e.Kind, e.Press = event.Button, event.PressShort
		if t.Sub(s.pressStart) >= s.cfg.LongPress {
			// Released in the same instant the threshold passed: still long.
			e.Press = event.PressLong
		}
		if !emit(e) {
			return false
		}
	case TypePulseWater:
		if !active {
			break
		}
		s.sup.activity(s.cfg.Name, t)
		s.pulses++
		e := base
		e.Kind, e.TotalM3 = event.Meter, event.Float(s.total())
		if !emit(e) {
			return false
		}
	}

	if !active && s.stuck {
		s.stuck = false
		if !emit(fault(base, recoveredDetail(FaultStuck, "%s after %v", s.releasedWord(), held.Round(time.Second)))) {
			return false
		}
	}
	return true
}

// check takes the decisions that depend on time passing rather than an edge.
func (s *sensor) check(now time.Time, emit emitFunc) bool {
	base := event.Event{T: now, Sensor: s.cfg.Name}
	if s.cfg.Type == TypeButton && s.pressed && !s.longSent && now.Sub(s.pressStart) >= s.cfg.LongPress {
		// Sent while still held, so the resident's "I'm OK" lands without
		// waiting for the release.
		s.longSent = true
		e := base
		e.Kind, e.Press = event.Button, event.PressLong
		if !emit(e) {
			return false
		}
	}
	if s.cfg.StuckAfter > 0 && s.active && !s.stuck && now.Sub(s.since) >= s.cfg.StuckAfter {
		s.stuck = true
		if !emit(fault(base, faultDetail(FaultStuck, "%s for %v (stuck_after %v); %s",
			s.heldWord(), now.Sub(s.since).Round(time.Second), s.cfg.StuckAfter, s.stuckHint()))) {
			return false
		}
	}
	if s.cfg.Type == TypePIR {
		if d := s.sup.silent(s.cfg.Name, now); d != "" {
			if !emit(fault(base, d)) {
				return false
			}
		}
	}
	return true
}

func (s *sensor) total() float64 {
	// Recomputed from the count rather than summed, so float error cannot
	// accumulate; rounded to the millilitre to keep the JSON readable.
	v := s.base + float64(s.pulses)*s.cfg.LitresPerPulse/1000
	return math.Round(v*1e6) / 1e6
}

func (s *sensor) heldWord() string {
	switch s.cfg.Type {
	case TypeDoor:
		return "door open"
	case TypeButton:
		return "button held"
	default:
		return "output active"
	}
}

func (s *sensor) releasedWord() string {
	switch s.cfg.Type {
	case TypeDoor:
		return "door closed"
	case TypeButton:
		return "button released"
	default:
		return "output inactive"
	}
}

func (s *sensor) stuckHint() string {
	switch s.cfg.Type {
	case TypeDoor:
		return "check the contact and its magnet, or the door was left open"
	case TypeButton:
		return "check for a jammed button or a short in its cable"
	default:
		return "check the sensor and its wiring"
	}
}

func fault(base event.Event, detail string) event.Event {
	base.Kind, base.Detail = event.Fault, detail
	return base
}
