package config

import (
	"strings"
	"testing"
	"time"
)

func TestRulesSection(t *testing.T) {
	c, err := Load(write(t, "gateway_id: gw-hz-0001\ntimezone: Asia/Shanghai\nrules:\n  no_motion_hours: 5\n  sleep: 21:30-06:00\n  night: ''\n  prealarm: 0s\n  learn_routine: false\n"))
	if err != nil {
		t.Fatal(err)
	}
	s := c.RuleSettings()
	if s.NoWater != 12*time.Hour || s.NoMotion != 5*time.Hour || s.SleepStart != 21*time.Hour+30*time.Minute || s.SleepEnd != 6*time.Hour ||
		s.NightStart != s.NightEnd || s.PreAlarm != 0 || s.Routine || s.WaterRunning != 40*time.Minute || s.NoExit != 72*time.Hour || s.Location == nil {
		t.Fatalf("%+v", s)
	}
	d := Default().RuleSettings()
	if d.PreAlarm != 10*time.Minute || !d.Routine || d.PowerFlat != 20*time.Hour || d.SleepStart != 22*time.Hour {
		t.Fatalf("defaults %+v", d)
	}
}

func TestRulesErrors(t *testing.T) {
	for _, tt := range []struct{ body, want string }{
		{"rules: {no_motion_hours: -1}", "rules.no_motion_hours: -1, want 0 (off) to 24"},
		{"rules: {sleep: '22:00'}", "rules.sleep: \"22:00\", want HH:MM-HH:MM"},
		{"rules: {night: '25:00-01:00'}", "rules.night"},
		{"rules: {prealarm: 2h}", "rules.prealarm: 2h0m0s, want 0 (off) to 1h"},
		{"rules: {learn_days: 200}", "rules.learn_days"},
	} {
		_, err := Load(write(t, "gateway_id: gw-1a\n"+tt.body+"\n"))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want %q", tt.body, err, tt.want)
		}
	}
}

func TestLoadRules(t *testing.T) {
	// A rules-only file: no gateway or broker needed for replay.
	c, err := LoadRules(write(t, "rules:\n  water_running_minutes: 20\n"))
	if err != nil || c.RuleSettings().WaterRunning != 20*time.Minute {
		t.Fatalf("%v %+v", err, c.Rules)
	}
	if _, err := LoadRules(write(t, "rules:\n  bogus: 1\n")); err == nil || !strings.Contains(err.Error(), "bogus") {
		t.Fatalf("%v", err)
	}
	if _, err := LoadRules(write(t, "timezone: Mars/Olympus\n")); err == nil || !strings.Contains(err.Error(), "timezone") {
		t.Fatalf("%v", err)
	}
}
