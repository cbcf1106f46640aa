package api

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shouwang-care/shouwang/cloud/store"
	"github.com/shouwang-care/shouwang/internal/testinfra"
)

// onBackends runs fn on a fixture over SQLite and over PostgreSQL.
func onBackends(t *testing.T, fn func(t *testing.T, f *fixture)) {
	for _, b := range []struct {
		name string
		dsn  func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return filepath.Join(t.TempDir(), "api.db") }},
		{"postgres", func(t *testing.T) string { return testinfra.Postgres(t) }},
	} {
		t.Run(b.name, func(t *testing.T) { fn(t, newFixtureOn(t, b.dsn(t))) })
	}
}

// keysOf returns the values of field in each object of body[list].
func keysOf(body map[string]any, list, field string) []string {
	items, _ := body[list].([]any)
	var out []string
	for _, it := range items {
		m, _ := it.(map[string]any)
		out = append(out, fmt.Sprint(m[field]))
	}
	return out
}

// TestConsoleScopes: the supervisor of community c1 sees c1's gateways,
// escalations and KPIs and nothing of c2's — not in lists, not by a home's ID;
// roles without the action are refused.
func TestConsoleScopes(t *testing.T) {
	onBackends(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		for _, w := range []store.Worker{{ID: "b1", GridID: "g1", Name: "backup one", Role: "backup"}, {ID: "b2", GridID: "g2", Name: "backup two", Role: "backup"}} {
			if err := f.store.PutWorker(ctx, w); err != nil {
				t.Fatal(err)
			}
		}
		// Nobody accepted within 30 minutes: both incidents go to the backup.
		if _, err := f.store.EscalateDue(ctx, time.Now().Add(31*time.Minute), 10); err != nil {
			t.Fatal(err)
		}
		seen := []store.Seen{{ID: "gw-api-0001", Online: true, At: time.Now()}, {ID: "gw-api-0002", Online: true, At: time.Now()}}
		if err := f.store.SeenGateways(ctx, seen); err != nil {
			t.Fatal(err)
		}
		if err := f.store.MarkOffline(ctx, "gw-api-0002", "a-off", time.Now()); err != nil {
			t.Fatal(err)
		}
		sup, admin, worker, family := f.as("sup"), f.as("admin"), f.as("worker"), f.as("family")

		code, body := sup("GET", "/api/v1/gateways", "")
		if got := keysOf(body, "gateways", "id"); code != 200 || strings.Join(got, ",") != "gw-api-0001" {
			t.Errorf("supervisor of c1 lists gateways %v (%d), want c1's gw-api-0001 only", got, code)
		}
		code, body = admin("GET", "/api/v1/gateways", "")
		if got := keysOf(body, "gateways", "id"); code != 200 || strings.Join(got, ",") != "gw-api-0002,gw-api-0001" {
			t.Errorf("admin lists gateways %v (%d), want both, the offline one first", got, code)
		}
		if code, _ := admin("GET", "/api/v1/gateways?limit=0", ""); code != 400 {
			t.Errorf("limit=0: %d, want 400", code)
		}

		code, body = sup("GET", "/api/v1/escalations", "")
		if got := keysOf(body, "escalations", "home_id"); code != 200 || strings.Join(got, ",") != "h1" {
			t.Fatalf("supervisor of c1 sees escalations of %v (%d), want h1's only", got, code)
		}
		esc := body["escalations"].([]any)[0].(map[string]any)
		if esc["step"] != 2.0 || esc["target"] != "backup" || esc["worker"].(map[string]any)["name"] != "backup one" || esc["incident_id"] != f.inc {
			t.Errorf("escalation %v, want step 2 to backup one", esc)
		}
		if _, body := admin("GET", "/api/v1/escalations", ""); len(keysOf(body, "escalations", "home_id")) != 2 {
			t.Errorf("admin sees escalations %v, want both homes'", body)
		}

		_, body = sup("GET", "/api/v1/kpis", "")
		if got := keysOf(body, "grids", "key"); strings.Join(got, ",") != "g1" {
			t.Errorf("supervisor of c1 has KPIs of grids %v, want g1 only", got)
		}
		if _, body := admin("GET", "/api/v1/kpis", ""); strings.Join(keysOf(body, "grids", "key"), ",") != "g1,g2" {
			t.Errorf("admin KPIs %v, want grids g1 and g2", body)
		}

		// Per object: another community's home answers like a missing one.
		for _, path := range []string{"/api/v1/homes/h2/privacy", "/api/v1/homes/h2/telemetry", "/api/v1/homes/h2/status"} {
			if code, _ := sup("GET", path, ""); code != 404 {
				t.Errorf("supervisor of c1: GET %s: %d, want 404", path, code)
			}
		}
		if code, _ := sup("GET", "/api/v1/homes/h1/privacy", ""); code != 200 {
			t.Errorf("supervisor of c1 reading h1's privacy choices: %d, want 200", code)
		}
		if code, _ := sup("PUT", "/api/v1/homes/h1/privacy", `{"kind":"charts","roles":["supervisor"]}`); code != 403 {
			t.Errorf("supervisor changing a resident's privacy: %d, want 403", code)
		}
		if code, body := admin("PUT", "/api/v1/homes/h2/privacy", `{"kind":"charts","roles":["worker"]}`); code != 200 || !strings.Contains(fmt.Sprint(body), "charts:[worker resident]") {
			t.Errorf("admin changing h2's privacy: %d %v", code, body)
		}

		for who, do := range map[string]func(string, string, string) (int, map[string]any){"worker": worker, "family": family} {
			for _, path := range []string{"/api/v1/gateways", "/api/v1/escalations", "/api/v1/audit/verify"} {
				if code, _ := do("GET", path, ""); code != 403 {
					t.Errorf("%s: GET %s: %d, want 403", who, path, code)
				}
			}
		}
		if code, _ := sup("GET", "/api/v1/audit/verify", ""); code != 403 {
			t.Errorf("supervisor verifying the audit chain: %d, want 403", code)
		}
	})
}

// TestAuditVerify: the admin sees the chain verify, and no longer once a row was
// edited behind the API's back.
func TestAuditVerify(t *testing.T) {
	onBackends(t, func(t *testing.T, f *fixture) {
		admin, family := f.as("admin"), f.as("family")
		family("GET", "/api/v1/incidents", "") // an audited read
		code, body := admin("GET", "/api/v1/audit/verify", "")
		if code != 200 || body["verified"] != true || body["entries"].(float64) < 1 {
			t.Fatalf("verify: %d %v", code, body)
		}
		if _, err := f.store.DB().Exec(`UPDATE audit_log SET actor = 'nobody' WHERE seq = 1`); err != nil {
			t.Fatal(err)
		}
		code, body = admin("GET", "/api/v1/audit/verify", "")
		if code != 200 || body["verified"] != false || !strings.Contains(fmt.Sprint(body["problem"]), "entry 1 was altered") {
			t.Errorf("verify after tampering: %d %v", code, body)
		}
	})
}
