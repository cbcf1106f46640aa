// Package event is the sensor event model shared by every source of facts about a
// home — GPIO sensors, meter pollers, radio sensor nodes, the simulator and replayed
// logs — and the rules that read them. It is also the JSON-lines format of
// `shouwang-edge replay` (see firmware-protocol/docs/events.md).
package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"
)

// Kind is what happened.
type Kind string

const (
	Meter  Kind = "meter"  // a cumulative meter reading (water m³ or electricity kWh)
	Motion Kind = "motion" // a PIR saw movement
	Door   Kind = "door"   // a door contact changed
	Button Kind = "button" // the SOS / "I'm OK" button
	Boot   Kind = "boot"   // the gateway started; nothing was recorded while it was off
	Fault  Kind = "fault"  // a device stopped answering or misbehaves (never a resident alert)
)

// Press tells a short press (SOS) from a long one ("I'm OK", cancels a pre-alarm).
type Press string

const (
	PressShort Press = "short"
	PressLong  Press = "long"
)

// Event is one fact about the home. Only the fields of its Kind are set.
type Event struct {
	T        time.Time `json:"t"`
	Sensor   string    `json:"sensor"`
	Kind     Kind      `json:"kind"`
	TotalM3  *float64  `json:"total_m3,omitempty"`  // Meter, water
	TotalKWh *float64  `json:"total_kwh,omitempty"` // Meter, electricity
	Open     *bool     `json:"open,omitempty"`      // Door
	Press    Press     `json:"press,omitempty"`     // Button; empty means short
	Detail   string    `json:"detail,omitempty"`    // Fault: what is wrong
}

// MaxLine bounds one encoded event; a longer line is corrupt input, not an event.
const MaxLine = 4096

// Validate reports the first thing wrong with e, naming the field.
func (e Event) Validate() error {
	if e.T.IsZero() {
		return errors.New("field t: missing time")
	}
	if e.Sensor == "" {
		return errors.New("field sensor: empty")
	}
	if len(e.Sensor) > 64 {
		return fmt.Errorf("field sensor: %d bytes, at most 64", len(e.Sensor))
	}
	switch e.Kind {
	case Meter:
		if (e.TotalM3 == nil) == (e.TotalKWh == nil) {
			return errors.New("meter event: exactly one of total_m3 and total_kwh must be set")
		}
		for name, v := range map[string]*float64{"total_m3": e.TotalM3, "total_kwh": e.TotalKWh} {
			if v != nil && (math.IsNaN(*v) || math.IsInf(*v, 0) || *v < 0) {
				return fmt.Errorf("field %s: %v is not a meter total", name, *v)
			}
		}
	case Door:
		if e.Open == nil {
			return errors.New("door event: field open missing")
		}
	case Button:
		if e.Press != "" && e.Press != PressShort && e.Press != PressLong {
			return fmt.Errorf("field press: %q, want short or long", e.Press)
		}
	case Motion, Boot, Fault:
	case "":
		return errors.New("field kind: missing")
	default:
		return fmt.Errorf("field kind: unknown %q", e.Kind)
	}
	return nil
}

// ParseLine decodes and validates one JSON-lines event.
func ParseLine(line []byte) (Event, error) {
	if len(line) > MaxLine {
		return Event{}, fmt.Errorf("event: %d bytes, at most %d", len(line), MaxLine)
	}
	var e Event
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return Event{}, fmt.Errorf("event: %w", err)
	}
	if err := e.Validate(); err != nil {
		return Event{}, fmt.Errorf("event: %w", err)
	}
	return e, nil
}

// Float returns a pointer to v, for building meter events.
func Float(v float64) *float64 { return &v }

// Bool returns a pointer to v, for building door events.
func Bool(v bool) *bool { return &v }
