package daemon

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shouwang-care/shouwang/edge/config"
	"github.com/shouwang-care/shouwang/edge/gpiosensor"
	"github.com/shouwang-care/shouwang/edge/meterbus"
	"github.com/shouwang-care/shouwang/edge/metersim"
	"github.com/shouwang-care/shouwang/firmware-protocol/event"
	"github.com/shouwang-care/shouwang/firmware-protocol/mqttv1"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func baseConfig(t *testing.T) config.Config {
	cfg := config.Default()
	cfg.GatewayID, cfg.StateDir, cfg.MetricsAddr = "gw-test-0001", t.TempDir(), ""
	cfg.MQTT.Broker = "tcp://127.0.0.1:1" // nobody there: the rules must run anyway
	return cfg
}

func counter(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// TestConfiguredMeterIsPolled: a meter in `buses:` is read over a real serial line
// (a pseudo-terminal) by the daemon, with the uplink down.
func TestConfiguredMeterIsPolled(t *testing.T) {
	master, slave, err := metersim.OpenPTY()
	if err != nil {
		t.Fatal(err)
	}
	ms, err := metersim.New(metersim.Spec{Protocol: metersim.CJT188, Address: "00000000000001", Total: 10})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-ctx.Done()
		master.Close()
	}()
	go ms.Serve(ctx, master)

	cfg := baseConfig(t)
	cfg.Buses = []meterbus.BusConfig{{Port: slave, Protocol: "cjt188",
		Meters: []meterbus.MeterConfig{{Address: "00000000000001", Sensor: "water", Interval: 100 * time.Millisecond}}}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	d, err := New(cfg, quiet(), reg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, http.NotFoundHandler()) }()
	deadline := time.Now().Add(20 * time.Second)
	for counter(t, reg, "shouwang_edge_events_total", "kind", "meter") < 3 {
		if time.Now().After(deadline) {
			t.Fatal("no meter readings reached the daemon")
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("daemon stopped with %v", err)
	}
}

// TestMissingPinIsAClearStartError: a configured pin that does not exist stops the
// start and names the pin.
func TestMissingPinIsAClearStartError(t *testing.T) {
	cfg := baseConfig(t)
	cfg.GPIO = gpiosensor.Config{Sensors: []gpiosensor.SensorConfig{{Name: "pir.bathroom", Type: gpiosensor.TypePIR, Pin: "GPIO999", Pull: gpiosensor.PullDown}}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	_, err := New(cfg, quiet(), prometheus.NewRegistry())
	if err == nil || !strings.Contains(err.Error(), "GPIO999") {
		t.Fatalf("got %v, want an error naming GPIO999", err)
	}
}

// TestEraseFromCloudConfig: the cloud's erase reaches the gateway as config; the
// gateway drops unsent alerts and starts its rules afresh, once per erase.
func TestEraseFromCloudConfig(t *testing.T) {
	d, err := New(baseConfig(t), quiet(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	defer d.box.Close()
	now := time.Now()
	d.commit(d.engine.Observe(event.Event{T: now, Sensor: "button.sos", Kind: event.Button}))
	if d.Pending() != 1 || len(d.engine.State().Open) != 1 {
		t.Fatalf("before: pending %d, open %v", d.Pending(), d.engine.State().Open)
	}
	d.applyConfig(mqttv1.Config{V: 1, Gateway: "gw-test-0001", Revision: 1, EraseBefore: &now})
	if d.Pending() != 0 || len(d.engine.State().Open) != 0 {
		t.Fatalf("after erase: pending %d, open %v", d.Pending(), d.engine.State().Open)
	}
	// A later revision with the same erase time does not erase again.
	d.commit(d.engine.Observe(event.Event{T: now.Add(time.Minute), Sensor: "button.sos", Kind: event.Button}))
	d.applyConfig(mqttv1.Config{V: 1, Gateway: "gw-test-0001", Revision: 2, EraseBefore: &now, Away: true})
	if d.Pending() != 1 {
		t.Fatalf("the same erase applied twice: pending %d", d.Pending())
	}
}
