package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/shouwang-care/shouwang/edge/rules"
)

// DefaultRules mirrors rules.Defaults in the units of the file.
func DefaultRules() Rules {
	return Rules{NoWaterHours: 12, NoMotionHours: 5, NoExitDays: 3, WaterRunningMinutes: 40, LeakHours: 24,
		PowerFlatHours: 20, Night: "00:00-05:00", Sleep: "22:00-06:30", LearnRoutine: true, LearnDays: 14,
		PreAlarm: 10 * time.Minute, SuggestAway: 2 * time.Hour, OutNoWaterHours: 20}
}

func (r Rules) validate() [][2]string {
	var errs [][2]string
	add := func(f, format string, a ...any) { errs = append(errs, [2]string{f, fmt.Sprintf(format, a...)}) }
	if r.NoWaterHours < 1 || r.NoWaterHours > 72 || math.IsNaN(r.NoWaterHours) {
		add("no_water_hours", "%v, want 1–72", r.NoWaterHours)
	}
	for _, f := range []struct {
		name    string
		v, max_ float64
	}{
		{"no_motion_hours", r.NoMotionHours, 24}, {"no_exit_days", r.NoExitDays, 30},
		{"water_running_minutes", r.WaterRunningMinutes, 600}, {"leak_hours", r.LeakHours, 168},
		{"power_flat_hours", r.PowerFlatHours, 72}, {"out_no_water_hours", r.OutNoWaterHours, 96},
	} {
		if f.v < 0 || f.v > f.max_ || math.IsNaN(f.v) {
			add(f.name, "%v, want 0 (off) to %v", f.v, f.max_)
		}
	}
	for _, w := range [][2]string{{"night", r.Night}, {"sleep", r.Sleep}} {
		if _, _, err := ParseWindow(w[1]); err != nil {
			add(w[0], "%v", err)
		}
	}
	if r.LearnDays < 0 || r.LearnDays > 90 {
		add("learn_days", "%d, want 0 (14) to 90", r.LearnDays)
	}
	if r.PreAlarm < 0 || r.PreAlarm > time.Hour {
		add("prealarm", "%v, want 0 (off) to 1h", r.PreAlarm)
	}
	if r.SuggestAway < 0 {
		add("suggest_away", "%v, negative", r.SuggestAway)
	}
	return errs
}

// ParseWindow reads "HH:MM-HH:MM" as offsets from local midnight; "" is no window.
func ParseWindow(s string) (start, end time.Duration, err error) {
	if s == "" {
		return 0, 0, nil
	}
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return 0, 0, fmt.Errorf("%q, want HH:MM-HH:MM", s)
	}
	parse := func(x string) (time.Duration, error) {
		t, err := time.Parse("15:04", strings.TrimSpace(x))
		if err != nil {
			return 0, fmt.Errorf("%q, want HH:MM-HH:MM", s)
		}
		return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute, nil
	}
	if start, err = parse(a); err == nil {
		end, err = parse(b)
	}
	return start, end, err
}

// RuleSettings maps the rules section and timezone to the engine's settings.
func (c Config) RuleSettings() rules.Settings {
	r := c.Rules
	h := func(v float64) time.Duration { return time.Duration(v * float64(time.Hour)) }
	s := rules.Defaults()
	s.NoWater, s.NoMotion, s.NoExit = h(r.NoWaterHours), h(r.NoMotionHours), h(r.NoExitDays*24)
	s.WaterRunning, s.Leak, s.PowerFlat = h(r.WaterRunningMinutes/60), h(r.LeakHours), h(r.PowerFlatHours)
	s.NightStart, s.NightEnd, _ = ParseWindow(r.Night)
	s.SleepStart, s.SleepEnd, _ = ParseWindow(r.Sleep)
	s.Routine, s.LearnDays = r.LearnRoutine, r.LearnDays
	s.PreAlarm, s.SuggestAway, s.OutNoWater = r.PreAlarm, r.SuggestAway, h(r.OutNoWaterHours)
	if loc, err := time.LoadLocation(c.Timezone); err == nil {
		s.Location = loc
	}
	return s
}

// LoadRules reads only what replaying needs — the rules section and timezone — from an
// edge config file, so an evaluation file need not name a gateway or a broker.
func LoadRules(path string) (Config, error) {
	c := Default()
	b, err := os.ReadFile(path)
	if err != nil {
		return c, fmt.Errorf("read config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return c, fmt.Errorf("config %s: %w", path, err)
	}
	var msgs []string
	for _, e := range c.Rules.validate() {
		msgs = append(msgs, "rules."+e[0]+": "+e[1])
	}
	if _, err := time.LoadLocation(c.Timezone); err != nil {
		msgs = append(msgs, "timezone: "+err.Error())
	}
	if len(msgs) > 0 {
		return c, fmt.Errorf("config %s: %s", path, strings.Join(msgs, "; "))
	}
	return c, nil
}
