package rules

import (
	"time"

	"github.com/shouwang-care/shouwang/firmware-protocol/mqttv1"
)

// backTolerance: sources stamp their own events, so small reorderings are normal
// and only clamped; a larger step back is the wall clock moving.
const backTolerance = time.Minute

// bootGrace: a forward step this soon after a boot is the clock being set (NTP after
// a boot in the past), and the gap is real elapsed time — the gateway was off.
const bootGrace = 30 * time.Minute

// advance maps an incoming time to engine time and moves the engine clock.
//
// Wall-clock steps must neither fire nor reset a timer:
//   - backwards (a Pi without RTC booting at its last saved time, a manual change):
//     Skew absorbs the step, engine time continues from where it was;
//   - forwards by more than Settings.MaxForward while running: absorbed the same way,
//     first paying back any Skew (the clock catching up after a step back);
//   - forwards within bootGrace of a boot: accepted — the outage really happened, and
//     the first meter reading after the boot tells whether water was used in it.
//
// Each absorbed step counts in ClockJumps and opens a gateway-class clock_jump alert.
func (e *Engine) advance(in time.Time) (time.Time, []mqttv1.Alert) {
	t := in.Add(e.st.Skew)
	if e.st.Now.IsZero() {
		e.st.Now = t
		e.learnTo(t)
		return t, nil
	}
	var out []mqttv1.Alert
	step := t.Sub(e.st.Now)
	switch {
	case step < -backTolerance:
		e.st.Skew -= step
		out = e.jumped(e.st.Now, step)
		t = e.st.Now
	case step > e.set.MaxForward && e.set.MaxForward > 0:
		payback := min(step, max(e.st.Skew, 0))
		e.st.Skew -= payback
		rest := step - payback
		if rest > e.set.MaxForward && !(e.st.BootAt.After(e.st.Now.Add(-bootGrace))) {
			e.st.Skew -= rest
			out = e.jumped(e.st.Now, rest)
			rest = 0
		} else if rest > e.set.MaxForward {
			// The clock was set after a boot: what was stamped since the boot with the
			// wrong clock happened after the outage, and so did the boot.
			e.shiftSince(e.st.BootAt, rest)
		}
		t = e.st.Now.Add(rest)
	case step < 0:
		t = e.st.Now
	}
	e.st.Now = t
	e.learnTo(t)
	return t, out
}

func (e *Engine) jumped(at time.Time, step time.Duration) []mqttv1.Alert {
	e.st.ClockJumps++
	e.st.LastJumpAt = at
	return e.raise(ClockJump, mqttv1.Warning, mqttv1.ClassGateway, at, mqttv1.Evidence{
		Signal: "clock", LastAt: timePtr(at), Note: "wall clock stepped " + step.Round(time.Second).String() + "; absorbed, timers unaffected"})
}

// boot: the gateway (re)started. Nothing was recorded while it was off: water and
// power are cumulative, so their next readings tell what happened; motion and doors
// are not, so their quiet timers restart at the boot rather than raise for a gap
// nobody could see.
func (e *Engine) boot(in time.Time) []mqttv1.Alert {
	last := e.st.Now
	// A boot is a legitimate forward step (the outage); backwards is still a jump.
	t := in.Add(e.st.Skew)
	var out []mqttv1.Alert
	if !last.IsZero() && t.Before(last.Add(-backTolerance)) {
		e.st.Skew += last.Sub(t)
		out = e.jumped(last, t.Sub(last))
		t = last
	}
	if t.Before(last) {
		t = last
	}
	e.st.Now = t
	e.st.BootAt = t
	e.st.BootCheck = true
	e.st.WaterRawAt = time.Time{} // no flow rate across a gap
	e.st.RunStart, e.st.RunPause = time.Time{}, time.Time{}
	e.learnTo(t)
	if e.st.LastWaterAt.IsZero() {
		e.st.LastWaterAt = t
	}
	if gap := t.Sub(last); !last.IsZero() && gap >= 10*time.Minute {
		out = append(out, e.raise(GatewayDown, mqttv1.Info, mqttv1.ClassGateway, t, mqttv1.Evidence{
			Signal: "gateway", LastAt: timePtr(last), QuietSecs: secs(gap), Note: "gateway was off (power cut or restart)"})...)
	}
	return out
}

// shiftSince moves the times recorded at or after from by d.
func (e *Engine) shiftSince(from time.Time, d time.Duration) {
	for _, p := range []*time.Time{&e.st.BootAt, &e.st.LastWaterAt, &e.st.LastMotionAt, &e.st.LastDoorOpenAt,
		&e.st.DoorClosedAt, &e.st.LastLifeAt, &e.st.WaterRawAt, &e.st.PowerFirstAt, &e.st.NightDoorAt} {
		if !p.IsZero() && !p.Before(from) {
			*p = p.Add(d)
		}
	}
	for k, p := range e.st.Pending {
		if !p.Since.Before(from) {
			e.st.Pending[k] = Pending{Since: p.Since.Add(d), Until: p.Until.Add(d)}
		}
	}
}
