package provision

import (
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shouwang-care/shouwang/edge/config"
)

func TestPlanConfigKeepsTheExampleAndItsComments(t *testing.T) {
	src, err := os.ReadFile("../../deploy/edge/edge.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// The packaged config names the secret file and the username already: a
	// claim with its gateway ID changes nothing, byte for byte.
	p, err := planConfig(src, "", "/unused/edge.secret")
	if err != nil {
		t.Fatal(err)
	}
	if p.changed() || string(p.out) != string(src) || p.gatewayID != "gw-hz-0001" || p.secretPath != "/etc/shouwang/edge.secret" {
		t.Fatalf("plan for the example as it is: %+v", p)
	}
	// Another ID: gateway_id and username change, the comments stay.
	p, err = planConfig(src, "gw-hz-0101", "/unused/edge.secret")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(p.keys, ",") != "gateway_id,mqtt.username" {
		t.Errorf("changed %v", p.keys)
	}
	out := string(p.out)
	for _, c := range []string{"# /etc/shouwang/edge.yaml — one home's gateway.", "# 0600, written at claim time", "#   cert_file: /etc/shouwang/gateway.pem", "# example; `shouwang-edge claim --gateway-id` sets it"} {
		if !strings.Contains(out, c) {
			t.Errorf("comment %q lost:\n%s", c, out)
		}
	}
	cfg, err := config.Parse(p.out)
	if err != nil || cfg.GatewayID != "gw-hz-0101" || cfg.MQTT.Username != "gw-hz-0101" || cfg.MQTT.Broker != "ssl://mqtt.example.org:8883" || cfg.Rules.NoWaterHours != 12 {
		t.Fatalf("%+v %v", cfg, err)
	}
}

func TestPlanConfig(t *testing.T) {
	const base = "state_dir: /tmp/x\nmqtt:\n  broker: tcp://127.0.0.1:1883 # the cloud's\n"
	for _, tc := range []struct {
		name, src, id string
		wantID        string // "" = generated
		wantKeys      string
		wantSecret    string
	}{
		{"empty file: a new ID, all keys", "", "", "", "gateway_id,mqtt.username,mqtt.password_file", "/etc/shouwang/edge.secret"},
		{"no mqtt section", "gateway_id: gw-a1\n", "", "gw-a1", "mqtt.username,mqtt.password_file", "/etc/shouwang/edge.secret"},
		{"null mqtt section", "gateway_id: gw-a1\nmqtt:\n", "", "gw-a1", "mqtt.username,mqtt.password_file", "/etc/shouwang/edge.secret"},
		{"flag beats config", "gateway_id: gw-a1\n" + base, "gw-b2", "gw-b2", "gateway_id,mqtt.username,mqtt.password_file", "/etc/shouwang/edge.secret"},
		{"inline password goes", base + "  username: gw-a1\n  password: hunter2hunter2\n", "gw-a1", "gw-a1", "gateway_id,mqtt.password_file,mqtt.password (removed)", "/etc/shouwang/edge.secret"},
		{"config's password_file is used", base + "  password_file: /srv/gw.secret\n", "gw-a1", "gw-a1", "gateway_id,mqtt.username", "/srv/gw.secret"},
		{"flow style mqtt", "mqtt: {broker: 'tcp://127.0.0.1:1883'}\n", "gw-a1", "gw-a1", "gateway_id,mqtt.username,mqtt.password_file", "/etc/shouwang/edge.secret"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := planConfig([]byte(tc.src), tc.id, "/etc/shouwang/edge.secret")
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantID == "" {
				if !p.generated || !strings.HasPrefix(p.gatewayID, "gw-") || validID(p.gatewayID) != nil {
					t.Errorf("generated %q (%v)", p.gatewayID, p.generated)
				}
			} else if p.gatewayID != tc.wantID || p.generated {
				t.Errorf("gateway ID %q (generated %v), want %q", p.gatewayID, p.generated, tc.wantID)
			}
			if got := strings.Join(p.keys, ","); got != tc.wantKeys {
				t.Errorf("changed %s, want %s", got, tc.wantKeys)
			}
			if p.secretPath != tc.wantSecret {
				t.Errorf("secret %s, want %s", p.secretPath, tc.wantSecret)
			}
			if strings.Contains(string(p.out), "hunter2") {
				t.Errorf("inline password kept:\n%s", p.out)
			}
			if strings.Contains(tc.src, "# the cloud's") && !strings.Contains(string(p.out), "# the cloud's") {
				t.Errorf("line comment lost:\n%s", p.out)
			}
		})
	}
}

func TestPlanConfigRefusals(t *testing.T) {
	for _, tc := range []struct{ name, src, id, want string }{
		{"certificate login", "gateway_id: gw-a1\nmqtt:\n  cert_file: /c.pem\n  key_file: /c.key\n", "", "mqtt.cert_file is set"},
		{"relative secret", "gateway_id: gw-a1\nmqtt:\n  password_file: edge.secret\n", "", "want an absolute path"},
		{"bad ID", "", "GW_1", "gateway id"},
		{"typo the daemon refuses", "gateway_id: gw-a1\nrulez: {}\n", "", "field rulez not found"},
		{"daemon refuses a value", "gateway_id: gw-a1\nmqtt:\n  broker: http://x\n", "", "mqtt.broker"},
		{"not a mapping", "- a\n- b\n", "", "not a YAML mapping"},
		{"mqtt not a mapping", "mqtt: 3\n", "", "mqtt is not a mapping"},
		{"not YAML", "gateway_id: [\n", "", "yaml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := planConfig([]byte(tc.src), tc.id, "/etc/shouwang/edge.secret")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want it to say %q", err, tc.want)
			}
		})
	}
}

func TestClaimURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://cloud.example.org":        "https://cloud.example.org/api/v1/claim",
		"https://cloud.example.org/sw/":    "https://cloud.example.org/sw/api/v1/claim",
		" http://127.0.0.1:8080 ":          "http://127.0.0.1:8080/api/v1/claim",
		"http://localhost:8080/":           "http://localhost:8080/api/v1/claim",
		"http://[::1]:8080":                "http://[::1]:8080/api/v1/claim",
		"http://cloud.example.org":         "refusing plain http",
		"cloud.example.org":                "want the cloud's address",
		"ftp://cloud.example.org":          "want the cloud's address",
		"https://cloud.example.org/?x=1":   "only scheme, host and path",
		"https://u:p@cloud.example.org/":   "only scheme, host and path",
		"https://cloud.example.org/%zz":    "want the cloud's address",
		"https://cloud.example.org/a%2Fb/": "https://cloud.example.org/a/b/api/v1/claim",
	} {
		got, err := claimURL(in)
		if err != nil {
			got = err.Error()
		}
		if !strings.Contains(got, want) {
			t.Errorf("claimURL(%q) = %q, want %q", in, got, want)
		}
	}
}

const secret = "s3cr3t-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

func TestParseReply(t *testing.T) {
	ok := `{"gateway_id":"gw-a1","home_id":"h-1","home_address":"近江家园 3 幢\u001b[2J 301","mqtt_username":"gw-a1","mqtt_password":"` + secret + `"}`
	r, err := parseReply(200, []byte(ok), "gw-a1")
	if err != nil || r.MQTTPassword != secret || r.HomeAddress != "近江家园 3 幢 [2J 301" {
		t.Fatalf("%+v %v", r, err)
	}
	for _, tc := range []struct {
		status int
		body   string
		want   string
	}{
		{404, `{"error":{"code":"claim_code_unknown","message":"unknown claim code: check it, or ask for a new one","field":"code"}}`, "404 claim_code_unknown"},
		{410, `{"error":{"code":"claim_code_spent","message":"this claim code was already used; ask for a new one"}}`, "already used"},
		{502, "<html>Bad Gateway</html>", "502 unexpected"},
		{200, `{"gateway_id":"gw-other","home_id":"h-1","mqtt_username":"gw-other","mqtt_password":"` + secret + `"}`, `granted gateway "gw-other"`},
		{200, `{"gateway_id":"gw-a1","mqtt_username":"gw-a1","mqtt_password":"` + secret + `"}`, "names no home"},
		{200, `{"gateway_id":"gw-a1","home_id":"h-1","mqtt_username":"gw-a1","mqtt_password":"short"}`, "no usable secret"},
		{200, `{"gateway_id":"gw-a1","home_id":"h-1","mqtt_username":"gw-a1","mqtt_password":"` + secret + ` x"}`, "no usable secret"},
		{200, `not json ` + secret, "not a claim grant"},
	} {
		_, err := parseReply(tc.status, []byte(tc.body), "gw-a1")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%d %s: err %v, want %q", tc.status, tc.body, err, tc.want)
		} else if strings.Contains(err.Error(), secret) {
			t.Errorf("the secret is in the error: %v", err)
		}
	}
}

func TestHint(t *testing.T) {
	for err, want := range map[error]string{
		&Refused{Status: 404}:                "unknown claim code",
		&Refused{Status: 410}:                "used or has expired",
		&Refused{Status: 409}:                "--gateway-id",
		&Refused{Status: 429}:                "wait 15 minutes",
		&Refused{Status: 500}:                "the cloud failed",
		ErrUnreachable:                       "cannot reach the cloud",
		ErrUntrusted:                         "--ca",
		ErrWrite:                             "run with sudo",
		errors.Join(ErrIncomplete, ErrWrite): "the code is spent",
		errors.New("config: bad"):            "the code was not used",
	} {
		zh, en := Hint(err)
		if !strings.Contains(en, want) || zh == "" {
			t.Errorf("Hint(%v) = %q / %q, want %q", err, zh, en, want)
		}
	}
}

func TestPendingCommitAndAbort(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "edge.secret")
	p, err := prepare(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.commit([]byte("x\n"), 0o600, -1, -1); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("%v %v", fi, err)
	}
	p.abort() // after commit: nothing to do
	q, err := prepare(path)
	if err != nil {
		t.Fatal(err)
	}
	q.abort()
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("temporary files left: %v", ents)
	}
	if _, err := prepare(filepath.Join(dir, "no-such-dir", "edge.secret")); !errors.Is(err, ErrWrite) {
		t.Fatalf("unwritable directory: %v", err)
	}
}

// TestMosquittoLine: the line is what mosquitto_passwd 2.0.11 wrote for the
// same user, password and salt (`mosquitto_passwd -c -b f gw-a1 secret123`).
func TestMosquittoLine(t *testing.T) {
	const want = "gw-a1:$7$101$D6v1Y7UlY9bVcCJ/$PlJNWAOLLKTkP+vNhm0hm/XrZ8fc99sBkQ7Y7vsBYctLLhDOAJAKoPBBETcKVGDnYZgD7HQiEVDGpY6VfRa1kA=="
	salt, _ := base64.StdEncoding.DecodeString("D6v1Y7UlY9bVcCJ/")
	if got, err := mosquittoLine("gw-a1", "secret123", salt); err != nil || got != want {
		t.Fatalf("got %s (%v)\nwant %s", got, err, want)
	}
	a, _ := MosquittoLine("gw-a1", secret)
	b, _ := MosquittoLine("gw-a1", secret)
	if a == b || strings.Contains(a, secret) || !strings.HasPrefix(a, "gw-a1:$7$101$") {
		t.Fatalf("lines %s and %s: want salted hashes of the secret", a, b)
	}
}
