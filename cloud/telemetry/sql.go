package telemetry

import (
	"context"
	"database/sql"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/shouwang-care/shouwang/firmware-protocol/mqttv1"
)

// SQL stores telemetry in one table of the cloud's own database. The SQL is
// portable: it runs on SQLite (modernc.org/sqlite binds PostgreSQL-style $N
// placeholders by position) and on PostgreSQL. One exception: the big
// multi-row insert uses ? on SQLite, because modernc matches each $N by
// formatting and comparing every argument's ordinal, quadratic in the
// parameters: with $N a 200-point batch took 25 ms, with ? about 3 ms.
type SQL struct {
	db       *sql.DB
	question bool // use ? placeholders in upserts (SQLite)
}

// Time is stored as integer nanoseconds since the epoch: one type that both
// databases compare, index and divide the same way (SQLite has no timestamp
// type, and driver time conversions differ).
const sqlSchema = `CREATE TABLE IF NOT EXISTS telemetry_points (
	gateway  TEXT NOT NULL,
	sensor   TEXT NOT NULL,
	field    TEXT NOT NULL,
	t_ns     BIGINT NOT NULL,
	value    DOUBLE PRECISION NOT NULL,
	period_s INTEGER,
	PRIMARY KEY (gateway, sensor, field, t_ns)
)`

// rowsPerInsert bounds one multi-row INSERT: 6 parameters a row stays far
// below SQLite's 32766 and PostgreSQL's 65535 parameter limits.
const rowsPerInsert = 500

// NewSQL creates the telemetry table in db if it is missing.
func NewSQL(db *sql.DB) (*SQL, error) {
	if _, err := db.Exec(sqlSchema); err != nil {
		return nil, fmt.Errorf("create telemetry table: %w", err)
	}
	return &SQL{db: db, question: isSQLite(db)}, nil
}

// isSQLite tells by the driver's package: modernc.org/sqlite, or
// github.com/mattn/go-sqlite3 should the cloud ever switch.
func isSQLite(db *sql.DB) bool {
	t := reflect.TypeOf(db.Driver())
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return strings.Contains(t.PkgPath(), "sqlite")
}

type sqlRow struct {
	sensor, field string
	tns           int64
	value         float64
	periodS       *int
}

// Write stores a telemetry batch in one transaction: all of it or nothing.
// Rewriting a point (same gateway, sensor, field and time) replaces it, so a
// redelivered message is harmless.
func (s *SQL) Write(ctx context.Context, t mqttv1.Telemetry) error {
	if err := validate(&t); err != nil {
		return fmt.Errorf("write telemetry for %s: %w", t.Gateway, err)
	}
	rows := make([]sqlRow, 0, len(t.Readings)+len(t.Activity))
	// A batch may repeat a key; PostgreSQL refuses to upsert one row twice in
	// a statement, so keep the last occurrence only, as InfluxDB would.
	index := make(map[sqlRow]int, cap(rows))
	add := func(r sqlRow) {
		k := sqlRow{sensor: r.sensor, field: r.field, tns: r.tns}
		if i, ok := index[k]; ok {
			rows[i] = r
			return
		}
		index[k] = len(rows)
		rows = append(rows, r)
	}
	for _, r := range t.Readings {
		f, v := readingValue(r)
		add(sqlRow{sensor: r.Sensor, field: f, tns: r.T.UnixNano(), value: v})
	}
	for _, a := range t.Activity {
		p := a.PeriodS
		add(sqlRow{sensor: a.Sensor, field: FieldCount, tns: a.T.UnixNano(), value: float64(a.Count), periodS: &p})
	}
	if len(rows) == 0 {
		return nil
	}

	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("write telemetry for %s: begin: %w", t.Gateway, err)
	}
	defer tx.Rollback() // no-op after Commit
	for len(rows) > 0 {
		n := min(len(rows), rowsPerInsert)
		q, args := upsertSQL(t.Gateway, rows[:n], s.question)
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("write telemetry for %s: insert %d points: %w", t.Gateway, n, err)
		}
		rows = rows[n:]
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("write telemetry for %s: commit: %w", t.Gateway, err)
	}
	return nil
}

// upsertSQL builds one multi-row upsert: far fewer round trips than a
// statement a row, which matters on PostgreSQL.
func upsertSQL(gateway string, rows []sqlRow, question bool) (string, []any) {
	var b strings.Builder
	b.WriteString("INSERT INTO telemetry_points (gateway, sensor, field, t_ns, value, period_s) VALUES ")
	args := make([]any, 0, 6*len(rows))
	for i, r := range rows {
		if i > 0 {
			b.WriteByte(',')
		}
		if question {
			b.WriteString("(?,?,?,?,?,?)")
		} else {
			n := len(args)
			fmt.Fprintf(&b, "($%d,$%d,$%d,$%d,$%d,$%d)", n+1, n+2, n+3, n+4, n+5, n+6)
		}
		var period any // typed nil pointers confuse some drivers; pass a plain nil
		if r.periodS != nil {
			period = int64(*r.periodS)
		}
		args = append(args, gateway, r.sensor, r.field, r.tns, r.value, period)
	}
	b.WriteString(" ON CONFLICT (gateway, sensor, field, t_ns) DO UPDATE SET value = excluded.value, period_s = excluded.period_s")
	return b.String(), args
}

// Query returns the sensor's history in [from, to), downsampled to windows of
// length every aligned to the Unix epoch (UTC): the last meter total of each
// window, or the sum of its activity counts. Windows are computed in Go over
// the rows of the range, read in time order through the primary key; that
// keeps the SQL portable, and a chart range of the embedded store is small.
func (s *SQL) Query(ctx context.Context, gateway, sensor string, from, to time.Time, every time.Duration) (Series, error) {
	if err := checkQuery(gateway, sensor, from, to, every); err != nil {
		return Series{}, fmt.Errorf("query telemetry for %s/%s: %w", gateway, sensor, err)
	}
	rows, err := s.db.QueryContext(ctx,
		`SELECT field, t_ns, value FROM telemetry_points
		 WHERE gateway = $1 AND sensor = $2 AND t_ns >= $3 AND t_ns < $4
		 ORDER BY field, t_ns`,
		gateway, sensor, from.UnixNano(), to.UnixNano())
	if err != nil {
		return Series{}, fmt.Errorf("query telemetry for %s/%s: %w", gateway, sensor, err)
	}
	defer rows.Close()
	byField := map[string][]Point{}
	for rows.Next() {
		var (
			field string
			tns   int64
			v     float64
		)
		if err := rows.Scan(&field, &tns, &v); err != nil {
			return Series{}, fmt.Errorf("query telemetry for %s/%s: scan: %w", gateway, sensor, err)
		}
		w := windowStart(time.Unix(0, tns), from, every)
		pts := byField[field]
		if n := len(pts); n > 0 && pts[n-1].T.Equal(w) {
			if field == FieldCount {
				pts[n-1].Value += v
			} else {
				pts[n-1].Value = v // rows come in time order: the last one wins
			}
			continue
		}
		byField[field] = append(pts, Point{T: w, Value: v})
	}
	if err := rows.Err(); err != nil {
		return Series{}, fmt.Errorf("query telemetry for %s/%s: %w", gateway, sensor, err)
	}
	return pickSeries(sensor, byField), nil
}

// pickSeries returns the series of the first field in fieldOrder that has
// points.
func pickSeries(sensor string, byField map[string][]Point) Series {
	for _, f := range fieldOrder {
		if pts := byField[f]; len(pts) > 0 {
			return Series{Sensor: sensor, Field: f, Points: pts}
		}
	}
	return Series{Sensor: sensor}
}
