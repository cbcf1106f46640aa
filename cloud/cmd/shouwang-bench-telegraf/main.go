// Command shouwang-bench-telegraf measures the cloud's telemetry ingest side by side
// with Telegraf (mqtt_consumer + json_v2 → influxdb_v2, config docs/bench/telegraf.conf)
// on one mosquitto and one InfluxDB 1.8: for each round, each system in turn is
// started, driven by the same simulated gateways (internal/loadgen), measured as
// points landed in InfluxDB per second plus its CPU and peak RSS, and stopped.
// Results and how to read them: docs/benchmarks.md, "Shouwang vs Telegraf".
//
//	go install -tags custom,inputs.mqtt_consumer,outputs.influxdb_v2,parsers.json_v2 \
//	    github.com/influxdata/telegraf/cmd/telegraf@v1.37.2   # GOBIN=$PWD/.cache/bin
//	go run ./cloud/cmd/shouwang-bench-telegraf --gateways 10000 --telemetry-rate 20000 --rounds 3
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
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
		fmt.Fprintln(os.Stderr, "shouwang-bench-telegraf:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	repo, err := findRepo()
	if err != nil {
		return err
	}
	fs := flag.NewFlagSet("shouwang-bench-telegraf", flag.ContinueOnError)
	telegraf := fs.String("telegraf", filepath.Join(repo, ".cache", "bin", "telegraf"), "telegraf binary")
	conf := fs.String("telegraf-config", "", "telegraf config (default docs/bench/telegraf.conf, with --backlog telegraf-persistent.conf)")
	backlog := fs.Int("backlog", 0, "measure draining this many telemetry messages queued at the broker while the consumer is down, instead of live ingest")
	systems := fs.String("systems", "shouwang,telegraf", "systems, in the order run within each round")
	rounds := fs.Int("rounds", 3, "rounds (each runs every system once)")
	gateways := fs.Int("gateways", 10000, "simulated gateways, one MQTT connection each")
	rate := fs.Float64("telemetry-rate", 20000, "offered telemetry msgs/s over the fleet (QoS 1, 4 points each)")
	duration := fs.Duration("duration", 30*time.Second, "measured window per system and round, after the connection ramp")
	settle := fs.Duration("settle", 3*time.Second, "pause before each system starts (60s+ lets the previous run's TIME_WAIT sockets expire)")
	workers := fs.Int("workers", 8, "the cloud's mqtt.workers (deploy/cloud/cloud.example.yaml: 8)")
	cloudBin := fs.String("cloud-bin", "", "prebuilt shouwang-cloud (default: go build ./cloud/cmd/shouwang-cloud)")
	nodelay := fs.Bool("broker-nodelay", true, "mosquitto set_tcp_nodelay true (as deploy/mosquitto/shouwang.conf)")
	inflight := fs.Int("broker-inflight", 0, "mosquitto max_inflight_messages (0: mosquitto's default, 20; -1: no limit): QoS 1 messages to one consumer awaiting its PUBACK")
	keep := fs.Bool("keep", false, "keep the work directory (logs)")
	dir := fs.String("dir", "", "work directory (default: a temp dir)")
	jsonOut := fs.String("json", "", "also write every round as JSON to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *conf == "" {
		*conf = filepath.Join(repo, "docs", "bench", "telegraf.conf")
		if *backlog > 0 {
			*conf = filepath.Join(repo, "docs", "bench", "telegraf-persistent.conf")
		}
	}
	maxQueued := 0 // as deployed
	if *backlog > 0 {
		maxQueued = *backlog + *gateways + 10000
	}
	if limit, err := loadgen.RaiseFileLimit(uint64(max(2**gateways+4096, 65536))); err != nil || limit < uint64(*gateways+256) {
		fmt.Fprintf(os.Stderr, "open-file limit %d (%v): expect connect errors\n", limit, err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Fprintf(os.Stderr, "%s; load average %s; %d gateways, %.0f telemetry msgs/s offered, %v windows, %d rounds of %s, backlog %d, broker inflight %d, telegraf config %s\n",
		time.Now().UTC().Format(time.RFC3339), loadAvg(), *gateways, *rate, *duration, *rounds, *systems, *backlog, *inflight, *conf)
	res, err := loadgen.Compare(ctx, loadgen.CompareOptions{
		Stack:       loadgen.StackOptions{Repo: repo, Dir: *dir, Keep: *keep, Workers: *workers, CloudBin: *cloudBin, BrokerNoDelay: *nodelay, BrokerInflight: *inflight, BrokerMaxQueued: maxQueued},
		TelegrafBin: *telegraf, TelegrafConfig: *conf,
		Systems: strings.Split(*systems, ","), Rounds: *rounds, Gateways: *gateways, TelemetryRate: *rate, Duration: *duration, Settle: *settle,
		Backlog: *backlog, Log: os.Stderr,
		OnRound: func(r loadgen.RoundResult) { printRound(os.Stderr, r) },
	})
	if len(res) > 0 {
		printTable(os.Stdout, res)
		if *jsonOut != "" {
			b, _ := json.MarshalIndent(res, "", "  ")
			if werr := os.WriteFile(*jsonOut, b, 0o644); werr != nil && err == nil {
				err = werr
			}
		}
	}
	return err
}

func printRound(w io.Writer, r loadgen.RoundResult) {
	if r.Err != "" {
		fmt.Fprintf(w, "round %d %-8s ERROR %s\n", r.Round, r.System, r.Err)
		return
	}
	fmt.Fprintf(w, "round %d %-8s landed %.0f points/s = %.0f msgs/s (offered %.0f msgs/s); %s cores, %s CPU total, peak RSS %s; load %s → %s; probe %s\n",
		r.Round, r.System, r.PointsPerSec, r.MsgsPerSec, r.OfferedMsgs, fmt.Sprintf("%.2f", r.CPUWindow), r.CPUTotal.Round(10*time.Millisecond), mib(r.PeakRSS), r.LoadAvg[0], r.LoadAvg[1], r.Probe)
	fmt.Fprintf(w, "        landed %d of %d points published (%.1f%%), drain %v, count query %v; others (cores): %s\n",
		r.LandedPoints, r.Expected, 100*float64(r.LandedPoints)/float64(max(r.Expected, 1)), r.DrainTime.Round(100*time.Millisecond), r.CountQuery.Round(time.Millisecond), others(r))
	fmt.Fprintf(w, "        schema %s\n", r.Schema)
}

func others(r loadgen.RoundResult) string {
	var parts []string
	for _, k := range []string{"generator", "mosquitto", "influxd", "postgres"} {
		parts = append(parts, fmt.Sprintf("%s %.2f", k, r.Others[k]))
	}
	return strings.Join(parts, ", ")
}

// printTable prints the rounds as a Markdown table, then medians and the ratio.
func printTable(w io.Writer, res []loadgen.RoundResult) {
	fmt.Fprintln(w, "| round | system | load avg | offered msgs/s | landed points/s | = msgs/s | landed / published | consumer cores | CPU µs / point | consumer CPU s (life) | peak RSS | generator / mosquitto / influxd / postgres cores | probe |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	by := map[string][]loadgen.RoundResult{}
	var order []string
	for _, r := range res {
		if r.Err != "" {
			fmt.Fprintf(w, "| %d | %s | error: %s |\n", r.Round, r.System, r.Err)
			continue
		}
		if _, ok := by[r.System]; !ok {
			order = append(order, r.System)
		}
		by[r.System] = append(by[r.System], r)
		fmt.Fprintf(w, "| %d | %s | %s → %s | %.0f | %.0f | %.0f | %.1f %% | %.2f | %.1f | %.1f | %s | %.2f / %.2f / %.2f / %.2f | %s |\n",
			r.Round, r.System, first(r.LoadAvg[0]), first(r.LoadAvg[1]), r.OfferedMsgs, r.PointsPerSec, r.MsgsPerSec,
			100*float64(r.LandedPoints)/float64(max(r.Expected, 1)), r.CPUWindow, float64(r.CPUPerPoint.Nanoseconds())/1000,
			r.CPUTotal.Seconds(), mib(r.PeakRSS), r.Others["generator"], r.Others["mosquitto"], r.Others["influxd"], r.Others["postgres"], r.Probe)
	}
	fmt.Fprintln(w)
	med := map[string]float64{}
	for _, sys := range order {
		var pps, cores, cpp, rss []float64
		for _, r := range by[sys] {
			pps = append(pps, r.PointsPerSec)
			cores = append(cores, r.CPUWindow)
			cpp = append(cpp, float64(r.CPUPerPoint.Nanoseconds())/1000)
			rss = append(rss, float64(r.PeakRSS))
		}
		med[sys] = loadgen.Median(pps)
		fmt.Fprintf(w, "%-8s median %.0f points/s = %.0f msgs/s (range %.0f–%.0f points/s, n=%d); %.2f cores; %.1f µs CPU/point; peak RSS %s\n",
			sys, med[sys], med[sys]/4, minOf(pps), maxOf(pps), len(pps), loadgen.Median(cores), loadgen.Median(cpp), mib(int64(loadgen.Median(rss))))
	}
	if a, b := med[loadgen.SystemShouwang], med[loadgen.SystemTelegraf]; a > 0 && b > 0 {
		fmt.Fprintf(w, "ratio shouwang / telegraf (median landed points/s): %.2f×\n", a/b)
	}
}

func first(loadavg string) string {
	f := strings.Fields(loadavg)
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}

func minOf(xs []float64) float64 {
	m := xs[0]
	for _, x := range xs {
		m = min(m, x)
	}
	return m
}

func maxOf(xs []float64) float64 {
	m := xs[0]
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}

func mib(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

func loadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
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
			return "", fmt.Errorf("run inside the repository (no go.mod above %s)", dir)
		}
		dir = parent
	}
}
