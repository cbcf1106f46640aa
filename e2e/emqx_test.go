package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	cloudconfig "github.com/shouwang-care/shouwang/cloud/config"
	"github.com/shouwang-care/shouwang/cloud/emqx"
	"github.com/shouwang-care/shouwang/internal/testinfra"
)

// With an EMQX cluster set up as deploy/scale/emqx/emqx.conf says, a claim gives a
// login that EMQX's HTTP authenticator is allowed at once, with the gateway's own
// ACL, and a revocation refuses it and kicks the live session through EMQX's API.
// EMQX does not run here: its side is the authenticator's request (the body
// deploy/scale_test.go ties to emqx.conf) and a stand-in for its management API.
func TestClaimAndRevokeWithEMQX(t *testing.T) {
	if testing.Short() {
		t.Skip("needs mosquitto: skipped with -short")
	}
	var (
		mu     sync.Mutex
		kicked []string
	)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if k, s, _ := r.BasicAuth(); k != "shouwang-cloud" || s != "api-secret-1" {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"code":"BAD_API_KEY_OR_SECRET","message":"Check api_key/api_secret"}`)
			return
		}
		mu.Lock()
		kicked = append(kicked, r.Method+" "+r.URL.Path)
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer api.Close()
	dir := t.TempDir()
	const token = "f3b1c0de9a8e4c2b7d6f5a4e3c2b1a09"
	tokenFile, secretFile := filepath.Join(dir, "authn-token"), filepath.Join(dir, "api-secret")
	os.WriteFile(tokenFile, []byte(token+"\n"), 0o600)
	os.WriteFile(secretFile, []byte("api-secret-1\n"), 0o600)

	mq := testinfra.Mosquitto(t) // the cloud's own MQTT session; EMQX in production
	c := newCloud(t, func(cfg *cloudconfig.Config) {
		cfg.MQTT.Broker, cfg.MQTT.Username = mq.Addr, "shouwang-cloud"
		cfg.MQTT.EMQX = &cloudconfig.EMQX{AuthnTokenFile: tokenFile, API: api.URL, APIKey: "shouwang-cloud", APISecretFile: secretFile}
	})
	c.seedHome()
	hc := c.client()
	code, body := postJSON(t, hc, c.svc.URL()+"api/v1/homes/home-1/claim-codes", "")
	if code != 201 {
		t.Fatalf("claim code: %d %v", code, body)
	}
	code, body = postJSON(t, http.DefaultClient, c.svc.URL()+"api/v1/claim", fmt.Sprintf(`{"code":%q,"gateway_id":"gw-emqx-0001"}`, body["code"]))
	if code != 200 {
		t.Fatalf("claim: %d %v", code, body)
	}
	password := body["mqtt_password"].(string)

	authn := func(bearer string, req emqx.Request) (int, emqx.Response) {
		t.Helper()
		b, _ := json.Marshal(req)
		r, _ := http.NewRequest(http.MethodPost, c.svc.URL()+"mqtt/emqx/authn", bytes.NewReader(b))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Authorization", "Bearer "+bearer)
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out emqx.Response
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	gw := emqx.Request{ClientID: "gw-emqx-0001", Username: "gw-emqx-0001", Password: password}
	if code, _ := authn("not-the-token", gw); code != 401 {
		t.Errorf("a caller without EMQX's token: %d, want 401", code)
	}
	code, res := authn(token, gw)
	if code != 200 || res.Result != "allow" || res.IsSuperuser {
		t.Fatalf("claimed gateway: %d %+v, want allow", code, res)
	}
	if want := emqx.GatewayACL("gw-emqx-0001"); fmt.Sprint(res.ACL) != fmt.Sprint(want) {
		t.Errorf("ACL %v, want %v", res.ACL, want)
	}
	if _, res := authn(token, emqx.Request{ClientID: "gw-emqx-0001", Username: "gw-emqx-0001", Password: password + "x"}); res.Result != "deny" {
		t.Errorf("wrong secret: %+v, want deny", res)
	}

	code, body = postJSON(t, hc, c.svc.URL()+"api/v1/gateways/gw-emqx-0001/revoke", "")
	if code != 200 || body["disconnected"] != true {
		t.Fatalf("revoke: %d %v", code, body)
	}
	mu.Lock()
	got := strings.Join(kicked, ",")
	mu.Unlock()
	if got != "DELETE /api/v5/clients/gw-emqx-0001" {
		t.Errorf("EMQX API calls %q, want the gateway's session kicked once", got)
	}
	if _, res := authn(token, gw); res.Result != "deny" {
		t.Errorf("revoked gateway: %+v, want deny", res)
	}

	m := c.metrics()
	for _, want := range []string{`shouwang_emqx_authn_total{result="allow"} 1`, `shouwang_emqx_authn_total{result="deny"} 2`} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
