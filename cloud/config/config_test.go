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
