// Package rules turns sensor events into alert transitions. The engine is a pure
// function of the events and the times it is given — no goroutines, no clock of its
// own — so the live daemon, the simulator and replay all run the same code.
package rules

import (
	"time"

	"github.com/shouwang-care/shouwang/firmware-protocol/event"
	"github.com/shouwang-care/shouwang/firmware-protocol/mqttv1"
)

// Rule names as they appear on the wire.
const (
	NoWater = "no_water"
	SOS     = "sos"
)

// waterEpsilon is the smallest rise of a water total that counts as use: half a litre,
// below the resolution of household meters, so rounding noise is not "use".
const waterEpsilon = 0.0005

// Settings are the per-home thresholds; the cloud's config may change them.
type Settings struct {
	NoWater time.Duration
	Away    bool // resident away (travel, hospital): no-activity rules pause
}

// Episode is an open alert: raised, not yet cleared.
type Episode struct {
	ID       string          `json:"id"`
	RaisedAt time.Time       `json:"raised_at"`
	Severity mqttv1.Severity `json:"severity"`
}

// State is what the engine must remember across restarts.
type State struct {
	WaterTotal   *float64           `json:"water_total,omitempty"`
	LastWaterAt  time.Time          `json:"last_water_at"`
	LastMotionAt time.Time          `json:"last_motion_at"`
	Open         map[string]Episode `json:"open,omitempty"`
}

// Engine evaluates the rules for one home. Not safe for concurrent use: its owner
// serialises events and ticks.
type Engine struct {
	set   Settings
	st    State
	newID func() string
}

// New returns an engine resuming from st (the zero State for a new home). newID
// makes globally unique alert IDs.
func New(set Settings, st State, newID func() string) *Engine {
	if st.Open == nil {
		st.Open = map[string]Episode{}
	}
	return &Engine{set: set, st: st, newID: newID}
}

// State returns a copy of what to persist.
func (e *Engine) State() State {
	st := e.st
	st.Open = make(map[string]Episode, len(e.st.Open))
	for k, v := range e.st.Open {
		st.Open[k] = v
	}
	return st
}

// SetSettings applies new thresholds; the next Tick evaluates with them.
func (e *Engine) SetSettings(s Settings) { e.set = s }

// Observe feeds one event and returns the transitions it causes.
func (e *Engine) Observe(ev event.Event) []mqttv1.Alert {
	var out []mqttv1.Alert
	switch ev.Kind {
	case event.Meter:
		if ev.TotalM3 == nil {
			break
		}
		total := *ev.TotalM3
		prev := e.st.WaterTotal
		e.st.WaterTotal = &total
		switch {
		case prev == nil:
			// First reading: no evidence of use yet, but the clock starts now.
			if e.st.LastWaterAt.IsZero() {
				e.st.LastWaterAt = ev.T
			}
		case total > *prev+waterEpsilon:
			e.st.LastWaterAt = ev.T
			out = append(out, e.clear(NoWater, ev.T, mqttv1.Evidence{Signal: "water", LastAt: timePtr(ev.T), Note: "water used again"})...)
		case total < *prev:
			// A meter replaced or read wrongly: new baseline, never "negative use".
		default:
			// Below the use threshold: keep the old total so slow drips add up.
			e.st.WaterTotal = prev
		}
	case event.Motion:
		e.st.LastMotionAt = ev.T
	case event.Button:
		if ev.Press != event.PressLong {
			out = append(out, e.raise(SOS, mqttv1.Critical, ev.T, mqttv1.Evidence{Signal: "button", LastAt: timePtr(ev.T), Note: ev.Sensor})...)
		}
	case event.Boot:
		if e.st.LastWaterAt.IsZero() {
			e.st.LastWaterAt = ev.T
		}
	}
	return out
}

// Tick evaluates the time-based rules at now.
func (e *Engine) Tick(now time.Time) []mqttv1.Alert {
	if e.st.LastWaterAt.IsZero() {
		e.st.LastWaterAt = now
	}
	quiet := now.Sub(e.st.LastWaterAt)
	if e.set.Away || e.set.NoWater <= 0 || quiet < e.set.NoWater {
		return nil
	}
	ev := []mqttv1.Evidence{{Signal: "water", LastAt: timePtr(e.st.LastWaterAt), QuietSecs: int64(quiet / time.Second), Threshold: int64(e.set.NoWater / time.Second)}}
	if !e.st.LastMotionAt.IsZero() {
		ev = append(ev, mqttv1.Evidence{Signal: "motion", LastAt: timePtr(e.st.LastMotionAt), QuietSecs: int64(now.Sub(e.st.LastMotionAt) / time.Second)})
	}
	return e.raise(NoWater, mqttv1.Critical, now, ev...)
}

func (e *Engine) raise(rule string, sev mqttv1.Severity, at time.Time, ev ...mqttv1.Evidence) []mqttv1.Alert {
	if _, open := e.st.Open[rule]; open {
		return nil
	}
	ep := Episode{ID: e.newID(), RaisedAt: at, Severity: sev}
	e.st.Open[rule] = ep
	return []mqttv1.Alert{alert(rule, ep, mqttv1.Raised, at, ev)}
}

func (e *Engine) clear(rule string, at time.Time, ev ...mqttv1.Evidence) []mqttv1.Alert {
	ep, open := e.st.Open[rule]
	if !open {
		return nil
	}
	delete(e.st.Open, rule)
	if at.Before(ep.RaisedAt) {
		at = ep.RaisedAt
	}
	return []mqttv1.Alert{alert(rule, ep, mqttv1.Cleared, at, ev)}
}

func alert(rule string, ep Episode, state mqttv1.AlertState, at time.Time, ev []mqttv1.Evidence) mqttv1.Alert {
	return mqttv1.Alert{V: mqttv1.Version, ID: ep.ID, Rule: rule, State: state, Severity: ep.Severity,
		Class: mqttv1.ClassResident, At: at, RaisedAt: ep.RaisedAt, Evidence: ev}
}

func timePtr(t time.Time) *time.Time { return &t }
