// Package loadgen drives N simulated gateways against an MQTT broker speaking the
// v1 contract (firmware-protocol/mqttv1): each gateway is its own MQTT connection
// that publishes its retained birth status, telemetry batches, heartbeats and, at a
// configured total rate, alerts; it subscribes to its ack topic so the alert →
// application-ack latency is measured end to end through the cloud. The cloud side
// (metrics, alert → page over the in-app stream) is in cloud.go; a whole local stack
// for a measurement run is in stack.go. cloud/cmd/shouwang-load is the command.
package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/shouwang-care/shouwang/firmware-protocol/mqttv1"
)

// Config is one load run.
type Config struct {
	Broker   string // tcp://host:port
	Username string // empty: anonymous
	Password string
	// Gateways is how many simulated gateways connect, named GatewayID(Prefix, i).
	Gateways int
	Prefix   string // default "gw-load-"
	// TelemetryEvery is each gateway's telemetry period (real gateways: 60 s); the
	// first batch comes at a random phase so the fleet's load is even.
	TelemetryEvery time.Duration
	// HeartbeatEvery is each gateway's heartbeat period (QoS 0; real: 60 s); 0: none.
	HeartbeatEvery time.Duration
	// AlertRate is alerts per second over the whole fleet; each goes to the next
	// gateway in turn (one alert per gateway until the fleet is used up, so each
	// opens its own incident and is paged).
	AlertRate float64
	// ConnectRate caps new connections per second (default 2000).
	ConnectRate int
	// Duration is how long to publish once every gateway has connected (or failed).
	Duration time.Duration
	// SourceIPs are local addresses to dial from, in turn; more than one lifts the
	// ~28k ephemeral-port limit of one (source, destination) pair. Empty: the kernel's.
	SourceIPs []string
	// OnAlert, if set, is told of each alert sent (for matching pages to alerts).
	OnAlert func(gw, id string, at time.Time)
	// OnPhase, if set, is called with "window" when the ramp is over and publishing
	// for Duration starts, and with "end" when it ends (before the drain).
	OnPhase func(phase string)
	// Progress, if set, is called every few seconds while the run lasts.
	Progress func(s Snapshot)
	// MillisecondTimes gives telemetry timestamps millisecond precision instead of
	// whole seconds, so a gateway publishing more than once a second still writes
	// distinct points (a point is identified by gateway, sensor, field and time):
	// needed to count points landed in InfluxDB under accelerated telemetry.
	MillisecondTimes bool
}

// GatewayID is the ID of simulated gateway i.
func GatewayID(prefix string, i int) string {
	if prefix == "" {
		prefix = "gw-load-"
	}
	return fmt.Sprintf("%s%06d", prefix, i)
}

// Snapshot is a point-in-time view of the counters.
type Snapshot struct {
	Elapsed    time.Duration
	Connected  int64 // currently connected
	Published  map[string]int64
	PubAcked   map[string]int64
	AcksRecv   int64
	ConnErrors int64
	Dropped    int64
}

// Result is what a run measured on the load side.
type Result struct {
	Gateways    int
	Connected   int64            // handshakes completed
	ConnErrors  int64            // dial or CONNACK failures
	FirstErrors []string         // a few distinct connect errors
	Dropped     int64            // connections lost during the run
	ConnectTime time.Duration    // from start until every gateway connected or failed
	Window      time.Duration    // the publishing window after the ramp
	Published   map[string]int64 // since the first connection
	PubAcked    map[string]int64
	// WindowPublished counts only what was published in Window (after the ramp).
	WindowPublished map[string]int64
	PubAckP50       time.Duration // broker PUBACK latency of QoS 1 publishes
	PubAckP99       time.Duration
	AlertsSent      int64
	AlertsAcked     int64 // application acks received for alerts sent in this run
	AckP50          time.Duration
	AckP99          time.Duration
	AckMax          time.Duration
	InflightLeft    int64 // QoS 1 publishes still without PUBACK at the end
}

// Run connects the fleet, publishes for cfg.Duration after the ramp, waits briefly
// for outstanding acks and disconnects everyone. It returns early if ctx ends.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if cfg.Gateways < 1 {
		return nil, errors.New("loadgen: gateways < 1")
	}
	u, err := url.Parse(cfg.Broker)
	if err != nil || u.Host == "" || (u.Scheme != "tcp" && u.Scheme != "mqtt") {
		return nil, fmt.Errorf("loadgen: broker %q: want tcp://host:port", cfg.Broker)
	}
	if cfg.TelemetryEvery <= 0 {
		cfg.TelemetryEvery = time.Minute
	}
	if cfg.ConnectRate <= 0 {
		cfg.ConnectRate = 2000
	}
	r := &run{cfg: cfg, addr: u.Host, alerts: map[string]time.Time{}, published: newCounters(), pubAcked: newCounters()}
	for _, ip := range cfg.SourceIPs {
		a := net.ParseIP(ip)
		if a == nil {
			return nil, fmt.Errorf("loadgen: source ip %q", ip)
		}
		r.dialers = append(r.dialers, &net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: a}})
	}
	if len(r.dialers) == 0 {
		r.dialers = []*net.Dialer{{Timeout: 10 * time.Second}}
	}
	return r.run(ctx)
}

type counters struct{ m map[string]*atomic.Int64 }

func newCounters() counters {
	c := counters{m: map[string]*atomic.Int64{}}
	for _, ch := range []mqttv1.Channel{mqttv1.ChTelemetry, mqttv1.ChAlert, mqttv1.ChStatus, mqttv1.ChHeartbeat} {
		c.m[string(ch)] = new(atomic.Int64)
	}
	return c
}

func (c counters) add(ch string) { c.m[ch].Add(1) }

func (c counters) snapshot() map[string]int64 {
	out := map[string]int64{}
	for k, v := range c.m {
		out[k] = v.Load()
	}
	return out
}

type run struct {
	cfg     Config
	addr    string
	dialers []*net.Dialer

	connected, live, connErrs, dropped atomic.Int64
	acksRecv                           atomic.Int64
	published, pubAcked                counters
	// pubMu is held shared by a gateway from its check of stop to the end of its
	// publishes, and taken by Run after closing stop: once Run has it, nothing
	// more is published, so the drain waits for every PUBACK that is owed.
	pubMu sync.RWMutex

	mu        sync.Mutex
	errs      []string
	alerts    map[string]time.Time // alert ID → sent
	ackLat    []time.Duration
	pubAckLat []time.Duration

	gwMu sync.Mutex
	gws  []*gateway // connected gateways, for the alert scheduler
}

type gateway struct {
	id  string
	c   *conn
	seq uint64
}

const maxLatencySamples = 2_000_000

func (r *run) connErr(err error) {
	r.connErrs.Add(1)
	msg := err.Error()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.errs) < 5 && !slices.Contains(r.errs, msg) {
		r.errs = append(r.errs, msg)
	}
}

func (r *run) onPubAck(ch string, sent time.Time) {
	d := time.Since(sent)
	r.pubAcked.add(ch)
	r.mu.Lock()
	if len(r.pubAckLat) < maxLatencySamples {
		r.pubAckLat = append(r.pubAckLat, d)
	}
	r.mu.Unlock()
}

func (r *run) onAck(payload []byte) {
	now := time.Now()
	a, err := mqttv1.Decode[mqttv1.Ack](payload)
	if err != nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, it := range a.Alerts {
		if sent, ok := r.alerts[it.ID]; ok {
			delete(r.alerts, it.ID)
			r.acksRecv.Add(1)
			r.ackLat = append(r.ackLat, now.Sub(sent))
		}
	}
}

func (r *run) snapshot(start time.Time) Snapshot {
	return Snapshot{Elapsed: time.Since(start), Connected: r.live.Load(), Published: r.published.snapshot(), PubAcked: r.pubAcked.snapshot(),
		AcksRecv: r.acksRecv.Load(), ConnErrors: r.connErrs.Load(), Dropped: r.dropped.Load()}
}

func (r *run) run(ctx context.Context) (*Result, error) {
	start := time.Now()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := make(chan struct{}) // closed when publishing ends
	var wg sync.WaitGroup
	var ramp sync.WaitGroup // done when each gateway has connected or failed

	if r.cfg.Progress != nil {
		go func() {
			t := time.NewTicker(5 * time.Second)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					r.cfg.Progress(r.snapshot(start))
				}
			}
		}()
	}

	// Connect at ConnectRate, each gateway in its own goroutine.
	interval := time.Second / time.Duration(r.cfg.ConnectRate)
	tick := time.NewTicker(max(interval, time.Microsecond))
	ramp.Add(r.cfg.Gateways)
	for i := 0; i < r.cfg.Gateways; i++ {
		select {
		case <-ctx.Done():
			tick.Stop()
			ramp.Add(-(r.cfg.Gateways - i))
			goto ramped
		case <-tick.C:
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.gateway(ctx, i, &ramp, stop)
		}()
	}
	tick.Stop()
ramped:
	ramp.Wait()
	connectTime := time.Since(start)

	// Publish for Duration, alerts from one scheduler.
	if r.cfg.OnPhase != nil {
		r.cfg.OnPhase("window")
	}
	window := time.Now()
	atWindow := r.published.snapshot()
	var alertWG sync.WaitGroup
	if r.cfg.AlertRate > 0 {
		alertWG.Add(1)
		go func() {
			defer alertWG.Done()
			r.alertLoop(ctx, stop)
		}()
	}
	select {
	case <-ctx.Done():
	case <-time.After(r.cfg.Duration):
	}
	close(stop)
	r.pubMu.Lock() // waits for publishes under way; later ones see stop closed
	r.pubMu.Unlock()
	alertWG.Wait()
	windowLen := time.Since(window)
	if r.cfg.OnPhase != nil {
		r.cfg.OnPhase("end")
	}
	windowPub := r.published.snapshot()
	for k, v := range atWindow {
		windowPub[k] -= v
	}

	// Give outstanding PUBACKs and application acks a moment.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		r.mu.Lock()
		waiting := len(r.alerts)
		r.mu.Unlock()
		if waiting == 0 && r.inflight() == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	inflightLeft := r.inflight()
	cancel() // gateways disconnect
	wg.Wait()

	res := &Result{Gateways: r.cfg.Gateways, Connected: r.connected.Load(), ConnErrors: r.connErrs.Load(), Dropped: r.dropped.Load(),
		ConnectTime: connectTime, Window: windowLen, Published: r.published.snapshot(), PubAcked: r.pubAcked.snapshot(),
		AlertsSent: r.published.m[string(mqttv1.ChAlert)].Load(), AlertsAcked: r.acksRecv.Load(), InflightLeft: inflightLeft, WindowPublished: windowPub}
	r.mu.Lock()
	res.FirstErrors = r.errs
	res.PubAckP50, res.PubAckP99, _ = quantiles(r.pubAckLat)
	res.AckP50, res.AckP99, res.AckMax = quantiles(r.ackLat)
	r.mu.Unlock()
	return res, nil
}

func (r *run) inflight() int64 {
	r.gwMu.Lock()
	defer r.gwMu.Unlock()
	var n int64
	for _, g := range r.gws {
		n += int64(g.c.pendingCount())
	}
	return n
}

// quantiles returns p50, p99 and max of d (sorted in place).
func quantiles(d []time.Duration) (p50, p99, mx time.Duration) {
	if len(d) == 0 {
		return 0, 0, 0
	}
	slices.Sort(d)
	at := func(q float64) time.Duration { return d[min(len(d)-1, int(q*float64(len(d))))] }
	return at(0.50), at(0.99), d[len(d)-1]
}

func (r *run) gateway(ctx context.Context, i int, ramp *sync.WaitGroup, stop <-chan struct{}) {
	g := &gateway{id: GatewayID(r.cfg.Prefix, i)}
	statusTopic := mqttv1.Topic(g.id, mqttv1.ChStatus)
	offline, _ := json.Marshal(mqttv1.Status{V: 1, Gateway: g.id, State: "offline", At: time.Now().UTC()})
	username := r.cfg.Username
	if username == "" {
		username = g.id
	}
	const keepAlive = 60 * time.Second
	c, err := dial(r.dialers[i%len(r.dialers)], r.addr, connectOpts{
		ClientID: g.id, Username: username, Password: r.cfg.Password, KeepAlive: keepAlive, CleanSession: true,
		WillTopic: statusTopic, WillPayload: offline, WillQoS: 1, WillRetain: true,
	}, 20*time.Second)
	if err != nil {
		r.connErr(err)
		ramp.Done()
		return
	}
	g.c = c
	c.onPubAck = r.onPubAck
	c.onPublish = func(topic string, payload []byte) {
		if strings.HasSuffix(topic, "/ack") {
			r.onAck(payload)
		}
	}
	r.connected.Add(1)
	r.live.Add(1)
	readDone := make(chan error, 1)
	go func() { readDone <- c.readLoop() }()
	online, _ := json.Marshal(mqttv1.Status{V: 1, Gateway: g.id, State: "online", At: time.Now().UTC(), Software: "shouwang-load"})
	err = c.subscribe(mqttv1.Topic(g.id, mqttv1.ChAck), 1)
	if err == nil {
		err = c.publish(statusTopic, 1, true, online, string(mqttv1.ChStatus))
		r.published.add(string(mqttv1.ChStatus))
	}
	r.gwMu.Lock()
	r.gws = append(r.gws, g)
	r.gwMu.Unlock()
	ramp.Done()
	defer func() {
		r.live.Add(-1)
		c.disconnect()
	}()
	if err != nil {
		r.dropped.Add(1)
		return
	}

	// Publish from now on, on a random phase.
	rng := rand.New(rand.NewPCG(uint64(i), uint64(time.Now().UnixNano())))
	nextTel := time.Now().Add(time.Duration(rng.Int64N(int64(r.cfg.TelemetryEvery))))
	var nextHB time.Time
	if r.cfg.HeartbeatEvery > 0 {
		nextHB = time.Now().Add(time.Duration(rng.Int64N(int64(r.cfg.HeartbeatEvery))))
	}
	started := time.Now()
	first := nextTel
	if !nextHB.IsZero() && nextHB.Before(first) {
		first = nextHB
	}
	timer := time.NewTimer(time.Until(first))
	defer timer.Stop()
	publishing := true
	for {
		select {
		case <-ctx.Done():
			return
		case err := <-readDone:
			if ctx.Err() == nil {
				r.dropped.Add(1)
				r.connErr(fmt.Errorf("connection lost: %w", err))
			}
			return
		case <-stop:
			stop = nil
			publishing = false
			// Keep the connection (and ack subscription) until ctx ends.
			timer.Reset(keepAlive / 2)
			continue
		case <-timer.C:
		}
		r.pubMu.RLock()
		if publishing {
			select {
			case <-stop: // the timer and stop were both ready: stop wins
				stop = nil
				publishing = false
			default:
			}
		}
		now := time.Now()
		if publishing && !now.Before(nextTel) {
			g.seq++
			err = c.publish(mqttv1.Topic(g.id, mqttv1.ChTelemetry), 1, false, telemetryPayload(g.id, g.seq, now, r.cfg.MillisecondTimes), string(mqttv1.ChTelemetry))
			r.published.add(string(mqttv1.ChTelemetry))
			nextTel = nextTel.Add(r.cfg.TelemetryEvery)
			if nextTel.Before(now) { // fell behind: do not burst to catch up
				nextTel = now.Add(r.cfg.TelemetryEvery)
			}
		}
		if err == nil && publishing && !nextHB.IsZero() && !now.Before(nextHB) {
			err = c.publish(mqttv1.Topic(g.id, mqttv1.ChHeartbeat), 0, false, heartbeatPayload(g.id, now, started), string(mqttv1.ChHeartbeat))
			r.published.add(string(mqttv1.ChHeartbeat))
			nextHB = nextHB.Add(r.cfg.HeartbeatEvery)
			if nextHB.Before(now) {
				nextHB = now.Add(r.cfg.HeartbeatEvery)
			}
		}
		r.pubMu.RUnlock()
		if err == nil {
			err = c.pingIfIdle(keepAlive / 2)
		}
		if err != nil {
			if ctx.Err() == nil {
				r.dropped.Add(1)
				r.connErr(fmt.Errorf("write: %w", err))
			}
			return
		}
		next := now.Add(keepAlive / 2)
		if publishing {
			next = nextTel
			if !nextHB.IsZero() && nextHB.Before(next) {
				next = nextHB
			}
		}
		timer.Reset(time.Until(next))
	}
}

// alertLoop sends AlertRate alerts per second, each from the next connected gateway.
func (r *run) alertLoop(ctx context.Context, stop <-chan struct{}) {
	every := time.Duration(float64(time.Second) / r.cfg.AlertRate)
	t := time.NewTicker(every)
	defer t.Stop()
	next := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-stop:
			return
		case <-t.C:
		}
		r.gwMu.Lock()
		if len(r.gws) == 0 {
			r.gwMu.Unlock()
			continue
		}
		g := r.gws[next%len(r.gws)]
		next++
		r.gwMu.Unlock()
		id := uuid.Must(uuid.NewV7()).String()
		now := time.Now()
		b, _ := json.Marshal(mqttv1.Alert{V: 1, ID: id, Gateway: g.id, Rule: "sos_button", State: mqttv1.Raised, Severity: mqttv1.Critical,
			Class: mqttv1.ClassResident, At: now.UTC(), RaisedAt: now.UTC(),
			Evidence: []mqttv1.Evidence{{Signal: "button", LastAt: &now, Note: "shouwang-load"}}})
		r.mu.Lock()
		r.alerts[id] = now
		r.mu.Unlock()
		if r.cfg.OnAlert != nil {
			r.cfg.OnAlert(g.id, id, now)
		}
		if err := g.c.publish(mqttv1.Topic(g.id, mqttv1.ChAlert), 1, false, b, string(mqttv1.ChAlert)); err != nil {
			r.mu.Lock()
			delete(r.alerts, id) // not sent: nothing to wait for
			r.mu.Unlock()
			continue
		}
		r.published.add(string(mqttv1.ChAlert))
	}
}

// telemetryPayload is a batch like firmware-protocol/mqttv1/testdata/telemetry.json:
// two meter totals and two activity counts (~420 bytes). With ms, times carry
// milliseconds ("2026-11-22T07:30:00.123Z").
func telemetryPayload(gw string, seq uint64, now time.Time, ms bool) []byte {
	prec, layout := time.Second, time.RFC3339
	if ms {
		prec, layout = time.Millisecond, "2006-01-02T15:04:05.000Z07:00"
	}
	t := now.UTC().Truncate(prec).Format(layout)
	p := now.UTC().Add(-5 * time.Minute).Truncate(prec).Format(layout)
	return fmt.Appendf(nil, `{"v":1,"gateway":%q,"seq":%d,"readings":[{"t":%q,"sensor":"water","total_m3":%.4f},{"t":%q,"sensor":"power","total_kwh":%.2f}],`+
		`"activity":[{"t":%q,"period_s":300,"sensor":"pir.kitchen","count":%d},{"t":%q,"period_s":300,"sensor":"door.front","count":%d}]}`,
		gw, seq, t, 100+float64(seq)*0.0125, t, 5000+float64(seq)*0.05, p, seq%7, p, seq%2)
}

func heartbeatPayload(gw string, now, started time.Time) []byte {
	return fmt.Appendf(nil, `{"v":1,"gateway":%q,"at":%q,"uptime_s":%d,"outbox_pending":0}`,
		gw, now.UTC().Format(time.RFC3339), int64(now.Sub(started)/time.Second)+3600)
}
