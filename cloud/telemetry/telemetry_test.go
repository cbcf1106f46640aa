package telemetry

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/prometheus/client_golang/prometheus"
	_ "modernc.org/sqlite"

	"github.com/shouwang-care/shouwang/firmware-protocol/mqttv1"
	"github.com/shouwang-care/shouwang/internal/testinfra"
)

func TestMain(m *testing.M) { testinfra.Main(m) }

// store is what the contract test needs of every implementation.
type store interface {
	Write(ctx context.Context, t mqttv1.Telemetry) error
	Query(ctx context.Context, gateway, sensor string, from, to time.Time, every time.Duration) (Series, error)
}

// influxFlushed makes the asynchronous Influx write observable: it flushes
// after each write and fails if the client reported a write error.
type influxFlushed struct{ *Influx }

func (s influxFlushed) Write(ctx context.Context, t mqttv1.Telemetry) error {
	if err := s.Influx.Write(ctx, t); err != nil {
		return err
	}
	s.Flush()
	if n := writeErrors(s.Influx); n != 0 {
		return fmt.Errorf("%v asynchronous write errors", n)
	}
	return nil
}

// influxBlocking checks the blocking path against the same contract.
type influxBlocking struct{ *Influx }

func (s influxBlocking) Write(ctx context.Context, t mqttv1.Telemetry) error {
	return s.WriteBlocking(ctx, t)
}

func writeErrors(i *Influx) float64 {
	reg := prometheus.NewRegistry()
	reg.MustRegister(i.Collectors()...)
	mfs, err := reg.Gather()
	if err != nil {
		panic(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "shouwang_telemetry_write_errors_total" {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	panic("shouwang_telemetry_write_errors_total not collected")
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func openSQLite(t testing.TB) *sql.DB {
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "cloud.db")+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func openPostgres(t testing.TB) *sql.DB {
	db, err := sql.Open("pgx", testinfra.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func newSQL(t testing.TB, db *sql.DB) *SQL {
	s, err := NewSQL(db)
	if err != nil {
		t.Fatal(err)
	}
	// Creating the table again is a no-op: the cloud calls NewSQL at every start.
	if _, err := NewSQL(db); err != nil {
		t.Fatal(err)
	}
	return s
}

func newInflux(t testing.TB) *Influx {
	db := testinfra.Influx(t)
	i, err := NewInflux(InfluxConfig{URL: db.URL, Token: db.Token, Org: db.Org, Bucket: db.Bucket}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(i.Close)
	return i
}

// implementations opens each store on a fresh, empty database.
var implementations = []struct {
	name string
	open func(t testing.TB) store
}{
	{"sqlite", func(t testing.TB) store { return newSQL(t, openSQLite(t)) }},
	{"postgres", func(t testing.TB) store { return newSQL(t, openPostgres(t)) }},
	{"influx", func(t testing.TB) store { return influxFlushed{newInflux(t)} }},
	{"influx-blocking", func(t testing.TB) store { return influxBlocking{newInflux(t)} }},
}

const gw = "gw-0001"

var base = time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)

func at(d string) time.Time {
	p, err := time.ParseDuration(d)
	if err != nil {
		panic(err)
	}
	return base.Add(p)
}

func f64(v float64) *float64 { return &v }

func m3(sensor string, t time.Time, v float64) mqttv1.Reading {
	return mqttv1.Reading{T: t, Sensor: sensor, TotalM3: f64(v)}
}

func kwh(sensor string, t time.Time, v float64) mqttv1.Reading {
	return mqttv1.Reading{T: t, Sensor: sensor, TotalKWh: f64(v)}
}

func act(sensor string, t time.Time, n int) mqttv1.Activity {
	return mqttv1.Activity{T: t, PeriodS: 300, Sensor: sensor, Count: n}
}

func batch(gateway string, readings []mqttv1.Reading, activity ...mqttv1.Activity) mqttv1.Telemetry {
	return mqttv1.Telemetry{V: mqttv1.Version, Gateway: gateway, Seq: 1, Readings: readings, Activity: activity}
}

// Sensor names a gateway may send (mqttv1 allows any 1–64 bytes) that try to
// escape a Flux string, a SQL literal or line protocol.
var hostile = []string{
	`x") |> drop() //`,
	`x" or r.sensor != "`,
	`${string(v: 1)}`,
	`a"b'c`,
	`') OR 1=1 --`,
	`sp ace,comma=eq`,
	`水表/厨房`,
}

func TestContract(t *testing.T) {
	for _, impl := range implementations {
		t.Run(impl.name, func(t *testing.T) {
			t.Parallel()
			s := impl.open(t)
			ctx := t.Context()
			// Data of one home, written in two batches, plus a neighbour.
			must(t, s.Write(ctx, batch(gw,
				[]mqttv1.Reading{
					m3("water", at("5m"), 1.0), m3("water", at("40m"), 1.5),
					m3("water", at("1h10m"), 2.0), m3("water", at("3h30m"), 3.0),
					kwh("power", at("30m"), 812.25),
				},
				act("pir-hall", at("0s"), 3), act("pir-hall", at("30m"), 4),
				act("pir-hall", at("1h"), 0), act("pir-hall", at("1h59m59s"), 2),
			)))
			must(t, s.Write(ctx, batch(gw, nil, act("pir-hall", at("3h"), 5))))
			must(t, s.Write(ctx, batch("gw-0002", []mqttv1.Reading{m3("water", at("5m"), 99)}, act("pir-hall", at("0s"), 99))))

			query := func(t *testing.T, sensor string, from, to time.Time, every time.Duration) Series {
				t.Helper()
				got, err := s.Query(ctx, gw, sensor, from, to, every)
				if err != nil {
					t.Fatal(err)
				}
				return got
			}
			t.Run("raw", func(t *testing.T) {
				got := query(t, "water", base, at("4h"), time.Second)
				want := Series{Sensor: "water", Field: FieldTotalM3, Points: []Point{
					{at("5m"), 1.0}, {at("40m"), 1.5}, {at("1h10m"), 2.0}, {at("3h30m"), 3.0},
				}}
				same(t, got, want)
				same(t, query(t, "power", base, at("4h"), time.Minute),
					Series{Sensor: "power", Field: FieldTotalKWh, Points: []Point{{at("30m"), 812.25}}})
			})
			t.Run("hourly: last total, summed counts, empty windows left out", func(t *testing.T) {
				same(t, query(t, "water", base, at("4h"), time.Hour), Series{Sensor: "water", Field: FieldTotalM3, Points: []Point{
					{at("0s"), 1.5}, {at("1h"), 2.0}, {at("3h"), 3.0},
				}})
				same(t, query(t, "pir-hall", base, at("4h"), time.Hour), Series{Sensor: "pir-hall", Field: FieldCount, Points: []Point{
					{at("0s"), 7}, {at("1h"), 2}, {at("3h"), 5},
				}})
			})
			t.Run("range is [from, to), first window clipped to from", func(t *testing.T) {
				same(t, query(t, "water", at("17m"), at("3h"), time.Hour), Series{Sensor: "water", Field: FieldTotalM3, Points: []Point{
					{at("17m"), 1.5}, {at("1h"), 2.0},
				}})
				same(t, query(t, "pir-hall", at("30m"), at("3h"), time.Hour), Series{Sensor: "pir-hall", Field: FieldCount, Points: []Point{
					{at("30m"), 4}, {at("1h"), 2},
				}})
			})
			t.Run("a point on the stop is outside", func(t *testing.T) {
				must(t, s.Write(ctx, batch(gw, nil, act("edge", at("1h").Add(-time.Nanosecond), 1), act("edge", at("1h"), 2))))
				same(t, query(t, "edge", base, at("1h"), time.Hour), Series{Sensor: "edge", Field: FieldCount, Points: []Point{{at("0s"), 1}}})
				same(t, query(t, "edge", at("59m"), at("1h"), time.Millisecond), Series{Sensor: "edge", Field: FieldCount, Points: []Point{{at("1h").Add(-time.Millisecond), 1}}})
			})
			t.Run("windows are aligned to the epoch, not to from", func(t *testing.T) {
				same(t, query(t, "pir-hall", at("-20h"), at("4h"), 24*time.Hour), Series{Sensor: "pir-hall", Field: FieldCount, Points: []Point{
					{at("-10h"), 14}, // 2025-03-01T00:00Z
				}})
			})
			t.Run("no data", func(t *testing.T) {
				same(t, query(t, "water", at("5h"), at("6h"), time.Hour), Series{Sensor: "water"})
				same(t, query(t, "nobody", base, at("4h"), time.Hour), Series{Sensor: "nobody"})
			})
			t.Run("rewrite replaces: a redelivered batch does not double counts", func(t *testing.T) {
				again := batch(gw, []mqttv1.Reading{m3("water", at("40m"), 1.5)}, act("pir-hall", at("30m"), 4))
				must(t, s.Write(ctx, again))
				must(t, s.Write(ctx, again))
				same(t, query(t, "pir-hall", base, at("1h"), time.Hour), Series{Sensor: "pir-hall", Field: FieldCount, Points: []Point{{at("0s"), 7}}})
				// The same key twice in one batch: the last one wins.
				must(t, s.Write(ctx, batch(gw, nil, act("dup", at("0s"), 1), act("dup", at("0s"), 6))))
				same(t, query(t, "dup", base, at("1h"), time.Hour), Series{Sensor: "dup", Field: FieldCount, Points: []Point{{at("0s"), 6}}})
			})
			t.Run("hostile sensor names are data, not code", func(t *testing.T) {
				var rs []mqttv1.Reading
				for k, name := range hostile {
					rs = append(rs, m3(name, at("10m"), float64(100+k)))
				}
				rs = append(rs, m3("x", at("10m"), 7))
				must(t, s.Write(ctx, batch(gw, rs)))
				for k, name := range hostile {
					same(t, query(t, name, base, at("1h"), time.Hour),
						Series{Sensor: name, Field: FieldTotalM3, Points: []Point{{at("0s"), float64(100 + k)}}})
				}
				same(t, query(t, "x", base, at("1h"), time.Hour), Series{Sensor: "x", Field: FieldTotalM3, Points: []Point{{at("0s"), 7}}})
			})
			t.Run("invalid input is refused whole", func(t *testing.T) {
				for name, b := range map[string]mqttv1.Telemetry{
					"gateway":         batch(`gw") |> drop() //`, []mqttv1.Reading{m3("w", base, 1)}),
					"empty sensor":    batch(gw, []mqttv1.Reading{m3("", base, 1)}),
					"newline":         batch(gw, []mqttv1.Reading{m3("ok", base, 1), m3("a\nb", base, 1)}),
					"backslash":       batch(gw, []mqttv1.Reading{m3(`a\`, base, 1)}),
					"long":            batch(gw, []mqttv1.Reading{m3(strings.Repeat("s", 65), base, 1)}),
					"both totals":     batch(gw, []mqttv1.Reading{{T: base, Sensor: "w", TotalM3: f64(1), TotalKWh: f64(1)}}),
					"no total":        batch(gw, []mqttv1.Reading{{T: base, Sensor: "w"}}),
					"NaN":             batch(gw, []mqttv1.Reading{m3("w", base, math.NaN())}),
					"zero time":       batch(gw, []mqttv1.Reading{m3("w", time.Time{}, 1)}),
					"negative count":  batch(gw, nil, act("p", base, -1)),
					"bad after good":  batch(gw, []mqttv1.Reading{m3("refused", base, 1)}, act("", base, 1)),
					"invalid UTF-8":   batch(gw, []mqttv1.Reading{m3("a\xffb", base, 1)}),
					"year 2300":       batch(gw, nil, act("p", time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC), 1)),
					"control unicode": batch(gw, nil, act("a\u0085b", base, 1)),
				} {
					if err := s.Write(ctx, b); !errors.Is(err, ErrInvalid) {
						t.Errorf("%s: Write = %v, want ErrInvalid", name, err)
					}
				}
				same(t, query(t, "refused", base, at("1h"), time.Hour), Series{Sensor: "refused"})
				for name, q := range map[string]func() error{
					"every 0":      func() error { _, err := s.Query(ctx, gw, "water", base, at("1h"), 0); return err },
					"empty range":  func() error { _, err := s.Query(ctx, gw, "water", base, base, time.Hour); return err },
					"reversed":     func() error { _, err := s.Query(ctx, gw, "water", at("1h"), base, time.Hour); return err },
					"many windows": func() error { _, err := s.Query(ctx, gw, "water", base, at("24h"), time.Millisecond); return err },
					"bad gateway":  func() error { _, err := s.Query(ctx, `") |> yield()`, "water", base, at("1h"), time.Hour); return err },
					"bad sensor":   func() error { _, err := s.Query(ctx, gw, "a\nb", base, at("1h"), time.Hour); return err },
					"zero from":    func() error { _, err := s.Query(ctx, gw, "water", time.Time{}, at("1h"), time.Hour); return err },
				} {
					if err := q(); !errors.Is(err, ErrInvalid) {
						t.Errorf("%s: Query = %v, want ErrInvalid", name, err)
					}
				}
			})
		})
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func same(t testing.TB, got, want Series) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %s\nwant %s", show(got), show(want))
	}
}

func show(s Series) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%q %s [", s.Sensor, s.Field)
	for _, p := range s.Points {
		fmt.Fprintf(&b, " %s=%v", p.T.Format(time.RFC3339Nano), p.Value)
	}
	b.WriteString(" ]")
	return b.String()
}
