package loadgen

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Target is the cloud a run is measured against; an empty URL measures the
// broker side only.
type Target struct {
	URL           string // http://127.0.0.1:8080
	AdminUser     string // for the in-app stream; empty: no alert → page measurement
	AdminPassword string
	// Process groups to account CPU and RSS for (a Stack's); 0: not local.
	Procs map[string]int
	// Drain is how long to wait, at most, for the cloud to finish ingesting what was
	// published (default 30 s).
	Drain time.Duration
}

// Report is a whole measurement.
type Report struct {
	Load *Result

	// Ingest over the publishing window, from shouwang_ingest_messages_total.
	IngestedWindow map[string]float64 // by channel
	IngestRate     float64            // msgs/s, all channels, in the window
	TelemetryRate  float64            // telemetry msgs/s in the window
	OfferedRate    float64            // msgs/s the generator published in the window
	IngestedTotal  float64            // all channels, from before the ramp to after the drain
	PublishedTotal int64              // all channels, whole run
	DrainTime      time.Duration      // after the window until ingest stopped growing
	Rejected       float64
	Failed         float64

	AlertCommitP50, AlertCommitP99 float64 // s, shouwang_ingest_alert_commit_seconds
	DispatchP50, DispatchP99       float64 // s, shouwang_dispatch_latency_seconds (incident opened → paged)
	Pages                          int     // alerts whose gateway was paged (in-app stream)
	PageP50, PageP99, PageMax      time.Duration
	StreamEvents                   int
	StreamErr                      error

	CloudRSS    float64 // bytes at the end, process_resident_memory_bytes
	CloudCPU    float64 // cores used in the window, process_cpu_seconds_total
	CloudGoGCs  float64
	ProcCPU     map[string]float64 // cores used in the window, by process group
	ProcRSS     map[string]int64   // bytes at the end
	LoadCPU     float64            // the generator's own cores in the window
	LoadMaxRSS  int64
	MetricsErrs []string
	// LoadAvg is /proc/loadavg at the start and at the end of the window: the box
	// is shared, and a run queue longer than the cores skews every number.
	LoadAvg [2]string
}

func loadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// Measure runs cfg against t and gathers the cloud side.
func Measure(ctx context.Context, cfg Config, t Target, log io.Writer) (*Report, error) {
	if t.Drain == 0 {
		t.Drain = 30 * time.Second
	}
	rep := &Report{ProcCPU: map[string]float64{}, ProcRSS: map[string]int64{}}
	scrape := func() Metrics {
		if t.URL == "" {
			return nil
		}
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		m, err := ScrapeMetrics(sctx, t.URL)
		if err != nil {
			rep.MetricsErrs = append(rep.MetricsErrs, err.Error())
		}
		return m
	}
	var pw *PageWatcher
	if t.URL != "" && t.AdminUser != "" {
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		var err error
		if pw, err = WatchPages(wctx, t.URL, t.AdminUser, t.AdminPassword); err != nil {
			return nil, fmt.Errorf("in-app stream: %w", err)
		}
	}
	var mu sync.Mutex
	alertAt := map[string]time.Time{} // gateway → first alert sent
	cfg.OnAlert = func(gw, id string, at time.Time) {
		mu.Lock()
		if _, ok := alertAt[gw]; !ok {
			alertAt[gw] = at
		}
		mu.Unlock()
	}
	var m0, m1, m2 Metrics
	var p1, p2 map[string]ProcStat
	var c1, c2 time.Duration
	var t1, t2 time.Time
	procs := func() map[string]ProcStat {
		out := map[string]ProcStat{}
		for name, pg := range t.Procs {
			if ps, err := ReadProcGroup(pg); err == nil {
				out[name] = ps
			}
		}
		return out
	}
	m0 = scrape()
	cfg.OnPhase = func(phase string) {
		switch phase {
		case "window":
			m1, p1, c1, t1 = scrape(), procs(), selfCPU(), time.Now()
			rep.LoadAvg[0] = loadAvg()
		case "end":
			m2, p2, c2, t2 = scrape(), procs(), selfCPU(), time.Now()
			rep.LoadAvg[1] = loadAvg()
		}
	}
	res, err := Run(ctx, cfg)
	if err != nil {
		return nil, err
	}
	rep.Load = res
	win := t2.Sub(t1).Seconds()
	for _, v := range res.WindowPublished {
		rep.OfferedRate += float64(v)
	}
	rep.OfferedRate /= win
	for _, v := range res.Published {
		rep.PublishedTotal += v
	}
	for name, a := range p2 {
		rep.ProcCPU[name] = (a.CPU - p1[name].CPU).Seconds() / win
		rep.ProcRSS[name] = a.RSS
	}
	rep.LoadCPU = (c2 - c1).Seconds() / win
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		rep.LoadMaxRSS = ru.Maxrss * 1024
	}
	if t.URL == "" {
		return rep, nil
	}

	rep.IngestedWindow = map[string]float64{}
	for _, ch := range []string{"telemetry", "alert", "status", "heartbeat"} {
		k := `shouwang_ingest_messages_total{channel="` + ch + `"}`
		rep.IngestedWindow[ch] = m2[k] - m1[k]
		rep.IngestRate += rep.IngestedWindow[ch]
	}
	rep.IngestRate /= win
	rep.TelemetryRate = rep.IngestedWindow["telemetry"] / win
	rep.CloudCPU = (m2.Get("process_cpu_seconds_total") - m1.Get("process_cpu_seconds_total")) / win

	// Drain: wait until the cloud has ingested everything or stops making progress.
	drainStart := time.Now()
	last, lastChange := -1.0, time.Now()
	var mEnd Metrics
	for time.Since(drainStart) < t.Drain && ctx.Err() == nil {
		mEnd = scrape()
		n := mEnd.Sum("shouwang_ingest_messages_total") - m0.Sum("shouwang_ingest_messages_total")
		if n != last {
			last, lastChange = n, time.Now()
		}
		if n >= float64(rep.PublishedTotal) || time.Since(lastChange) > 3*time.Second {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	rep.DrainTime = lastChange.Sub(drainStart)
	if mEnd == nil {
		mEnd = m2
	}
	rep.IngestedTotal = mEnd.Sum("shouwang_ingest_messages_total") - m0.Sum("shouwang_ingest_messages_total")
	rep.Rejected = mEnd.Sum("shouwang_ingest_rejected_total") - m0.Sum("shouwang_ingest_rejected_total")
	rep.Failed = mEnd.Sum("shouwang_ingest_failed_total") - m0.Sum("shouwang_ingest_failed_total")
	rep.AlertCommitP50 = HistogramQuantile("shouwang_ingest_alert_commit_seconds", 0.5, m0, mEnd)
	rep.AlertCommitP99 = HistogramQuantile("shouwang_ingest_alert_commit_seconds", 0.99, m0, mEnd)
	rep.CloudRSS = mEnd.Get("process_resident_memory_bytes")
	rep.CloudGoGCs = mEnd.Sum("go_gc_duration_seconds_count") - m0.Sum("go_gc_duration_seconds_count")

	if pw != nil {
		// Pages come from the dispatcher's passes; give the last alerts a moment.
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			_, n, _ := pw.Stats()
			mu.Lock()
			want := len(alertAt)
			mu.Unlock()
			if n >= want {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		mEnd = scrape()
		var lat []time.Duration
		mu.Lock()
		for gw, sent := range alertAt {
			if at, ok := pw.PagedAt(gw); ok {
				lat = append(lat, at.Sub(sent))
			}
		}
		mu.Unlock()
		rep.Pages = len(lat)
		rep.PageP50, rep.PageP99, rep.PageMax = quantiles(lat)
		rep.StreamEvents, _, rep.StreamErr = pw.Stats()
	}
	rep.DispatchP50 = HistogramQuantile("shouwang_dispatch_latency_seconds", 0.5, m0, mEnd)
	rep.DispatchP99 = HistogramQuantile("shouwang_dispatch_latency_seconds", 0.99, m0, mEnd)
	return rep, nil
}

// selfCPU is this process's user+system time.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func mib(b float64) string { return fmt.Sprintf("%.0f MiB", b/(1<<20)) }

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

func secs(s float64) string {
	if math.IsNaN(s) {
		return "n/a"
	}
	return fmt.Sprintf("%.1f ms", s*1000)
}

// WriteText prints the report for a person (and for docs/benchmarks.md).
func (r *Report) WriteText(w io.Writer) {
	l := r.Load
	fmt.Fprintf(w, "gateways            %d: %d connected, %d connect errors, %d dropped; ramp %v\n",
		l.Gateways, l.Connected, l.ConnErrors, l.Dropped, l.ConnectTime.Round(time.Millisecond))
	for _, e := range l.FirstErrors {
		fmt.Fprintf(w, "  error: %s\n", e)
	}
	fmt.Fprintf(w, "window              %v (load average %s → %s)\n", l.Window.Round(time.Millisecond), r.LoadAvg[0], r.LoadAvg[1])
	fmt.Fprintf(w, "published (window)  %s  = %.0f msgs/s offered\n", fmtCounts(l.WindowPublished), r.OfferedRate)
	fmt.Fprintf(w, "published (total)   %s; %d QoS1 without PUBACK at the end\n", fmtCounts(l.Published), l.InflightLeft)
	fmt.Fprintf(w, "broker PUBACK       p50 %s  p99 %s\n", ms(l.PubAckP50), ms(l.PubAckP99))
	fmt.Fprintf(w, "alert → ack         %d/%d acked  p50 %s  p99 %s  max %s\n", l.AlertsAcked, l.AlertsSent, ms(l.AckP50), ms(l.AckP99), ms(l.AckMax))
	if r.IngestedWindow != nil {
		fmt.Fprintf(w, "cloud ingest        %.0f msgs/s in the window (telemetry %.0f/s); %s\n", r.IngestRate, r.TelemetryRate, fmtFloats(r.IngestedWindow))
		fmt.Fprintf(w, "ingested total      %.0f of %d published (drain %v), %.0f rejected, %.0f store failures\n",
			r.IngestedTotal, r.PublishedTotal, r.DrainTime.Round(100*time.Millisecond), r.Rejected, r.Failed)
		fmt.Fprintf(w, "alert commit        p50 %s  p99 %s (shouwang_ingest_alert_commit_seconds)\n", secs(r.AlertCommitP50), secs(r.AlertCommitP99))
		fmt.Fprintf(w, "alert → page        %d paged  p50 %s  p99 %s  max %s (in-app stream)\n", r.Pages, ms(r.PageP50), ms(r.PageP99), ms(r.PageMax))
		fmt.Fprintf(w, "incident → page     p50 %s  p99 %s (shouwang_dispatch_latency_seconds)\n", secs(r.DispatchP50), secs(r.DispatchP99))
		if r.StreamErr != nil {
			fmt.Fprintf(w, "  in-app stream ended: %v\n", r.StreamErr)
		}
		fmt.Fprintf(w, "cloud process       %.2f cores, RSS %s, %.0f GCs\n", r.CloudCPU, mib(r.CloudRSS), r.CloudGoGCs)
	}
	names := make([]string, 0, len(r.ProcCPU))
	for n := range r.ProcCPU {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-17s %.2f cores, RSS %s\n", n, r.ProcCPU[n], mib(float64(r.ProcRSS[n])))
	}
	fmt.Fprintf(w, "  %-17s %.2f cores, max RSS %s\n", "shouwang-load", r.LoadCPU, mib(float64(r.LoadMaxRSS)))
	for _, e := range r.MetricsErrs {
		fmt.Fprintf(w, "  metrics error: %s\n", e)
	}
}

func fmtCounts(m map[string]int64) string {
	var parts []string
	for _, k := range []string{"telemetry", "heartbeat", "alert", "status"} {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func fmtFloats(m map[string]float64) string {
	var parts []string
	for _, k := range []string{"telemetry", "heartbeat", "alert", "status"} {
		parts = append(parts, fmt.Sprintf("%s %.0f", k, m[k]))
	}
	return strings.Join(parts, ", ")
}
