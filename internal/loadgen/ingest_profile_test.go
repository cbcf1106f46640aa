package loadgen

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shouwang-care/shouwang/cloud/credential"
	"github.com/shouwang-care/shouwang/cloud/ingest"
	"github.com/shouwang-care/shouwang/cloud/store"
	"github.com/shouwang-care/shouwang/cloud/telemetry"
	"github.com/shouwang-care/shouwang/internal/testinfra"
)

// TestIngestProfile runs the cloud's ingest consumer in this process (PostgreSQL,
// InfluxDB, mosquitto from testinfra) under the load generator, so that
//
//	SHOUWANG_INGEST_PROFILE=20s go test -run TestIngestProfile -cpuprofile /tmp/ingest.pprof ./internal/loadgen
//
// profiles ingest (the generator's own frames are under internal/loadgen and easy to
// tell apart). Off unless SHOUWANG_INGEST_PROFILE is set; SHOUWANG_INGEST_RATE is the
// offered telemetry msgs/s (default 2000), SHOUWANG_INGEST_WORKERS the workers (8).
func TestIngestProfile(t *testing.T) {
	dur, err := time.ParseDuration(os.Getenv("SHOUWANG_INGEST_PROFILE"))
	if err != nil {
		t.Skip("set SHOUWANG_INGEST_PROFILE=20s to profile ingest")
	}
	rate, workers := 2000.0, 8
	if v, err := strconv.ParseFloat(os.Getenv("SHOUWANG_INGEST_RATE"), 64); err == nil {
		rate = v
	}
	if v, err := strconv.Atoi(os.Getenv("SHOUWANG_INGEST_WORKERS")); err == nil {
		workers = v
	}
	broker := testinfra.Mosquitto(t, testinfra.WithMosquittoConfig("max_queued_messages 10000"))
	dsn := testinfra.Postgres(t)
	inf := testinfra.Influx(t)
	ctx, cancel := context.WithTimeout(context.Background(), dur+time.Minute)
	defer cancel()
	st, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const gateways = 2000
	hash := credential.HashSecret("x")
	if err := st.PutGrid(ctx, store.Grid{ID: "g", Name: "g"}); err != nil {
		t.Fatal(err)
	}
	for i := range gateways {
		home := fmt.Sprintf("h-%d", i)
		if err := st.PutHome(ctx, store.Home{ID: home, GridID: "g", Address: home}); err != nil {
			t.Fatal(err)
		}
		if err := st.PutGateway(ctx, GatewayID("", i), home, hash); err != nil {
			t.Fatal(err)
		}
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	tel, err := telemetry.NewInflux(telemetry.InfluxConfig{URL: inf.URL, Bucket: inf.Bucket}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Close()
	c := ingest.New(ingest.Options{Broker: broker.Addr, ClientID: "ingest-profile", Username: "cloud", Workers: workers}, st, tel, st, log)
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	for !c.Connected() {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // subscriptions
	reg := prometheus.NewRegistry()
	reg.MustRegister(c.Collectors()...)
	count := func() float64 {
		mfs, _ := reg.Gather()
		var s float64
		for _, mf := range mfs {
			if mf.GetName() == "shouwang_ingest_messages_total" {
				for _, m := range mf.GetMetric() {
					s += m.GetCounter().GetValue()
				}
			}
		}
		return s
	}
	var before float64
	var t0 time.Time
	res, err := Run(ctx, Config{Broker: broker.Addr, Gateways: gateways, TelemetryEvery: time.Duration(gateways / rate * float64(time.Second)),
		HeartbeatEvery: time.Minute, AlertRate: 2, Duration: dur,
		OnPhase: func(p string) {
			if p == "window" {
				before, t0 = count(), time.Now()
			} else {
				n := count() - before
				t.Logf("ingested %.0f msgs in %v: %.0f msgs/s (offered %.0f/s)", n, time.Since(t0).Round(time.Millisecond), n/time.Since(t0).Seconds(), rate)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("alerts %d/%d acked, p50 %v p99 %v; published %v", res.AlertsAcked, res.AlertsSent, res.AckP50, res.AckP99, res.Published)
	cancel()
	<-done
}
