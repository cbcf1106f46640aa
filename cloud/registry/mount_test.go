package registry_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/shouwang-care/shouwang/cloud/api"
	"github.com/shouwang-care/shouwang/cloud/credential"
	"github.com/shouwang-care/shouwang/cloud/live"
	"github.com/shouwang-care/shouwang/cloud/store"
)

// TestMountedInAPI checks the routes as the cloud serves them: behind the real
// session check, with POST /claim open to gateways that have no session.
func TestMountedInAPI(t *testing.T) {
	ctx := context.Background()
	s, err := store.Open(ctx, filepath.Join(t.TempDir(), "shouwang.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	hash, err := credential.HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateUser(ctx, store.User{ID: "u1", Username: "admin", Role: "admin", PasswordHash: hash}); err != nil {
		t.Fatal(err)
	}
	hub := live.NewHub()
	defer hub.Close()
	app, _ := api.New(s, hub, fstest.MapFS{}, http.NotFoundHandler(), func() error { return nil }, slog.New(slog.NewTextHandler(io.Discard, nil)))
	do := func(method, path, cookie, body string) *http.Response {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		resp, err := app.Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	if r := do("GET", "/api/v1/grids", "", ""); r.StatusCode != 401 {
		t.Fatalf("grids without a session: %d", r.StatusCode)
	}
	if r := do("POST", "/api/v1/claim", "", `{"code":"ABCD-EFGH","gateway_id":"gw-hz-1"}`); r.StatusCode != 404 {
		t.Fatalf("claim with an unknown code: %d, want 404 (the route is open, the code unknown)", r.StatusCode)
	}
	login := do("POST", "/api/v1/login", "", `{"username":"admin","password":"correct horse battery"}`)
	if login.StatusCode != 200 {
		t.Fatalf("login: %d", login.StatusCode)
	}
	cookie := strings.Split(login.Header.Get("Set-Cookie"), ";")[0]
	if r := do("GET", "/api/v1/grids", cookie, ""); r.StatusCode != 200 {
		t.Fatalf("grids as admin: %d", r.StatusCode)
	}
	if r := do("GET", "/api/v1/no-such-route", cookie, ""); r.StatusCode != 404 {
		t.Fatalf("unknown route: %d", r.StatusCode)
	}
}
