package rules

import (
	"math"
	"sort"
	"strconv"
	"time"

	"github.com/shouwang-care/shouwang/firmware-protocol/mqttv1"
)

// outAfter: a door closed and no motion for this long means the resident went out.
const outAfter = 10 * time.Minute

// recentLife: a sign of life this recent vetoes raising no_water.
const recentLife = 2 * time.Hour

// verdict is one rule's condition now.
type verdict struct {
	on  bool
	sev mqttv1.Severity
	ev  []mqttv1.Evidence
}

// prealarmed are the resident rules that wait for the resident's cancel; SOS never
// waits, info rules are never sent as alarms.
var prealarmed = []string{NoWater, NoMotion, Routine, WaterRunning, PowerFlat, NightDoor}

// evaluate recomputes every time-based rule at t and returns the transitions.
func (e *Engine) evaluate(t time.Time) []mqttv1.Alert {
	var out []mqttv1.Alert
	if e.st.LastWaterAt.IsZero() {
		e.st.LastWaterAt = t // the no-water clock starts with the engine
	}
	if away := e.away(t); away != e.st.WasAway {
		e.st.WasAway = away
		if !away {
			e.st.AwayEnd = t
		}
	}
	for _, r := range prealarmed {
		out = append(out, e.settle(r, e.verdict(r, t), t)...)
	}
	for _, r := range []string{NoExit, WaterLeak, AwaySuggested} {
		v := e.verdict(r, t)
		ep, open := e.st.Open[r]
		switch {
		case v.on && !open:
			out = append(out, e.raise(r, mqttv1.Info, mqttv1.ClassResident, t, v.ev...)...)
		case !v.on && open:
			out = append(out, e.clear(r, ep, t, v.ev...)...)
		}
	}
	if ep, ok := e.st.Open[SOS]; ok && t.Sub(ep.RaisedAt) >= orDefault(e.set.SOSRearm, 30*time.Minute) {
		out = append(out, e.clear(SOS, ep, t, mqttv1.Evidence{Signal: "button", Note: "re-armed: a new press raises again"})...)
	}
	if ep, ok := e.st.Open[ClockJump]; ok && t.Sub(e.st.LastJumpAt) >= time.Hour {
		out = append(out, e.clear(ClockJump, ep, t, mqttv1.Evidence{Signal: "clock", Note: "no step for an hour"})...)
	}
	if ep, ok := e.st.Open[GatewayDown]; ok && t.Sub(ep.RaisedAt) >= 10*time.Minute {
		out = append(out, e.clear(GatewayDown, ep, t, mqttv1.Evidence{Signal: "gateway", Note: "running again"})...)
	}
	return out
}

// settle turns a verdict into transitions through the pre-alarm.
func (e *Engine) settle(rule string, v verdict, t time.Time) []mqttv1.Alert {
	ep, open := e.st.Open[rule]
	p, pending := e.st.Pending[rule]
	switch {
	case open && !v.on:
		return e.clear(rule, ep, t, v.ev...)
	case open:
		return nil
	case !v.on:
		// Resolved by activity during the pre-alarm: nothing was sent, nothing to say.
		delete(e.st.Pending, rule)
		return nil
	case e.set.PreAlarm > 0 && !pending:
		e.st.Pending[rule] = Pending{Since: t, Until: t.Add(e.set.PreAlarm)}
		return nil
	case pending && t.Before(p.Until):
		return nil
	}
	delete(e.st.Pending, rule)
	if pending {
		v.ev = append(v.ev, mqttv1.Evidence{Signal: "prealarm", LastAt: timePtr(p.Since), Threshold: secs(e.set.PreAlarm), Note: "local pre-alarm not cancelled"})
	}
	return e.raise(rule, v.sev, mqttv1.ClassResident, t, v.ev...)
}

// lastLife is the latest sign of a person: water, motion, a door, an "I'm OK".
func (e *Engine) lastLife() time.Time {
	// Motion that arrives is real even with a PIR reported faulty: a dead PIR only
	// makes the absence of motion meaningless (see out and no_motion).
	return maxTime(e.st.LastWaterAt, e.st.LastMotionAt, e.st.LastDoorOpenAt, e.st.LastLifeAt)
}

// out reports whether the resident seems to have gone out: the door closed, no motion
// or water since, for outAfter. Needs a working PIR to mean anything.
func (e *Engine) out(t time.Time) bool {
	return !e.st.DoorClosedAt.IsZero() && !e.st.LastMotionAt.IsZero() && !e.pirFaulty() &&
		t.Sub(e.st.DoorClosedAt) >= outAfter && e.lastLife().Before(e.st.DoorClosedAt.Add(time.Minute))
}

// severity: critical only when the signals agree — water, motion and power all quiet
// (those the home has) — otherwise warning, so one quiet meter never dispatches alone.
func (e *Engine) severity(t time.Time, quiet time.Duration) mqttv1.Severity {
	agree := t.Sub(e.st.LastWaterAt) >= quiet
	n := 1
	if !e.st.LastMotionAt.IsZero() && !e.pirFaulty() {
		agree = agree && t.Sub(maxTime(e.st.LastMotionAt, e.st.LastLifeAt)) >= quiet
		n++
	}
	if len(e.st.PowerHours) >= 24 {
		agree = agree && t.Sub(e.st.PowerActive) >= quiet
		n++
	}
	if agree && n >= 2 {
		return mqttv1.Critical
	}
	return mqttv1.Warning
}

func (e *Engine) verdict(rule string, t time.Time) verdict {
	s := e.set
	away := e.away(t)
	switch rule {
	case NoWater:
		if s.NoWater <= 0 || away {
			return verdict{}
		}
		if ep, open := e.st.Open[rule]; open {
			// Held until water is used: a restart or a clock step never clears it.
			return verdict{on: !maxTime(e.st.LastWaterAt, e.st.LastLifeAt).After(ep.RaisedAt), sev: ep.Severity}
		}
		if e.st.BootCheck && t.Sub(e.st.BootAt) < 10*time.Minute {
			// After a boot, the first water reading says whether water was used while
			// the gateway was off; until it comes (or the meter proves dead), wait.
			return verdict{}
		}
		last := maxTime(e.st.LastWaterAt, e.st.LastLifeAt, e.st.AwayEnd)
		thr := s.NoWater
		var ev []mqttv1.Evidence
		if e.out(t) && s.OutNoWater > thr {
			thr = s.OutNoWater
			ev = append(ev, mqttv1.Evidence{Signal: "door", LastAt: timePtr(e.st.DoorClosedAt), Note: "door closed, no activity since: may be out"})
		}
		if t.Sub(last) < thr {
			return verdict{}
		}
		if t.Sub(e.lastLife()) < recentLife {
			// Water quiet but the resident moving about: not someone on the floor.
			return verdict{}
		}
		ev = append([]mqttv1.Evidence{{Signal: "water", LastAt: timePtr(e.st.LastWaterAt), QuietSecs: secs(t.Sub(e.st.LastWaterAt)), Threshold: secs(thr)}}, ev...)
		return verdict{on: true, sev: e.severity(t, 2*time.Hour), ev: append(ev, e.context(t)...)}
	case NoMotion:
		if s.NoMotion <= 0 || away || e.st.LastMotionAt.IsZero() || e.pirFaulty() || e.out(t) {
			return verdict{}
		}
		// No sign of life at all, not merely no motion: a PIR that died or a resident
		// out of its view while using water is not an emergency.
		if ep, open := e.st.Open[rule]; open && !e.lastLife().After(ep.RaisedAt) {
			return verdict{on: true, sev: ep.Severity} // a restart is not a sign of life
		}
		last := maxTime(e.lastLife(), e.restart())
		quiet := e.awake(last, t)
		if quiet < s.NoMotion || inWindow(e.local(t), s.SleepStart, s.SleepEnd) {
			return verdict{}
		}
		ev := []mqttv1.Evidence{{Signal: "motion", LastAt: timePtr(e.st.LastMotionAt), QuietSecs: secs(t.Sub(e.st.LastMotionAt)), Threshold: secs(s.NoMotion), Note: "quiet counted in waking hours"}}
		return verdict{on: true, sev: e.severity(t, s.NoMotion), ev: append(ev, e.waterEvidence(t))}
	case Routine:
		if !e.learned() || away || e.out(t) {
			return verdict{}
		}
		if ep, open := e.st.Open[rule]; open && !e.lastLife().After(ep.RaisedAt) {
			return verdict{on: true, sev: ep.Severity}
		}
		last := maxTime(e.lastLife(), e.restart())
		if t.Sub(last) < orDefault(s.RoutineMin, 90*time.Minute) || inWindow(e.local(t), s.SleepStart, s.SleepEnd) {
			return verdict{}
		}
		lp := e.routineLogP(last, t)
		alpha := orDefault(s.RoutineAlpha, 0.001)
		if lp > math.Log(alpha) {
			return verdict{}
		}
		ev := []mqttv1.Evidence{{Signal: "routine", LastAt: timePtr(last), QuietSecs: secs(t.Sub(last)),
			Note: "usually active in these hours; chance of this silence " + pct(math.Exp(lp))}}
		return verdict{on: true, sev: e.severity(t, 2*time.Hour), ev: append(ev, e.context(t)...)}
	case WaterRunning:
		if s.WaterRunning <= 0 {
			return verdict{}
		}
		if ep, open := e.st.Open[rule]; open && (!e.st.RunStart.IsZero() || t.Sub(e.st.RunPause) < 3*time.Minute) && t.Sub(e.st.RunLast) < 10*time.Minute {
			// Hysteresis: one slow reading does not end it; three minutes of pause do.
			return verdict{on: true, sev: ep.Severity}
		}
		if e.st.RunStart.IsZero() || e.st.RunSnoozed || t.Sub(e.st.RunLast) >= 10*time.Minute || e.st.RunLast.Sub(e.st.RunStart) < s.WaterRunning {
			return verdict{}
		}
		run := e.st.RunLast.Sub(e.st.RunStart)
		sev := mqttv1.Warning
		if !e.st.LastMotionAt.IsZero() && !e.pirFaulty() && e.st.LastMotionAt.Before(e.st.RunStart.Add(5*time.Minute)) {
			sev = mqttv1.Critical // nobody moving while the tap runs: a fall in the shower
		}
		ev := []mqttv1.Evidence{{Signal: "water", LastAt: timePtr(e.st.RunStart), QuietSecs: secs(run), Threshold: secs(s.WaterRunning), Note: "flowing without pause since last_at"}}
		if !e.st.LastMotionAt.IsZero() {
			ev = append(ev, mqttv1.Evidence{Signal: "motion", LastAt: timePtr(e.st.LastMotionAt), QuietSecs: secs(t.Sub(e.st.LastMotionAt))})
		}
		return verdict{on: true, sev: sev, ev: ev}
	case WaterLeak:
		if s.Leak <= 0 {
			return verdict{}
		}
		run := time.Duration(e.st.LeakRun) * 30 * time.Minute
		if run < s.Leak && !(run > 0 && e.st.Open[rule].ID != "") {
			return verdict{ev: []mqttv1.Evidence{{Signal: "water", Note: "a dry half-hour"}}}
		}
		return verdict{on: true, ev: []mqttv1.Evidence{{Signal: "water", QuietSecs: secs(run), Threshold: secs(s.Leak),
			Note: "flow in every half-hour; smallest half-hour " + litres(e.st.LeakMinM3)}}}
	case PowerFlat:
		if s.PowerFlat <= 0 || away || len(e.st.PowerHours) < 24 || e.out(t) {
			return verdict{}
		}
		if ep, open := e.st.Open[rule]; open && !maxTime(e.st.PowerActive, e.st.LastLifeAt).After(ep.RaisedAt) {
			return verdict{on: true, sev: ep.Severity}
		}
		last := maxTime(e.st.PowerActive, e.st.LastLifeAt, e.restart(), e.st.PowerFirstAt)
		if t.Sub(last) < s.PowerFlat || t.Sub(e.lastLife()) < recentLife {
			return verdict{}
		}
		ev := []mqttv1.Evidence{{Signal: "power", LastAt: timePtr(last), QuietSecs: secs(t.Sub(last)), Threshold: secs(s.PowerFlat), Note: "at base load " + kw(e.powerBase())}}
		return verdict{on: true, sev: e.severity(t, 2*time.Hour), ev: append(ev, e.waterEvidence(t))}
	case NightDoor:
		// Fifteen minutes without a sign of return: putting out the rubbish is not wandering.
		if e.st.NightDoorAt.IsZero() || e.st.NightAcked || away || s.NightStart == s.NightEnd || t.Sub(e.st.NightDoorAt) < 15*time.Minute {
			return verdict{}
		}
		return verdict{on: true, sev: mqttv1.Warning, ev: []mqttv1.Evidence{{Signal: "door", LastAt: timePtr(e.st.NightDoorAt), Note: "door opened in the small hours, no sign of return"}}}
	case NoExit:
		if s.NoExit <= 0 || away || e.st.LastDoorOpenAt.IsZero() {
			return verdict{}
		}
		last := maxTime(e.st.LastDoorOpenAt, e.restart())
		if t.Sub(last) < s.NoExit {
			return verdict{}
		}
		return verdict{on: true, ev: []mqttv1.Evidence{{Signal: "door", LastAt: timePtr(e.st.LastDoorOpenAt), QuietSecs: secs(t.Sub(e.st.LastDoorOpenAt)), Threshold: secs(s.NoExit), Note: "front door not opened"}}}
	case AwaySuggested:
		if s.SuggestAway <= 0 || away || !e.out(t) || t.Sub(e.st.DoorClosedAt) < s.SuggestAway ||
			(len(e.st.PowerHours) >= 24 && e.st.PowerActive.After(e.st.DoorClosedAt)) {
			return verdict{}
		}
		return verdict{on: true, ev: []mqttv1.Evidence{{Signal: "door", LastAt: timePtr(e.st.DoorClosedAt), QuietSecs: secs(t.Sub(e.st.DoorClosedAt)), Note: "door closed and every signal quiet: set away?"}}}
	}
	return verdict{}
}

func (e *Engine) waterEvidence(t time.Time) mqttv1.Evidence {
	return mqttv1.Evidence{Signal: "water", LastAt: timePtr(e.st.LastWaterAt), QuietSecs: secs(t.Sub(e.st.LastWaterAt))}
}

// context is the other signals' last signs of life, for the worker reading the alert.
func (e *Engine) context(t time.Time) []mqttv1.Evidence {
	var ev []mqttv1.Evidence
	if !e.st.LastMotionAt.IsZero() {
		m := mqttv1.Evidence{Signal: "motion", LastAt: timePtr(e.st.LastMotionAt), QuietSecs: secs(t.Sub(e.st.LastMotionAt))}
		if e.pirFaulty() {
			m.Note = "PIR reported faulty"
		}
		ev = append(ev, m)
	}
	if len(e.st.PowerHours) >= 24 {
		ev = append(ev, mqttv1.Evidence{Signal: "power", LastAt: timePtr(e.st.PowerActive), QuietSecs: secs(t.Sub(e.st.PowerActive)), Note: "base load " + kw(e.powerBase())})
	}
	if !e.st.LastDoorOpenAt.IsZero() {
		ev = append(ev, mqttv1.Evidence{Signal: "door", LastAt: timePtr(e.st.LastDoorOpenAt)})
	}
	return ev
}

// awake is the time in [a, b) outside the sleep window.
func (e *Engine) awake(a, b time.Time) time.Duration {
	if !b.After(a) {
		return 0
	}
	if e.set.SleepStart == e.set.SleepEnd {
		return b.Sub(a)
	}
	if b.Sub(a) > 7*24*time.Hour {
		a = b.Add(-7 * 24 * time.Hour)
	}
	var total time.Duration
	for t := e.local(a); t.Before(b); {
		next := e.nextEdge(t)
		if next.After(b) {
			next = b
		}
		if !inWindow(t, e.set.SleepStart, e.set.SleepEnd) {
			total += next.Sub(t)
		}
		t = next
	}
	return total
}

// nextEdge is the next start or end of the sleep window after t (local).
func (e *Engine) nextEdge(t time.Time) time.Time {
	y, m, d := t.Date()
	mid := time.Date(y, m, d, 0, 0, 0, 0, t.Location())
	best := mid.Add(48 * time.Hour)
	for _, c := range []time.Time{mid.Add(e.set.SleepStart), mid.Add(e.set.SleepEnd), mid.Add(24*time.Hour + e.set.SleepStart), mid.Add(24*time.Hour + e.set.SleepEnd)} {
		if c.After(t) && c.Before(best) {
			best = c
		}
	}
	return best
}

func (e *Engine) raise(rule string, sev mqttv1.Severity, class mqttv1.Class, at time.Time, ev ...mqttv1.Evidence) []mqttv1.Alert {
	return e.raiseAs(rule, rule, sev, class, at, ev...)
}

// raiseAs opens the episode key (one per rule, or per sensor for device faults).
func (e *Engine) raiseAs(key, rule string, sev mqttv1.Severity, class mqttv1.Class, at time.Time, ev ...mqttv1.Evidence) []mqttv1.Alert {
	if _, open := e.st.Open[key]; open {
		return nil
	}
	ep := Episode{ID: e.newID(), RaisedAt: at, Severity: sev}
	if rule != key {
		ep.Rule = rule
	}
	if class != mqttv1.ClassResident {
		ep.Class = class
	}
	e.st.Open[key] = ep
	return []mqttv1.Alert{alert(key, ep, mqttv1.Raised, at, ev)}
}

func (e *Engine) clear(key string, ep Episode, at time.Time, ev ...mqttv1.Evidence) []mqttv1.Alert {
	delete(e.st.Open, key)
	if at.Before(ep.RaisedAt) {
		at = ep.RaisedAt
	}
	return []mqttv1.Alert{alert(key, ep, mqttv1.Cleared, at, ev)}
}

func alert(key string, ep Episode, state mqttv1.AlertState, at time.Time, ev []mqttv1.Evidence) mqttv1.Alert {
	rule, class := key, ep.Class
	if ep.Rule != "" {
		rule = ep.Rule
	}
	if class == "" {
		class = mqttv1.ClassResident
	}
	if len(ev) > 16 {
		ev = ev[:16]
	}
	if ev == nil {
		ev = []mqttv1.Evidence{}
	}
	return mqttv1.Alert{V: mqttv1.Version, ID: ep.ID, Rule: rule, State: state, Severity: ep.Severity,
		Class: class, At: at, RaisedAt: ep.RaisedAt, Evidence: ev}
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func pct(p float64) string { return strconv.FormatFloat(p*100, 'g', 2, 64) + " %" }

func litres(m3 float64) string { return strconv.FormatFloat(m3*1000, 'f', 1, 64) + " L" }

func kw(v float64) string { return strconv.FormatFloat(v*1000, 'f', 0, 64) + " W" }
