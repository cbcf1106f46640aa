// Package rules turns sensor events into alert transitions. The engine is a pure
// function of the events and the times it is given — no goroutines, no clock of its
// own — so the live daemon, the simulator and replay all run the same code.
//
// Every time-based rule is evaluated after each event and each tick by one function
// (evaluate): a rule's condition is recomputed from the state, and the difference to
// what is open or pending becomes transitions. That keeps raise, clear, hysteresis
// and the pre-alarm in one place. See docs/rules-evaluation.md for the rule table.
package rules

import (
	"math"
	"slices"
	"time"

	"github.com/shouwang-care/shouwang/firmware-protocol/event"
	"github.com/shouwang-care/shouwang/firmware-protocol/mqttv1"
)

// Rule names as they appear on the wire.
const (
	NoWater       = "no_water"       // no water use for Settings.NoWater
	NoMotion      = "no_motion"      // no motion for Settings.NoMotion of waking time
	NoExit        = "no_exit"        // front door not opened for Settings.NoExit (info)
	WaterRunning  = "water_running"  // flow in every reading for Settings.WaterRunning
	WaterLeak     = "water_leak"     // flow in every half-hour for Settings.Leak (info)
	PowerFlat     = "power_flat"     // electricity at base load for Settings.PowerFlat
	NightDoor     = "night_door"     // a door opened in the small hours
	Routine       = "routine"        // the learned routine expected activity that did not come
	SOS           = "sos"            // button pressed: critical, at once
	AwaySuggested = "away_suggested" // door closed and everything quiet: probably out (info)
	Cancelled     = "cancelled_by_resident"
	DeviceFault   = "device_fault" // class device: a sensor or meter misbehaves
	ClockJump     = "clock_jump"   // class gateway: wall clock stepped; absorbed
	GatewayDown   = "gateway_down" // class gateway: the gateway was off (power cut)
)

// waterEpsilon is the smallest rise of a water total that counts as use: half a litre,
// below the resolution of household meters, so rounding noise is not "use".
const waterEpsilon = 0.0005

// validSince: a time before this is an unset clock (a Pi without RTC boots in 1970);
// such events are dropped and counted, never measured against.
var validSince = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

// Settings are the per-home thresholds; the cloud's config may change them. A zero
// duration disables its rule, so Settings{NoWater: 12 * time.Hour} is the fixed
// 12-hour rule alone (plus SOS and faults, which are always on). Defaults returns
// the recommended set.
type Settings struct {
	NoWater       time.Duration
	NoMotion      time.Duration // counted in waking time only (outside the sleep window)
	NoExit        time.Duration
	WaterRunning  time.Duration
	RunningLPM    float64 // flow (L/min above a known leak) that counts as a tap open; 0 means 1
	Leak          time.Duration
	PowerFlat     time.Duration
	PowerMarginKW float64 // hourly mean power above the learned base load that counts as use; 0 means 0.04

	// Local-time windows as offsets from midnight; start == end disables.
	NightStart, NightEnd time.Duration // a door opening in here raises night_door
	SleepStart, SleepEnd time.Duration // usual sleep: no_motion and routine do not count it

	Routine      bool          // use the learned hour-of-week baseline once learned
	RoutineAlpha float64       // raise when the silence has less than this chance under the routine; 0 means 0.002
	RoutineMin   time.Duration // the learned rule never raises before this much quiet; 0 means 90 min
	LearnDays    int           // days of history before the learned rule is used; 0 means 14

	PreAlarm    time.Duration // local buzzer time the resident has to cancel; 0 sends at once
	SuggestAway time.Duration // door closed and all quiet this long → away_suggested
	OutNoWater  time.Duration // no_water threshold while the resident appears out; 0 means NoWater

	Away      bool      // set by family/worker: no-activity rules pause
	AwayUntil time.Time // away ends by itself at this time (zero: no end)

	MaxForward time.Duration // a forward step larger than this, not right after a boot, is a clock jump
	SOSRearm   time.Duration // an SOS episode clears (re-arms the button) after this; 0 means 30 min

	Location *time.Location // the home's local time; nil means China Standard Time
}

// Defaults are the recommended settings (see docs/rules-evaluation.md).
func Defaults() Settings {
	return Settings{
		NoWater: 12 * time.Hour, NoMotion: 5 * time.Hour, NoExit: 72 * time.Hour,
		WaterRunning: 40 * time.Minute, Leak: 24 * time.Hour, PowerFlat: 20 * time.Hour,
		NightStart: 0, NightEnd: 5 * time.Hour,
		SleepStart: 22 * time.Hour, SleepEnd: 6*time.Hour + 30*time.Minute,
		Routine: true, PreAlarm: 10 * time.Minute, SuggestAway: 2 * time.Hour, OutNoWater: 20 * time.Hour,
		MaxForward: time.Hour,
	}
}

var cst = time.FixedZone("CST", 8*3600)

func (s Settings) loc() *time.Location {
	if s.Location == nil {
		return cst
	}
	return s.Location
}

func orDefault[T float64 | int | time.Duration](v, d T) T {
	if v == 0 {
		return d
	}
	return v
}

// Episode is an open alert: raised, not yet cleared.
type Episode struct {
	ID       string          `json:"id"`
	RaisedAt time.Time       `json:"raised_at"`
	Severity mqttv1.Severity `json:"severity"`
	Rule     string          `json:"rule,omitempty"`  // wire name when the key is not (device_fault/<sensor>)
	Class    mqttv1.Class    `json:"class,omitempty"` // empty means resident
}

// Pending is a resident alert waiting out its pre-alarm.
type Pending struct {
	Since time.Time `json:"since"`
	Until time.Time `json:"until"`
}

// State is what the engine must remember across restarts.
type State struct {
	// Time: Now is the last accepted time; Skew is added to incoming times so a clock
	// that stepped back does not run the timers back (see advance).
	Now        time.Time     `json:"now,omitzero"`
	Skew       time.Duration `json:"skew,omitempty"`
	ClockJumps int           `json:"clock_jumps,omitempty"`
	LastJumpAt time.Time     `json:"last_jump_at,omitzero"`
	Dropped    int           `json:"dropped,omitempty"` // events with an unset clock
	BootAt     time.Time     `json:"boot_at,omitzero"`
	BootCheck  bool          `json:"boot_check,omitempty"` // next water reading decides use during the gap
	WasAway    bool          `json:"was_away,omitempty"`
	AwayEnd    time.Time     `json:"away_end,omitzero"` // quiet timers restart when away ends

	WaterTotal  *float64  `json:"water_total,omitempty"` // baseline for use detection (drips add up)
	LastWaterAt time.Time `json:"last_water_at"`
	WaterRaw    *float64  `json:"water_raw,omitempty"` // last reading, for flow rate
	WaterRawAt  time.Time `json:"water_raw_at,omitzero"`
	RunStart    time.Time `json:"run_start,omitzero"` // continuous flow began
	RunLast     time.Time `json:"run_last,omitzero"`
	RunPause    time.Time `json:"run_pause,omitzero"`
	RunSnoozed  bool      `json:"run_snoozed,omitempty"` // resident said OK for this run
	LeakSlot    time.Time `json:"leak_slot,omitzero"`    // start of the current half-hour
	LeakSlotM3  float64   `json:"leak_slot_m3,omitempty"`
	LeakRun     int       `json:"leak_run,omitempty"` // consecutive half-hours with flow
	LeakMinM3   float64   `json:"leak_min_m3,omitempty"`
	LeakSlots   []float64 `json:"leak_slots,omitempty"` // m³ of the last 16 flowing half-hours
	LeakLPM     float64   `json:"leak_lpm,omitempty"`   // known continuous leak, subtracted from use

	PowerTotal   *float64  `json:"power_total,omitempty"`
	PowerFirstAt time.Time `json:"power_first_at,omitzero"`
	PowerHours   []float64 `json:"power_hours,omitempty"` // last 24 hourly kWh, newest last
	PowerActive  time.Time `json:"power_active,omitzero"` // end of the last hour above base

	LastMotionAt   time.Time `json:"last_motion_at"`
	LastDoorOpenAt time.Time `json:"last_door_open_at,omitzero"`
	DoorClosedAt   time.Time `json:"door_closed_at,omitzero"` // last close, for "went out"
	NightDoorAt    time.Time `json:"night_door_at,omitzero"`
	NightAcked     bool      `json:"night_acked,omitempty"`
	LastLifeAt     time.Time `json:"last_life_at,omitzero"` // "I'm OK" presses: proof of life

	Hour     time.Time `json:"hour,omitzero"` // start of the hour being learned
	HourBits uint8     `json:"hour_bits,omitempty"`
	HourKWh  float64   `json:"hour_kwh_start,omitempty"`
	Base     Baseline  `json:"baseline"`

	Open    map[string]Episode `json:"open,omitempty"`
	Pending map[string]Pending `json:"pending,omitempty"`
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
	if st.Pending == nil {
		st.Pending = map[string]Pending{}
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
	st.Pending = make(map[string]Pending, len(e.st.Pending))
	for k, v := range e.st.Pending {
		st.Pending[k] = v
	}
	st.PowerHours = slices.Clone(e.st.PowerHours)
	st.LeakSlots = slices.Clone(e.st.LeakSlots)
	return st
}

// SetSettings applies new thresholds; the next Tick evaluates with them.
func (e *Engine) SetSettings(s Settings) { e.set = s }

// ClockJumps counts wall-clock steps the engine absorbed (for the daemon's metrics).
func (e *Engine) ClockJumps() int { return e.st.ClockJumps }

// PreAlarm tells the daemon to sound the local buzzer/LED: active while a resident
// alert waits for the resident's "I'm OK" (a long press), until the earliest time one
// will be sent.
func (e *Engine) PreAlarm() (active bool, until time.Time) {
	for _, p := range e.st.Pending {
		if !active || p.Until.Before(until) {
			until = p.Until
		}
		active = true
	}
	return active, until
}

// Observe feeds one event and returns the transitions it causes.
func (e *Engine) Observe(ev event.Event) []mqttv1.Alert {
	if ev.T.Before(validSince) {
		e.st.Dropped++
		return nil
	}
	var out []mqttv1.Alert
	if ev.Kind == event.Boot {
		out = append(out, e.boot(ev.T)...)
		return append(out, e.evaluate(e.st.Now)...)
	}
	t, jumped := e.advance(ev.T)
	out = append(out, jumped...)
	switch ev.Kind {
	case event.Meter:
		if ev.TotalM3 != nil {
			out = append(out, e.water(t, *ev.TotalM3)...)
		}
		if ev.TotalKWh != nil {
			e.power(t, *ev.TotalKWh)
		}
		if ep, ok := e.st.Open[GatewayDown]; ok {
			out = append(out, e.clear(GatewayDown, ep, t, mqttv1.Evidence{Signal: ev.Sensor, LastAt: timePtr(t), Note: "readings resumed"})...)
		}
	case event.Motion:
		e.st.LastMotionAt = t
		e.st.HourBits |= bitMotion
		e.activity(t)
	case event.Door:
		if *ev.Open {
			e.st.LastDoorOpenAt = t
			e.st.HourBits |= bitDoor
			if !e.away(t) && inWindow(e.local(t), e.set.NightStart, e.set.NightEnd) && e.st.NightDoorAt.IsZero() {
				e.st.NightDoorAt, e.st.NightAcked = t, false
			}
			e.st.DoorClosedAt = time.Time{}
		} else {
			e.st.DoorClosedAt = t
		}
	case event.Button:
		if ev.Press == event.PressLong {
			out = append(out, e.imOK(t)...)
			break
		}
		note := ev.Sensor
		if ev.Detail != "" {
			note += ": " + ev.Detail // a radio pendant's "fall", say
		}
		out = append(out, e.raise(SOS, mqttv1.Critical, mqttv1.ClassResident, t, mqttv1.Evidence{Signal: "button", LastAt: timePtr(t), Note: note})...)
	case event.Fault:
		out = append(out, e.fault(t, ev)...)
	}
	return append(out, e.evaluate(t)...)
}

// Tick evaluates the time-based rules at now.
func (e *Engine) Tick(now time.Time) []mqttv1.Alert {
	if now.Before(validSince) {
		return nil
	}
	t, out := e.advance(now)
	return append(out, e.evaluate(t)...)
}

// restart is when the quiet timers last restarted without a sign of life: a boot
// (nothing seen while off) or the end of away.
func (e *Engine) restart() time.Time { return maxTime(e.st.BootAt, e.st.AwayEnd) }

// activity is anything only a person at home does; it ends "went out".
func (e *Engine) activity(t time.Time) {
	if t.Sub(e.st.DoorClosedAt) > time.Minute {
		// Not the PIR by the door seeing the resident leave.
		e.st.DoorClosedAt = time.Time{}
	}
	if !e.st.NightDoorAt.IsZero() && t.Sub(e.st.NightDoorAt) > 2*time.Minute {
		// Back inside (or never left): the night opening is explained.
		e.st.NightDoorAt = time.Time{}
	}
}

func (e *Engine) water(t time.Time, total float64) []mqttv1.Alert {
	var out []mqttv1.Alert
	allow := e.leakAllowance(t)
	if e.st.WaterRaw != nil && !e.st.WaterRawAt.IsZero() && t.After(e.st.WaterRawAt) {
		e.flow(t, total)
	}
	raw := total
	e.st.WaterRaw, e.st.WaterRawAt = &raw, t
	e.leakSlot(t, total)

	prev := e.st.WaterTotal
	e.st.WaterTotal = &raw
	if e.st.BootCheck && prev != nil {
		e.st.BootCheck = false
		if total > *prev+waterEpsilon {
			// Used while the gateway was down: when exactly is unknown, so the boot is
			// the conservative time — no false "no water" for an outage.
			e.st.LastWaterAt = maxTime(e.st.LastWaterAt, e.st.BootAt)
			e.st.HourBits |= bitWater
			e.activity(t)
			return out
		}
	}
	e.st.BootCheck = false
	switch {
	case prev == nil:
		// First reading: no evidence of use yet, but the clock starts now.
		if e.st.LastWaterAt.IsZero() {
			e.st.LastWaterAt = t
		}
	case total > *prev+waterEpsilon+allow:
		e.st.LastWaterAt = t
		e.st.HourBits |= bitWater
		e.activity(t)
	case total < *prev:
		// A meter replaced or read wrongly: new baseline, never "negative use".
	default:
		// Below the use threshold: keep the old total so slow drips add up — less a
		// known leak's share, so a leaking cistern does not look like a resident.
		b := min(total, *prev+allow)
		e.st.WaterTotal = &b
	}
	return out
}

// leakAllowance is what a known continuous leak adds since the last reading (m³).
func (e *Engine) leakAllowance(t time.Time) float64 {
	if e.st.LeakLPM <= 0 || e.st.WaterRawAt.IsZero() {
		return 0
	}
	// A quarter more than the learned rate: the leak is the smallest half-hour, and
	// a cistern refills in bursts.
	return 1.25 * e.st.LeakLPM / 1000 * max(1, t.Sub(e.st.WaterRawAt).Minutes())
}

// flow tracks "water running": every reading showing at least RunningLPM (above a
// known leak) extends the run; a reading below it starts a pause.
func (e *Engine) flow(t time.Time, total float64) {
	mins := t.Sub(e.st.WaterRawAt).Minutes()
	lpm := (total - *e.st.WaterRaw) * 1000 / mins
	if lpm >= orDefault(e.set.RunningLPM, 1)+e.st.LeakLPM && mins <= 10 {
		if e.st.RunStart.IsZero() {
			e.st.RunStart = e.st.WaterRawAt
		}
		e.st.RunLast, e.st.RunPause = t, time.Time{}
		return
	}
	if !e.st.RunStart.IsZero() {
		e.st.RunStart, e.st.RunSnoozed = time.Time{}, false
		e.st.RunPause = t
	}
}

// leakSlot implements Longgang's rule: flow recorded in every half-hour.
func (e *Engine) leakSlot(t time.Time, total float64) {
	slot := t.Truncate(30 * time.Minute)
	if e.st.LeakSlot.IsZero() {
		e.st.LeakSlot, e.st.LeakSlotM3 = slot, total
		return
	}
	if !slot.After(e.st.LeakSlot) {
		return
	}
	used := total - e.st.LeakSlotM3
	switch {
	case slot.Sub(e.st.LeakSlot) > 30*time.Minute || used <= 0.00005:
		// A dry half-hour, or one without readings: not continuous.
		e.st.LeakRun, e.st.LeakMinM3, e.st.LeakLPM, e.st.LeakSlots = 0, 0, 0, nil
	default:
		e.st.LeakRun++
		e.st.LeakSlots = append(e.st.LeakSlots, used)
		if len(e.st.LeakSlots) > 16 {
			e.st.LeakSlots = e.st.LeakSlots[1:]
		}
		e.st.LeakMinM3 = slices.Min(e.st.LeakSlots)
		if e.st.LeakRun >= 8 {
			// Four hours of flow in every half-hour: the smallest half-hour of the
			// last eight hours is the leak, and use must now exceed it.
			e.st.LeakLPM = e.st.LeakMinM3 * 1000 / 30
		}
	}
	e.st.LeakSlot, e.st.LeakSlotM3 = slot, total
}

func (e *Engine) power(t time.Time, total float64) {
	if e.st.PowerTotal == nil || total < *e.st.PowerTotal {
		e.st.HourKWh = total
		if e.st.PowerFirstAt.IsZero() {
			e.st.PowerFirstAt = t
		}
	}
	e.st.PowerTotal = &total
}

// imOK is a long press: proof of life. It cancels every pending pre-alarm (recorded
// as one info episode, raised and cleared at once) and resets the quiet timers.
func (e *Engine) imOK(t time.Time) []mqttv1.Alert {
	e.st.LastLifeAt = t
	e.activity(t)
	e.st.RunSnoozed = !e.st.RunStart.IsZero()
	e.st.NightAcked = !e.st.NightDoorAt.IsZero()
	if len(e.st.Pending) == 0 {
		return nil
	}
	var ev []mqttv1.Evidence
	for _, r := range sortedKeys(e.st.Pending) {
		ev = append(ev, mqttv1.Evidence{Signal: "button", LastAt: timePtr(t), Note: "pre-alarm " + r + " cancelled: I'm OK"})
		delete(e.st.Pending, r)
	}
	ep := Episode{ID: e.newID(), RaisedAt: t, Severity: mqttv1.Info, Rule: Cancelled}
	return []mqttv1.Alert{alert(Cancelled, ep, mqttv1.Raised, t, ev), alert(Cancelled, ep, mqttv1.Cleared, t, ev)}
}

func (e *Engine) fault(t time.Time, ev event.Event) []mqttv1.Alert {
	key := DeviceFault + "/" + ev.Sensor
	evd := mqttv1.Evidence{Signal: ev.Sensor, LastAt: timePtr(t), Note: truncate(ev.Detail, 200)}
	if len(ev.Detail) >= 10 && ev.Detail[:10] == "recovered:" {
		if ep, ok := e.st.Open[key]; ok {
			return e.clear(key, ep, t, evd)
		}
		return nil
	}
	class := mqttv1.ClassDevice
	if ev.Sensor == "gateway" {
		class = mqttv1.ClassGateway
	}
	return e.raiseAs(key, DeviceFault, mqttv1.Warning, class, t, evd)
}

// pirFaulty: with a PIR reported broken, silence means nothing.
func (e *Engine) pirFaulty() bool {
	for k := range e.st.Open {
		if len(k) > len(DeviceFault)+4 && k[:len(DeviceFault)+4] == DeviceFault+"/pir" {
			return true
		}
	}
	return false
}

func (e *Engine) away(t time.Time) bool {
	return e.set.Away || (!e.set.AwayUntil.IsZero() && t.Before(e.set.AwayUntil))
}

func (e *Engine) local(t time.Time) time.Time { return t.In(e.set.loc()) }

// inWindow reports whether t's local time of day is in [start, end), wrapping midnight.
func inWindow(t time.Time, start, end time.Duration) bool {
	if start == end {
		return false
	}
	d := sinceMidnight(t)
	if start < end {
		return d >= start && d < end
	}
	return d >= start || d < end
}

func sinceMidnight(t time.Time) time.Duration {
	y, m, d := t.Date()
	return t.Sub(time.Date(y, m, d, 0, 0, 0, 0, t.Location()))
}

func maxTime(ts ...time.Time) time.Time {
	var m time.Time
	for _, t := range ts {
		if t.After(m) {
			m = t
		}
	}
	return m
}

func timePtr(t time.Time) *time.Time { return &t }

func secs(d time.Duration) int64 { return int64(math.Max(0, d.Seconds())) }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// ApplyRemote overlays the cloud's per-home config (cloud→edge, retained) on the
// edge's own settings: only the fields the cloud set change.
func ApplyRemote(s Settings, c mqttv1.Config) Settings {
	if c.NoWaterHours > 0 {
		s.NoWater = time.Duration(c.NoWaterHours * float64(time.Hour))
	}
	if c.NoMotionHours > 0 {
		s.NoMotion = time.Duration(c.NoMotionHours * float64(time.Hour))
	}
	s.Away = c.Away
	s.AwayUntil = time.Time{}
	if c.AwayUntil != nil {
		s.AwayUntil = *c.AwayUntil
	}
	if a, err := mqttv1.ClockTime(c.SleepStart); err == nil {
		if b, err := mqttv1.ClockTime(c.SleepEnd); err == nil {
			s.SleepStart, s.SleepEnd = a, b
		}
	}
	if c.PreAlarmS != nil {
		s.PreAlarm = time.Duration(*c.PreAlarmS) * time.Second
	}
	return s
}
