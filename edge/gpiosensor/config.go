package gpiosensor

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"

	"periph.io/x/conn/v3/gpio"
)

// Sensor types.
const (
	TypePIR        = "pir"
	TypeDoor       = "door"
	TypeButton     = "button"
	TypePulseWater = "pulse_water"
)

// Pull settings as written in the config.
const (
	PullUp   = "up"
	PullDown = "down"
	PullNone = "none"
)

// Config is the GPIO part of the edge daemon's configuration.
type Config struct {
	Sensors    []SensorConfig    `yaml:"sensors"`
	Indicators []IndicatorConfig `yaml:"indicators"`
}

// SensorConfig is one input. Zero durations take the type's default (see
// Defaults); a negative StuckAfter or SilentAfter turns that supervision off.
type SensorConfig struct {
	Name      string        `yaml:"name"` // the events' Sensor, e.g. "pir.bathroom"
	Type      string        `yaml:"type"` // pir | door | button | pulse_water
	Pin       string        `yaml:"pin"`  // line name, e.g. "GPIO17" (not a number: Pi 4 and Pi 5 number differently)
	Pull      string        `yaml:"pull"` // up | down | none; required, it depends on the wiring
	ActiveLow bool          `yaml:"active_low"`
	Debounce  time.Duration `yaml:"debounce"`

	// pir
	HoldOff     time.Duration `yaml:"hold_off"`     // minimum time between two Motion events
	SilentAfter time.Duration `yaml:"silent_after"` // no motion this long while the home is active elsewhere → Fault

	// button
	LongPress time.Duration `yaml:"long_press"` // held this long → Press long ("I'm OK")

	// door, button (and pir if set): the active state (open, held, output high)
	// lasting longer than this is implausible → Fault.
	StuckAfter time.Duration `yaml:"stuck_after"`

	// pulse_water
	LitresPerPulse float64 `yaml:"litres_per_pulse"`
	MaxFlowLPM     float64 `yaml:"max_flow_lpm"`  // the fastest flow the meter can see, litres per minute
	BaseTotalM3    float64 `yaml:"base_total_m3"` // the meter's register when pulse counting started
}

// IndicatorConfig is a local output: a buzzer or LED for the pre-alarm.
type IndicatorConfig struct {
	Name      string `yaml:"name"`
	Pin       string `yaml:"pin"`
	ActiveLow bool   `yaml:"active_low"`
}

// Defaults for fields left zero.
const (
	DefaultDebouncePIR    = 50 * time.Millisecond
	DefaultDebounceDoor   = 50 * time.Millisecond
	DefaultDebounceButton = 30 * time.Millisecond
	DefaultDebouncePulse  = 20 * time.Millisecond
	DefaultHoldOff        = 30 * time.Second
	DefaultSilentAfter    = 48 * time.Hour
	DefaultLongPress      = 3 * time.Second
	DefaultStuckButton    = 60 * time.Second
	DefaultStuckDoor      = 24 * time.Hour
	// DefaultMaxFlowLPM is above the overload flow Q4 = 3.125 m³/h ≈ 52 L/min of the
	// usual DN15 household meter (Q3 = 2.5 m³/h, ISO 4064 / GB/T 778), so the pulse
	// debounce check errs on the safe side.
	DefaultMaxFlowLPM = 60.0
)

// Debounce limits. A contact settles in a few milliseconds; anything near a
// second is hiding a wiring problem, and it delays every event by as much.
const (
	maxDebounce = time.Second
	// A pulse must keep each level for at least a tenth of its period at max flow
	// for the debounce to be safe: a reed switch on a rotating magnet is closed for
	// roughly 20–50 % of a revolution, and a tenth leaves a factor of two below the
	// shortest of those phases.
	pulseDebounceFraction = 10
)

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)

// WithDefaults returns c with the zero fields of its type filled in.
func (c SensorConfig) WithDefaults() SensorConfig {
	set := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	switch c.Type {
	case TypePIR:
		set(&c.Debounce, DefaultDebouncePIR)
		set(&c.HoldOff, DefaultHoldOff)
		set(&c.SilentAfter, DefaultSilentAfter)
	case TypeDoor:
		set(&c.Debounce, DefaultDebounceDoor)
		set(&c.StuckAfter, DefaultStuckDoor)
	case TypeButton:
		set(&c.Debounce, DefaultDebounceButton)
		set(&c.LongPress, DefaultLongPress)
		set(&c.StuckAfter, DefaultStuckButton)
	case TypePulseWater:
		set(&c.Debounce, DefaultDebouncePulse)
		if c.MaxFlowLPM == 0 {
			c.MaxFlowLPM = DefaultMaxFlowLPM
		}
	}
	return c
}

// PulsePeriod is the time between two pulses at the configured max flow:
// 60 s × litres per pulse ÷ litres per minute (1 L/pulse at 40 L/min → 1.5 s).
func (c SensorConfig) PulsePeriod() time.Duration {
	if c.LitresPerPulse <= 0 || c.MaxFlowLPM <= 0 {
		return 0
	}
	return time.Duration(float64(time.Minute) * c.LitresPerPulse / c.MaxFlowLPM)
}

// MaxPulseDebounce is the longest debounce that cannot swallow pulses at max flow.
func (c SensorConfig) MaxPulseDebounce() time.Duration {
	return c.PulsePeriod() / pulseDebounceFraction
}

func (c SensorConfig) pull() gpio.Pull {
	switch c.Pull {
	case PullUp:
		return gpio.PullUp
	case PullDown:
		return gpio.PullDown
	default:
		return gpio.Float
	}
}

// Validate reports everything wrong with c, each error naming the field as
// sensors[i].field or indicators[i].field.
func (c Config) Validate() error {
	var errs []error
	names := map[string]string{} // sensor or indicator name → where first seen
	pins := map[string]string{}
	claim := func(where, name, pin string) {
		if first, ok := names[name]; ok && name != "" {
			errs = append(errs, fmt.Errorf("%s.name: %q already used by %s", where, name, first))
		} else {
			names[name] = where
		}
		if first, ok := pins[pin]; ok && pin != "" {
			errs = append(errs, fmt.Errorf("%s.pin: %s already used by %s", where, pin, first))
		} else {
			pins[pin] = where
		}
	}
	for i, s := range c.Sensors {
		where := fmt.Sprintf("sensors[%d]", i)
		for _, err := range s.validate() {
			errs = append(errs, fmt.Errorf("%s.%w", where, err))
		}
		claim(where, s.Name, s.Pin)
	}
	for i, in := range c.Indicators {
		where := fmt.Sprintf("indicators[%d]", i)
		if err := checkName(in.Name); err != nil {
			errs = append(errs, fmt.Errorf("%s.name: %w", where, err))
		}
		if err := checkPin(in.Pin); err != nil {
			errs = append(errs, fmt.Errorf("%s.pin: %w", where, err))
		}
		claim(where, in.Name, in.Pin)
	}
	return errors.Join(errs...)
}

// validate returns "field: problem" errors for one sensor.
func (s SensorConfig) validate() []error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{field}, args...)...))
	}
	if err := checkName(s.Name); err != nil {
		bad("name", "%v", err)
	}
	if err := checkPin(s.Pin); err != nil {
		bad("pin", "%v", err)
	}
	switch s.Pull {
	case PullUp, PullDown, PullNone:
	case "":
		bad("pull", "missing; one of up, down, none (it depends on the wiring, see docs/gpio.md)")
	default:
		bad("pull", "%q, want up, down or none", s.Pull)
	}
	switch s.Type {
	case TypePIR, TypeDoor, TypeButton, TypePulseWater:
	case "":
		bad("type", "missing; one of pir, door, button, pulse_water")
		return errs
	default:
		bad("type", "%q, want pir, door, button or pulse_water", s.Type)
		return errs
	}

	// Fields that belong to another type are a misreading of the docs; say so
	// rather than ignore them.
	only := func(field, typ string, set bool) {
		if set && s.Type != typ {
			bad(field, "only for type %s, this sensor is %s", typ, s.Type)
		}
	}
	only("hold_off", TypePIR, s.HoldOff != 0)
	only("silent_after", TypePIR, s.SilentAfter != 0)
	only("long_press", TypeButton, s.LongPress != 0)
	only("litres_per_pulse", TypePulseWater, s.LitresPerPulse != 0)
	only("max_flow_lpm", TypePulseWater, s.MaxFlowLPM != 0)
	only("base_total_m3", TypePulseWater, s.BaseTotalM3 != 0)
	if s.Type == TypePulseWater && s.StuckAfter != 0 {
		bad("stuck_after", "not for pulse_water: a dial may rest with the reed closed")
	}

	d := s.WithDefaults()
	defaulted := func(v, orig time.Duration) string {
		if orig == 0 {
			return v.String() + " (default)"
		}
		return v.String()
	}
	if d.Debounce < 0 || d.Debounce > maxDebounce {
		bad("debounce", "%v, want 0 to %v", d.Debounce, maxDebounce)
	}
	switch s.Type {
	case TypePIR:
		if d.HoldOff < 0 || d.HoldOff > time.Hour {
			bad("hold_off", "%v, want 0 to 1h", d.HoldOff)
		}
		if d.SilentAfter > 0 && d.SilentAfter < time.Hour {
			bad("silent_after", "%v: under 1h a quiet room is normal; use ≥ 1h, or a negative value to turn it off", d.SilentAfter)
		}
	case TypeButton:
		if d.LongPress < 500*time.Millisecond || d.LongPress > 30*time.Second {
			bad("long_press", "%v, want 500ms to 30s", d.LongPress)
		}
		if d.StuckAfter > 0 && d.StuckAfter <= d.LongPress {
			bad("stuck_after", "%v must be longer than long_press %v", d.StuckAfter, d.LongPress)
		}
	case TypePulseWater:
		lpp := s.LitresPerPulse
		switch {
		case lpp == 0:
			bad("litres_per_pulse", "missing; the meter's pulse value, e.g. 1 or 10 (printed on the dial)")
		case !(lpp > 0 && lpp <= 1000) || math.IsNaN(lpp):
			bad("litres_per_pulse", "%v, want > 0 and ≤ 1000", lpp)
		}
		if !(d.MaxFlowLPM > 0 && d.MaxFlowLPM <= 1000) {
			bad("max_flow_lpm", "%v, want > 0 and ≤ 1000", d.MaxFlowLPM)
		}
		if !(s.BaseTotalM3 >= 0) || math.IsInf(s.BaseTotalM3, 0) {
			bad("base_total_m3", "%v, want a meter reading ≥ 0", s.BaseTotalM3)
		}
		// Debounce 0 means the default, so a pulse input is always debounced:
		// undebounced, every bounce of the reed would count as a pulse.
		rateOK := lpp > 0 && lpp <= 1000 && d.MaxFlowLPM > 0 && d.MaxFlowLPM <= 1000
		if rateOK && d.Debounce > d.MaxPulseDebounce() {
			bad("debounce", "%s would swallow pulses: at max_flow_lpm %v with %v L/pulse a pulse comes every %v, so debounce must be ≤ %v (a tenth of that)",
				defaulted(d.Debounce, s.Debounce), d.MaxFlowLPM, lpp, d.PulsePeriod().Round(time.Microsecond), d.MaxPulseDebounce().Round(time.Microsecond))
		}
	}
	return errs
}

func checkName(n string) error {
	switch {
	case n == "":
		return errors.New("missing; e.g. pir.bathroom")
	case len(n) > 64:
		return fmt.Errorf("%d bytes, at most 64", len(n))
	case !nameRE.MatchString(n):
		return fmt.Errorf("%q: use a-z 0-9 . _ - (e.g. pir.bathroom)", n)
	}
	return nil
}

func checkPin(p string) error {
	switch {
	case p == "":
		return errors.New("missing; a line name such as GPIO17")
	case strings.Trim(p, "0123456789") == "":
		return fmt.Errorf("%q is a number; use the line name GPIO%s: numbers differ between Pi 4 and Pi 5", p, p)
	}
	return nil
}
