package rules

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/shouwang-care/shouwang/firmware-protocol/event"
	"github.com/shouwang-care/shouwang/firmware-protocol/mqttv1"
)

// t0 is 06:00 on Sunday 2026-03-01 (CST).

func motion(at time.Duration) event.Event {
	return event.Event{T: t0.Add(at), Sensor: "pir.kitchen", Kind: event.Motion}
}

func door(at time.Duration, open bool) event.Event {
	return event.Event{T: t0.Add(at), Sensor: "door.front", Kind: event.Door, Open: event.Bool(open)}
}

func power(at time.Duration, kwh float64) event.Event {
	return event.Event{T: t0.Add(at), Sensor: "power", Kind: event.Meter, TotalKWh: event.Float(kwh)}
}

func press(at time.Duration, p event.Press) event.Event {
	return event.Event{T: t0.Add(at), Sensor: "sos", Kind: event.Button, Press: p}
}

// run is a tiny replay: events in order, ticks every minute between them and up to
// until; it returns "rule/state@hh:mm" for every transition.
func run(e *Engine, evs []event.Event, until time.Duration) []string {
	var out []string
	add := func(as []mqttv1.Alert) {
		for _, a := range as {
			out = append(out, a.Rule+"/"+string(a.State)+"@"+a.At.In(cst).Format("01-02 15:04"))
		}
	}
	last := t0
	if !e.st.Now.IsZero() {
		last = e.st.Now
	}
	tick := func(to time.Time) {
		for t := last.Truncate(time.Minute).Add(time.Minute); t.Before(to); t = t.Add(time.Minute) {
			add(e.Tick(t))
		}
		if to.After(last) {
			last = to
		}
	}
	for _, ev := range evs {
		tick(ev.T)
		add(e.Observe(ev))
	}
	tick(t0.Add(until).Add(time.Nanosecond))
	return out
}

func only(set Settings) Settings { set.Location = cst; return set }

func TestRules(t *testing.T) {
	h, m := time.Hour, time.Minute
	sleep := func(s Settings) Settings { s.SleepStart, s.SleepEnd = 22*h, 6*h+30*m; return s }
	var flowing []event.Event // 6 L/min from 07:00 for 50 min, then a pause
	for i := range 51 {
		flowing = append(flowing, water(h+time.Duration(i)*m, 10+0.006*float64(i)))
	}
	var slowRead []event.Event // 45 min of flow, one slow reading, flow again, then a pause
	for i := range 60 {
		v := 10 + 0.006*float64(i)
		if i >= 46 {
			v -= 0.0055
		}
		slowRead = append(slowRead, water(h+time.Duration(i)*m, v))
	}
	var leak []event.Event // 0.2 L/min for 26 h, then dry
	for i := range 26 * 12 {
		leak = append(leak, water(time.Duration(i)*5*m, 10+0.001*float64(i)))
	}
	leak = append(leak, water(27*h, 10+0.001*26*12), water(27*h+40*m, 10+0.001*26*12))
	var pw []event.Event // a day with cooking every few hours, then base load only
	for i := range 48 * 4 {
		kwh := 100 + 0.0125*float64(i)
		if i < 24*4 {
			kwh += 0.05 * float64(i/12) // active every third hour for the first day
		} else {
			kwh += 0.05 * 8
		}
		pw = append(pw, power(time.Duration(i)*15*m, kwh))
	}

	tests := []struct {
		name  string
		set   Settings
		evs   []event.Event
		until time.Duration
		want  string
	}{
		{"no_motion after 4 waking hours, cleared by motion", sleep(Settings{NoMotion: 4 * h}),
			[]event.Event{motion(2 * h), motion(6*h + 30*m)}, 7 * h,
			"no_motion/raised@03-01 12:00 no_motion/cleared@03-01 12:30"},
		{"no_motion does not count the sleep window", sleep(Settings{NoMotion: 4 * h}),
			[]event.Event{motion(15 * h)}, 28 * h, // 21:00; 1 h before sleep + 3 h after 06:30
			"no_motion/raised@03-02 09:30"},
		{"no_motion never raises inside the sleep window", sleep(Settings{NoMotion: 4 * h}),
			[]event.Event{motion(12 * h)}, 25 * h, // 18:00 → 22:00 is 4 h, but asleep
			"no_motion/raised@03-02 06:30"},
		{"water use vetoes no_motion (a dead PIR is not a fall)", Settings{NoMotion: 4 * h},
			[]event.Event{motion(0), water(0, 1), water(3*h, 1.01), water(6*h, 1.02)}, 7*h + 30*m, ""},
		{"water running 40 min raises, a pause clears", Settings{WaterRunning: 40 * m},
			append(flowing, water(h+52*m, 10.3), water(h+55*m, 10.3)), 2 * h,
			"water_running/raised@03-01 07:40 water_running/cleared@03-01 07:55"},
		{"water running: one slow reading ends the run before it is raised", Settings{WaterRunning: 50 * m},
			slowRead, 2 * h, ""},
		{"water running: below 1 L/min is not a tap", Settings{WaterRunning: 40 * m},
			[]event.Event{water(0, 10), water(20*m, 10.01), water(40*m, 10.02), water(60*m, 10.03)}, 2 * h, ""},
		{"leak: flow in every half-hour for 24 h (info), dry half-hour clears", Settings{Leak: 24 * h},
			leak, 28 * h, "water_leak/raised@03-02 06:00 water_leak/cleared@03-02 09:00"},
		// Until four hours of it teach the leak rate, the leak looks like use (10:00).
		{"leak is not use: no_water still raises", Settings{NoWater: 12 * h},
			leak[:12*12*2], 24 * h, "no_water/raised@03-01 22:00"},
		{"night door: gone 15 min raises, motion inside clears", Settings{NightStart: 0, NightEnd: 5 * h},
			[]event.Event{door(20*h, true), door(20*h+m, false), motion(20*h + 40*m)}, 21 * h,
			"night_door/raised@03-02 02:15 night_door/cleared@03-02 02:40"},
		{"night door: back within minutes is nothing", Settings{NightStart: 0, NightEnd: 5 * h},
			[]event.Event{door(20*h, true), door(20*h+m, false), motion(20*h + 4*m)}, 21 * h, ""},
		{"night door: daytime opening is nothing", Settings{NightStart: 0, NightEnd: 5 * h},
			[]event.Event{door(4*h, true), door(4*h+m, false)}, 6 * h, ""},
		{"no exit for 3 days (info), a door opening clears", Settings{NoExit: 72 * h},
			[]event.Event{door(0, true), door(m, false), motion(2 * m), door(73*h, true)}, 74 * h,
			"no_exit/raised@03-04 06:00 no_exit/cleared@03-04 07:00"},
		// The base load is known after 24 closed hours (07:00 on day 2); flat from then.
		{"power flat at base load, after a day of learning", Settings{PowerFlat: 20 * h},
			pw, 48 * h, "power_flat/raised@03-03 03:00"},
		{"away suggested: door closed, everything quiet (info)", Settings{SuggestAway: 2 * h},
			[]event.Event{motion(0), door(10*m, true), door(11*m, false), motion(11*m + 30*time.Second), motion(3 * h)}, 4 * h,
			"away_suggested/raised@03-01 08:11 away_suggested/cleared@03-01 09:00"},
		{"sos raises at once, re-arms after 30 min", Settings{},
			[]event.Event{press(h, event.PressShort)}, 2 * h, "sos/raised@03-01 07:00 sos/cleared@03-01 07:30"},
		{"device fault: own class, recovered clears", Settings{NoWater: 12 * h},
			[]event.Event{water(0, 1), {T: t0.Add(h), Sensor: "water", Kind: event.Fault, Detail: "meter not answering"},
				{T: t0.Add(2 * h), Sensor: "water", Kind: event.Fault, Detail: "recovered: answering again"}, water(3*h, 1.1)}, 4 * h,
			"device_fault/raised@03-01 07:00 device_fault/cleared@03-01 08:00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := New(only(tt.set), State{}, ids())
			got := strings.Join(run(e, tt.evs, tt.until), " ")
			if got != tt.want {
				t.Fatalf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestDeviceFaultClass(t *testing.T) {
	e := New(only(Settings{}), State{}, ids())
	out := e.Observe(event.Event{T: t0, Sensor: "pir.kitchen", Kind: event.Fault, Detail: "silent 24h"})
	if len(out) != 1 || out[0].Class != mqttv1.ClassDevice || out[0].Rule != DeviceFault || out[0].Evidence[0].Signal != "pir.kitchen" {
		t.Fatalf("%+v", out)
	}
	if out := e.Observe(event.Event{T: t0.Add(time.Hour), Sensor: "pir.kitchen", Kind: event.Fault, Detail: "recovered: motion seen"}); len(out) != 1 || out[0].Class != mqttv1.ClassDevice || out[0].State != mqttv1.Cleared {
		t.Fatalf("%+v", out)
	}
}

func TestClockJumps(t *testing.T) {
	h := time.Hour
	set := only(Settings{NoWater: 12 * h, MaxForward: h})
	t.Run("backwards: timer neither resets nor fires", func(t *testing.T) {
		e := New(set, State{}, ids())
		run(e, []event.Event{water(0, 1)}, 5*h)
		// The clock steps back 4 h at 11:00: engine time stays and runs on from there.
		if out := e.Tick(t0.Add(h)); len(out) != 1 || out[0].Rule != ClockJump || out[0].Class != mqttv1.ClassGateway {
			t.Fatalf("jump not reported: %+v", out)
		}
		if e.ClockJumps() != 1 {
			t.Fatalf("jumps %d", e.ClockJumps())
		}
		var got time.Time
		for m := h; m <= 9*h; m += time.Minute {
			for _, a := range e.Tick(t0.Add(m)) {
				if a.Rule == NoWater {
					got = a.At
				}
			}
		}
		// 12 h of engine time since the use: wall 13:00 after the step, engine 18:00.
		if !got.Equal(t0.Add(12 * h)) {
			t.Fatalf("no_water at %v, want engine time 18:00", got)
		}
	})
	t.Run("forwards while running: absorbed", func(t *testing.T) {
		e := New(set, State{}, ids())
		run(e, []event.Event{water(0, 1)}, h)
		if out := e.Tick(t0.Add(400 * 24 * h)); len(out) != 1 || out[0].Rule != ClockJump {
			t.Fatalf("%+v", out)
		}
		if out := e.Tick(t0.Add(400*24*h + 10*h)); len(out) != 0 {
			t.Fatalf("a year's jump fired no_water: %+v", out)
		}
	})
	t.Run("boot in the past, NTP later: the outage is real time, water use during it is not an alarm", func(t *testing.T) {
		e := New(set, State{}, ids())
		run(e, []event.Event{water(0, 1)}, 2*h)
		st := e.State()
		// Power cut at 08:00 for 14 h. The Pi boots with its saved clock (07:30) …
		e = New(set, st, ids())
		out := e.Observe(event.Event{T: t0.Add(90 * time.Minute), Sensor: "gateway", Kind: event.Boot})
		out = append(out, e.Observe(water(91*time.Minute, 1.05))...) // used while off
		// … then NTP steps to the real time.
		out = append(out, e.Tick(t0.Add(16*h))...)
		out = append(out, e.Tick(t0.Add(20*h))...)
		for _, a := range out {
			if a.Rule == NoWater {
				t.Fatalf("false no_water after a power cut: %+v", out)
			}
		}
	})
	t.Run("unset clock (1970) is dropped", func(t *testing.T) {
		e := New(set, State{}, ids())
		e.Observe(water(0, 1))
		if out := e.Observe(event.Event{T: time.Unix(0, 0), Sensor: "gateway", Kind: event.Boot}); len(out) != 0 {
			t.Fatalf("%+v", out)
		}
		if e.State().Dropped != 1 || !e.State().Now.Equal(t0) {
			t.Fatalf("%+v", e.State())
		}
	})
}

func TestPowerCutResume(t *testing.T) {
	h := time.Hour
	set := only(Settings{NoWater: 12 * h})
	for _, tt := range []struct {
		name  string
		total float64
		want  time.Duration // when no_water raises, from t0
	}{
		{"water used while down: counts as use at boot", 1.02, 10*h + 12*h},
		{"no use while down: the 12 h still run from the last use", 1.0, 12 * h},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := New(set, State{}, ids())
			e.Observe(water(0, 1))
			e.Tick(t0.Add(3 * h))
			b, _ := json.Marshal(e.State())
			var st State
			if err := json.Unmarshal(b, &st); err != nil {
				t.Fatal(err)
			}
			e = New(set, st, ids()) // power cut 09:00–16:00
			var got time.Time
			check := func(out []mqttv1.Alert) {
				for _, a := range out {
					if a.Rule == NoWater && a.State == mqttv1.Raised && got.IsZero() {
						got = a.At
					}
				}
			}
			check(e.Observe(event.Event{T: t0.Add(10 * h), Sensor: "gateway", Kind: event.Boot}))
			check(e.Observe(water(10*h+time.Minute, tt.total)))
			for m := 10 * h; m <= 24*h; m += time.Minute {
				check(e.Tick(t0.Add(m)))
			}
			if !got.Equal(t0.Add(tt.want)) {
				t.Fatalf("no_water at %v, want %v", got, t0.Add(tt.want))
			}
		})
	}
}

func TestPreAlarm(t *testing.T) {
	h := time.Hour
	set := only(Settings{NoWater: 12 * h, PreAlarm: 10 * time.Minute})
	t.Run("cancelled by a long press", func(t *testing.T) {
		e := New(set, State{}, ids())
		e.Observe(water(0, 1))
		if out := e.Tick(t0.Add(12 * h)); len(out) != 0 {
			t.Fatalf("sent without pre-alarm: %+v", out)
		}
		if on, until := e.PreAlarm(); !on || !until.Equal(t0.Add(12*h+10*time.Minute)) {
			t.Fatalf("pre-alarm %v %v", on, until)
		}
		out := e.Observe(press(12*h+3*time.Minute, event.PressLong))
		if len(out) != 2 || out[0].Rule != Cancelled || out[0].Severity != mqttv1.Info || out[1].State != mqttv1.Cleared ||
			!strings.Contains(out[0].Evidence[0].Note, NoWater) {
			t.Fatalf("%+v", out)
		}
		if on, _ := e.PreAlarm(); on {
			t.Fatal("still sounding")
		}
		// "I'm OK" is proof of life: the quiet timer restarts from the press.
		if out := run(e, nil, 24*h); len(out) != 0 {
			t.Fatalf("%v", out)
		}
	})
	t.Run("not cancelled: sent when it runs out", func(t *testing.T) {
		e := New(set, State{}, ids())
		e.Observe(water(0, 1))
		e.Tick(t0.Add(12 * h))
		if out := e.Tick(t0.Add(12*h + 9*time.Minute)); len(out) != 0 {
			t.Fatalf("%+v", out)
		}
		out := e.Tick(t0.Add(12*h + 10*time.Minute))
		if len(out) != 1 || out[0].Rule != NoWater || out[0].Evidence[len(out[0].Evidence)-1].Signal != "prealarm" {
			t.Fatalf("%+v", out)
		}
	})
	t.Run("resolved by activity: nothing sent", func(t *testing.T) {
		e := New(set, State{}, ids())
		e.Observe(water(0, 1))
		e.Tick(t0.Add(12 * h))
		e.Observe(water(12*h+2*time.Minute, 1.01))
		if on, _ := e.PreAlarm(); on {
			t.Fatal("still sounding")
		}
		if out := e.Tick(t0.Add(12*h + 20*time.Minute)); len(out) != 0 {
			t.Fatalf("%+v", out)
		}
	})
	t.Run("SOS never waits", func(t *testing.T) {
		e := New(set, State{}, ids())
		if out := e.Observe(press(0, event.PressShort)); len(out) != 1 || out[0].Severity != mqttv1.Critical {
			t.Fatalf("%+v", out)
		}
	})
}

func TestAway(t *testing.T) {
	h := time.Hour
	set := only(Settings{NoWater: 12 * h})
	e := New(set, State{}, ids())
	e.Observe(water(0, 1))
	set.AwayUntil = t0.Add(48 * h)
	e.SetSettings(set)
	if out := run(e, nil, 48*h); len(out) != 0 {
		t.Fatalf("raised while away: %v", out)
	}
	// Away ended at 06:00 on day 3: the 12 h restart from there, not from the last use.
	if out := run(e, nil, 61*h); strings.Join(out, " ") != "no_water/raised@03-03 18:00" {
		t.Fatalf("%v", out)
	}
	// Setting away resolves the open no-activity alert; SOS is never paused.
	set.Away = true
	e.SetSettings(set)
	out := e.Observe(press(62*h, event.PressShort))
	if len(out) != 2 || out[0].Rule != SOS || out[1].Rule != NoWater || out[1].State != mqttv1.Cleared {
		t.Fatalf("%+v", out)
	}
}

// routineDays feeds n days of a regular life: up 07:00, water and motion through the
// day, to bed 21:00.
func routineDays(e *Engine, n int) []string {
	var evs []event.Event
	w := 1.0
	for d := range n {
		day := time.Duration(d) * 24 * time.Hour
		for hr := 1; hr <= 15; hr++ { // 07:00–21:00
			at := day + time.Duration(hr)*time.Hour
			w += 0.005
			evs = append(evs, motion(at), water(at+time.Minute, w), motion(at+30*time.Minute))
		}
	}
	return run(e, evs, time.Duration(n)*24*time.Hour-time.Minute)
}

func TestLearnedRoutine(t *testing.T) {
	set := Defaults()
	set.PreAlarm, set.Location = 0, cst
	e := New(set, State{}, ids())
	if out := routineDays(e, 21); len(out) != 0 {
		t.Fatalf("false alarms while learning a regular routine: %v", out)
	}
	if !e.learned() {
		t.Fatalf("not learned after 21 days: %d hours", e.st.Base.Hours)
	}
	// Day 22: up at 07:00, used water, then nothing — the routine expects the 08:00,
	// 09:00 activity and raises before the fixed rules (no_motion at 4 h, no_water 12 h).
	d := 21 * 24 * time.Hour
	out := run(e, []event.Event{motion(d + time.Hour), water(d+time.Hour+time.Minute, 9)}, d+6*time.Hour)
	if len(out) == 0 || !strings.HasPrefix(out[0], "routine/raised@03-22 0") {
		t.Fatalf("want routine before 10:00, got %v", out)
	}
	// The baseline is compact: it is persisted with every alert.
	b, _ := json.Marshal(e.State())
	if len(b) > 8<<10 {
		t.Fatalf("state %d bytes", len(b))
	}
}

func TestLearnedRoutineQuietAtNight(t *testing.T) {
	set := Defaults()
	set.PreAlarm, set.Location = 0, cst
	set.SleepStart, set.SleepEnd = 0, 0 // no configured window: the baseline alone must keep nights quiet
	set.NoMotion = 0
	e := New(set, State{}, ids())
	routineDays(e, 21)
	d := 21 * 24 * time.Hour
	// Normal day 22 to 21:00, then the night: nothing is expected until 07:00.
	var evs []event.Event
	for hr := 1; hr <= 15; hr++ {
		evs = append(evs, motion(d+time.Duration(hr)*time.Hour), water(d+time.Duration(hr)*time.Hour+time.Minute, 20+float64(hr)*0.01))
	}
	if out := run(e, evs, d+25*time.Hour); len(out) != 0 {
		t.Fatalf("raised in hours the resident sleeps: %v", out)
	}
}

// TestOpenSurvivesRestart: a gateway reboot is not a sign of life — open resident
// alerts stay open across it (the e2e restart test relies on this too).
func TestOpenSurvivesRestart(t *testing.T) {
	h := time.Hour
	set := only(Settings{NoWater: 12 * h, NoMotion: 4 * h})
	e := New(set, State{}, ids())
	out := run(e, []event.Event{water(0, 1), motion(time.Minute)}, 13*h)
	if strings.Join(out, " ") != "no_motion/raised@03-01 10:01 no_water/raised@03-01 18:00" {
		t.Fatalf("%v", out)
	}
	e = New(set, e.State(), ids())
	boot := event.Event{T: t0.Add(14 * h), Sensor: "gateway", Kind: event.Boot}
	got := e.Observe(boot)
	got = append(got, e.Observe(water(14*h+time.Minute, 1))...)
	for m := 14 * h; m < 16*h; m += time.Minute {
		got = append(got, e.Tick(t0.Add(m))...)
	}
	for _, a := range got {
		if a.Class == mqttv1.ClassResident {
			t.Fatalf("restart changed a resident alert: %+v", a)
		}
	}
	if out := e.Observe(motion(16 * h)); len(out) != 1 || out[0].Rule != NoMotion || out[0].State != mqttv1.Cleared {
		t.Fatalf("%+v", out)
	}
}
