package meterbus_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/shouwang-care/shouwang/edge/meterbus"
	"github.com/shouwang-care/shouwang/edge/metersim"
	"github.com/shouwang-care/shouwang/firmware-protocol/cjt188"
)

// serveSim runs sim on path until the test ends.
func serveSim(t *testing.T, sim *metersim.Sim, path string) {
	t.Helper()
	p, err := meterbus.OpenSerial(meterbus.PortConfig{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { sim.Serve(ctx, p); close(done) }()
	t.Cleanup(func() { cancel(); <-done; p.Close() })
}

func TestScan(t *testing.T) {
	tests := []struct {
		name     string
		protocol string
		specs    []metersim.Spec
		want     []string
		wantErr  error
	}{
		{name: "dlt645 one meter", protocol: "dlt645",
			specs: []metersim.Spec{{Protocol: metersim.DLT645, Address: elecAddr}},
			want:  []string{"dlt645 000012345678"}},
		{name: "cjt188 one meter", protocol: "cjt188",
			specs: []metersim.Spec{{Protocol: metersim.CJT188, Address: waterAddr, Type: cjt188.TypeHotWater}},
			want:  []string{"cjt188 00000087654321 type 11 (" + cjt188.TypeHotWater.String() + ") di_order high_first"}},
		{name: "cjt188 ignores the electricity meter", protocol: "cjt188",
			specs: []metersim.Spec{{Protocol: metersim.DLT645, Address: elecAddr}, {Protocol: metersim.CJT188, Address: waterAddr}},
			want:  []string{"cjt188 00000087654321 type 10 (" + cjt188.TypeColdWater.String() + ") di_order high_first"}},
		{name: "nothing there", protocol: "dlt645",
			specs: []metersim.Spec{{Protocol: metersim.CJT188, Address: waterAddr}}},
		{name: "two meters collide", protocol: "dlt645",
			specs:   []metersim.Spec{{Protocol: metersim.DLT645, Address: elecAddr}, {Protocol: metersim.DLT645, Address: "000087654321"}},
			wantErr: meterbus.ErrCollision},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := metersim.PtyPair(t)
			serveSim(t, newSim(t, tc.specs...), a)
			p, err := meterbus.OpenSerial(meterbus.PortConfig{Path: b})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			ctx, cancel := context.WithTimeout(context.Background(), patience)
			defer cancel()
			found, err := meterbus.Scan(ctx, p, tc.protocol)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Scan error %v, want %v", err, tc.wantErr)
			}
			var got []string
			for _, f := range found {
				got = append(got, f.String())
			}
			if tc.wantErr == nil && strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("found %q, want %q", got, tc.want)
			}
		})
	}
}

func TestScanCommandWriteConfig(t *testing.T) {
	a, b := metersim.PtyPair(t)
	serveSim(t, newSim(t, metersim.Spec{Protocol: metersim.CJT188, Address: waterAddr}), a)
	cfgPath := filepath.Join(t.TempDir(), "edge.yaml")
	orig := "# shouwang-edge config\ngateway_id: gw-1 # the home\nbuses:\n  - port: /dev/serial/by-id/usb-other\n    protocol: dlt645\n    meters:\n      - address: \"000000000001\"\n"
	if err := os.WriteFile(cfgPath, []byte(orig), 0o644); err != nil {
		t.Fatal(err)
	}
	for run := 0; run < 2; run++ { // the second scan must not duplicate the meter
		var out bytes.Buffer
		if err := meterbus.ScanCommand([]string{"--port", b, "--protocol", "cjt188", "--write-config", cfgPath}, &out); err != nil {
			t.Fatalf("scan: %v\n%s", err, out.String())
		}
		if !strings.Contains(out.String(), "cjt188 "+waterAddr) {
			t.Errorf("output %q lacks the meter", out.String())
		}
		t.Logf("run %d: %s", run, out.String())
	}
	data, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("written config:\n%s", data)
	if !strings.Contains(string(data), "# the home") {
		t.Error("comments were lost")
	}
	var cfg struct {
		GatewayID string          `yaml:"gateway_id"`
		Buses     meterbus.Config `yaml:",inline"`
	}
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Buses.Validate(); err != nil {
		t.Fatalf("written config invalid: %v", err)
	}
	if len(cfg.Buses.Buses) != 2 || len(cfg.Buses.Buses[1].Meters) != 1 || cfg.Buses.Buses[1].Port != b {
		t.Fatalf("buses = %+v, want the old bus and one new bus with one meter", cfg.Buses.Buses)
	}
	m := cfg.Buses.Buses[1].Meters[0]
	if m.Address != waterAddr || m.Protocol != "cjt188" || m.DIOrder != "high_first" || m.MeterType != "10" {
		t.Errorf("meter = %+v", m)
	}
}

func TestScanCommandUsage(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--protocol", "dlt645"}, "--port is required"},
		{[]string{"--port", "/nonexistent", "--protocol", "modbus"}, `--protocol "modbus"`},
		{[]string{"--port", "/nonexistent", "--protocol", "dlt645", "--baud", "2401"}, "--baud 2401"},
		{[]string{"--port", "/nonexistent/tty", "--protocol", "dlt645"}, "open serial port /nonexistent/tty"},
	}
	for _, tc := range tests {
		err := meterbus.ScanCommand(tc.args, new(bytes.Buffer))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ScanCommand(%q) = %v, want error containing %q", tc.args, err, tc.want)
		}
	}
}
