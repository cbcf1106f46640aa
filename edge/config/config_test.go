package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func write(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "edge.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoad(t *testing.T) {
	c, err := Load(write(t, "gateway_id: gw-hz-0001\nmqtt:\n  broker: ssl://broker:8883\n  keepalive: 45s\nrules:\n  no_water_hours: 10\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.GatewayID != "gw-hz-0001" || c.MQTT.Broker != "ssl://broker:8883" || c.MQTT.KeepAlive.Seconds() != 45 || c.Rules.NoWaterHours != 10 {
		t.Fatalf("%+v", c)
	}
	if c.MQTT.ResendInterval == 0 || c.Timezone != "Asia/Shanghai" {
		t.Fatalf("defaults lost: %+v", c)
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct{ name, body, want string }{
		{"unknown key", "gateway_id: gw-1a\nmqtt:\n  brokr: x\n", "line 3: field brokr not found"},
		{"bad id", "gateway_id: GW_1\n", "gateway_id: gateway id \"GW_1\""},
		{"no id", "", "gateway_id:"},
		{"bad broker", "gateway_id: gw-1a\nmqtt: {broker: 'http://x'}\n", "mqtt.broker: \"http://x\""},
		{"bad duration", "gateway_id: gw-1a\nmqtt: {keepalive: soon}\n", "line 2"},
		{"threshold", "gateway_id: gw-1a\nrules: {no_water_hours: 0.5}\n", "rules.no_water_hours: 0.5, want 1–72"},
		{"speed", "gateway_id: gw-1a\nsimulate: {enabled: true, speed: 0}\n", "simulate.speed"},
		{"both secrets", "gateway_id: gw-1a\nmqtt: {password: a, password_file: /b}\n", "mqtt.password_file"},
		{"not yaml", "gateway_id: [\n", "config"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(write(t, tt.body))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
		})
	}
}

func TestEnvOverrides(t *testing.T) {
	t.Setenv("SHOUWANG_EDGE_GATEWAY_ID", "gw-env-1")
	t.Setenv("SHOUWANG_EDGE_MQTT_PASSWORD", "s3cret")
	c, err := Load(write(t, "gateway_id: gw-file-1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.GatewayID != "gw-env-1" || c.MQTT.Password != "s3cret" {
		t.Fatalf("%+v", c)
	}
	t.Setenv("SHOUWANG_EDGE_SIMULATE_SPEED", "fast")
	if _, err := Load(""); err == nil || !strings.Contains(err.Error(), "SHOUWANG_EDGE_SIMULATE_SPEED") {
		t.Fatalf("got %v", err)
	}
}

func TestDevicesConfig(t *testing.T) {
	c, err := Load(write(t, `gateway_id: gw-hz-0001
buses:
  - port: /dev/serial/by-id/usb-FTDI-if00-port0
    protocol: dlt645
    meters:
      - {address: "000012345678", interval: 5m}
gpio:
  sensors:
    - {name: pir.bathroom, type: pir, pin: GPIO17, pull: down}
    - {name: button.sos, type: button, pin: GPIO22, pull: up, active_low: true}
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Buses) != 1 || len(c.Buses[0].Meters) != 1 || len(c.GPIO.Sensors) != 2 {
		t.Fatalf("%+v", c)
	}
	for _, tt := range []struct{ body, want string }{
		{"gateway_id: gw-1a\nbuses:\n  - {port: /dev/ttyUSB0, protocol: dlt645, meters: [{address: '12'}, {address: '12'}]}\n", "buses[0]"},
		{"gateway_id: gw-1a\ngpio:\n  sensors:\n    - {name: pir.x, type: pir, pin: '17'}\n", "gpio.sensors[0].pin"},
	} {
		if _, err := Load(write(t, tt.body)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("got %v, want %q", err, tt.want)
		}
	}
}

func TestRadioConfig(t *testing.T) {
	c, err := Load(write(t, "gateway_id: gw-1a\nradio:\n  port: /dev/ttyAMA0\n  nodes:\n    - {id: 0A0B0C0D, sensor: pendant, check_in: 2h}\n"))
	if err != nil || c.Radio == nil || len(c.Radio.Nodes) != 1 {
		t.Fatalf("%+v %v", c.Radio, err)
	}
	if _, err := Load(write(t, "gateway_id: gw-1a\nradio:\n  port: /dev/ttyAMA0\n  nodes:\n    - {id: 0A0B0C0D, sensor: a}\n    - {id: 0a0b0c0d, sensor: b}\n")); err == nil || !strings.Contains(err.Error(), "radio.nodes[1]") {
		t.Fatalf("duplicate node: %v", err)
	}
}
