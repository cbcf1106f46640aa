package gpiosensor

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
)

func TestValidate(t *testing.T) {
	ok := Config{Sensors: []SensorConfig{pir, door, button, water}, Indicators: []IndicatorConfig{{Name: "buzzer", Pin: "GPIO24"}}}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	with := func(i int, f func(*SensorConfig)) Config {
		c := Config{Sensors: []SensorConfig{pir, door, button, water}}
		f(&c.Sensors[i])
		return c
	}
	for _, tc := range []struct {
		name string
		cfg  Config
		want []string // substrings, all required
	}{
		{"missing pull", with(0, func(s *SensorConfig) { s.Pull = "" }), []string{"sensors[0].pull: missing; one of up, down, none"}},
		{"bad pull", with(0, func(s *SensorConfig) { s.Pull = "high" }), []string{`sensors[0].pull: "high", want up, down or none`}},
		{"pin as a number", with(2, func(s *SensorConfig) { s.Pin = "17" }), []string{`sensors[2].pin: "17" is a number; use the line name GPIO17`}},
		{"missing pin", with(1, func(s *SensorConfig) { s.Pin = "" }), []string{"sensors[1].pin: missing"}},
		{"duplicate pin", with(1, func(s *SensorConfig) { s.Pin = "GPIO17" }), []string{"sensors[1].pin: GPIO17 already used by sensors[0]"}},
		{"duplicate name", with(1, func(s *SensorConfig) { s.Name = "pir.bathroom" }), []string{`sensors[1].name: "pir.bathroom" already used by sensors[0]`}},
		{"bad name", with(1, func(s *SensorConfig) { s.Name = "Front Door" }), []string{`sensors[1].name: "Front Door": use a-z 0-9`}},
		{"unknown type", with(1, func(s *SensorConfig) { s.Type = "window" }), []string{`sensors[1].type: "window", want pir, door, button or pulse_water`}},
		{"field of another type", with(1, func(s *SensorConfig) { s.LongPress = time.Second }), []string{"sensors[1].long_press: only for type button, this sensor is door"}},
		{"several errors at once", with(3, func(s *SensorConfig) { s.LitresPerPulse, s.Pull = 0, "" }),
			[]string{"sensors[3].pull: missing", "sensors[3].litres_per_pulse: missing"}},
		{"debounce too long for max flow", with(3, func(s *SensorConfig) { s.MaxFlowLPM, s.Debounce = 40, 200*time.Millisecond }),
			[]string{"sensors[3].debounce: 200ms would swallow pulses: at max_flow_lpm 40 with 1 L/pulse a pulse comes every 1.5s, so debounce must be ≤ 150ms"}},
		{"default debounce too long for a fine meter", with(3, func(s *SensorConfig) { s.LitresPerPulse, s.MaxFlowLPM, s.Debounce = 0.1, 0, 0 }),
			[]string{"sensors[3].debounce: 20ms (default) would swallow pulses: at max_flow_lpm 60 with 0.1 L/pulse a pulse comes every 100ms, so debounce must be ≤ 10ms"}},
		{"pulse without debounce", with(3, func(s *SensorConfig) { s.Debounce = -1 }), []string{"sensors[3].debounce: -1ns, want 0 to 1s"}},
		{"pulse stuck_after", with(3, func(s *SensorConfig) { s.StuckAfter = time.Hour }), []string{"sensors[3].stuck_after: not for pulse_water"}},
		{"stuck shorter than long press", with(2, func(s *SensorConfig) { s.StuckAfter = 2 * time.Second }), []string{"sensors[2].stuck_after: 2s must be longer than long_press 3s"}},
		{"silent_after too short", with(0, func(s *SensorConfig) { s.SilentAfter = 30 * time.Minute }), []string{"sensors[0].silent_after: 30m0s: under 1h"}},
		{"indicator on a sensor's pin", Config{Sensors: []SensorConfig{pir}, Indicators: []IndicatorConfig{{Name: "led", Pin: "GPIO17"}}},
			[]string{"indicators[0].pin: GPIO17 already used by sensors[0]"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nlacks %q", err, w)
				}
			}
		})
	}
	// Negative supervision durations turn supervision off and are valid.
	off := with(0, func(s *SensorConfig) { s.SilentAfter = -1 })
	off.Sensors[1].StuckAfter = -1
	if err := off.Validate(); err != nil {
		t.Errorf("supervision off: %v", err)
	}
}

// TestDocExample decodes the YAML example of firmware-protocol/docs/gpio.md
// strictly and validates it, so the doc cannot drift from the code.
func TestDocExample(t *testing.T) {
	doc, err := os.ReadFile("../../firmware-protocol/docs/gpio.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, found := strings.Cut(string(doc), "```yaml\n")
	block, _, closed := strings.Cut(rest, "```")
	if !found || !closed {
		t.Fatal("no ```yaml block in gpio.md")
	}
	var file struct {
		GPIO Config `yaml:"gpio"`
	}
	dec := yaml.NewDecoder(bytes.NewReader([]byte(block)))
	dec.KnownFields(true)
	if err := dec.Decode(&file); err != nil {
		t.Fatal(err)
	}
	if err := file.GPIO.Validate(); err != nil {
		t.Fatal(err)
	}
	if n := len(file.GPIO.Sensors); n != 4 {
		t.Errorf("%d sensors", n)
	}
	w := file.GPIO.Sensors[3].WithDefaults()
	if w.Debounce != 20*time.Millisecond || w.PulsePeriod() != 1500*time.Millisecond || w.BaseTotalM3 != 1234.567 {
		t.Errorf("water: %+v", w)
	}
}

func TestRegistryResolver(t *testing.T) {
	for _, n := range []string{"SWTEST_GPIO5", "SWTEST_GPIO6"} {
		if err := gpioreg.Register(&simPin{name: n, clock: newSimClock()}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = gpioreg.Unregister(n) })
	}
	if p, err := RegistryResolver("SWTEST_GPIO5"); err != nil || p.Name() != "SWTEST_GPIO5" {
		t.Fatalf("got %v, %v", p, err)
	}
	_, err := RegistryResolver("GPIO99")
	var nf *PinNotFoundError
	if !errors.As(err, &nf) || nf.Pin != "GPIO99" {
		t.Fatalf("error %v", err)
	}
	if want := `gpio line "GPIO99" not found; available: SWTEST_GPIO5, SWTEST_GPIO6`; err.Error() != want {
		t.Errorf("error %q\nwant  %q", err, want)
	}

	// Open reports every missing pin with its sensor, not just the first.
	cfg := Config{
		Sensors:    []SensorConfig{pir, {Name: "door.front", Type: TypeDoor, Pin: "SWTEST_GPIO5", Pull: PullUp}},
		Indicators: []IndicatorConfig{{Name: "buzzer", Pin: "GPIO24"}},
	}
	_, err = Open(cfg, Options{Resolve: RegistryResolver})
	for _, w := range []string{
		`sensors[0] (pir.bathroom): gpio line "GPIO17" not found; available: SWTEST_GPIO5, SWTEST_GPIO6`,
		`indicators[0] (buzzer): gpio line "GPIO24" not found`,
	} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("Open error %v\nlacks %q", err, w)
		}
	}

	// An indicator is switched off when opened.
	p := gpioreg.ByName("SWTEST_GPIO6").(*simPin)
	if _, err := Open(Config{Indicators: []IndicatorConfig{{Name: "led", Pin: "SWTEST_GPIO6", ActiveLow: true}}}, Options{Resolve: RegistryResolver}); err != nil {
		t.Fatal(err)
	}
	if len(p.outs) != 1 || p.outs[0] != gpio.High {
		t.Errorf("indicator levels %v, want [High] (off, active low)", p.outs)
	}
	if (&PinNotFoundError{Pin: "GPIO17"}).Error() == "" {
		t.Error("empty message")
	}
}

func TestFaultCode(t *testing.T) {
	for _, tc := range []struct {
		detail    string
		code      string
		recovered bool
		ok        bool
	}{
		{"stuck: button held for 1m0s", FaultStuck, false, true},
		{"recovered: silent: motion again after 50h0m0s", FaultSilent, true, true},
		{"meter timeout", "", false, false},
		{"recovered: other: x", "", false, false},
	} {
		code, rec, ok := FaultCode(tc.detail)
		if code != tc.code || rec != tc.recovered || ok != tc.ok {
			t.Errorf("FaultCode(%q) = %q %v %v", tc.detail, code, rec, ok)
		}
	}
}
