package meterbus

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// anomaly is what the totalizer noticed about a reading.
type anomaly int

const (
	anomalyNone      anomaly = iota
	anomalyWrapped           // the counter passed its maximum: the wrap was added
	anomalyBackwards         // lower than before and not a wrap: meter replaced or reset
	anomalyJump              // more use than physically plausible since the last reading
)

// totalizer turns raw meter counters into the cumulative total the rules
// consume. The rules derive use from differences, so the total must never
// decrease (negative use) and must not leap (a fake "tap left running"): the
// offset absorbs wraps, meter swaps and glitches. It is kept in memory only; a
// restarted daemon starts again from the meter's own counter.
type totalizer struct {
	maxPerHour float64 // 0 = no plausibility check

	have    bool
	lastRaw float64
	lastT   time.Time
	offset  float64
	total   float64
}

// update takes a raw counter value read at t; wrap is the counter's modulus (0
// if it does not wrap). It returns the total to report and, for anything but a
// plain increase, what happened in words for the log and fault event.
func (c *totalizer) update(raw, wrap float64, t time.Time) (float64, anomaly, string) {
	if !c.have {
		c.have, c.lastRaw, c.lastT = true, raw, t
		c.total = round6(raw)
		return c.total, anomalyNone, ""
	}
	// Allow a full hour's worth even for back-to-back polls: meters update their
	// display in steps, and a reading delayed by retries must not look like a leap.
	hours := math.Max(t.Sub(c.lastT).Hours(), 1)
	limit := math.Inf(1)
	if c.maxPerHour > 0 {
		limit = c.maxPerHour * hours
	}
	var (
		an     anomaly
		detail string
		d      = raw - c.lastRaw
	)
	switch {
	case d >= 0 && d <= limit:
	case d > limit:
		an = anomalyJump
		detail = fmt.Sprintf("implausible jump %s → %s (+%s in %s, limit %s): not counted as use",
			num(c.lastRaw), num(raw), num(d), t.Sub(c.lastT).Round(time.Second), num(limit))
		c.offset -= d
	case wrap > 0 && c.lastRaw >= wrap/2 && d+wrap >= 0 && d+wrap <= limit:
		an = anomalyWrapped
		detail = fmt.Sprintf("counter wrapped at %s: %s → %s", num(wrap), num(c.lastRaw), num(raw))
		c.offset += wrap
	default:
		an = anomalyBackwards
		detail = fmt.Sprintf("reading went backwards %s → %s (meter replaced or reset?): total continues from %s",
			num(c.lastRaw), num(raw), num(c.total))
		c.offset = c.total - raw
	}
	c.lastRaw, c.lastT = raw, t
	total := round6(raw + c.offset)
	if total < c.total { // float rounding only; the cases above keep it monotonic
		total = c.total
	}
	c.total = total
	return total, an, detail
}

// round6 keeps totals at a millionth (1 mL, 1 mWh) so float noise from offsets
// and unit conversion does not show up in reports.
func round6(v float64) float64 { return math.Round(v*1e6) / 1e6 }

func num(v float64) string { return strconv.FormatFloat(round6(v), 'f', -1, 64) }
