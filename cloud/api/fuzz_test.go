package api

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// FuzzJSONBindings sends arbitrary bodies to every handler that binds JSON: each
// answers 2xx, or 4xx in the API's error shape — never 5xx, never a panic.
func FuzzJSONBindings(f *testing.F) {
	for _, seed := range []string{``, `{}`, `null`, `[]`, `{"outcome":"safe"}`, `{"kind":"medical","roles":["worker"]}`,
		`{"away":true,"away_until":"2026-03-08T18:00:00+08:00"}`, `{"no_water_hours":1e308}`, `{"rating":-1}`,
		`{"username":"x","role":"family","password":"long enough password","homes":["nope"]}`, `{"code":"ABCD-EFGH"}`,
		"{\"notes\":\"\\u0000\"}", `{"sleep_start":"25:99"}`, `{"confirm":"h1"}`, `{"old":1}`} {
		f.Add(seed)
	}
	fx := newFixture(f)
	admin := fuzzAdmin(f, fx)
	routes := []struct{ method, path string }{
		{"POST", "/api/v1/incidents/" + fx.inc + "/resolve"},
		{"POST", "/api/v1/incidents/" + fx.inc + "/evaluate"},
		{"PUT", "/api/v1/homes/h1/privacy"},
		{"PUT", "/api/v1/homes/h1/settings"},
		{"POST", "/api/v1/users"},
		{"POST", "/api/v1/homes/h1/invites"},
		{"POST", "/api/v1/tokens"},
		{"POST", "/api/v1/password"},
	}
	f.Fuzz(func(t *testing.T, body string) {
		for _, r := range routes {
			code, out := admin(t, r.method, r.path, body)
			if code >= 500 {
				t.Fatalf("%s %s with %q: %d %v", r.method, r.path, body, code, out)
			}
			if code >= 400 {
				if e, ok := out["error"].(map[string]any); !ok || e["code"] == "" || e["message"] == "" {
					t.Fatalf("%s %s with %q: %d without the error shape: %v", r.method, r.path, body, code, out)
				}
			}
		}
		// Unauthenticated bindings too.
		for _, path := range []string{"/api/v1/login", "/api/v1/invites/accept"} {
			req := httptest.NewRequest("POST", path, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			resp, err := fx.app.Test(req, -1)
			if err != nil {
				t.Fatal(err)
			}
			var out map[string]any
			json.NewDecoder(resp.Body).Decode(&out)
			if resp.StatusCode >= 500 {
				t.Fatalf("%s with %q: %d %s", path, body, resp.StatusCode, fmt.Sprint(out))
			}
		}
	})
}

// FuzzIncidentCursor: any ?after= a client sends is a page or a 400 naming it, and
// a cursor that decodes encodes back to itself.
func FuzzIncidentCursor(f *testing.F) {
	for _, seed := range []string{"", "MTc2NDAwMDAwMDAwMDppbmMtMQ", "bm8tY29sb24", "LTE6eA", "OTk5OTk5OTk5OTk5OTk5OTk5OTk5Ojo", "%%%", "=="} {
		f.Add(seed)
	}
	admin := fuzzAdmin(f, newFixture(f))
	f.Fuzz(func(t *testing.T, s string) {
		if cur, err := decodeCursor(s); err == nil {
			if back, err := decodeCursor(encodeCursor(*cur)); err != nil || *back != *cur {
				t.Fatalf("%q: %+v does not round-trip (%+v, %v)", s, cur, back, err)
			}
		}
		code, body := admin(t, "GET", "/api/v1/incidents?after="+url.QueryEscape(s), "")
		if code != 200 && (code != 400 || errField(body) != "after") {
			t.Fatalf("after=%q: %d %v", s, code, body)
		}
	})
}

// fuzzAdmin logs in as admin once; the returned call is usable inside a fuzz target
// (the fixture's own helper calls Helper on the F, which a target may not).
func fuzzAdmin(f *testing.F, fx *fixture) func(t *testing.T, method, path, body string) (int, map[string]any) {
	login := httptest.NewRequest("POST", "/api/v1/login", strings.NewReader(fmt.Sprintf(`{"username":"admin","password":%q}`, pw)))
	login.Header.Set("Content-Type", "application/json")
	resp, err := fx.app.Test(login, -1)
	if err != nil || resp.StatusCode != 200 {
		f.Fatalf("login: %v", err)
	}
	cookie := strings.Split(resp.Header.Get("Set-Cookie"), ";")[0]
	return func(t *testing.T, method, path, body string) (int, map[string]any) {
		r := httptest.NewRequest(method, path, strings.NewReader(body))
		r.Header.Set("Cookie", cookie)
		r.Header.Set("Content-Type", "application/json")
		resp, err := fx.app.Test(r, -1)
		if err != nil {
			t.Fatal(err)
		}
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
}
