package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Load names every wrong field as the file spells it, and takes what is right.
func TestLoad(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       []string // substrings of the error; none: loads
	}{
		{"defaults", "", nil},
		{"influx with batch size", "influx: {url: http://127.0.0.1:8086, batch_size: 20000}\n", nil},
		{"negative batch size", "influx: {url: http://127.0.0.1:8086, batch_size: -1}\n", []string{"influx.batch_size: -1: want 1–100000"}},
		{"writers", "influx: {writers: 17}\n", []string{"influx.writers: 17: want 1–16"}},
		{"huge batch size", "influx: {batch_size: 1000000}\n", []string{"influx.batch_size: 1000000"}},
		{"two wrong fields", "influx: {url: influx:8086}\nmqtt: {workers: 0}\n", []string{`influx.url: "influx:8086"`, "mqtt.workers: 0, want 1–256"}},
		{"unknown key with its line", "http_addr: 127.0.0.1:8080\ninflux:\n  batchsize: 5\n", []string{"line 3", "batchsize"}},
		{"external broker without user", "mqtt: {broker: tcp://127.0.0.1:1883}\n", []string{"mqtt.username"}},
		{"emqx", "mqtt: {broker: tcp://emqx:1883, username: shouwang-cloud, emqx: {authn_token_file: /run/secrets/t, api: http://emqx:18083, api_key: k, api_secret_file: /run/secrets/s}}\n", nil},
		{"emqx with the embedded broker", "mqtt: {emqx: {authn_token_file: t, api: http://emqx:18083, api_key: k, api_secret_file: s}}\n", []string{"mqtt.emqx: needs an external EMQX"}},
		{"emqx and dynamic security", "mqtt: {broker: tcp://emqx:1883, username: c, dynamic_security: true, emqx: {authn_token_file: t, api: http://emqx:18083, api_key: k, api_secret_file: s}}\n", []string{"set either emqx or dynamic_security"}},
		{"emqx half set", "mqtt: {broker: tcp://emqx:1883, username: c, emqx: {api: emqx:18083}}\n", []string{"mqtt.emqx.authn_token_file: empty", `mqtt.emqx.api: "emqx:18083": want`, "mqtt.emqx.api_key: empty", "mqtt.emqx.api_secret_file: empty"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "cloud.yaml")
			if err := os.WriteFile(path, []byte(tc.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			c, err := Load(path)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				if strings.Contains(tc.yaml, "batch_size: 20000") && c.Influx.BatchSize != 20000 {
					t.Errorf("influx.batch_size = %d, want 20000", c.Influx.BatchSize)
				}
				return
			}
			if err == nil {
				t.Fatalf("Load accepted %q", tc.yaml)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}

// The EMQX secrets are read from their files at start, and a weak or missing one
// stops the start with the key and the path.
func TestEMQXSecrets(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good, short, empty := write("good", "0123456789abcdef0123\n"), write("short", "abc\n"), write("empty", "\n")
	placeholder := write("placeholder", "CHANGE-ME-the-cloud-authn-token\n")
	secret := write("secret", "api-secret\n")
	for _, tc := range []struct {
		name, token, secret, want string
	}{
		{"both good", good, secret, ""},
		{"short token", short, secret, "authn_token_file " + short + ": token of 3 characters, want at least 16"},
		{"empty token", empty, secret, "mqtt.emqx.authn_token_file " + empty + ": empty"},
		{"the example's placeholder", placeholder, secret, "not the example's placeholder"},
		{"missing secret", good, filepath.Join(dir, "nope"), "read mqtt.emqx.api_secret_file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			c.MQTT.EMQX = &EMQX{AuthnTokenFile: tc.token, APISecretFile: tc.secret}
			token, apiSecret, err := c.EMQXSecrets()
			if tc.want == "" {
				if err != nil || token != "0123456789abcdef0123" || apiSecret != "api-secret" {
					t.Fatalf("%q %q %v", token, apiSecret, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}
