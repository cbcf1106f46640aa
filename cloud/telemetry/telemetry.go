// Package telemetry stores meter totals and activity counts for charts.
//
// Two stores share one data model and one contract (see the tests):
//
//   - Influx writes to InfluxDB (1.8 with Flux enabled, or 2.x) through
//     influxdb-client-go/v2: batched, non-blocking writes, downsampled Flux
//     queries.
//   - SQL is the embedded default: one table in the cloud's own database
//     (SQLite by default, PostgreSQL too), so a small installation needs no
//     time-series server.
//
// Data model: measurement "meter" (tags gateway, sensor; field total_m3 or
// total_kwh) and measurement "activity" (tags gateway, sensor; fields count
// and period_s). Timestamps are the gateway's, from the payload. A point is
// identified by (gateway, sensor, field, time), so a redelivered MQTT message
// overwrites itself instead of doubling counts.
//
// Telemetry is loss-tolerant: it feeds charts, not alerts. Alerts never go
// through this package (they are committed to SQL elsewhere before they are
// acknowledged).
package telemetry

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/shouwang-care/shouwang/firmware-protocol/mqttv1"
)

// Field names, as stored and as returned in Series.Field.
const (
	FieldTotalM3  = "total_m3"
	FieldTotalKWh = "total_kwh"
	FieldCount    = "count"
)

// Measurement names in InfluxDB.
const (
	measurementMeter    = "meter"
	measurementActivity = "activity"
)

// fieldOrder decides which series Query returns when one sensor name carries
// several fields (a misconfigured gateway): the first one with data wins, so
// the answer is deterministic across stores.
var fieldOrder = []string{FieldTotalM3, FieldTotalKWh, FieldCount}

// Point is one value of a downsampled series.
type Point struct {
	T     time.Time // start of the window (clipped to the queried range), UTC
	Value float64
}

// Series is the downsampled history of one sensor: the last meter total of
// each window, or the sum of the activity counts in it. Windows without data
// are left out; Field is "" when there is no data at all.
type Series struct {
	Sensor string
	Field  string // total_m3 | total_kwh | count
	Points []Point
}

// ErrInvalid is wrapped by the errors of Write and Query for input they
// refuse (bad names, times, values or ranges); nothing was written.
var ErrInvalid = errors.New("invalid telemetry input")

// ErrClosed is returned by Influx writes after Close.
var ErrClosed = errors.New("telemetry store closed")

// Limits on what Query accepts, so one chart request cannot ask a store for
// millions of windows.
const (
	maxSensorLen = 64 // as in mqttv1
	maxWindows   = 100_000
)

// Timestamps outside [1970, 2200] are refused: mqttv1 refuses them too, and
// nanoseconds since the epoch (InfluxDB's and the SQL table's unit) overflow
// int64 in 2262.
var (
	minTime = time.Unix(0, 0).UTC()
	maxTime = time.Date(2200, 12, 31, 23, 59, 59, 0, time.UTC)
)

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// checkSensor refuses what cannot round-trip as an InfluxDB tag value, for
// both stores alike so they keep one contract. mqttv1 allows any 1–64 bytes;
// here control characters are refused (line protocol cannot carry a newline
// and the client writes a tab as the two characters `\t`), and so is the
// backslash, line protocol's escape character, which 1.x parses
// inconsistently (a trailing one swallows the separator after it). Quotes,
// spaces, commas, '=', '$', '{', Flux syntax… are all fine: the client
// escapes them in line protocol and fluxString escapes them in queries.
func checkSensor(s string) error {
	if s == "" || len(s) > maxSensorLen {
		return invalid("sensor %q: empty or longer than %d bytes", s, maxSensorLen)
	}
	if !utf8.ValidString(s) {
		return invalid("sensor %q: not valid UTF-8", s)
	}
	if strings.ContainsFunc(s, func(r rune) bool { return unicode.IsControl(r) || r == '\\' }) {
		return invalid("sensor %q: control character or backslash", s)
	}
	return nil
}

func checkGateway(gw string) error {
	if err := mqttv1.ValidGatewayID(gw); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return nil
}

func checkTime(t time.Time) error {
	if t.Before(minTime) || t.After(maxTime) {
		return invalid("time %s out of range 1970–2200", t.UTC().Format(time.RFC3339Nano))
	}
	return nil
}

// validate checks a telemetry batch before anything of it is stored: a batch
// is written whole or not at all, like mqttv1.Decode accepts it whole or not.
func validate(t *mqttv1.Telemetry) error {
	if err := checkGateway(t.Gateway); err != nil {
		return err
	}
	for i, r := range t.Readings {
		if err := checkSensor(r.Sensor); err != nil {
			return fmt.Errorf("readings[%d]: %w", i, err)
		}
		if err := checkTime(r.T); err != nil {
			return fmt.Errorf("readings[%d]: %w", i, err)
		}
		if (r.TotalM3 == nil) == (r.TotalKWh == nil) {
			return fmt.Errorf("readings[%d]: %w", i, invalid("exactly one of total_m3 and total_kwh must be set"))
		}
		if _, v := readingValue(r); math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("readings[%d]: %w", i, invalid("meter total %v is not a number", v))
		}
	}
	for i, a := range t.Activity {
		if err := checkSensor(a.Sensor); err != nil {
			return fmt.Errorf("activity[%d]: %w", i, err)
		}
		if err := checkTime(a.T); err != nil {
			return fmt.Errorf("activity[%d]: %w", i, err)
		}
		if a.Count < 0 || a.PeriodS < 0 {
			return fmt.Errorf("activity[%d]: %w", i, invalid("negative count or period"))
		}
	}
	return nil
}

func readingValue(r mqttv1.Reading) (field string, v float64) {
	if r.TotalM3 != nil {
		return FieldTotalM3, *r.TotalM3
	}
	return FieldTotalKWh, *r.TotalKWh
}

// checkQuery validates the arguments shared by both Query methods.
func checkQuery(gateway, sensor string, from, to time.Time, every time.Duration) error {
	if err := checkGateway(gateway); err != nil {
		return err
	}
	if err := checkSensor(sensor); err != nil {
		return err
	}
	if err := checkTime(from); err != nil {
		return err
	}
	if err := checkTime(to); err != nil {
		return err
	}
	if !from.Before(to) {
		return invalid("empty range [%s, %s)", from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	if every <= 0 {
		return invalid("window %v, want > 0", every)
	}
	if n := to.Sub(from) / every; n > maxWindows {
		return invalid("%d windows of %v, at most %d", n, every, maxWindows)
	}
	return nil
}

// windowStart is the start of the epoch-aligned window of length every that
// holds t, clipped to from: the time Flux's aggregateWindow(timeSrc:
// "_start") gives that window, so both stores label points alike.
func windowStart(t, from time.Time, every time.Duration) time.Time {
	ns := t.UnixNano()
	s := time.Unix(0, ns-ns%int64(every)).UTC()
	if s.Before(from) {
		return from.UTC()
	}
	return s
}
