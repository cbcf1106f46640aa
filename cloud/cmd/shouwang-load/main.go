// Command shouwang-load drives N simulated gateways against a broker and measures
// the cloud: connections, ingest msgs/s, alert → ack and alert → page latency, and
// the cloud's CPU and memory (internal/loadgen; results in docs/benchmarks.md).
//
// Against a running deployment:
//
//	shouwang-load --broker tcp://127.0.0.1:1883 --cloud http://127.0.0.1:8080 \
//	    --admin-password … --gateways 1000 --duration 60s
//
// Or let it start mosquitto, PostgreSQL, InfluxDB 1.8 and shouwang-cloud itself on
// free loopback ports, register the gateways, measure and stop everything:
//
//	shouwang-load --stack --gateways 10000 --telemetry-rate 20000 --duration 60s
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/shouwang-care/shouwang/internal/loadgen"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "shouwang-load:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("shouwang-load", flag.ContinueOnError)
	broker := fs.String("broker", "tcp://127.0.0.1:1883", "MQTT broker (ignored with --stack)")
	cloud := fs.String("cloud", "", "cloud base URL for /metrics and the in-app stream; empty: broker side only")
	adminUser := fs.String("admin-user", "admin", "cloud user (admin) to watch the in-app stream as")
	adminPassword := fs.String("admin-password", os.Getenv("SHOUWANG_LOAD_ADMIN_PASSWORD"), "its password; empty: no alert → page measurement")
	mqttUser := fs.String("mqtt-username", "", "MQTT username for every gateway (default: the gateway ID)")
	mqttPassword := fs.String("mqtt-password", "", "MQTT password for every gateway")
	gateways := fs.Int("gateways", 1000, "simulated gateways, one MQTT connection each")
	prefix := fs.String("prefix", "gw-load-", "gateway ID prefix (IDs are <prefix>NNNNNN)")
	telEvery := fs.Duration("telemetry-every", time.Minute, "telemetry period per gateway")
	telRate := fs.Float64("telemetry-rate", 0, "fleet telemetry msgs/s; overrides --telemetry-every (gateways / rate)")
	hbEvery := fs.Duration("heartbeat-every", time.Minute, "heartbeat period per gateway (0: none)")
	alertRate := fs.Float64("alert-rate", 1, "alerts/s over the fleet, one per gateway in turn")
	connectRate := fs.Int("connect-rate", 2000, "new connections per second")
	duration := fs.Duration("duration", 60*time.Second, "publishing window after the ramp")
	sourceIPs := fs.String("source-ips", "", "comma-separated local IPs to dial from (e.g. 127.0.0.2,127.0.0.3 beyond ~28k connections)")
	stack := fs.Bool("stack", false, "start mosquitto, PostgreSQL, InfluxDB and shouwang-cloud, register the gateways, then measure")
	workers := fs.Int("workers", 8, "--stack: the cloud's mqtt.workers")
	noInflux := fs.Bool("no-influx", false, "--stack: telemetry into PostgreSQL instead of InfluxDB")
	brokerOnly := fs.Bool("broker-only", false, "--stack: start mosquitto alone (generator and broker capacity)")
	pgNoFsync := fs.Bool("pg-no-fsync", false, "--stack: PostgreSQL with fsync=off, synchronous_commit=off (diagnostic only)")
	inflight := fs.Int("broker-inflight", 0, "--stack: mosquitto max_inflight_messages (default 20): the cloud's QoS 1 window")
	nodelay := fs.Bool("broker-nodelay", false, "--stack: mosquitto set_tcp_nodelay true")
	cloudBin := fs.String("cloud-bin", "", "--stack: prebuilt shouwang-cloud (default: go build ./cloud/cmd/shouwang-cloud)")
	keep := fs.Bool("keep", false, "--stack: keep the work directory (logs)")
	dir := fs.String("dir", "", "--stack: work directory (default: a temp dir)")
	jsonOut := fs.String("json", "", "also write the report as JSON to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *telRate > 0 {
		*telEvery = time.Duration(float64(*gateways) / *telRate * float64(time.Second))
	}
	limit, err := loadgen.RaiseFileLimit(uint64(max(2**gateways+4096, 65536)))
	if err != nil || limit < uint64(*gateways+256) {
		fmt.Fprintf(os.Stderr, "shouwang-load: open-file limit %d (%v): expect connect errors\n", limit, err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	target := loadgen.Target{URL: *cloud, AdminUser: *adminUser, AdminPassword: *adminPassword}
	if *adminPassword == "" {
		target.AdminUser = ""
	}
	if *stack {
		repo, err := findRepo()
		if err != nil {
			return err
		}
		t := time.Now()
		st, err := loadgen.StartStack(ctx, loadgen.StackOptions{Repo: repo, Dir: *dir, Keep: *keep, Gateways: *gateways, Prefix: *prefix,
			Workers: *workers, NoInflux: *noInflux, BrokerOnly: *brokerOnly, PGNoFsync: *pgNoFsync, CloudBin: *cloudBin, BrokerInflight: *inflight, BrokerNoDelay: *nodelay, Log: os.Stderr})
		if st != nil {
			defer st.Stop()
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "stack up in %v\n", time.Since(t).Round(time.Millisecond))
		*broker = st.Broker
		target = loadgen.Target{Procs: map[string]int{"mosquitto": st.MosquittoPG}}
		if !*brokerOnly {
			target = loadgen.Target{URL: st.CloudURL, AdminUser: st.AdminUser, AdminPassword: st.AdminPassword,
				Procs: map[string]int{"shouwang-cloud": st.Cloud, "mosquitto": st.MosquittoPG, "postgres": st.Postgres}}
			if st.Influx != 0 {
				target.Procs["influxd"] = st.Influx
			}
		}
	}
	cfg := loadgen.Config{
		Broker: *broker, Username: *mqttUser, Password: *mqttPassword, Gateways: *gateways, Prefix: *prefix,
		TelemetryEvery: *telEvery, HeartbeatEvery: *hbEvery, AlertRate: *alertRate, ConnectRate: *connectRate, Duration: *duration,
		Progress: func(s loadgen.Snapshot) {
			fmt.Fprintf(os.Stderr, "%6.0fs connected %d, published %v, acks %d, connect errors %d, dropped %d\n",
				s.Elapsed.Seconds(), s.Connected, s.Published, s.AcksRecv, s.ConnErrors, s.Dropped)
		},
	}
	if *sourceIPs != "" {
		cfg.SourceIPs = strings.Split(*sourceIPs, ",")
	}
	fmt.Fprintf(os.Stderr, "load: %d gateways, telemetry every %v (%.0f/s), heartbeat every %v, %.1f alerts/s, %v\n",
		*gateways, *telEvery, float64(*gateways)/telEvery.Seconds(), *hbEvery, *alertRate, *duration)
	rep, err := loadgen.Measure(ctx, cfg, target, os.Stderr)
	if err != nil {
		return err
	}
	rep.WriteText(os.Stdout)
	if *jsonOut != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(*jsonOut, b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// findRepo walks up from the working directory to go.mod.
func findRepo() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("--stack: run inside the repository (no go.mod above %s)", dir)
		}
		dir = parent
	}
}
