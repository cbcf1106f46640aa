package rules

import (
	"math"
	"sort"
	"time"
)

// Activity bits of one hour.
const (
	bitWater uint8 = 1 << iota
	bitMotion
	bitDoor
	bitPower
)

// baselineCap bounds the weeks an hour-of-week slot remembers: older weeks fade (the
// counts halve) so a changed routine is learned again within about two months.
const baselineCap = 8

// Baseline is the home's own routine: for each hour of the week (Monday 00:00 = 0,
// local time), in how many observed weeks there was water use, motion, electricity
// above base load, and any sign of a person (water, motion or a door). 5 × 168 bytes.
type Baseline struct {
	Seen   [168]uint8 `json:"seen"`
	Water  [168]uint8 `json:"water"`
	Motion [168]uint8 `json:"motion"`
	Power  [168]uint8 `json:"power"`
	Any    [168]uint8 `json:"any"`
	Hours  int        `json:"hours"` // hours learned in total
}

func hourOfWeek(t time.Time) int {
	return (int(t.Weekday())+6)%7*24 + t.Hour()
}

func (b *Baseline) add(slot int, bits uint8) {
	if b.Seen[slot] >= baselineCap {
		for _, a := range []*[168]uint8{&b.Seen, &b.Water, &b.Motion, &b.Power, &b.Any} {
			a[slot] = (a[slot] + 1) / 2
		}
	}
	inc := func(a *[168]uint8, bit uint8) {
		if bits&bit != 0 {
			a[slot]++
		}
	}
	b.Seen[slot]++
	inc(&b.Water, bitWater)
	inc(&b.Motion, bitMotion)
	inc(&b.Power, bitPower)
	inc(&b.Any, bitWater|bitMotion|bitDoor)
	b.Hours++
}

// pActive is the chance of a sign of life in the hour-of-week slot: the slot's own
// weeks, shrunk towards the same hour on all days (two weeks give a slot only two
// observations). Capped so one learned habit never means certainty.
func (b *Baseline) pActive(slot int) float64 {
	h := slot % 24
	var a, s float64
	for d := range 7 {
		a += float64(b.Any[d*24+h])
		s += float64(b.Seen[d*24+h])
	}
	pDay := (a + 0.5) / (s + 1)
	p := (float64(b.Any[slot]) + 2*pDay) / (float64(b.Seen[slot]) + 2)
	return min(p, 0.97)
}

// learnTo closes the hours that ended before t into the baseline. Hours with a gap
// (gateway off), away or out are not typical of the routine and are skipped.
func (e *Engine) learnTo(t time.Time) {
	hour := e.local(t).Truncate(time.Hour)
	if e.st.Hour.IsZero() {
		e.st.Hour, e.st.HourBits = hour, 0
		e.st.HourKWh = e.powerNow()
		return
	}
	if !hour.After(e.st.Hour) {
		return
	}
	if hour.Sub(e.st.Hour) == time.Hour && !e.st.BootAt.After(e.st.Hour) {
		kwh := e.powerNow() - e.st.HourKWh
		e.powerHour(hour, kwh)
		if e.st.PowerTotal != nil && kwh > e.powerBase()+orDefault(e.set.PowerMarginKW, 0.04) {
			e.st.HourBits |= bitPower
		}
		if !e.away(e.st.Hour) && !e.out(e.st.Hour.Add(30*time.Minute)) {
			e.st.Base.add(hourOfWeek(e.local(e.st.Hour)), e.st.HourBits)
		}
	} else {
		e.st.PowerHours = nil // not contiguous: the power history restarts
	}
	e.st.Hour, e.st.HourBits = hour, 0
	e.st.HourKWh = e.powerNow()
}

func (e *Engine) powerNow() float64 {
	if e.st.PowerTotal == nil {
		return 0
	}
	return *e.st.PowerTotal
}

func (e *Engine) powerHour(end time.Time, kwh float64) {
	if e.st.PowerTotal == nil || kwh < 0 {
		return
	}
	e.st.PowerHours = append(e.st.PowerHours, kwh)
	if len(e.st.PowerHours) > 24 {
		e.st.PowerHours = e.st.PowerHours[len(e.st.PowerHours)-24:]
	}
	if len(e.st.PowerHours) == 24 && e.st.PowerActive.Before(end.Add(-24*time.Hour)) {
		// The base load just became known: flatness is measured from here.
		e.st.PowerActive = end
	}
	if len(e.st.PowerHours) >= 24 && kwh > e.powerBase()+orDefault(e.set.PowerMarginKW, 0.04) {
		e.st.PowerActive = end
	}
}

// powerBase is the base load (fridge, standby): the 4th-lowest hour of the last day,
// so one odd hour (a fridge defrost skipped) does not set it. Before a full day of
// history it is unknown (+Inf: nothing counts as use, power_flat stays off).
func (e *Engine) powerBase() float64 {
	if len(e.st.PowerHours) < 24 {
		return math.Inf(1)
	}
	h := append([]float64(nil), e.st.PowerHours...)
	sort.Float64s(h)
	return h[3]
}

// learned reports whether the baseline has enough history for the routine rule.
func (e *Engine) learned() bool {
	return e.set.Routine && e.st.Base.Hours >= orDefault(e.set.LearnDays, 14)*24*4/5
}

// routineLogP is the log-probability, under the learned routine, that no sign of
// life appears in (from, to]: the sum over the hours it overlaps of log(1-p), each
// weighted by the fraction of the hour covered. The sleep window does not count
// (counting it raised more late-wake alarms than it saved time at night).
func (e *Engine) routineLogP(from, to time.Time) float64 {
	var lp float64
	if to.Sub(from) > 48*time.Hour {
		from = to.Add(-48 * time.Hour)
	}
	for h := e.local(from).Truncate(time.Hour); h.Before(to); h = h.Add(time.Hour) {
		a, b := maxTime(h, from), h.Add(time.Hour)
		if b.After(to) {
			b = to
		}
		if !b.After(a) || inWindow(h.Add(30*time.Minute), e.set.SleepStart, e.set.SleepEnd) {
			continue
		}
		p := e.st.Base.pActive(hourOfWeek(h))
		lp += b.Sub(a).Hours() * math.Log(1-p)
	}
	return lp
}
