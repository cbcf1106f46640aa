// Package config is the edge daemon's configuration: one typed struct, loaded from a
// YAML file, overridden by environment, validated before anything starts.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/shouwang-care/shouwang/edge/gpiosensor"
	"github.com/shouwang-care/shouwang/edge/meterbus"
	"github.com/shouwang-care/shouwang/edge/radio"
	"github.com/shouwang-care/shouwang/firmware-protocol/mqttv1"
)

// Config is everything shouwang-edge reads at start.
type Config struct {
	GatewayID   string    `yaml:"gateway_id"`
	StateDir    string    `yaml:"state_dir"`    // outbox and rule state; move to USB storage to spare the SD card
	MetricsAddr string    `yaml:"metrics_addr"` // /metrics and /healthz; empty disables
	Timezone    string    `yaml:"timezone"`
	MQTT        MQTT      `yaml:"mqtt"`
	Rules       Rules     `yaml:"rules"`
	Simulate    Simulate  `yaml:"simulate"`
	Telemetry   Telemetry `yaml:"telemetry"`
	// Buses are the RS-485 / M-Bus lines with their meters (`shouwang-edge scan
	// --write-config` appends to this key).
	Buses []meterbus.BusConfig `yaml:"buses"`
	// GPIO are the sensors wired to the Pi's pins and the local buzzer/LED.
	GPIO gpiosensor.Config `yaml:"gpio"`
	// Radio is the UART radio module and the battery sensor nodes enrolled on it
	// (bathroom PIR, pendant); absent when the home has none.
	Radio *radio.Config `yaml:"radio"`
}

// MQTT is the uplink to the cloud's broker.
type MQTT struct {
	Broker         string        `yaml:"broker"` // tcp://host:1883 or ssl://host:8883
	Username       string        `yaml:"username"`
	Password       string        `yaml:"password"`
	PasswordFile   string        `yaml:"password_file"` // preferred: keeps the secret out of the config
	CAFile         string        `yaml:"ca_file"`
	CertFile       string        `yaml:"cert_file"`
	KeyFile        string        `yaml:"key_file"`
	KeepAlive      time.Duration `yaml:"keepalive"`
	ResendInterval time.Duration `yaml:"resend_interval"`
	Heartbeat      time.Duration `yaml:"heartbeat"`
}

// Rules holds the thresholds the cloud config may later override per home. A zero
// threshold (other than no_water_hours, the floor) disables its rule.
type Rules struct {
	NoWaterHours        float64       `yaml:"no_water_hours"`
	NoMotionHours       float64       `yaml:"no_motion_hours"`       // waking hours only
	NoExitDays          float64       `yaml:"no_exit_days"`          // front door not opened (info)
	WaterRunningMinutes float64       `yaml:"water_running_minutes"` // flow in every reading
	LeakHours           float64       `yaml:"leak_hours"`            // flow in every half-hour (info)
	PowerFlatHours      float64       `yaml:"power_flat_hours"`      // electricity at base load
	Night               string        `yaml:"night"`                 // "00:00-05:00": a door opening here raises night_door; "" disables
	Sleep               string        `yaml:"sleep"`                 // "22:00-06:30": not counted by no_motion and routine
	LearnRoutine        bool          `yaml:"learn_routine"`         // the learned hour-of-week rule
	LearnDays           int           `yaml:"learn_days"`
	PreAlarm            time.Duration `yaml:"prealarm"`     // local buzzer time to cancel with a long press; 0 sends at once
	SuggestAway         time.Duration `yaml:"suggest_away"` // door closed and all quiet → away_suggested
	OutNoWaterHours     float64       `yaml:"out_no_water_hours"`
}

// Simulate replaces the meters and sensors with a simulated home on a fast clock.
type Simulate struct {
	Enabled  bool    `yaml:"enabled"`
	Speed    float64 `yaml:"speed"`    // virtual seconds per real second
	Scenario string  `yaml:"scenario"` // collapse | normal
}

// Telemetry sets how often batched readings go up and how much backlog is kept
// while the uplink is down.
type Telemetry struct {
	Interval time.Duration `yaml:"interval"`
	// BacklogBytes bounds the telemetry held in the outbox; beyond it the backlog is
	// downsampled to hourly, then the oldest batches are dropped (alerts never are).
	BacklogBytes int64 `yaml:"backlog_bytes"`
}

// Default returns the configuration a file overrides.
func Default() Config {
	return Config{
		StateDir:    "/var/lib/shouwang-edge",
		MetricsAddr: "127.0.0.1:9101",
		Timezone:    "Asia/Shanghai",
		MQTT: MQTT{
			Broker:         "tcp://127.0.0.1:1883",
			KeepAlive:      30 * time.Second,
			ResendInterval: 15 * time.Second,
			Heartbeat:      60 * time.Second,
		},
		Rules:     DefaultRules(),
		Simulate:  Simulate{Speed: 3600, Scenario: "collapse"},
		Telemetry: Telemetry{Interval: time.Minute, BacklogBytes: 8 << 20},
	}
}

// Load reads path (strict: an unknown key is an error with its line), applies
// SHOUWANG_EDGE_* environment overrides and validates.
func Load(path string) (Config, error) {
	c := Default()
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return c, fmt.Errorf("read config: %w", err)
		}
		if c, err = decode(b); err != nil {
			return c, fmt.Errorf("config %s: %w", path, err)
		}
	}
	if err := c.applyEnv(os.LookupEnv); err != nil {
		return c, err
	}
	if err := c.Validate(); err != nil {
		if path == "" {
			path = "(defaults)"
		}
		return c, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// Parse decodes and validates a config file's bytes as Load does, without the
// environment: for tools that write the file (shouwang-edge claim) and must know
// the daemon will accept what they wrote.
func Parse(b []byte) (Config, error) {
	c, err := decode(b)
	if err != nil {
		return c, err
	}
	return c, c.Validate()
}

// decode is the strict YAML decoding over the defaults: an unknown key is an
// error with its line.
func decode(b []byte) (Config, error) {
	c := Default()
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	// An empty file decodes to io.EOF: a valid, all-defaults config.
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return c, err
	}
	return c, nil
}

func (c *Config) applyEnv(lookup func(string) (string, bool)) error {
	str := map[string]*string{
		"SHOUWANG_EDGE_GATEWAY_ID":    &c.GatewayID,
		"SHOUWANG_EDGE_STATE_DIR":     &c.StateDir,
		"SHOUWANG_EDGE_METRICS_ADDR":  &c.MetricsAddr,
		"SHOUWANG_EDGE_MQTT_BROKER":   &c.MQTT.Broker,
		"SHOUWANG_EDGE_MQTT_USERNAME": &c.MQTT.Username,
		"SHOUWANG_EDGE_MQTT_PASSWORD": &c.MQTT.Password,
	}
	for k, p := range str {
		if v, ok := lookup(k); ok {
			*p = v
		}
	}
	if v, ok := lookup("SHOUWANG_EDGE_SIMULATE_SPEED"); ok {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return fmt.Errorf("env SHOUWANG_EDGE_SIMULATE_SPEED: %q is not a number", v)
		}
		c.Simulate.Speed = f
	}
	return nil
}

// Validate names the first wrong field the way it is spelled in the file.
func (c *Config) Validate() error {
	var errs []string
	add := func(field, format string, a ...any) { errs = append(errs, field+": "+fmt.Sprintf(format, a...)) }
	if err := mqttv1.ValidGatewayID(c.GatewayID); err != nil {
		add("gateway_id", "%v", err)
	}
	if c.StateDir == "" {
		add("state_dir", "empty")
	}
	if _, err := time.LoadLocation(c.Timezone); err != nil {
		add("timezone", "%v", err)
	}
	if !strings.HasPrefix(c.MQTT.Broker, "tcp://") && !strings.HasPrefix(c.MQTT.Broker, "ssl://") && !strings.HasPrefix(c.MQTT.Broker, "tls://") {
		add("mqtt.broker", "%q: want tcp://host:port or ssl://host:port", c.MQTT.Broker)
	}
	if c.MQTT.Password != "" && c.MQTT.PasswordFile != "" {
		add("mqtt.password_file", "set either password or password_file, not both")
	}
	if (c.MQTT.CertFile == "") != (c.MQTT.KeyFile == "") {
		add("mqtt.cert_file", "cert_file and key_file go together")
	}
	if c.MQTT.KeepAlive < time.Second || c.MQTT.KeepAlive > 20*time.Minute {
		add("mqtt.keepalive", "%v, want 1s–20m", c.MQTT.KeepAlive)
	}
	if c.MQTT.ResendInterval < 100*time.Millisecond {
		add("mqtt.resend_interval", "%v, want ≥ 100ms", c.MQTT.ResendInterval)
	}
	if c.MQTT.Heartbeat < time.Second {
		add("mqtt.heartbeat", "%v, want ≥ 1s", c.MQTT.Heartbeat)
	}
	for _, e := range c.Rules.validate() {
		add("rules."+e[0], "%s", e[1])
	}
	if c.Simulate.Enabled {
		if c.Simulate.Speed < 1 || c.Simulate.Speed > 100000 {
			add("simulate.speed", "%v, want 1–100000", c.Simulate.Speed)
		}
		if c.Simulate.Scenario != "collapse" && c.Simulate.Scenario != "normal" {
			add("simulate.scenario", "%q, want collapse or normal", c.Simulate.Scenario)
		}
	}
	if c.Telemetry.Interval < 100*time.Millisecond {
		add("telemetry.interval", "%v, want ≥ 100ms", c.Telemetry.Interval)
	}
	if c.Telemetry.BacklogBytes < 64<<10 {
		add("telemetry.backlog_bytes", "%d, want ≥ 65536", c.Telemetry.BacklogBytes)
	}
	if err := (meterbus.Config{Buses: c.Buses}).Validate(); err != nil {
		errs = append(errs, err.Error())
	}
	if err := c.GPIO.Validate(); err != nil {
		errs = append(errs, "gpio."+err.Error())
	}
	if c.Radio != nil {
		if err := c.Radio.Validate(); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

// MQTTPassword returns the password, reading password_file when that is set.
func (c *Config) MQTTPassword() (string, error) {
	if c.MQTT.PasswordFile == "" {
		return c.MQTT.Password, nil
	}
	b, err := os.ReadFile(c.MQTT.PasswordFile)
	if err != nil {
		return "", fmt.Errorf("read mqtt.password_file: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}
