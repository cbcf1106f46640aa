package loadgen

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func repoRoot(t *testing.T) string {
	t.Helper()
	_, here, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(here), "..", "..")
}

// TestCompareSmoke runs one tiny round of each system through Compare: both must
// store the probe batch exactly as cloud/telemetry's data model says, write the
// same schema, and land every point the generator published. It measures nothing.
func TestCompareSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("needs mosquitto, PostgreSQL, influxd and telegraf: skipped with -short")
	}
	repo := repoRoot(t)
	bin := os.Getenv("SHOUWANG_TELEGRAF")
	if bin == "" {
		bin = filepath.Join(repo, ".cache", "bin", "telegraf")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("telegraf not found at %s (set SHOUWANG_TELEGRAF, or: GOBIN=$PWD/.cache/bin go install -tags custom,inputs.mqtt_consumer,outputs.influxdb_v2,parsers.json_v2 github.com/influxdata/telegraf/cmd/telegraf@v1.37.2)", bin)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var log strings.Builder
	res, err := Compare(ctx, CompareOptions{
		Stack:       StackOptions{Repo: repo, BrokerNoDelay: true},
		TelegrafBin: bin, TelegrafConfig: filepath.Join(repo, "docs", "bench", "telegraf.conf"),
		Rounds: 1, Gateways: 20, TelemetryRate: 100, Duration: 2 * time.Second, Drain: time.Minute, Settle: time.Millisecond,
		Log: &log,
	})
	if err != nil {
		t.Fatalf("compare: %v\n%s", err, log.String())
	}
	if len(res) != 2 {
		t.Fatalf("%d results, want 2", len(res))
	}
	for _, r := range res {
		if r.Err != "" {
			t.Errorf("%s: %s", r.System, r.Err)
			continue
		}
		if r.Probe != "ok" {
			t.Errorf("%s probe: %s", r.System, r.Probe)
		}
		if r.Schema != expectedSchema {
			t.Errorf("%s schema:\n got %s\nwant %s", r.System, r.Schema, expectedSchema)
		}
		if r.Published == 0 || r.LandedPoints != r.Expected {
			t.Errorf("%s: landed %d points, want 4 × %d published = %d", r.System, r.LandedPoints, r.Published, r.Expected)
		}
		if r.PeakRSS == 0 || r.CPUTotal == 0 {
			t.Errorf("%s: no /proc figures (peak RSS %d, CPU %v)", r.System, r.PeakRSS, r.CPUTotal)
		}
	}
}

func TestExpectedProbe(t *testing.T) {
	got, err := expectedProbe()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"activity gateway=gw-probe-0001 sensor=door front count=0 period_s=60 1772348100000000000",
		"activity gateway=gw-probe-0001 sensor=pir.kitchen count=3 period_s=300 1772319300000000000",
		"meter gateway=gw-probe-0001 sensor=power total_kwh=5012.31 1772319600000000000",
		"meter gateway=gw-probe-0001 sensor=water total_m3=123.4567 1772319600123456789",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestMedian(t *testing.T) {
	if m := Median([]float64{3, 1, 2}); m != 2 {
		t.Errorf("odd: %v", m)
	}
	if m := Median([]float64{4, 1, 3, 2}); m != 2.5 {
		t.Errorf("even: %v", m)
	}
	if m := Median(nil); !math.IsNaN(m) {
		t.Errorf("empty: %v", m)
	}
}

func TestMillisecondTimes(t *testing.T) {
	now := time.Date(2026, 11, 22, 7, 30, 0, 123456789, time.UTC)
	if p := string(telemetryPayload("gw-a", 1, now, false)); !strings.Contains(p, `"t":"2026-11-22T07:30:00Z"`) {
		t.Errorf("seconds: %s", p)
	}
	if p := string(telemetryPayload("gw-a", 1, now, true)); !strings.Contains(p, `"t":"2026-11-22T07:30:00.123Z"`) || !strings.Contains(p, `"t":"2026-11-22T07:25:00.123Z"`) {
		t.Errorf("milliseconds: %s", p)
	}
}
