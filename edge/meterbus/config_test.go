package meterbus

import (
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

const exampleYAML = `
buses:
  - port: /dev/serial/by-id/usb-FTDI_FT232R_USB_UART_A10K1Q2B-if00-port0
    protocol: dlt645
    meters:
      - address: "000012345678"
        interval: 5m
  - port: /dev/serial/by-path/platform-3f980000.usb-usb-0:1.3:1.0-port0
    protocol: cjt188
    response_timeout: 1500ms
    meters:
      - address: "00000087654321"
        di_order: low_first
        interval: 10m
`

func TestConfigExample(t *testing.T) {
	var c Config
	if err := yaml.Unmarshal([]byte(exampleYAML), &c); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	b := c.Buses[1].WithDefaults()
	m := b.Meters[0]
	if b.ResponseTimeout != 1500*time.Millisecond || b.Baud != 2400 || m.Sensor != "water" || m.Interval != 10*time.Minute || m.MeterType != "10" {
		t.Errorf("defaults: %+v %+v", b, m)
	}
	if s := c.Buses[0].WithDefaults().Meters[0]; s.Sensor != "power" || s.DI != "00010000" {
		t.Errorf("dlt645 defaults: %+v", s)
	}
}

func TestConfigValidate(t *testing.T) {
	meter := func(mod func(*MeterConfig)) Config {
		m := MeterConfig{Protocol: "dlt645", Address: "000012345678"}
		if mod != nil {
			mod(&m)
		}
		return Config{Buses: []BusConfig{{Port: "/dev/ttyUSB0", Meters: []MeterConfig{
			{Protocol: "cjt188", Address: "1"}, m,
		}}}}
	}
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"ok", meter(nil), ""},
		{"bad address digit", meter(func(m *MeterConfig) { m.Address = "12345X" }), `buses[0].meters[1].address: "12345X": 'X' is not a decimal digit`},
		{"address too long", meter(func(m *MeterConfig) { m.Address = "1234567890123" }), "buses[0].meters[1].address: \"1234567890123\" has 13 digits, at most 12"},
		{"wildcard address", meter(func(m *MeterConfig) { m.Address = "999999999999" }), "buses[0].meters[1].address: 999999999999 is the wildcard/broadcast address"},
		{"empty address", meter(func(m *MeterConfig) { m.Address = "" }), "buses[0].meters[1].address: empty"},
		{"bad protocol", meter(func(m *MeterConfig) { m.Protocol = "modbus" }), `buses[0].meters[1].protocol: "modbus", want dlt645 or cjt188`},
		{"bad di", meter(func(m *MeterConfig) { m.DI = "0001" }), "buses[0].meters[1].di:"},
		{"cjt setting on dlt", meter(func(m *MeterConfig) { m.DIOrder = "low_first" }), "buses[0].meters[1].di_order:"},
		{"duplicate sensor", meter(func(m *MeterConfig) { m.Sensor = "water" }), `buses[0].meters[1].sensor: "water" is already used by buses[0].meters[0]`},
		{"negative interval", meter(func(m *MeterConfig) { m.Interval = -time.Second }), "buses[0].meters[1].interval:"},
		{"duplicate address", Config{Buses: []BusConfig{{Port: "/dev/x", Protocol: "dlt645", Meters: []MeterConfig{
			{Address: "12345678", Sensor: "a"}, {Address: "000012345678", Sensor: "b"}}}}}, "buses[0].meters[1].address: 000012345678 is already meters[0]"},
		{"no port", Config{Buses: []BusConfig{{Meters: []MeterConfig{{}}}}}, "buses[0].port: empty"},
		{"no meters", Config{Buses: []BusConfig{{Port: "/dev/x"}}}, "buses[0].meters: empty"},
		{"no protocol", Config{Buses: []BusConfig{{Port: "/dev/x", Meters: []MeterConfig{{Address: "1"}}}}}, "buses[0].meters[0].protocol: missing"},
		{"gap too short", Config{Buses: []BusConfig{{Port: "/dev/x", InterFrameGap: time.Millisecond, Meters: []MeterConfig{{Address: "1"}}}}}, "buses[0].inter_frame_gap: 1ms, at least 20ms"},
		{"odd baud", Config{Buses: []BusConfig{{Port: "/dev/x", Baud: 2401, Meters: []MeterConfig{{Address: "1"}}}}}, "buses[0].baud: 2401"},
		{"same port twice", Config{Buses: []BusConfig{
			{Port: "/dev/x", Protocol: "dlt645", Meters: []MeterConfig{{Address: "1"}}},
			{Port: "/dev/x", Protocol: "cjt188", Meters: []MeterConfig{{Address: "1"}}}}}, "buses[1].port: /dev/x is already buses[0]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("unexpected error %v", err)
			case tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want)):
				t.Errorf("error %v, want prefix %q", err, tc.want)
			}
		})
	}
}
