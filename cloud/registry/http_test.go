package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/shouwang-care/shouwang/cloud/credential"
	"github.com/shouwang-care/shouwang/cloud/store"
	"github.com/shouwang-care/shouwang/internal/testinfra"
)

func TestMain(m *testing.M) { testinfra.Main(m) }

// backends runs fn against SQLite and a real PostgreSQL.
func backends(t *testing.T, fn func(t *testing.T, s *store.Store)) {
	for _, b := range []struct {
		name string
		dsn  func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return filepath.Join(t.TempDir(), "shouwang.db") }},
		{"postgres", func(t *testing.T) string { return testinfra.Postgres(t) }},
	} {
		t.Run(b.name, func(t *testing.T) {
			s, err := store.Open(context.Background(), b.dsn(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			fn(t, s)
		})
	}
}

// app mounts the registry behind a stand-in for the API's session check: the
// X-Role header says who is calling.
func app(s Store) (*fiber.App, *Handlers) {
	a := fiber.New(fiber.Config{BodyLimit: 4 << 20})
	auth := func(c *fiber.Ctx) error {
		role := c.Get("X-Role")
		if role == "" {
			return c.SendStatus(fiber.StatusUnauthorized)
		}
		c.Locals("user", store.User{Username: role + "-user", Role: role, WorkerID: c.Get("X-Worker"), Community: c.Get("X-Community")})
		return c.Next()
	}
	h := Routes(a.Group("/api/v1"), auth, s, slog.New(slog.NewTextHandler(io.Discard, nil)))
	return a, h
}

type reply struct {
	status int
	body   []byte
	header http.Header
}

func (r reply) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("status %d, body %q: %v", r.status, r.body, err)
	}
	return m
}

func call(t *testing.T, a *fiber.App, method, path, role, ctype string, body []byte) reply {
	t.Helper()
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	if role != "" {
		req.Header.Set("X-Role", role)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := a.Test(req, 30_000)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, b, resp.Header}
}

// householdsCSV generates a community of n households the way a street office
// would fill the template: two grids, a few workers, one resident per home with
// two contacts, every third with a family member and medical notes.
func householdsCSV(n int) string {
	var b strings.Builder
	b.WriteString("\ufeff" + strings.Join(Columns, ",") + "\r\n")
	row := func(kv map[string]string) {
		rec := make([]string, len(Columns))
		for i, c := range Columns {
			rec[i] = kv[c]
		}
		b.WriteString(strings.Join(rec, ",") + "\r\n")
	}
	for _, g := range []string{"a", "b"} {
		row(map[string]string{"kind": "grid", "id": "g-" + g, "name": "近江 " + g + " 网格", "community": "近江社区"})
		row(map[string]string{"kind": "worker", "id": "w-" + g, "grid_id": "g-" + g, "name": "网格员" + g, "phone": "13800000001", "role": "worker", "on_duty": "1"})
		row(map[string]string{"kind": "worker", "id": "w-" + g + "-backup", "grid_id": "g-" + g, "name": "备岗" + g, "phone": "138 0000 0002", "role": "backup", "on_duty": "0"})
	}
	for i := range n {
		g := "g-a"
		if i >= n/2 {
			g = "g-b"
		}
		h, r := fmt.Sprintf("h-%04d", i), fmt.Sprintf("r-%04d", i)
		row(map[string]string{"kind": "home", "id": h, "grid_id": g, "address": fmt.Sprintf("近江家园 %d 幢 %d 室", i/24+1, i%24+101),
			"sensors": fmt.Sprintf("water:wm-%04d;door:dr-%04d", i, i)})
		res := map[string]string{"kind": "resident", "id": r, "home_id": h, "name": fmt.Sprintf("居民%d", i), "phone": fmt.Sprintf("0571-8%07d", i)}
		if i%3 == 0 {
			res["medical_notes"] = `"高血压, 服药"`
		}
		row(res)
		row(map[string]string{"kind": "contact", "resident_id": r, "name": "子女", "relation": "儿子", "phone": fmt.Sprintf("139%08d", i)})
		row(map[string]string{"kind": "contact", "resident_id": r, "name": "邻居", "relation": "邻居", "phone": fmt.Sprintf("+86 137%08d", i)})
		if i%3 == 0 {
			row(map[string]string{"kind": "family", "id": "f-" + r, "resident_id": r, "name": "家属", "relation": "女儿", "phone": fmt.Sprintf("136%08d", i)})
		}
	}
	return b.String()
}

func TestImportExport500Households(t *testing.T) {
	backends(t, func(t *testing.T, s *store.Store) {
		a, _ := app(s)
		in := householdsCSV(500)
		// One bad line among 3500: nothing is imported, and the line is named.
		bad := strings.Replace(in, "13900000017", "1390000", 1)
		r := call(t, a, "POST", "/api/v1/registry/import", "admin", "text/csv", []byte(bad))
		if r.status != 422 {
			t.Fatalf("bad import: %d %s", r.status, r.body)
		}
		e := r.json(t)["error"].(map[string]any)
		lines := e["lines"].([]any)
		if e["code"] != "invalid_csv" || len(lines) != 1 || !strings.Contains(lines[0].(map[string]any)["message"].(string), `"1390000" is neither a mainland mobile`) {
			t.Fatalf("%s", r.body)
		}
		if homes, _ := s.Homes(context.Background(), 10, 0); len(homes) != 0 {
			t.Fatalf("a refused import wrote %d homes", len(homes))
		}

		r = call(t, a, "POST", "/api/v1/registry/import", "admin", "text/csv; charset=utf-8", []byte(in))
		if r.status != 200 {
			t.Fatalf("import: %d %s", r.status, r.body)
		}
		n := r.json(t)["imported"].(map[string]any)
		if n["homes"] != 500.0 || n["residents"] != 500.0 || n["contacts"] != 1000.0 || n["family"] != 167.0 || n["workers"] != 4.0 {
			t.Fatalf("counts %v", n)
		}
		// Export, re-import the export, export again: the same bytes.
		ex := call(t, a, "GET", "/api/v1/registry/export", "admin", "", nil)
		if ex.status != 200 || !strings.HasPrefix(ex.header.Get("Content-Type"), "text/csv") || !bytes.HasPrefix(ex.body, []byte("\xef\xbb\xbf")) {
			t.Fatalf("export: %d %v", ex.status, ex.header)
		}
		if r := call(t, a, "POST", "/api/v1/registry/import", "admin", "text/csv", ex.body); r.status != 200 {
			t.Fatalf("re-import: %d %s", r.status, r.body)
		}
		ex2 := call(t, a, "GET", "/api/v1/registry/export", "admin", "", nil)
		if !bytes.Equal(ex.body, ex2.body) {
			t.Fatal("export → import → export changed the file")
		}
		// The export carries what the generated file said, normalised.
		for _, want := range []string{"contact,,,,r-0007,邻居,,,13700000007,邻居", `"高血压, 服药"`, "wm-0499", "worker,w-a-backup,g-a,,,备岗a,,,13800000002,,backup,0"} {
			if !bytes.Contains(ex.body, []byte(want)) {
				t.Errorf("export lacks %q", want)
			}
		}

		// Lists and pages.
		l := call(t, a, "GET", "/api/v1/homes?limit=3&offset=498", "admin", "", nil).json(t)
		homes := l["homes"].([]any)
		if len(homes) != 2 || homes[0].(map[string]any)["id"] != "h-0498" || homes[0].(map[string]any)["resident_name"] != "居民498" {
			t.Fatalf("%v", l)
		}
		res := call(t, a, "GET", "/api/v1/residents/r-0003", "admin", "", nil).json(t)["resident"].(map[string]any)
		if len(res["emergency_contacts"].([]any)) != 2 || len(res["family"].([]any)) != 1 || res["medical_notes"] != nil {
			t.Fatalf("%v", res)
		}
		if notes, err := s.ResidentMedical(context.Background(), "r-0003"); err != nil || notes != "高血压, 服药" {
			t.Fatalf("medical notes imported: %q %v", notes, err)
		}
		if g := call(t, a, "GET", "/api/v1/grids", "admin", "", nil).json(t)["grids"].([]any); len(g) != 2 {
			t.Fatalf("%v", g)
		}
		if w := call(t, a, "GET", "/api/v1/workers?limit=1&offset=1", "admin", "", nil).json(t)["workers"].([]any); len(w) != 1 || w[0].(map[string]any)["id"] != "w-a-backup" {
			t.Fatalf("%v", w)
		}

		// Every read of residents' data above left a row in each home's audit trail;
		// grids and workers are not residents' data.
		for home, want := range map[string][]string{
			"h-0003": {"registry:export", "registry:export", "registry:resident:r-0003"},
			"h-0498": {"registry:export", "registry:export", "registry:homes"},
			"h-0100": {"registry:export", "registry:export"},
		} {
			log, err := s.AuditLog(context.Background(), home, 100)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range log {
				if e.Actor != "admin-user" || e.Action != "read" {
					t.Errorf("%s: audit row %+v", home, e)
				}
				got = append(got, e.Object)
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("%s audit trail %v, want %v", home, got, want)
			}
		}
	})
}

func TestRegistryHTTPRefusals(t *testing.T) {
	backends(t, func(t *testing.T, s *store.Store) {
		a, _ := app(s)
		// Every role but admin, on reads, writes and provisioning: the registry is
		// not scoped to a community, so the authz table keeps it to admins.
		for _, role := range []string{"supervisor", "worker", "technician", "family", "resident"} {
			for _, rt := range []struct{ method, path string }{
				{"GET", "/api/v1/grids"}, {"GET", "/api/v1/homes/h1"}, {"GET", "/api/v1/residents"}, {"GET", "/api/v1/registry/export"},
				{"POST", "/api/v1/homes/h1/claim-codes"}, {"POST", "/api/v1/gateways/gw-x/revoke"},
			} {
				r := call(t, a, rt.method, rt.path, role, "", nil)
				if r.status != 403 || r.json(t)["error"].(map[string]any)["code"] != "forbidden" {
					t.Errorf("%s %s as %s: %d %s", rt.method, rt.path, role, r.status, r.body)
				}
			}
		}
		if r := call(t, a, "GET", "/api/v1/grids", "", "", nil); r.status != 401 {
			t.Errorf("no session: %d", r.status)
		}
		if r := call(t, a, "GET", "/api/v1/homes?limit=0", "admin", "", nil); r.status != 400 || r.json(t)["error"].(map[string]any)["field"] != "limit" {
			t.Errorf("limit=0: %d %s", r.status, r.body)
		}
		if r := call(t, a, "GET", "/api/v1/homes/nope", "admin", "", nil); r.status != 404 {
			t.Errorf("unknown home: %d", r.status)
		}
		if r := call(t, a, "POST", "/api/v1/registry/import", "admin", "application/json", []byte(`{}`)); r.status != 415 {
			t.Errorf("JSON import: %d", r.status)
		}
		r := call(t, a, "POST", "/api/v1/registry/import", "admin", "text/csv", []byte("kind,id,colour\n"))
		if r.status != 422 || !strings.Contains(string(r.body), `unknown column \"colour\"`) {
			t.Errorf("unknown column: %d %s", r.status, r.body)
		}
	})
}

func TestDutyToggle(t *testing.T) {
	backends(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		must(t, s.PutGrid(ctx, store.Grid{ID: "g1", Name: "一网格"}))
		must(t, s.PutWorker(ctx, store.Worker{ID: "w1", GridID: "g1", Name: "李", OnDuty: true}))
		a, _ := app(s)
		r := call(t, a, "PUT", "/api/v1/workers/w1/duty", "admin", "application/json", []byte(`{"on_duty": false}`))
		if r.status != 200 || r.json(t)["worker"].(map[string]any)["on_duty"] != false {
			t.Fatalf("%d %s", r.status, r.body)
		}
		if r := call(t, a, "PUT", "/api/v1/workers/w1/duty", "admin", "application/json", []byte(`{}`)); r.status != 400 {
			t.Fatalf("no on_duty: %d", r.status)
		}
		if r := call(t, a, "PUT", "/api/v1/workers/nobody/duty", "admin", "application/json", []byte(`{"on_duty": true}`)); r.status != 404 {
			t.Fatalf("unknown worker: %d", r.status)
		}

		// Who else may: a worker their own shift, a supervisor their community's
		// workers; anyone else's worker answers like a missing one.
		must(t, s.PutGrid(ctx, store.Grid{ID: "g2", Name: "二网格", Community: "望江"}))
		must(t, s.PutGrid(ctx, store.Grid{ID: "g3", Name: "三网格", Community: "闸弄口"}))
		must(t, s.PutWorker(ctx, store.Worker{ID: "w2", GridID: "g2", Name: "王"}))
		must(t, s.PutWorker(ctx, store.Worker{ID: "w3", GridID: "g3", Name: "赵"}))
		for _, c := range []struct {
			role, worker, community, target string
			want                            int
		}{
			{"worker", "w2", "", "w2", 200},
			{"technician", "w3", "", "w3", 200},
			{"worker", "w2", "", "w3", 404},
			{"worker", "", "", "w2", 404},
			{"supervisor", "", "望江", "w2", 200},
			{"supervisor", "", "望江", "w3", 404},
			{"supervisor", "", "望江", "w1", 404}, // g1 has no community
			{"supervisor", "", "", "w1", 404},
			{"supervisor", "", "望江", "nobody", 404},
			{"family", "", "", "w2", 403},
			{"resident", "w2", "", "w2", 403},
		} {
			req := httptest.NewRequest("PUT", "/api/v1/workers/"+c.target+"/duty", strings.NewReader(`{"on_duty": true}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Role", c.role)
			req.Header.Set("X-Worker", c.worker)
			req.Header.Set("X-Community", c.community)
			resp, err := a.Test(req, -1)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != c.want {
				t.Errorf("%s (worker %q, community %q) on %s: %d, want %d", c.role, c.worker, c.community, c.target, resp.StatusCode, c.want)
			}
		}
		// A supervisor lists their community's workers only; a worker lists none.
		listAs := func(role, community string) (int, []string) {
			req := httptest.NewRequest("GET", "/api/v1/workers", nil)
			req.Header.Set("X-Role", role)
			req.Header.Set("X-Community", community)
			resp, err := a.Test(req, -1)
			if err != nil {
				t.Fatal(err)
			}
			var out struct{ Workers []struct{ ID string } }
			json.NewDecoder(resp.Body).Decode(&out)
			var ids []string
			for _, w := range out.Workers {
				ids = append(ids, w.ID)
			}
			return resp.StatusCode, ids
		}
		for _, c := range []struct {
			role, community string
			code            int
			ids             []string
		}{
			{"supervisor", "望江", 200, []string{"w2"}},
			{"supervisor", "闸弄口", 200, []string{"w3"}},
			{"supervisor", "", 200, nil},
			{"admin", "", 200, []string{"w1", "w2", "w3"}},
			{"worker", "望江", 403, nil},
		} {
			if code, ids := listAs(c.role, c.community); code != c.code || !slices.Equal(ids, c.ids) {
				t.Errorf("workers as %s of %q: %d %v, want %d %v", c.role, c.community, code, ids, c.code, c.ids)
			}
		}
		for id, want := range map[string]bool{"w1": false, "w2": true, "w3": true} {
			if w, err := s.Worker(ctx, id); err != nil || w.OnDuty != want {
				t.Errorf("%s on duty %v (%v), want %v", id, w.OnDuty, err, want)
			}
		}
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestClaimFlow(t *testing.T) {
	backends(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		must(t, s.PutGrid(ctx, store.Grid{ID: "g1", Name: "一网格"}))
		must(t, s.PutHome(ctx, store.Home{ID: "h1", GridID: "g1", Address: "3-2-301"}))
		a, h := app(s)
		if r := call(t, a, "POST", "/api/v1/homes/h1/claim-codes", "worker", "", nil); r.status != 403 {
			t.Fatalf("worker made a claim code: %d", r.status)
		}
		if r := call(t, a, "POST", "/api/v1/homes/nope/claim-codes", "admin", "", nil); r.status != 404 {
			t.Fatalf("code for unknown home: %d", r.status)
		}
		r := call(t, a, "POST", "/api/v1/homes/h1/claim-codes", "admin", "", nil)
		if r.status != 201 {
			t.Fatalf("%d %s", r.status, r.body)
		}
		code := r.json(t)["code"].(string)

		claim := func(code, gw string) reply {
			b, _ := json.Marshal(map[string]string{"code": code, "gateway_id": gw})
			return call(t, a, "POST", "/api/v1/claim", "", "application/json", b)
		}
		if r := claim(code, "GW_bad"); r.status != 400 || r.json(t)["error"].(map[string]any)["field"] != "gateway_id" {
			t.Fatalf("bad gateway id: %d %s", r.status, r.body)
		}
		// Typed in lower case with a space instead of the dash: still the code.
		r = claim(strings.ToLower(strings.Replace(code, "-", " ", 1)), "gw-hz-0100")
		if r.status != 200 || r.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("claim: %d %s", r.status, r.body)
		}
		got := r.json(t)
		secret := got["mqtt_password"].(string)
		hash, err := s.GatewaySecretHash(ctx, "gw-hz-0100")
		must(t, err)
		if got["home_id"] != "h1" || got["home_address"] != "3-2-301" || got["mqtt_username"] != "gw-hz-0100" || !credential.CheckSecret(hash, secret) {
			t.Fatalf("%v", got)
		}
		if r := claim(code, "gw-hz-0101"); r.status != 410 || !strings.Contains(string(r.body), "already used") {
			t.Fatalf("reused code: %d %s", r.status, r.body)
		}
		// Expired: the handler's clock moves past 24 h.
		code2 := call(t, a, "POST", "/api/v1/homes/h1/claim-codes", "admin", "", nil).json(t)["code"].(string)
		h.now = func() time.Time { return time.Now().Add(ClaimTTL + time.Minute) }
		if r := claim(code2, "gw-hz-0101"); r.status != 410 || !strings.Contains(string(r.body), "expired") {
			t.Fatalf("expired code: %d %s", r.status, r.body)
		}
		h.now = time.Now
		if r := call(t, a, "GET", "/api/v1/homes/h1", "admin", "", nil).json(t)["home"].(map[string]any); r["gateway_id"] != "gw-hz-0100" {
			t.Fatalf("%v", r)
		}
		// Revoke: the broker's check fails from now on.
		if r := call(t, a, "POST", "/api/v1/gateways/gw-hz-0100/revoke", "worker", "", nil); r.status != 403 {
			t.Fatalf("worker revoked: %d", r.status)
		}
		if r := call(t, a, "POST", "/api/v1/gateways/gw-hz-0100/revoke", "admin", "", nil); r.status != 200 {
			t.Fatalf("revoke: %d %s", r.status, r.body)
		}
		hash, _ = s.GatewaySecretHash(ctx, "gw-hz-0100")
		if credential.CheckSecret(hash, secret) {
			t.Fatal("revoked secret still accepted")
		}
		if r := call(t, a, "POST", "/api/v1/gateways/nope/revoke", "admin", "", nil); r.status != 404 {
			t.Fatalf("revoke unknown: %d", r.status)
		}
	})
}

func TestClaimThrottle(t *testing.T) {
	a, _ := app(nil) // refused before the store is asked
	var last reply
	for range 11 {
		last = call(t, a, "POST", "/api/v1/claim", "", "application/json", []byte(`{"code":"x","gateway_id":"gw-1"}`))
	}
	if last.status != 429 {
		t.Fatalf("11th bad claim: %d %s", last.status, last.body)
	}
}
