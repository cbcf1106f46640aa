package meterbus

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestTotalizer(t *testing.T) {
	type step struct {
		raw     float64
		after   time.Duration // since the previous reading
		want    float64
		anomaly anomaly
	}
	tests := []struct {
		name       string
		wrap       float64
		maxPerHour float64
		steps      []step
	}{
		{name: "plain increase", wrap: 1e6, maxPerHour: 25, steps: []step{
			{raw: 100, want: 100}, {raw: 100.5, after: time.Minute, want: 100.5}, {raw: 100.5, after: time.Minute, want: 100.5},
		}},
		{name: "rollover adds the wrap", wrap: 1e6, maxPerHour: 25, steps: []step{
			{raw: 999999.5, want: 999999.5},
			{raw: 0.25, after: time.Minute, want: 1000000.25, anomaly: anomalyWrapped},
			{raw: 1.25, after: time.Minute, want: 1000001.25},
		}},
		{name: "rollover of a litre counter (wraps at 1000 m³)", wrap: 1000, maxPerHour: 5, steps: []step{
			{raw: 999.99, want: 999.99},
			{raw: 0.02, after: time.Minute, want: 1000.02, anomaly: anomalyWrapped},
		}},
		{name: "replacement keeps the total", wrap: 1e6, maxPerHour: 25, steps: []step{
			{raw: 5000, want: 5000},
			{raw: 0.1, after: time.Minute, want: 5000, anomaly: anomalyBackwards},
			{raw: 1.1, after: time.Minute, want: 5001},
		}},
		{name: "small step back is not a wrap", wrap: 1e6, maxPerHour: 25, steps: []step{
			{raw: 500, want: 500}, {raw: 499.99, after: time.Minute, want: 500, anomaly: anomalyBackwards},
			{raw: 500.5, after: time.Minute, want: 500.51},
		}},
		{name: "implausible jump not counted", wrap: 1e6, maxPerHour: 25, steps: []step{
			{raw: 100, want: 100},
			{raw: 900, after: time.Minute, want: 100, anomaly: anomalyJump},
			{raw: 901, after: time.Minute, want: 101},
		}},
		{name: "big use after a long outage is plausible", wrap: 1e6, maxPerHour: 5, steps: []step{
			{raw: 10, want: 10}, {raw: 40, after: 24 * time.Hour, want: 40},
		}},
		{name: "glitch up then back down never decreases", wrap: 1e6, maxPerHour: 25, steps: []step{
			{raw: 100, want: 100},
			{raw: 90000, after: time.Minute, want: 100, anomaly: anomalyJump},
			{raw: 100.5, after: time.Minute, want: 100, anomaly: anomalyBackwards},
			{raw: 101, after: time.Minute, want: 100.5},
		}},
		{name: "no limit", wrap: 0, maxPerHour: 0, steps: []step{
			{raw: 1, want: 1}, {raw: 1e5, after: time.Second, want: 1e5}, {raw: 3, after: time.Second, want: 1e5, anomaly: anomalyBackwards},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := totalizer{maxPerHour: tc.maxPerHour}
			now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			for i, s := range tc.steps {
				now = now.Add(s.after)
				got, an, detail := c.update(s.raw, tc.wrap, now)
				if math.Abs(got-s.want) > 1e-9 || an != s.anomaly {
					t.Errorf("step %d raw %v: total %v anomaly %d, want %v anomaly %d (%s)", i, s.raw, got, an, s.want, s.anomaly, detail)
				}
				if (an == anomalyNone) != (detail == "") {
					t.Errorf("step %d: anomaly %d with detail %q", i, an, detail)
				}
			}
		})
	}
}

func TestTotalizerDetail(t *testing.T) {
	c := totalizer{maxPerHour: 25}
	t0 := time.Now()
	c.update(999999.99, 1e6, t0)
	_, _, d := c.update(1234.5, 1e6, t0.Add(time.Minute))
	if !strings.Contains(d, "999999.99 → 1234.5") || strings.Contains(d, "e+") {
		t.Errorf("detail %q: want exact decimal numbers", d)
	}
}
