package radio

import (
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func validConfig() Config {
	return Config{Port: "/dev/ttyUSB0", Nodes: []NodeConfig{
		{ID: "0A0B0C0D", Sensor: "pendant", CheckIn: time.Hour},
		{ID: "12345678", Sensor: "door.front"},
		{ID: "00c0ffee", Sensor: "pir.bathroom"},
	}}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		want   string // substring of the error; "" = valid
	}{
		{"valid", func(*Config) {}, ""},
		{"baud 115200", func(c *Config) { c.Baud = 115200 }, ""},
		{"no port", func(c *Config) { c.Port = " " }, "radio.port: empty"},
		{"odd baud", func(c *Config) { c.Baud = 9601 }, "radio.baud: 9601"},
		{"battery above 100", func(c *Config) { c.LowBattery = 101 }, "radio.low_battery: 101%"},
		{"battery negative", func(c *Config) { c.LowBattery = -1 }, "radio.low_battery: -1%"},
		{"no nodes", func(c *Config) { c.Nodes = nil }, "radio.nodes: none enrolled"},
		{"short id", func(c *Config) { c.Nodes[2].ID = "C0FFEE" }, `radio.nodes[2].id: "C0FFEE": want 8 hex digits`},
		{"not hex", func(c *Config) { c.Nodes[1].ID = "1234567G" }, `radio.nodes[1].id: "1234567G": want 8 hex digits`},
		{"signed", func(c *Config) { c.Nodes[1].ID = "+1234567" }, `radio.nodes[1].id: "+1234567": want 8 hex digits`},
		{"id zero", func(c *Config) { c.Nodes[0].ID = "00000000" }, `radio.nodes[0].id: "00000000" is never assigned`},
		{"id all ones", func(c *Config) { c.Nodes[0].ID = "ffffffff" }, `radio.nodes[0].id: "ffffffff" is never assigned`},
		{"duplicate id, other case", func(c *Config) { c.Nodes[2].ID = "0a0b0c0d" },
			"radio.nodes[2].id: 0A0B0C0D already enrolled as radio.nodes[0]"},
		{"empty sensor", func(c *Config) { c.Nodes[1].Sensor = "" }, "radio.nodes[1].sensor: empty"},
		{"sensor with space", func(c *Config) { c.Nodes[1].Sensor = "front door" }, `radio.nodes[1].sensor: "front door" contains spaces`},
		{"sensor too long", func(c *Config) { c.Nodes[1].Sensor = strings.Repeat("x", 57) }, "radio.nodes[1].sensor: 57 bytes, at most 56"},
		{"sensor reserved", func(c *Config) { c.Nodes[1].Sensor = "radio" }, `radio.nodes[1].sensor: "radio" is reserved`},
		{"duplicate sensor", func(c *Config) { c.Nodes[2].Sensor = "pendant" },
			`radio.nodes[2].sensor: "pendant" already used by radio.nodes[0]`},
		{"check-in too short", func(c *Config) { c.Nodes[0].CheckIn = time.Minute }, "radio.nodes[0].check_in: 1m0s outside 5m0s..24h0m0s"},
		{"check-in too long", func(c *Config) { c.Nodes[0].CheckIn = 25 * time.Hour }, "radio.nodes[0].check_in: 25h0m0s outside"},
		{"check-in negative", func(c *Config) { c.Nodes[0].CheckIn = -time.Hour }, "radio.nodes[0].check_in: -1h0m0s outside"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig()
			tc.change(&c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tc.want != "" && err == nil:
				t.Fatalf("Validate() = nil, want %q", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Fatalf("Validate() = %q, want it to contain %q", err, tc.want)
			}
			if _, nerr := New(c, nil, nil, nil); (nerr == nil) != (err == nil) {
				t.Fatalf("New() = %v, Validate() = %v", nerr, err)
			}
		})
	}
}

func TestConfigYAML(t *testing.T) {
	const doc = `
port: /dev/serial/by-id/usb-radio
nodes:
  - id: 0A0B0C0D
    sensor: pendant
    check_in: 2h
  - id: "12345678"
    sensor: door.front
`
	var c Config
	if err := yaml.Unmarshal([]byte(doc), &c); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	r, err := New(c, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := r.Config()
	if got.Baud != 9600 || got.LowBattery != 20 || got.Nodes[0].CheckIn != 2*time.Hour || got.Nodes[1].ID != "12345678" {
		t.Fatalf("config with defaults = %+v", got)
	}
	nodes := r.Nodes()
	if len(nodes) != 2 || nodes[0].CheckIn != 2*time.Hour || nodes[1].CheckIn != 24*time.Hour {
		t.Fatalf("enrolled = %+v", nodes)
	}
}
