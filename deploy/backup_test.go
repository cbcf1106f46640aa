package deploy

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shouwang-care/shouwang/cloud/store"
	"github.com/shouwang-care/shouwang/cloud/telemetry"
	"github.com/shouwang-care/shouwang/firmware-protocol/mqttv1"
	"github.com/shouwang-care/shouwang/internal/testinfra"
)

func pgBin(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("SHOUWANG_PG_BINDIR"); d != "" {
		return d
	}
	m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_dump")
	if len(m) == 0 {
		t.Fatal("pg_dump not found in /usr/lib/postgresql/*/bin: run scripts/test.sh (installs postgresql)")
	}
	return filepath.Dir(m[len(m)-1])
}

// sh runs a command with the libpq environment of srv and the PostgreSQL
// binaries first in PATH.
func sh(t *testing.T, srv *testinfra.PGServer, bin string, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(),
		"PATH="+bin+":"+os.Getenv("PATH"),
		"PGHOST=127.0.0.1", "PGPORT="+strconv.Itoa(srv.Port), "PGUSER=postgres", "PGCONNECT_TIMEOUT=10")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func roleDSN(srv *testinfra.PGServer, role, pass, db string) string {
	return fmt.Sprintf("postgres://%s:%s@127.0.0.1:%d/%s?sslmode=disable", role, url.QueryEscape(pass), srv.Port, db)
}

// TestPostgresRolesBackupRestore follows docs/operations (PostgreSQL setup,
// backup, restore) with the scripts in deploy/postgres against a real server.
func TestPostgresRolesBackupRestore(t *testing.T) {
	srv := testinfra.NewPostgresServer(t) // private: roles are cluster-wide
	bin := pgBin(t)
	ctx := context.Background()
	const db = "shouwang"

	// 1. Roles and database.
	start := time.Now()
	if out, err := sh(t, srv, bin, "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-v", "db="+db,
		"-v", "owner_password=owner-secret", "-v", "app_password=app-secret",
		"-d", "postgres", "-f", "postgres/roles.sql"); err != nil {
		t.Fatalf("roles.sql: %v\n%s", err, out)
	}

	// 2. Migrations as the owner.
	owner, err := store.Open(ctx, roleDSN(srv, "shouwang_owner", "owner-secret", db))
	if err != nil {
		t.Fatalf("migrate as owner: %v", err)
	}
	owner.Close()

	// 3. The app role: DML works, DDL does not.
	appDB, err := sql.Open("pgx", roleDSN(srv, "shouwang_app", "app-secret", db))
	if err != nil {
		t.Fatal(err)
	}
	defer appDB.Close()
	appRights(t, appDB, "shouwang_app")
	cloudAsApp(t, roleDSN(srv, "shouwang_app", "app-secret", db))

	// Data, written through the cloud's store (as the owner, see cloudAsApp).
	owner, err = store.Open(ctx, roleDSN(srv, "shouwang_owner", "owner-secret", db))
	if err != nil {
		t.Fatal(err)
	}
	seedAndAssign(t, owner)
	before := snapshot(t, owner.DB())
	owner.Close()
	t.Logf("roles + migrations + seed: %v", time.Since(start).Round(time.Millisecond))

	// 4. Backup.
	start = time.Now()
	outDir := filepath.Join(t.TempDir(), "backups")
	out, err := sh(t, srv, bin, "sh", "postgres/backup.sh", db, outDir)
	if err != nil {
		t.Fatalf("backup.sh: %v\n%s", err, out)
	}
	dump := strings.TrimSpace(out)
	fi, err := os.Stat(dump)
	if err != nil {
		t.Fatalf("backup.sh printed %q: %v", out, err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("dump mode %v, want 0600", fi.Mode().Perm())
	}
	t.Logf("backup.sh: %d bytes in %v", fi.Size(), time.Since(start).Round(time.Millisecond))

	// 5. Restore refuses to overwrite a live database.
	if out, err := sh(t, srv, bin, "sh", "postgres/restore.sh", dump); err == nil {
		t.Fatalf("restore.sh over an existing database succeeded:\n%s", out)
	}

	// 6. Disaster: the database is gone.
	if out, err := sh(t, srv, bin, "psql", "-X", "-v", "ON_ERROR_STOP=1", "-d", "postgres",
		"-c", `DROP DATABASE shouwang WITH (FORCE)`); err != nil {
		t.Fatalf("drop: %v\n%s", err, out)
	}

	// 7. Restore.
	start = time.Now()
	if out, err := sh(t, srv, bin, "sh", "postgres/restore.sh", dump); err != nil {
		t.Fatalf("restore.sh: %v\n%s", err, out)
	} else {
		t.Logf("restore.sh in %v: %s", time.Since(start).Round(time.Millisecond), strings.TrimSpace(out))
	}

	// 8. The alert and its assignment are intact, and the app role has exactly its rights back.
	appDB2, err := sql.Open("pgx", roleDSN(srv, "shouwang_app", "app-secret", db))
	if err != nil {
		t.Fatal(err)
	}
	defer appDB2.Close()
	appRights(t, appDB2, "shouwang_app after restore")
	app, err := store.Open(ctx, roleDSN(srv, "shouwang_owner", "owner-secret", db))
	if err != nil {
		t.Fatalf("open restored database: %v", err)
	}
	defer app.Close()
	after := snapshot(t, app.DB())
	if !reflect.DeepEqual(before, after) {
		t.Errorf("restored rows differ:\nbefore %v\nafter  %v", before, after)
	}
	for _, tb := range []string{"grids", "workers", "homes", "gateways", "alerts", "alert_messages"} {
		if len(after[tb]) == 0 {
			t.Errorf("table %s restored empty", tb)
		}
	}
	a, err := app.Alert(ctx, "alert-0001")
	if err != nil {
		t.Fatal(err)
	}
	if a.Address != "望江 3-2-301" || a.Resident != "王奶奶" || a.Rule != "no_water" || len(a.Evidence) != 2 || a.Evidence[0].QuietSecs != 43380 {
		t.Fatalf("restored alert: %+v", a)
	}
	// The assignment survives: the alert still names its worker and its incident.
	if a.Assignee == nil || a.Assignee.ID != "w-li" || a.DispatchedAt == nil || a.IncidentID == "" {
		t.Fatalf("restored alert lost its assignment: %+v", a)
	}
	if len(after["incidents"]) == 0 {
		t.Fatalf("restored database has no incident; tables: %v", after)
	}
	t.Logf("restored alert %s status %s assignee %+v; %d tables compared", a.ID, a.Status, a.Assignee, len(after))
	var owner2 string
	if err := app.DB().QueryRowContext(ctx, `SELECT tableowner FROM pg_tables WHERE tablename = 'alerts'`).Scan(&owner2); err != nil || owner2 != "shouwang_owner" {
		t.Errorf("alerts owned by %q (%v), want shouwang_owner", owner2, err)
	}
}

// appRights checks that the app role may read and write rows of every table
// and change nothing else.
func appRights(t *testing.T, db *sql.DB, who string) {
	t.Helper()
	ctx := context.Background()
	for _, q := range []string{
		`SELECT COUNT(*) FROM alerts`, `SELECT COUNT(*) FROM schema_migrations`,
		`INSERT INTO grids (id, name) VALUES ('rights-check', 'x')`,
		`UPDATE grids SET name = 'y' WHERE id = 'rights-check'`,
		`DELETE FROM grids WHERE id = 'rights-check'`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Errorf("%s may not %q: %v", who, q, err)
		}
	}
	for _, q := range []string{
		`CREATE TABLE evil (x int)`, `DROP TABLE alerts`, `ALTER TABLE alerts ADD COLUMN x int`,
		`TRUNCATE alerts`, `CREATE SCHEMA evil`, `CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'select 1'`,
		`CREATE TEMP TABLE scratch (x int)`, `CREATE DATABASE evil`, `CREATE ROLE evil`,
	} {
		if _, err := db.ExecContext(ctx, q); err == nil {
			t.Errorf("%s may run %q", who, q)
		}
	}
}

// cloudAsApp: once migrated by the owner, the cloud starts with the DML-only role
// (cloud/store touches no DDL when the schema is current).
func cloudAsApp(t *testing.T, dsn string) {
	t.Helper()
	s, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatalf("store.Open as the DML-only app role: %v", err)
	}
	s.Close()
}

func alert(id string) mqttv1.Alert {
	at := time.Date(2026, 3, 1, 18, 45, 0, 0, time.FixedZone("CST", 8*3600))
	return mqttv1.Alert{V: 1, ID: id, Gateway: "gw-hz-0001", Rule: "no_water", State: mqttv1.Raised,
		Severity: mqttv1.Critical, Class: mqttv1.ClassResident, At: at, RaisedAt: at.Add(-12*time.Hour - 3*time.Minute),
		Evidence: []mqttv1.Evidence{{Signal: "water", QuietSecs: 43380, Threshold: 43200}, {Signal: "motion", QuietSecs: 41700}}}
}

func seedAndAssign(t *testing.T, s *store.Store) {
	t.Helper()
	ctx := context.Background()
	check := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	check(s.PutGrid(ctx, store.Grid{ID: "g-wj3", Name: "望江 3 网格"}))
	check(s.PutWorker(ctx, store.Worker{ID: "w-li", GridID: "g-wj3", Name: "李网格员", Phone: "13800000000", OnDuty: true}))
	check(s.PutHome(ctx, store.Home{ID: "h-301", GridID: "g-wj3", Address: "望江 3-2-301", ResidentName: "王奶奶"}))
	check(s.PutGateway(ctx, "gw-hz-0001", "h-301", "secret-hash"))
	created, err := s.IngestAlert(ctx, alert("alert-0001"), time.Now())
	check(err)
	if !created {
		t.Fatal("alert not created")
	}
	_, opened, err := s.OpenIncident(ctx, "alert-0001", time.Now())
	check(err)
	if !opened {
		t.Fatal("no incident opened")
	}
	pages, err := s.EscalateDue(ctx, time.Now(), 10)
	check(err)
	if len(pages) != 1 || pages[0].Worker.ID != "w-li" {
		t.Fatalf("pages %+v, want the on-duty worker", pages)
	}
}

// snapshot returns every row of every table in the public schema, as JSON.
func snapshot(t *testing.T, db *sql.DB) map[string][]string {
	t.Helper()
	ctx := context.Background()
	rows, err := db.QueryContext(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, n)
	}
	rows.Close()
	snap := map[string][]string{}
	for _, tb := range tables {
		r, err := db.QueryContext(ctx, fmt.Sprintf(`SELECT row_to_json(x)::text FROM %q x ORDER BY 1`, tb))
		if err != nil {
			t.Fatalf("%s: %v", tb, err)
		}
		snap[tb] = []string{}
		for r.Next() {
			var j string
			if err := r.Scan(&j); err != nil {
				t.Fatal(err)
			}
			snap[tb] = append(snap[tb], j)
		}
		r.Close()
	}
	return snap
}

// TestInfluxRetention runs deploy/influxdb/retention.influxql against a real
// InfluxDB 1.8 (on the test's database) and checks the retention policy.
func TestInfluxRetention(t *testing.T) {
	db := testinfra.Influx(t)
	q := func(stmt string) string { return mustInfluxQuery(t, db, "", "", stmt) }
	n := 0
	for _, l := range influxStatements(t, "influxdb/retention.influxql") {
		q(strings.ReplaceAll(l, `"shouwang"`, `"`+db.Database+`"`))
		q(strings.ReplaceAll(l, `"shouwang"`, `"`+db.Database+`"`)) // idempotent
		n++
	}
	if n != 2 {
		t.Fatalf("%d statements", n)
	}
	got := q(`SHOW RETENTION POLICIES ON "` + db.Database + `"`)
	// name, duration, shardGroupDuration, replicaN, default
	if !strings.Contains(got, `["autogen","9600h0m0s","168h0m0s",1,true]`) {
		t.Fatalf("retention policies: %s", got)
	}
}

// influxQuery runs an InfluxQL statement on db's server as user (none: no
// credentials) and returns the HTTP status and body.
func influxQuery(t *testing.T, db testinfra.InfluxDB, user, pass, stmt string) (int, string) {
	t.Helper()
	form := url.Values{"q": {stmt}, "db": {db.Database}}
	req, _ := http.NewRequest(http.MethodPost, db.URL+"/query", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var sb strings.Builder
	io.Copy(&sb, resp.Body)
	return resp.StatusCode, sb.String()
}

// mustInfluxQuery is influxQuery that fails the test on any error.
func mustInfluxQuery(t *testing.T, db testinfra.InfluxDB, user, pass, stmt string) string {
	t.Helper()
	code, body := influxQuery(t, db, user, pass, stmt)
	if code != 200 || strings.Contains(body, `"error"`) {
		t.Fatalf("%s as %q: %d %s", stmt, user, code, body)
	}
	return body
}

// influxStatements returns the statements of an .influxql file (the lines that
// are neither comments nor blank), as `influx -import` runs them.
func influxStatements(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

// TestInfluxUsers sets InfluxDB 1.8 up as the operator guide says, with
// authentication on: the admin of users.influxql first (the only statement a server
// without users takes), retention.influxql and the other users as that admin. Then
// each user can do what it needs and no more: the cloud's user writes, charts and
// erases a resident through the cloud's own telemetry code; Grafana's reads and
// cannot write or drop; without credentials nothing is answered.
func TestInfluxUsers(t *testing.T) {
	db, _ := testinfra.InfluxOwn(t, testinfra.InfluxOptions{Auth: true})
	q := func(user, pass, stmt string) (int, string) { return influxQuery(t, db, user, pass, stmt) }
	mustQ := func(user, pass, stmt string) string { return mustInfluxQuery(t, db, user, pass, stmt) }
	users := influxStatements(t, "influxdb/users.influxql")
	if !strings.Contains(users[0], "WITH ALL PRIVILEGES") {
		t.Fatalf("users.influxql must create the admin first: %s", users[0])
	}
	mustQ("", "", users[0])
	for _, s := range append(influxStatements(t, "influxdb/retention.influxql"), users...) {
		mustQ("admin", "CHANGE-ME-ADMIN", s) // the admin again too: the guide imports the whole file
	}

	// The cloud, as its config would have it: influx.token "shouwang:<password>".
	in, err := telemetry.NewInflux(telemetry.InfluxConfig{URL: db.URL, Token: "shouwang:CHANGE-ME", Bucket: db.Bucket}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	ctx := context.Background()
	now := time.Now().Truncate(time.Minute)
	for i, gw := range []string{"gw-hz-0001", "gw-hz-0002"} {
		v := 100.5 + float64(i)
		if err := in.WriteBlocking(ctx, mqttv1.Telemetry{V: 1, Gateway: gw, Readings: []mqttv1.Reading{{T: now.Add(-time.Hour), Sensor: "water", TotalM3: &v}}}); err != nil {
			t.Fatalf("the cloud's user cannot write: %v", err)
		}
	}
	series, err := in.Query(ctx, "gw-hz-0001", "water", now.Add(-2*time.Hour), now, time.Hour)
	if err != nil || len(series.Points) == 0 {
		t.Fatalf("the cloud's user cannot chart: %+v %v", series, err)
	}
	if err := in.Erase(ctx, "gw-hz-0002"); err != nil {
		t.Fatalf("the cloud's user cannot erase a resident: %v", err)
	}

	// Grafana reads, and only reads.
	if body := mustQ("grafana", "CHANGE-ME-GRAFANA", `SELECT COUNT(*) FROM "meter"`); !strings.Contains(body, `"values"`) {
		t.Errorf("grafana reads nothing: %s", body)
	}
	resp, err := http.Post(db.URL+"/write?db=shouwang&u=grafana&p=CHANGE-ME-GRAFANA", "text/plain", strings.NewReader(`meter,gateway=gw-hz-0001,sensor=water total_m3=1`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("grafana's write answered %d, want 403", resp.StatusCode)
	}
	for _, stmt := range []string{`DROP SERIES WHERE "gateway" = 'gw-hz-0001'`, `DROP DATABASE "shouwang"`, `CREATE USER "x" WITH PASSWORD 'y'`} {
		if code, body := q("grafana", "CHANGE-ME-GRAFANA", stmt); code == 200 && !strings.Contains(body, `"error"`) {
			t.Errorf("grafana may %s", stmt)
		}
	}
	// The cloud's user administers nothing beyond its database.
	for _, stmt := range []string{`CREATE USER "x" WITH PASSWORD 'y'`, `DROP DATABASE "_internal"`} {
		if code, body := q("shouwang", "CHANGE-ME", stmt); code == 200 && !strings.Contains(body, `"error"`) {
			t.Errorf("the cloud's user may %s", stmt)
		}
	}
	if code, _ := q("", "", `SELECT COUNT(*) FROM "meter"`); code != http.StatusUnauthorized {
		t.Errorf("a query without credentials answered %d, want 401", code)
	}
	if body := mustQ("admin", "CHANGE-ME-ADMIN", `SELECT COUNT(*) FROM "meter" WHERE "gateway" = 'gw-hz-0002'`); strings.Contains(body, `"values"`) {
		t.Errorf("the erased resident's readings are still there: %s", body)
	}
}

// TestInfluxBackupRestore runs the operator guide's telemetry backup against a real
// InfluxDB 1.8: influxd backup -portable, the database dropped, influxd restore
// -portable, and the cloud charts the same readings as before.
func TestInfluxBackupRestore(t *testing.T) {
	db, _ := testinfra.InfluxOwn(t, testinfra.InfluxOptions{})
	in, err := telemetry.NewInflux(telemetry.InfluxConfig{URL: db.URL, Bucket: db.Bucket}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	ctx := context.Background()
	now := time.Now().Truncate(time.Minute)
	for i := range 30 {
		v := 120 + float64(i)/100
		if err := in.WriteBlocking(ctx, mqttv1.Telemetry{V: 1, Gateway: "gw-hz-0001", Readings: []mqttv1.Reading{{T: now.Add(time.Duration(i-30) * time.Minute), Sensor: "water", TotalM3: &v}}}); err != nil {
			t.Fatal(err)
		}
	}
	chart := func() telemetry.Series {
		t.Helper()
		s, err := in.Query(ctx, "gw-hz-0001", "water", now.Add(-time.Hour), now, 10*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	before := chart()
	if len(before.Points) == 0 {
		t.Fatal("nothing to back up")
	}
	dir := filepath.Join(t.TempDir(), "influx-backup")
	influxd := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(db.Bin, args...).CombinedOutput(); err != nil {
			t.Fatalf("influxd %v: %v\n%s", args, err, out)
		}
	}
	influxd("backup", "-portable", "-host", db.RPC, "-db", "shouwang", dir)
	mustInfluxQuery(t, db, "", "", `DROP DATABASE "shouwang"`)
	if s, err := in.Query(ctx, "gw-hz-0001", "water", now.Add(-time.Hour), now, 10*time.Minute); err == nil && len(s.Points) > 0 {
		t.Fatalf("the drop left %d points", len(s.Points))
	}
	influxd("restore", "-portable", "-host", db.RPC, "-db", "shouwang", dir)
	if after := chart(); !reflect.DeepEqual(after, before) {
		t.Errorf("chart after restore:\n%+v\nbefore:\n%+v", after, before)
	}
}
