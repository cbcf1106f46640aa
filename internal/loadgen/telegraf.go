package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/shouwang-care/shouwang/firmware-protocol/mqttv1"
)

// Consumers a Compare run can measure.
const (
	SystemShouwang = "shouwang" // shouwang-cloud, its ingest and Influx writer
	SystemTelegraf = "telegraf" // Telegraf mqtt_consumer + json_v2 → influxdb_v2
)

// CompareOptions configure a side-by-side ingest measurement: one mosquitto, one
// InfluxDB 1.8 (and the cloud's PostgreSQL), and for each round each system in
// turn started, driven by the same generator load, measured, and stopped.
type CompareOptions struct {
	Stack StackOptions // the servers; NoCloud is forced

	TelegrafBin    string // telegraf binary (v1.37.2 with mqtt_consumer, json_v2, influxdb_v2)
	TelegrafConfig string // its config, with ${SHOUWANG_BENCH_BROKER} and ${SHOUWANG_BENCH_INFLUX}

	Systems       []string // in the order run within a round; default shouwang, telegraf
	Rounds        int      // default 3
	Gateways      int      // simulated gateways, one MQTT connection each
	TelemetryRate float64  // offered telemetry msgs/s over the fleet
	Duration      time.Duration
	// Drain is how long to wait, at most, after the window for the landed count to
	// stop growing (default 30 s).
	Drain time.Duration
	// Settle is a pause before each system starts, so the previous round's
	// compactions and exits do not land in this round's window (default 3 s).
	Settle time.Duration
	// Backlog, if > 0, measures draining instead of live ingest: each system is
	// started once to create its persistent session (and checked with the probe),
	// stopped, Backlog telemetry messages are published while it is down (queued by
	// the broker: raise Stack.BrokerMaxQueued), then it is started again and timed
	// until every point has landed. The generator is idle while the consumer
	// drains, so the consumer, the broker and InfluxDB have the cores to
	// themselves (bar other users of the machine). Telegraf needs a config with
	// persistent_session = true and client_id = "${SHOUWANG_BENCH_CLIENT_ID}".
	Backlog int

	Log     io.Writer
	OnRound func(RoundResult) // called after each system's round
}

// RoundResult is one system's measurement in one round.
type RoundResult struct {
	System  string
	Round   int
	LoadAvg [2]string // /proc/loadavg at window start and end
	Ramp    time.Duration
	Window  time.Duration

	OfferedMsgs float64 // telemetry msgs/s the generator published in the window
	Published   int64   // telemetry messages published, whole round
	// Landed points in InfluxDB per second over the window: the count at the end
	// minus the count at the start, over the time between the two counts.
	PointsPerSec float64
	MsgsPerSec   float64 // PointsPerSec / 4 (each message is 4 points)
	LandedPoints int64   // after the drain, probe excluded
	Expected     int64   // 4 × Published
	DrainTime    time.Duration
	CountQuery   time.Duration // how long one count at the end of the window took

	CPUWindow   float64       // consumer cores during the window
	CPUTotal    time.Duration // consumer CPU over its whole life (start, probe, ramp, window, drain)
	CPUPerPoint time.Duration // consumer CPU in the window per landed point
	PeakRSS     int64         // consumer VmHWM, bytes
	Others      map[string]float64

	Probe  string // "ok", or what differed from the expected points
	Schema string // field keys with types, tag keys
	Err    string
}

// expectedSchema is what cloud/telemetry writes (and nothing else: no host, no topic).
const expectedSchema = "activity: count integer, period_s integer; tags gateway, sensor | meter: total_kwh float, total_m3 float; tags gateway, sensor"

// probeGateway and probePayload: one batch with offsets, nanoseconds and a sensor
// name with a space, checked point by point after each system has started.
const probeGateway = "gw-probe-0001"

var probePayload = []byte(`{"v":1,"gateway":"gw-probe-0001","seq":42,` +
	`"readings":[{"t":"2026-03-01T07:00:00.123456789+08:00","sensor":"water","total_m3":123.4567},` +
	`{"t":"2026-03-01T07:00:00+08:00","sensor":"power","total_kwh":5012.31}],` +
	`"activity":[{"t":"2026-03-01T06:55:00+08:00","period_s":300,"sensor":"pir.kitchen","count":3},` +
	`{"t":"2026-03-01T06:55:00Z","period_s":60,"sensor":"door front","count":0}]}`)

// Compare runs the rounds. The servers are started once and stopped at the end.
func Compare(ctx context.Context, o CompareOptions) ([]RoundResult, error) {
	if o.Rounds <= 0 {
		o.Rounds = 3
	}
	if len(o.Systems) == 0 {
		o.Systems = []string{SystemShouwang, SystemTelegraf}
	}
	if o.Drain == 0 {
		o.Drain = 30 * time.Second
	}
	if o.Settle == 0 {
		o.Settle = 3 * time.Second
	}
	if o.TelemetryRate <= 0 || o.Gateways <= 0 || o.Duration <= 0 {
		return nil, errors.New("compare: gateways, telemetry rate and duration are required")
	}
	for _, sys := range o.Systems {
		switch sys {
		case SystemShouwang:
		case SystemTelegraf:
			if o.TelegrafBin == "" || o.TelegrafConfig == "" {
				return nil, errors.New("compare: telegraf needs TelegrafBin and TelegrafConfig")
			}
			if _, err := os.Stat(o.TelegrafConfig); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("compare: unknown system %q", sys)
		}
	}
	o.Stack.Gateways = o.Gateways
	o.Stack.NoCloud = true
	o.Stack.Log = o.Log
	st, err := StartStack(ctx, o.Stack)
	if st != nil {
		defer st.Stop()
	}
	if err != nil {
		return nil, err
	}
	var out []RoundResult
	for round := 1; round <= o.Rounds; round++ {
		for _, sys := range o.Systems {
			if err := ctx.Err(); err != nil {
				return out, err
			}
			var r RoundResult
			if o.Backlog > 0 {
				r = st.backlogRound(ctx, o, sys, round)
			} else {
				r = st.compareRound(ctx, o, sys, round)
			}
			out = append(out, r)
			if o.OnRound != nil {
				o.OnRound(r)
			}
		}
	}
	return out, nil
}

func (s *Stack) compareRound(ctx context.Context, o CompareOptions, sys string, round int) (r RoundResult) {
	r = RoundResult{System: sys, Round: round, Others: map[string]float64{}}
	fail := func(err error) RoundResult {
		r.Err = err.Error()
		s.logf("%s round %d: %v", sys, round, err)
		return r
	}
	time.Sleep(o.Settle)
	if err := s.influxExec(ctx, "DROP DATABASE shouwang", "CREATE DATABASE shouwang"); err != nil {
		return fail(fmt.Errorf("reset influx: %w", err))
	}
	// Start the consumer.
	var p *stackProc
	var err error
	switch sys {
	case SystemShouwang:
		s.CloudClientID = fmt.Sprintf("shouwang-cloud-bench-%d", round)
		if err = s.startCloud(); err == nil {
			p = s.proc("shouwang-cloud")
		}
	case SystemTelegraf:
		p, err = s.startTelegraf(o.TelegrafBin, o.TelegrafConfig, fmt.Sprintf("telegraf-bench-%d", round))
	}
	if err != nil {
		return fail(err)
	}
	defer func() {
		s.stopProc(p)
		s.purgeSessions(sessionIDs(sys, s.CloudClientID, fmt.Sprintf("telegraf-bench-%d", round))...)
	}()
	pid := p.cmd.Process.Pid

	// Probe: the same batch through the system, read back point by point.
	if err := s.probe(ctx, p); err != nil {
		r.Probe = err.Error()
	} else {
		r.Probe = "ok"
	}

	// Load.
	var c0, c1 int64
	var m0, m1 time.Time
	var p0, p1 map[string]ProcStat
	var g0, g1 time.Duration
	groups := map[string]int{sys: pid, "mosquitto": s.MosquittoPG, "influxd": s.Influx, "postgres": s.Postgres}
	procs := func() map[string]ProcStat {
		out := map[string]ProcStat{}
		for name, pg := range groups {
			if ps, err := ReadProcGroup(pg); err == nil {
				out[name] = ps
			}
		}
		return out
	}
	var countErr error
	count := func() (int64, time.Time) {
		t := time.Now()
		n, err := s.influxPoints(ctx)
		if err != nil && countErr == nil {
			countErr = err
		}
		d := time.Since(t)
		r.CountQuery = d
		return n, t.Add(d / 2)
	}
	cfg := Config{Broker: s.Broker, Gateways: o.Gateways, Prefix: s.opt.Prefix,
		TelemetryEvery: time.Duration(float64(o.Gateways) / o.TelemetryRate * float64(time.Second)),
		Duration:       o.Duration, MillisecondTimes: true,
		OnPhase: func(phase string) {
			switch phase {
			case "window":
				r.LoadAvg[0] = loadAvg()
				p0, g0 = procs(), selfCPU()
				c0, m0 = count()
			case "end":
				c1, m1 = count()
				p1, g1 = procs(), selfCPU()
				r.LoadAvg[1] = loadAvg()
			}
		}}
	res, err := Run(ctx, cfg)
	if err != nil {
		return fail(err)
	}
	if countErr != nil {
		return fail(fmt.Errorf("count points: %w", countErr))
	}
	r.Ramp, r.Window = res.ConnectTime, res.Window
	r.Published = res.Published[string(mqttv1.ChTelemetry)]
	r.Expected = 4 * r.Published
	r.OfferedMsgs = float64(res.WindowPublished[string(mqttv1.ChTelemetry)]) / res.Window.Seconds()
	span := m1.Sub(m0).Seconds()
	r.PointsPerSec = float64(c1-c0) / span
	r.MsgsPerSec = r.PointsPerSec / 4
	win := p1[sys].CPU - p0[sys].CPU
	r.CPUWindow = win.Seconds() / span
	if c1 > c0 {
		r.CPUPerPoint = win / time.Duration(c1-c0)
	}
	for name := range groups {
		if name != sys {
			r.Others[name] = (p1[name].CPU - p0[name].CPU).Seconds() / span
		}
	}
	r.Others["generator"] = (g1 - g0).Seconds() / span

	// Drain: until the count has not moved for 3 s, or o.Drain.
	start, last, lastChange := time.Now(), int64(-1), time.Now()
	for time.Since(start) < o.Drain && ctx.Err() == nil {
		n, err := s.influxPoints(ctx)
		if err != nil {
			return fail(fmt.Errorf("count points: %w", err))
		}
		if n != last {
			last, lastChange = n, time.Now()
		}
		if n >= r.Expected+4 || time.Since(lastChange) > 3*time.Second {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	r.DrainTime = lastChange.Sub(start)
	r.LandedPoints = last - 4 // the probe's
	if ps, err := ReadProcGroup(pid); err == nil {
		r.CPUTotal = ps.CPU
	}
	r.PeakRSS = peakRSS(pid)
	if r.Schema, err = s.influxSchema(ctx); err != nil {
		r.Schema = err.Error()
	} else if r.Schema != expectedSchema && r.Probe == "ok" {
		r.Probe = "schema differs"
	}
	return r
}

// backlogRound measures how fast sys drains a backlog queued for it at the broker.
// PointsPerSec is from the first landed points to the last; CPUTotal, CPUPerPoint
// and PeakRSS are of the draining process; Others are cores over the drain.
func (s *Stack) backlogRound(ctx context.Context, o CompareOptions, sys string, round int) (r RoundResult) {
	r = RoundResult{System: sys, Round: round, Others: map[string]float64{}}
	fail := func(err error) RoundResult {
		r.Err = err.Error()
		s.logf("%s round %d: %v", sys, round, err)
		return r
	}
	time.Sleep(o.Settle)
	if err := s.influxExec(ctx, "DROP DATABASE shouwang", "CREATE DATABASE shouwang"); err != nil {
		return fail(fmt.Errorf("reset influx: %w", err))
	}
	clientID := fmt.Sprintf("%s-backlog-%d", sys, round)
	start := func() (*stackProc, error) {
		if sys == SystemTelegraf {
			return s.startTelegraf(o.TelegrafBin, o.TelegrafConfig, clientID)
		}
		s.CloudClientID = clientID
		if err := s.startCloud(); err != nil {
			return nil, err
		}
		return s.proc("shouwang-cloud"), nil
	}
	// Create the session (and check the points), then go away.
	p, err := start()
	if err != nil {
		return fail(err)
	}
	if err := s.probe(ctx, p); err != nil {
		r.Probe = err.Error()
	} else {
		r.Probe = "ok"
	}
	s.stopProc(p)
	base, err := s.influxPoints(ctx)
	if err != nil {
		return fail(err)
	}

	// Queue the backlog.
	res, err := Run(ctx, Config{Broker: s.Broker, Gateways: o.Gateways, Prefix: s.opt.Prefix,
		TelemetryEvery: time.Duration(float64(o.Gateways) / o.TelemetryRate * float64(time.Second)),
		Duration:       time.Duration(float64(o.Backlog) / o.TelemetryRate * float64(time.Second)), MillisecondTimes: true})
	if err != nil {
		return fail(err)
	}
	r.Ramp, r.Window = res.ConnectTime, res.Window
	r.Published = res.Published[string(mqttv1.ChTelemetry)]
	r.Expected = 4 * r.Published
	r.OfferedMsgs = float64(res.WindowPublished[string(mqttv1.ChTelemetry)]) / res.Window.Seconds()

	// Drain it.
	groups := map[string]int{"mosquitto": s.MosquittoPG, "influxd": s.Influx, "postgres": s.Postgres}
	before := map[string]ProcStat{}
	for name, pg := range groups {
		before[name], _ = ReadProcGroup(pg)
	}
	r.LoadAvg[0] = loadAvg()
	t0 := time.Now()
	if p, err = start(); err != nil {
		return fail(err)
	}
	defer func() {
		s.stopProc(p)
		s.purgeSessions(sessionIDs(sys, clientID, clientID)...)
	}()
	pid := p.cmd.Process.Pid
	drain := o.Drain
	if drain < 5*time.Minute {
		drain = 5 * time.Minute
	}
	var first, last int64 = -1, base
	var tFirst, tLast time.Time
	lastChange := time.Now()
	for time.Since(t0) < drain && ctx.Err() == nil {
		qt := time.Now()
		n, err := s.influxPoints(ctx)
		if err != nil {
			return fail(fmt.Errorf("count points: %w", err))
		}
		qt = qt.Add(time.Since(qt) / 2)
		if n != last {
			if first < 0 {
				first, tFirst = n, qt
			}
			last, tLast, lastChange = n, qt, time.Now()
		}
		if last-base >= r.Expected || time.Since(lastChange) > 10*time.Second {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	r.LoadAvg[1] = loadAvg()
	r.LandedPoints = last - base
	r.DrainTime = tLast.Sub(t0)
	if first >= 0 && tLast.After(tFirst) {
		r.PointsPerSec = float64(last-first) / tLast.Sub(tFirst).Seconds()
	}
	r.MsgsPerSec = r.PointsPerSec / 4
	span := time.Since(t0).Seconds()
	if ps, err := ReadProcGroup(pid); err == nil {
		r.CPUTotal = ps.CPU
		r.CPUWindow = ps.CPU.Seconds() / span
		if r.LandedPoints > 0 {
			r.CPUPerPoint = ps.CPU / time.Duration(r.LandedPoints)
		}
	}
	for name, pg := range groups {
		after, _ := ReadProcGroup(pg)
		r.Others[name] = (after.CPU - before[name].CPU).Seconds() / span
	}
	r.PeakRSS = peakRSS(pid)
	if r.Schema, err = s.influxSchema(ctx); err != nil {
		r.Schema = err.Error()
	} else if r.Schema != expectedSchema && r.Probe == "ok" {
		r.Probe = "schema differs"
	}
	return r
}

// sessionIDs are the MQTT client IDs sys used (the cloud has a second session
// for alerts).
func sessionIDs(sys, cloudID, telegrafID string) []string {
	if sys == SystemTelegraf {
		return []string{telegrafID}
	}
	return []string{cloudID, cloudID + "-alerts"}
}

// purgeSessions ends the broker's sessions of these client IDs (connect with a
// clean session, disconnect). A persistent session left behind keeps its
// subscriptions: in the cloud's shared-subscription group it would take its
// round-robin share of the next round's messages, and Telegraf's would queue a
// copy of all of them.
func (s *Stack) purgeSessions(ids ...string) {
	for _, id := range ids {
		c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(s.Broker).SetClientID(id).SetCleanSession(true))
		if tok := c.Connect(); tok.WaitTimeout(10*time.Second) && tok.Error() == nil {
			c.Disconnect(100)
		} else {
			s.logf("purge session %s: %v", id, tok.Error())
		}
	}
}

// proc finds a running process started by the stack, by name.
func (s *Stack) proc(name string) *stackProc {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.procs) - 1; i >= 0; i-- {
		if s.procs[i].name == name && !s.procs[i].exited() {
			return s.procs[i]
		}
	}
	return nil
}

// stopProc stops one process (SIGTERM, then its group is killed after 15 s) and
// forgets it.
func (s *Stack) stopProc(p *stackProc) {
	if p == nil {
		return
	}
	p.stop(syscall.SIGTERM, 15*time.Second)
	s.mu.Lock()
	s.procs = slices.DeleteFunc(s.procs, func(q *stackProc) bool { return q == p })
	s.mu.Unlock()
}

// startTelegraf runs telegraf with conf, the broker and InfluxDB passed in the
// environment, and waits until it has connected to the broker.
func (s *Stack) startTelegraf(bin, conf, clientID string) (*stackProc, error) {
	logPath := filepath.Join(s.opt.Dir, "telegraf.log")
	before := int64(0)
	if fi, err := os.Stat(logPath); err == nil {
		before = fi.Size()
	}
	cmd := exec.Command(bin, "--config", conf)
	cmd.Env = append(os.Environ(), "SHOUWANG_BENCH_BROKER="+s.Broker, "SHOUWANG_BENCH_INFLUX="+s.InfluxURL, "SHOUWANG_BENCH_CLIENT_ID="+clientID)
	p, err := s.start("telegraf", cmd, logPath)
	if err != nil {
		return nil, err
	}
	if err := waitFor(p, 60*time.Second, func() error {
		b, err := os.ReadFile(logPath)
		if err != nil {
			return err
		}
		if int64(len(b)) > before && strings.Contains(string(b[before:]), "Connected [") {
			return nil
		}
		return errors.New("not connected yet")
	}); err != nil {
		s.stopProc(p)
		return nil, fmt.Errorf("%w\n%s", err, tail(logPath))
	}
	s.logf("telegraf connected (pid %d)", p.cmd.Process.Pid)
	return p, nil
}

// probe publishes the probe batch (again every second: the consumer's
// subscription may not be in place yet; the points are idempotent) until its
// four points are in InfluxDB, then compares them with what the contract says.
func (s *Stack) probe(ctx context.Context, p *stackProc) error {
	want, err := expectedProbe()
	if err != nil {
		return err
	}
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(s.Broker).SetClientID("bench-probe").SetCleanSession(true))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		return fmt.Errorf("probe: connect: %v", tok.Error())
	}
	defer c.Disconnect(100)
	deadline := time.Now().Add(30 * time.Second)
	var got []string
	for time.Now().Before(deadline) && !p.exited() {
		tok := c.Publish(mqttv1.Topic(probeGateway, mqttv1.ChTelemetry), 1, false, probePayload)
		tok.WaitTimeout(5 * time.Second)
		for range 10 {
			time.Sleep(100 * time.Millisecond)
			if got, err = s.probePoints(ctx); err == nil && len(got) >= len(want) {
				break
			}
		}
		if len(got) >= len(want) {
			break
		}
	}
	if slices.Equal(got, want) {
		return nil
	}
	return fmt.Errorf("probe points differ: got %q, want %q", got, want)
}

// expectedProbe is the probe batch as cloud/telemetry's data model says it is
// stored, one canonical line per point.
func expectedProbe() ([]string, error) {
	t, err := mqttv1.Decode[mqttv1.Telemetry](probePayload)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, r := range t.Readings {
		f, v := "total_m3", r.TotalM3
		if v == nil {
			f, v = "total_kwh", r.TotalKWh
		}
		out = append(out, fmt.Sprintf("meter gateway=%s sensor=%s %s=%s %d", t.Gateway, r.Sensor, f, num(*v), r.T.UnixNano()))
	}
	for _, a := range t.Activity {
		out = append(out, fmt.Sprintf("activity gateway=%s sensor=%s count=%d period_s=%d %d", t.Gateway, a.Sensor, a.Count, a.PeriodS, a.T.UnixNano()))
	}
	sort.Strings(out)
	return out, nil
}

func num(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// probePoints reads the probe gateway's points back, every column, in the same
// canonical form (columns that are null for a point are left out).
func (s *Stack) probePoints(ctx context.Context) ([]string, error) {
	var out []string
	for _, m := range []string{"meter", "activity"} {
		res, err := s.influxQuery(ctx, fmt.Sprintf(`SELECT * FROM %q WHERE gateway = '%s'`, m, probeGateway))
		if err != nil {
			return nil, err
		}
		for _, ser := range res {
			for _, row := range ser.Values {
				var tags, fields []string
				var ts string
				for i, col := range ser.Columns {
					v := row[i]
					if v == nil {
						continue
					}
					switch col {
					case "time":
						ts = fmt.Sprint(v)
					case "gateway", "sensor", "host", "topic":
						tags = append(tags, fmt.Sprintf("%s=%v", col, v))
					default:
						n, ok := v.(json.Number)
						if !ok {
							fields = append(fields, fmt.Sprintf("%s=%v", col, v))
							continue
						}
						f, _ := n.Float64()
						fields = append(fields, col+"="+num(f))
					}
				}
				out = append(out, fmt.Sprintf("%s %s %s %s", m, strings.Join(tags, " "), strings.Join(fields, " "), ts))
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

// influxPoints counts every point of both measurements (a point's fields are
// written together, so count(total_m3) + count(total_kwh) + count(count)).
func (s *Stack) influxPoints(ctx context.Context) (int64, error) {
	var n int64
	for _, q := range []string{`SELECT count(total_m3), count(total_kwh) FROM meter`, `SELECT count("count") FROM activity`} {
		res, err := s.influxQuery(ctx, q)
		if err != nil {
			return 0, err
		}
		for _, ser := range res {
			for _, row := range ser.Values {
				for _, v := range row[1:] {
					if num, ok := v.(json.Number); ok {
						k, _ := num.Int64()
						n += k
					}
				}
			}
		}
	}
	return n, nil
}

// influxSchema describes field keys (with types) and tag keys per measurement.
func (s *Stack) influxSchema(ctx context.Context) (string, error) {
	fields, err := s.influxQuery(ctx, "SHOW FIELD KEYS")
	if err != nil {
		return "", err
	}
	tags, err := s.influxQuery(ctx, "SHOW TAG KEYS")
	if err != nil {
		return "", err
	}
	desc := map[string][]string{}
	for _, ser := range fields {
		var fs []string
		for _, row := range ser.Values {
			fs = append(fs, fmt.Sprintf("%v %v", row[0], row[1]))
		}
		sort.Strings(fs)
		desc[ser.Name] = append(desc[ser.Name], strings.Join(fs, ", "))
	}
	for _, ser := range tags {
		var ts []string
		for _, row := range ser.Values {
			ts = append(ts, fmt.Sprint(row[0]))
		}
		sort.Strings(ts)
		desc[ser.Name] = append(desc[ser.Name], "tags "+strings.Join(ts, ", "))
	}
	var parts []string
	for m, d := range desc {
		parts = append(parts, m+": "+strings.Join(d, "; "))
	}
	sort.Strings(parts)
	return strings.Join(parts, " | "), nil
}

type influxSeries struct {
	Name    string          `json:"name"`
	Columns []string        `json:"columns"`
	Values  [][]interface{} `json:"values"`
}

// influxQuery runs one InfluxQL statement against database shouwang (times in ns).
func (s *Stack) influxQuery(ctx context.Context, q string) ([]influxSeries, error) {
	v := url.Values{"db": {"shouwang"}, "q": {q}, "epoch": {"ns"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.InfluxURL+"/query?"+v.Encode(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Results []struct {
			Series []influxSeries `json:"series"`
			Error  string         `json:"error"`
		} `json:"results"`
		Error string `json:"error"`
	}
	dec := json.NewDecoder(resp.Body)
	dec.UseNumber()
	if err := dec.Decode(&body); err != nil {
		return nil, fmt.Errorf("%s: %s: %w", q, resp.Status, err)
	}
	if body.Error != "" {
		return nil, fmt.Errorf("%s: %s", q, body.Error)
	}
	var out []influxSeries
	for _, r := range body.Results {
		if r.Error != "" {
			return nil, fmt.Errorf("%s: %s", q, r.Error)
		}
		out = append(out, r.Series...)
	}
	return out, nil
}

// influxExec runs statements that return nothing (POST /query).
func (s *Stack) influxExec(ctx context.Context, qs ...string) error {
	for _, q := range qs {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.InfluxURL+"/query", strings.NewReader(url.Values{"q": {q}}.Encode()))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || strings.Contains(string(b), `"error"`) {
			return fmt.Errorf("%s: %s %s", q, resp.Status, b)
		}
	}
	return nil
}

// peakRSS is VmHWM of pid (bytes), 0 if unreadable.
func peakRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb * 1024
			}
		}
	}
	return 0
}

// Median of xs (NaN if empty).
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
