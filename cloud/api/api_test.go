package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/shouwang-care/shouwang/cloud/authz"
	"github.com/shouwang-care/shouwang/cloud/credential"
	"github.com/shouwang-care/shouwang/cloud/live"
	"github.com/shouwang-care/shouwang/cloud/store"
	"github.com/shouwang-care/shouwang/cloud/telemetry"
	"github.com/shouwang-care/shouwang/firmware-protocol/mqttv1"
)

type fixture struct {
	t     testing.TB
	app   *fiber.App
	srv   *Server
	store *store.Store
	inc   string // incident of home h1
}

const pw = "correct horse battery"

// newFixture: two grids, homes h1 (grid g1, community c1) and h2 (grid g2), a
// no-water incident in each, and one login per role scoped to h1's side.
func newFixture(t testing.TB) *fixture {
	return newFixtureOn(t, filepath.Join(t.TempDir(), "api.db"))
}

// newFixtureOn is newFixture on the database dsn (SQLite path or PostgreSQL URL).
func newFixtureOn(t testing.TB, dsn string) *fixture {
	ctx := context.Background()
	s, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.PutGrid(ctx, store.Grid{ID: "g1", Name: "one", Community: "c1"}))
	must(s.PutGrid(ctx, store.Grid{ID: "g2", Name: "two", Community: "c2"}))
	must(s.PutWorker(ctx, store.Worker{ID: "w1", GridID: "g1", Name: "worker", OnDuty: true}))
	must(s.PutWorker(ctx, store.Worker{ID: "t1", GridID: "g1", Name: "tech", Role: "technician"}))
	must(s.PutWorker(ctx, store.Worker{ID: "w2", GridID: "g2", Name: "other", OnDuty: true}))
	f := &fixture{t: t, store: s}
	for i, h := range []string{"h1", "h2"} {
		grid, gw := []string{"g1", "g2"}[i], fmt.Sprintf("gw-api-000%d", i+1)
		must(s.PutHome(ctx, store.Home{ID: h, GridID: grid, Address: h + " road", ResidentName: "resident " + h}))
		must(s.PutGateway(ctx, gw, h, "x"))
		at := time.Now().Add(-time.Hour)
		_, err := s.IngestAlert(ctx, mqttv1.Alert{V: 1, ID: "a-" + h, Gateway: gw, Rule: "no_water", State: mqttv1.Raised,
			Severity: mqttv1.Critical, Class: mqttv1.ClassResident, At: at, RaisedAt: at}, at)
		must(err)
		id, _, err := s.OpenIncident(ctx, "a-"+h, at)
		must(err)
		if h == "h1" {
			f.inc = id
		}
	}
	_, err = s.EscalateDue(ctx, time.Now(), 10)
	must(err)
	hash, _ := credential.HashPassword(pw)
	for _, u := range []store.User{
		{ID: "u-admin", Username: "admin", Role: authz.Admin},
		{ID: "u-sup", Username: "sup", Role: authz.Supervisor, Community: "c1"},
		{ID: "u-worker", Username: "worker", Role: authz.Worker, WorkerID: "w1"},
		{ID: "u-tech", Username: "tech", Role: authz.Technician, WorkerID: "t1"},
		{ID: "u-family", Username: "family", Role: authz.Family},
		{ID: "u-resident", Username: "resident", Role: authz.Resident},
	} {
		u.PasswordHash = hash
		must(s.CreateUser(ctx, u))
	}
	must(s.LinkUserHome(ctx, "u-family", "h1", "女儿"))
	must(s.LinkUserHome(ctx, "u-resident", "h1", "self"))
	static := fstest.MapFS{"index.html": {Data: []byte("<!doctype html>")}}
	f.app, f.srv = New(s, live.NewHub(), static, http.NotFoundHandler(), func() error { return nil }, slog.New(slog.NewTextHandler(io.Discard, nil)))
	tel, err := telemetry.NewSQL(s.DB())
	must(err)
	f.srv.Telemetry = tel
	return f
}

// as logs in as username and returns a request function carrying the session.
func (f *fixture) as(username string) func(method, path, body string) (int, map[string]any) {
	f.t.Helper()
	req := httptest.NewRequest("POST", "/api/v1/login", strings.NewReader(fmt.Sprintf(`{"username":%q,"password":%q}`, username, pw)))
	req.Header.Set("Content-Type", "application/json")
	resp, err := f.app.Test(req, -1)
	if err != nil || resp.StatusCode != 200 {
		f.t.Fatalf("login %s: %v %v", username, resp.StatusCode, err)
	}
	cookie := resp.Header.Get("Set-Cookie")
	return func(method, path, body string) (int, map[string]any) {
		f.t.Helper()
		r := httptest.NewRequest(method, path, strings.NewReader(body))
		r.Header.Set("Cookie", strings.Split(cookie, ";")[0])
		if body != "" {
			r.Header.Set("Content-Type", "application/json")
		}
		resp, err := f.app.Test(r, -1)
		if err != nil {
			f.t.Fatal(err)
		}
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
}

func count(body map[string]any, key string) int {
	l, _ := body[key].([]any)
	return len(l)
}

// TestRoleByDataKindMatrix covers every cell of role × data kind, for the
// resident's default choices, after "grid worker only" for every kind (the pilot's
// example for water/electricity anomalies), and after "everyone". Each kind is read
// through its own route; a refusal never carries the data; another home is never
// visible; list and detail agree for anomalies; and every read that succeeded was
// audited.
func TestRoleByDataKindMatrix(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	_, err := f.store.ImportRegistry(ctx, store.Registry{
		Residents: []store.Resident{{ID: "r1", HomeID: "h1", Name: "resident h1", Phone: "13800000001",
			Contacts: []store.EmergencyContact{{Name: "女儿", Relation: "daughter", Phone: "13900000002"}}}},
		Medical: map[string]string{"r1": "高血压"},
	})
	if err != nil {
		t.Fatal(err)
	}
	kinds := []string{store.KindAlerts, store.KindCharts, store.KindTimeline, store.KindMedical, store.KindContacts}
	probe := map[string]struct{ path, secret string }{
		store.KindAlerts:   {"/api/v1/incidents/" + f.inc, "h1 road"},
		store.KindCharts:   {"/api/v1/homes/h1/telemetry?sensor=water&hours=1", "series"},
		store.KindTimeline: {"/api/v1/homes/h1/status", "last_activity"},
		store.KindMedical:  {"/api/v1/residents/r1/medical", "高血压"},
		store.KindContacts: {"/api/v1/homes/h1/contacts", "13900000002"},
	}
	roles := []string{"admin", "sup", "worker", "tech", "family", "resident"}
	// One row per role, one column per kind in the order of kinds: 1 = sees h1's data.
	phases := []struct {
		label  string
		set    []string // roles given every kind; nil: defaults
		matrix map[string]string
	}{
		{"default", nil, map[string]string{
			"admin": "11101", "sup": "10001", "worker": "11111", "tech": "00000", "family": "11101", "resident": "11111"}},
		{"worker only", []string{"worker"}, map[string]string{
			"admin": "00000", "sup": "00000", "worker": "11111", "tech": "00000", "family": "00000", "resident": "11111"}},
		{"everyone", []string{"admin", "supervisor", "worker", "technician", "family"}, map[string]string{
			"admin": "11111", "sup": "11111", "worker": "11111", "tech": "00000", "family": "11111", "resident": "11111"}},
	}
	sessions := map[string]func(string, string, string) (int, map[string]any){}
	for _, r := range roles {
		sessions[r] = f.as(r)
	}
	reads := 0
	for _, ph := range phases {
		for _, k := range kinds {
			if ph.set == nil {
				break
			}
			roles, _ := json.Marshal(ph.set)
			if code, body := sessions["resident"]("PUT", "/api/v1/homes/h1/privacy", fmt.Sprintf(`{"kind":%q,"roles":%s}`, k, roles)); code != 200 {
				t.Fatalf("%s: resident sets %s: %d %v", ph.label, k, code, body)
			}
		}
		for _, r := range roles {
			do := sessions[r]
			for i, k := range kinds {
				want := ph.matrix[r][i] == '1'
				code, body := do("GET", probe[k].path, "")
				raw, _ := json.Marshal(body)
				switch {
				case want && code != 200:
					t.Errorf("%s: %s reading %s: %d, want 200 (%s)", ph.label, r, k, code, raw)
				case !want && code != 403 && code != 404:
					t.Errorf("%s: %s reading %s: %d, want a refusal", ph.label, r, k, code)
				case !want && strings.Contains(string(raw), probe[k].secret):
					t.Errorf("%s: %s reading %s: refusal carries the data: %s", ph.label, r, k, raw)
				}
				if code == 200 {
					reads++
				}
			}
			// The lists agree with the detail for anomalies, and h2 never shows.
			wantN := map[bool]int{true: 1, false: 0}[ph.matrix[r][0] == '1']
			if r == "admin" {
				wantN++ // admin also sees h2, whose resident kept the defaults
			}
			_, alerts := do("GET", "/api/v1/alerts", "")
			_, incs := do("GET", "/api/v1/incidents", "")
			if got := count(alerts, "alerts"); got != wantN {
				t.Errorf("%s: %s: %d alerts listed, want %d", ph.label, r, got, wantN)
			}
			if got := count(incs, "incidents"); got != wantN {
				t.Errorf("%s: %s: %d incidents listed, want %d", ph.label, r, got, wantN)
			}
			if r != "admin" {
				for _, path := range []string{"/api/v1/homes/h2/status", "/api/v1/homes/h2/contacts", "/api/v1/homes/h2/telemetry"} {
					if code, _ := do("GET", path, ""); code != 403 && code != 404 {
						t.Errorf("%s: %s reads another home: GET %s: %d", ph.label, r, path, code)
					}
				}
			}
		}
	}
	log, err := f.store.AuditLog(ctx, "h1", 1000)
	if err != nil {
		t.Fatal(err)
	}
	audited := 0
	for _, e := range log {
		switch {
		case e.Object == "incident:"+f.inc, e.Object == "charts:water", e.Object == "status", e.Object == "medical:r1", e.Object == "contacts":
			audited++
		}
	}
	if audited != reads {
		t.Errorf("%d reads of personal data audited, want %d", audited, reads)
	}
}

// A request's context carries a deadline to the database: a query that would hang
// ends, and the client gets a clear 503.
func TestRequestDeadlineReachesTheStore(t *testing.T) {
	f := newFixture(t)
	f.srv.requestTimeout = 50 * time.Millisecond
	f.srv.store = stallingStore{f.store}
	code, body := f.as("admin")("GET", "/api/v1/kpis", "")
	if code != 503 {
		t.Fatalf("stalled query: %d %v, want 503", code, body)
	}
}

// stallingStore answers KPIs only when its context ends, like a locked table.
type stallingStore struct{ *store.Store }

func (stallingStore) KPIsIn(ctx context.Context, _ store.Scope, since, now time.Time) (store.KPIs, error) {
	<-ctx.Done()
	return store.KPIs{}, fmt.Errorf("kpis: %w", ctx.Err())
}

func TestRoleActions(t *testing.T) {
	f := newFixture(t)
	family, worker, tech := f.as("family"), f.as("worker"), f.as("tech")
	if code, _ := family("POST", "/api/v1/incidents/"+f.inc+"/accept", ""); code != 403 {
		t.Errorf("family accepting: %d, want 403", code)
	}
	if code, _ := tech("POST", "/api/v1/incidents/"+f.inc+"/accept", ""); code != 404 {
		t.Errorf("technician accepting a resident incident: %d, want 404", code)
	}
	if code, body := worker("POST", "/api/v1/incidents/"+f.inc+"/accept", ""); code != 200 {
		t.Errorf("worker accepting: %d %v", code, body)
	}
	if code, _ := worker("POST", "/api/v1/incidents/"+f.inc+"/resolve", `{"outcome":"teleported"}`); code != 409 {
		t.Errorf("bad outcome: %d, want 409", code)
	}
	if code, _ := worker("GET", "/api/v1/kpis", ""); code != 403 {
		t.Errorf("worker reading KPIs: %d, want 403", code)
	}
	if code, _ := family("PUT", "/api/v1/homes/h1/privacy", `{"kind":"medical","roles":[]}`); code != 403 {
		t.Errorf("family changing the resident's privacy: %d, want 403", code)
	}
	if code, _ := family("GET", "/api/v1/audit?home=h2", ""); code != 400 {
		t.Errorf("family reading another home's audit: %d, want 400", code)
	}
	if code, _ := family("GET", "/api/v1/incidents/"+f.inc, ""); code != 200 {
		t.Fatalf("family reading its parent's incident: %d", code)
	}
	code, body := family("GET", "/api/v1/audit?home=h1", "")
	if code != 200 || count(body, "audit") == 0 || !strings.Contains(fmt.Sprint(body), "incident:"+f.inc) {
		t.Errorf("family reading its own audit trail: %d %v", code, body)
	}
	n, err := f.store.VerifyAudit(context.Background())
	if err != nil || n == 0 {
		t.Errorf("audit chain: %d %v", n, err)
	}
	admin := f.as("admin")
	if code, body := admin("POST", "/api/v1/users", `{"username":"w9","role":"worker","password":"long enough pw"}`); code != 400 || !strings.Contains(fmt.Sprint(body), "worker_id") {
		t.Errorf("worker login without worker record: %d %v", code, body)
	}
	if code, body := admin("POST", "/api/v1/users", `{"username":"d1","role":"family","password":"long enough pw","homes":["h2"],"relation":"儿子"}`); code != 201 {
		t.Errorf("create family login: %d %v", code, body)
	}
	if code, _ := worker("POST", "/api/v1/users", `{"username":"x","role":"admin","password":"long enough pw"}`); code != 403 {
		t.Errorf("worker creating an admin: %d, want 403", code)
	}
}

func TestFamilyJoinsByInvitation(t *testing.T) {
	f := newFixture(t)
	resident, family := f.as("resident"), f.as("family")
	if code, _ := family("POST", "/api/v1/homes/h1/invites", ""); code != 403 {
		t.Fatalf("family inviting: %d, want 403 (only the resident consents)", code)
	}
	if code, _ := resident("POST", "/api/v1/homes/h2/invites", ""); code != 404 {
		t.Fatalf("resident inviting to another home: %d, want 404", code)
	}
	code, body := resident("POST", "/api/v1/homes/h1/invites", `{"relation":"儿子"}`)
	if code != 201 {
		t.Fatalf("invite: %d %v", code, body)
	}
	typed := strings.ToLower(strings.ReplaceAll(body["code"].(string), "-", " "))
	accept := func(username string) int {
		req := httptest.NewRequest("POST", "/api/v1/invites/accept", strings.NewReader(fmt.Sprintf(`{"code":%q,"username":%q,"name":"王小明","password":%q}`, typed, username, pw)))
		req.Header.Set("Content-Type", "application/json")
		resp, err := f.app.Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode
	}
	if got := accept("son"); got != 201 {
		t.Fatalf("accept: %d", got)
	}
	if got := accept("son2"); got != 400 {
		t.Fatalf("second use of the code: %d, want 400", got)
	}
	son := f.as("son")
	if _, body := son("GET", "/api/v1/alerts", ""); count(body, "alerts") != 1 {
		t.Fatalf("the son sees %v, want his parent's one alert", body)
	}
	if code, _ := son("GET", "/api/v1/incidents/"+f.inc, ""); code != 200 {
		t.Fatalf("the son reading his parent's incident: %d", code)
	}
}

func TestTokensPasswordsAndCSRF(t *testing.T) {
	f := newFixture(t)
	worker := f.as("worker")
	code, body := worker("POST", "/api/v1/tokens", `{"name":"wecom bridge"}`)
	if code != 201 {
		t.Fatalf("token: %d %v", code, body)
	}
	req := httptest.NewRequest("GET", "/api/v1/incidents", nil)
	req.Header.Set("Authorization", "Bearer "+body["token"].(string))
	resp, _ := f.app.Test(req, -1)
	if resp.StatusCode != 200 {
		t.Fatalf("API token: %d", resp.StatusCode)
	}
	req = httptest.NewRequest("GET", "/api/v1/incidents", nil)
	req.Header.Set("Authorization", "Bearer forged")
	if resp, _ := f.app.Test(req, -1); resp.StatusCode != 401 {
		t.Fatalf("forged token: %d", resp.StatusCode)
	}

	// A cross-site POST carrying the session cookie is refused.
	login := httptest.NewRequest("POST", "/api/v1/login", strings.NewReader(fmt.Sprintf(`{"username":"worker","password":%q}`, pw)))
	login.Header.Set("Content-Type", "application/json")
	resp, _ = f.app.Test(login, -1)
	cookie := strings.Split(resp.Header.Get("Set-Cookie"), ";")[0]
	evil := httptest.NewRequest("POST", "/api/v1/incidents/"+f.inc+"/accept", nil)
	evil.Header.Set("Cookie", cookie)
	evil.Header.Set("Origin", "http://evil.example")
	if resp, _ := f.app.Test(evil, -1); resp.StatusCode != 403 {
		t.Fatalf("cross-site POST: %d, want 403", resp.StatusCode)
	}
	same := httptest.NewRequest("POST", "/api/v1/incidents/"+f.inc+"/accept", nil)
	same.Header.Set("Cookie", cookie)
	same.Header.Set("Origin", "http://example.com")
	if resp, _ := f.app.Test(same, -1); resp.StatusCode != 200 {
		t.Fatalf("same-origin POST: %d, want 200", resp.StatusCode)
	}

	if code, _ := worker("POST", "/api/v1/password", `{"old":"wrong","new":"a brand new secret"}`); code != 403 {
		t.Fatalf("wrong old password: %d", code)
	}
	if code, _ := worker("POST", "/api/v1/password", `{"old":"`+pw+`","new":"short"}`); code != 400 {
		t.Fatalf("short new password: %d", code)
	}
	if code, _ := worker("POST", "/api/v1/password", `{"old":"`+pw+`","new":"a brand new secret"}`); code != 204 {
		t.Fatalf("change password: %d", code)
	}
	// The other session (from the login above) has ended.
	old := httptest.NewRequest("GET", "/api/v1/me", nil)
	old.Header.Set("Cookie", cookie)
	if resp, _ := f.app.Test(old, -1); resp.StatusCode != 401 {
		t.Fatalf("other session after password change: %d, want 401", resp.StatusCode)
	}
}

func TestExportAndErase(t *testing.T) {
	f := newFixture(t)
	resident, admin, worker := f.as("resident"), f.as("admin"), f.as("worker")
	code, body := resident("GET", "/api/v1/homes/h1/export", "")
	if code != 200 || !strings.Contains(fmt.Sprint(body), "a-h1") {
		t.Fatalf("resident export: %d %v", code, body)
	}
	if code, _ := resident("GET", "/api/v1/homes/h2/export", ""); code != 404 {
		t.Fatalf("export of another home: %d, want 404", code)
	}
	if code, _ := worker("POST", "/api/v1/homes/h1/erase", `{"confirm":"h1"}`); code != 403 {
		t.Fatalf("worker erasing: %d, want 403", code)
	}
	if code, _ := admin("POST", "/api/v1/homes/h1/erase", `{"confirm":"h2"}`); code != 400 {
		t.Fatalf("erase without the right confirmation: %d, want 400", code)
	}
	code, body = admin("POST", "/api/v1/homes/h1/erase", `{"confirm":"h1","reason":"moved to a care home"}`)
	if code != 200 {
		t.Fatalf("erase: %d %v", code, body)
	}
	if _, body := admin("GET", "/api/v1/alerts", ""); count(body, "alerts") != 1 {
		t.Fatalf("after erasing h1 the admin sees %v, want only h2's alert", body)
	}
	if code, _ := worker("GET", "/api/v1/incidents/"+f.inc, ""); code != 404 {
		t.Fatalf("erased incident still readable: %d", code)
	}
	cfgs, err := f.store.HomeConfigs(context.Background(), "h1")
	if err != nil || len(cfgs) != 1 || cfgs[0].Config().EraseBefore == nil || cfgs[0].GatewayID != "gw-api-0001" {
		t.Fatalf("gateway erase not queued: %+v %v", cfgs, err)
	}
	log, err := f.store.AuditLog(context.Background(), "h1", 100)
	if err != nil || log[0].Action != "erase" || log[0].Reason != "moved to a care home" {
		t.Fatalf("confirmation record: %+v %v", log, err)
	}
	if _, err := f.store.VerifyAudit(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestMedicalNotesFollowPrivacy: by default only the grid worker (and the resident)
// read medical notes — not the admin, not family — and each read is audited.
func TestMedicalNotesFollowPrivacy(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	_, err := f.store.ImportRegistry(ctx, store.Registry{
		Residents: []store.Resident{{ID: "r1", HomeID: "h1", Name: "resident h1"}},
		Medical:   map[string]string{"r1": "高血压，每日服药"},
	})
	if err != nil {
		t.Fatal(err)
	}
	for role, want := range map[string]int{"worker": 200, "resident": 200, "admin": 404, "family": 404, "sup": 404, "tech": 403} {
		code, body := f.as(role)("GET", "/api/v1/residents/r1/medical", "")
		if code != want {
			t.Errorf("%s: %d, want %d (%v)", role, code, want, body)
		}
		if code == 200 && body["medical_notes"] != "高血压，每日服药" {
			t.Errorf("%s: %v", role, body)
		}
	}
	log, err := f.store.AuditLog(ctx, "h1", 50)
	if err != nil {
		t.Fatal(err)
	}
	reads := 0
	for _, e := range log {
		if e.Object == "medical:r1" {
			reads++
		}
	}
	if reads != 2 {
		t.Errorf("%d audited medical reads, want 2", reads)
	}
}

// The incident list pages with an opaque cursor; a bad cursor or limit is a 400
// naming the parameter.
func TestIncidentPaging(t *testing.T) {
	f := newFixture(t)
	admin := f.as("admin")
	code, all := admin("GET", "/api/v1/incidents", "")
	n := len(all["incidents"].([]any))
	if code != 200 || n < 2 || all["next"] != nil {
		t.Fatalf("whole list: %d %v", code, all)
	}
	var ids []any
	path := "/api/v1/incidents?limit=1"
	for range n + 1 {
		code, page := admin("GET", path, "")
		if code != 200 || len(page["incidents"].([]any)) != 1 {
			t.Fatalf("page %s: %d %v", path, code, page)
		}
		ids = append(ids, page["incidents"].([]any)[0].(map[string]any)["id"])
		next, ok := page["next"].(string)
		if !ok {
			break
		}
		path = "/api/v1/incidents?limit=1&after=" + next
	}
	if len(ids) != n {
		t.Fatalf("paged %d incidents, the whole list has %d", len(ids), n)
	}
	for i, in := range all["incidents"].([]any) {
		if ids[i] != in.(map[string]any)["id"] {
			t.Fatalf("paged order %v differs from the list", ids)
		}
	}
	for _, q := range []struct{ query, field string }{
		{"after=not-a-cursor!", "after"},
		{"after=" + "bm8tY29sb24", "after"}, // "no-colon"
		{"limit=0", "limit"},
		{"limit=201", "limit"},
	} {
		if code, body := admin("GET", "/api/v1/incidents?"+q.query, ""); code != 400 || errField(body) != q.field {
			t.Errorf("?%s: %d %v, want 400 naming %s", q.query, code, body, q.field)
		}
	}
}

// A worker's /me says whether they are on duty, so the app can offer to end or
// start the shift; others' /me has no such field.
func TestMeCarriesDuty(t *testing.T) {
	f := newFixture(t)
	for user, want := range map[string]any{"worker": true, "tech": false, "family": nil, "admin": nil} {
		code, body := f.as(user)("GET", "/api/v1/me", "")
		u, _ := body["user"].(map[string]any)
		if code != 200 || u["on_duty"] != want {
			t.Errorf("%s: %d on_duty %v, want %v (%v)", user, code, u["on_duty"], want, body)
		}
	}
	if err := f.store.SetOnDuty(context.Background(), "w1", false); err != nil {
		t.Fatal(err)
	}
	if _, body := f.as("worker")("GET", "/api/v1/me", ""); body["user"].(map[string]any)["on_duty"] != false {
		t.Errorf("after the shift ended: %v", body)
	}
}
