package emqx

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/shouwang-care/shouwang/cloud/credential"
	"github.com/shouwang-care/shouwang/cloud/store"
	"github.com/shouwang-care/shouwang/internal/golden"
)

var update = flag.Bool("update", false, "rewrite golden files")

const token = "0123456789abcdef0123456789abcdef"

// newApp serves the authenticator on a real SQLite registry holding gw-0001 (secret
// "s3cret-0001") and gw-0002, revoked.
func newApp(t testing.TB) *fiber.App {
	t.Helper()
	ctx := context.Background()
	s, err := store.Open(ctx, filepath.Join(t.TempDir(), "shouwang.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	for _, err := range []error{
		s.PutGrid(ctx, store.Grid{ID: "grid-1", Name: "望江 3"}),
		s.PutHome(ctx, store.Home{ID: "home-1", GridID: "grid-1", Address: "3-2-301"}),
		s.PutHome(ctx, store.Home{ID: "home-2", GridID: "grid-1", Address: "3-2-302"}),
		s.PutGateway(ctx, "gw-0001", "home-1", credential.HashSecret("s3cret-0001")),
		s.PutGateway(ctx, "gw-0002", "home-2", credential.HashSecret("s3cret-0002")),
		s.RevokeGateway(ctx, "gw-0002", time.Now()),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	a := NewAuthn(s, token, "shouwang-cloud", slog.New(slog.NewTextHandler(io.Discard, nil)))
	app := fiber.New()
	app.Post("/mqtt/emqx/authn", a.Handle)
	return app
}

func post(t testing.TB, app *fiber.App, auth, body string) (int, []byte) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/mqtt/emqx/authn", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := app.Test(req, 5000)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestAuthn(t *testing.T) {
	app := newApp(t)
	bearer := "Bearer " + token
	for _, tc := range []struct {
		name, auth, body string
		status           int
		result           string
	}{
		{"no token", "", `{"clientid":"gw-0001","username":"gw-0001","password":"s3cret-0001"}`, 401, ""},
		{"wrong token", "Bearer 0123456789abcdef0123456789abcdee", `{"clientid":"gw-0001","username":"gw-0001","password":"s3cret-0001"}`, 401, ""},
		{"token without Bearer", token, `{"clientid":"gw-0001","username":"gw-0001","password":"s3cret-0001"}`, 401, ""},
		{"not JSON", bearer, `clientid=gw-0001`, 400, ""},
		{"gateway, right secret", bearer, `{"clientid":"gw-0001","username":"gw-0001","password":"s3cret-0001"}`, 200, "allow"},
		{"gateway, wrong secret", bearer, `{"clientid":"gw-0001","username":"gw-0001","password":"s3cret-0002"}`, 200, "deny"},
		{"gateway, no secret", bearer, `{"clientid":"gw-0001","username":"gw-0001","password":""}`, 200, "deny"},
		{"gateway, other client ID", bearer, `{"clientid":"gw-0001-b","username":"gw-0001","password":"s3cret-0001"}`, 200, "deny"},
		{"revoked gateway, its old secret", bearer, `{"clientid":"gw-0002","username":"gw-0002","password":"s3cret-0002"}`, 200, "deny"},
		{"revoked gateway, empty secret (the stored hash)", bearer, `{"clientid":"gw-0002","username":"gw-0002","password":""}`, 200, "deny"},
		{"unknown gateway: the next authenticator decides", bearer, `{"clientid":"gw-9999","username":"gw-9999","password":"x"}`, 200, "ignore"},
		{"the cloud's own login", bearer, `{"clientid":"shouwang-cloud-1","username":"shouwang-cloud","password":"x"}`, 200, "ignore"},
		{"not a gateway name", bearer, `{"clientid":"x","username":"Admin","password":"x"}`, 200, "ignore"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := post(t, app, tc.auth, tc.body)
			if status != tc.status {
				t.Fatalf("status %d, want %d: %s", status, tc.status, body)
			}
			if tc.result == "" {
				return
			}
			var r Response
			if err := json.Unmarshal(body, &r); err != nil {
				t.Fatalf("%s: %v", body, err)
			}
			if r.Result != tc.result || r.IsSuperuser {
				t.Fatalf("got %s, want result %q and no superuser", body, tc.result)
			}
			if (len(r.ACL) > 0) != (r.Result == "allow") {
				t.Errorf("ACL %v with result %s: only an allow carries one", r.ACL, r.Result)
			}
		})
	}
}

// The allow answer, byte for byte: what EMQX 5.8 reads (result, is_superuser and the
// ACL in its new format, ending in a deny of everything else).
func TestAllowGolden(t *testing.T) {
	app := newApp(t)
	status, body := post(t, app, "Bearer "+token, `{"clientid":"gw-0001","username":"gw-0001","password":"s3cret-0001"}`)
	if status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	var out bytes.Buffer
	json.Indent(&out, body, "", "  ")
	out.WriteByte('\n')
	golden.Check(t, filepath.Join("testdata", "allow.golden.json"), out.Bytes(), *update)
}

// Whatever EMQX (or anyone holding the token) sends, the answer is a clear status,
// never a 5xx on input, and only the gateway's own secret gets an allow.
func FuzzAuthn(f *testing.F) {
	for _, s := range []string{
		`{"clientid":"gw-0001","username":"gw-0001","password":"s3cret-0001"}`,
		`{"clientid":"gw-0002","username":"gw-0002","password":""}`,
		`{"username":"gw-0001"}`, `{}`, `[]`, `null`, `{"username":7}`, "", `{"clientid":"gw-0001","username":"gw-0001","password":"s3cret-0001","x":{}}`,
	} {
		f.Add(s)
	}
	app := newApp(f)
	f.Fuzz(func(t *testing.T, body string) {
		status, out := post(t, app, "Bearer "+token, body)
		if status != 200 && status != 400 {
			t.Fatalf("status %d for %q: %s", status, body, out)
		}
		if status != 200 {
			return
		}
		var r Response
		if err := json.Unmarshal(out, &r); err != nil {
			t.Fatalf("answer %s: %v", out, err)
		}
		var req Request
		json.Unmarshal([]byte(body), &req)
		if r.Result == "allow" && !(req.Username == "gw-0001" && req.ClientID == "gw-0001" && req.Password == "s3cret-0001") {
			t.Fatalf("allowed %q", body)
		}
	})
}

func TestRemoveGateway(t *testing.T) {
	for _, tc := range []struct {
		name    string
		status  int
		body    string
		wantErr string
	}{
		{"kicked", 204, "", ""},
		{"not connected", 404, `{"code":"CLIENTID_NOT_FOUND","message":"Client ID not found"}`, ""},
		{"bad API key", 401, `{"code":"BAD_API_KEY_OR_SECRET","message":"Check api_key/api_secret"}`, "401 Unauthorized: {\"code\":\"BAD_API_KEY_OR_SECRET\""},
		{"some other 404 (wrong API URL)", 404, `404 page not found`, "404 Not Found: 404 page not found"},
		{"broker error", 500, `{"code":"INTERNAL_ERROR"}`, "500 Internal Server Error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got *http.Request
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got = r
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			err := NewAPI(srv.URL+"/", "key-1", "secret-1").RemoveGateway(context.Background(), "gw-0001")
			if got == nil || got.Method != http.MethodDelete || got.URL.Path != "/api/v5/clients/gw-0001" {
				t.Fatalf("request %v", got)
			}
			if u, p, ok := got.BasicAuth(); !ok || u != "key-1" || p != "secret-1" {
				t.Errorf("basic auth %q %q %v, want the API key and secret", u, p, ok)
			}
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("error %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

// A cluster that does not answer must not hold the admin's revoke forever.
func TestRemoveGatewayHonoursContext(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := NewAPI(srv.URL, "k", "s").RemoveGateway(ctx, "gw-0001")
	if err == nil || !strings.Contains(err.Error(), "kick gw-0001") {
		t.Fatalf("error %v", err)
	}
}
