// Package uplink carries alerts and telemetry from the gateway to the cloud over MQTT
// and brings back acknowledgements and configuration. Alerts are read from the durable
// outbox and re-published until the cloud acknowledges them by ID; nothing here holds
// an alert only in memory.
package uplink

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/shouwang-care/shouwang/firmware-protocol/mqttv1"
)

// Outbox is what the uplink needs of the durable store.
type Outbox interface {
	Pending(limit int) ([]mqttv1.Alert, error)
	Ack(items []mqttv1.AckItem) (int, error)
	Len() int
	// Telemetry batches wait here too, oldest first, until the broker accepts them.
	PendingTelemetry(limit int) ([]mqttv1.Telemetry, error)
	DeleteTelemetry(seqs ...uint64) error
	TelemetryDropped() int64
}

// Options configure the connection.
type Options struct {
	Broker    string
	GatewayID string
	Username  string
	Password  string
	CAFile    string
	CertFile  string
	KeyFile   string
	KeepAlive time.Duration
	// PingTimeout is how long a PINGRESP may take before the link counts as dead;
	// 0 means the keep-alive, capped at 10 s, so a half-open connection is noticed
	// within two keep-alive periods.
	PingTimeout    time.Duration
	ResendInterval time.Duration
	Heartbeat      time.Duration
	Software       string
	// OnConfig receives a decoded cloud config. Called from the uplink's own
	// goroutine, never from paho's, so it may take its time.
	OnConfig func(mqttv1.Config)
	// LastActivity reports the latest sign of life in the home for the heartbeat;
	// nil or a zero time leaves it out.
	LastActivity func() time.Time
}

// Uplink owns one MQTT connection. Run it once; Kick and Telemetry may be called from
// any goroutine.
type Uplink struct {
	opt     Options
	box     Outbox
	log     *slog.Logger
	client  mqtt.Client
	kick    chan struct{}
	lost    chan struct{}
	inbox   chan mqtt.Message
	hbNow   chan struct{}
	started time.Time
	rev     atomic.Int64 // config revision applied by the daemon, reported in heartbeats
	gen     atomic.Int64 // connection generation, bumped by onConnect

	// sentAt remembers when each pending alert was last published on the current
	// connection (owned by Run's goroutine), so a resend tick repeats only alerts
	// that waited a full interval for their ack instead of the whole backlog.
	sentAt  map[mqttv1.AckItem]time.Time
	sentGen int64

	// Back-off hooks, replaced in tests: randN returns a uniform value in [0, n);
	// sleep waits d or until ctx is done (false).
	randN func(n int64) int64
	sleep func(ctx context.Context, d time.Duration) bool

	Published atomic.Int64 // alert messages published (resends included)
	Acked     atomic.Int64 // alert messages the cloud acknowledged
	Rejected  atomic.Int64 // cloud→edge payloads that failed validation
	Telemetry atomic.Int64 // telemetry batches accepted by the broker
	Connects  atomic.Int64 // successful connections (the first included)
}

// New prepares an uplink (reading TLS files now, so a wrong path fails at start);
// nothing connects until Run.
func New(opt Options, box Outbox, log *slog.Logger) (*Uplink, error) {
	u := &Uplink{opt: opt, box: box, log: log, kick: make(chan struct{}, 1), lost: make(chan struct{}, 1), inbox: make(chan mqtt.Message, 256),
		hbNow: make(chan struct{}, 1), started: time.Now(), randN: rand.Int64N, sleep: sleepCtx}
	o, err := u.clientOptions()
	if err != nil {
		return nil, err
	}
	u.client = mqtt.NewClient(o)
	return u, nil
}

// Kick asks for pending alerts to be sent now (after an outbox Put).
func (u *Uplink) Kick() {
	select {
	case u.kick <- struct{}{}:
	default:
	}
}

// SetConfigRevision records the cloud config revision the daemon has applied and
// persisted, and sends a heartbeat carrying it soon, so the cloud learns without
// waiting a minute that its config took effect.
func (u *Uplink) SetConfigRevision(rev int64) {
	if u.rev.Swap(rev) == rev {
		return
	}
	select {
	case u.hbNow <- struct{}{}:
	default:
	}
}

// Connected reports whether the MQTT session is up.
func (u *Uplink) Connected() bool { return u.client.IsConnectionOpen() }

func (u *Uplink) status(state string) []byte {
	b, _ := mqttv1.Encode(mqttv1.Status{V: mqttv1.Version, Gateway: u.opt.GatewayID, State: state, At: time.Now(), Software: u.opt.Software})
	return b
}

func (u *Uplink) clientOptions() (*mqtt.ClientOptions, error) {
	o := mqtt.NewClientOptions().
		AddBroker(u.opt.Broker).
		SetClientID(u.opt.GatewayID).
		SetUsername(u.opt.Username).
		SetPassword(u.opt.Password).
		SetKeepAlive(u.opt.KeepAlive).
		SetPingTimeout(u.pingTimeout()).
		// The outbox is the store: a clean session keeps paho's in-memory store from
		// being mistaken for durability, and the cloud re-acks resends.
		SetCleanSession(true).
		// Reconnection is ours (see connect): paho's back-off has no jitter.
		SetAutoReconnect(false).
		SetConnectTimeout(10*time.Second).
		SetOrderMatters(false).
		SetWill(mqttv1.Topic(u.opt.GatewayID, mqttv1.ChStatus), string(u.status("offline")), 1, true)
	o.SetOnConnectHandler(u.onConnect)
	o.SetConnectionLostHandler(func(_ mqtt.Client, err error) {
		u.log.Warn("mqtt connection lost", "err", err)
		select {
		case u.lost <- struct{}{}:
		default:
		}
	})
	if u.opt.CAFile != "" || u.opt.CertFile != "" {
		tc, err := u.tlsConfig()
		if err != nil {
			return nil, err
		}
		o.SetTLSConfig(tc)
	}
	return o, nil
}

func (u *Uplink) pingTimeout() time.Duration {
	if u.opt.PingTimeout > 0 {
		return u.opt.PingTimeout
	}
	return min(10*time.Second, max(time.Second, u.opt.KeepAlive))
}

func (u *Uplink) tlsConfig() (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if u.opt.CAFile != "" {
		pem, err := os.ReadFile(u.opt.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read mqtt.ca_file: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("mqtt.ca_file %s: no PEM certificate", u.opt.CAFile)
		}
	}
	if u.opt.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(u.opt.CertFile, u.opt.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("load gateway certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// onConnect runs on paho's goroutine: subscribe and hand over, never block (the
// tokens are not waited for). With a clean session the broker forgot our
// subscriptions, so they are made again on every connect; the retained config comes
// back with the new subscription.
func (u *Uplink) onConnect(c mqtt.Client) {
	u.Connects.Add(1)
	u.gen.Add(1)
	u.log.Info("mqtt connected", "broker", u.opt.Broker)
	handler := func(_ mqtt.Client, m mqtt.Message) {
		select {
		case u.inbox <- m:
		default:
			// Dropping an ack is safe (the alert is resent and re-acked); a dropped
			// config is retained and comes back on the next connect.
			u.log.Warn("uplink inbox full, message dropped", "topic", m.Topic())
		}
	}
	c.Subscribe(mqttv1.Topic(u.opt.GatewayID, mqttv1.ChAck), 1, handler)
	c.Subscribe(mqttv1.Topic(u.opt.GatewayID, mqttv1.ChConfig), 1, handler)
	c.Publish(mqttv1.Topic(u.opt.GatewayID, mqttv1.ChStatus), 1, true, u.status("online"))
	u.Kick()
}

// Run connects and keeps the uplink going until ctx is done, then announces a clean
// offline and disconnects.
func (u *Uplink) Run(ctx context.Context) error {
	u.connect(ctx, 0)
	// A heartbeat on every connect tells the cloud at once the backlog and the config
	// revision in force, instead of up to a heartbeat interval later.
	u.heartbeat()
	defer func() {
		if u.client.IsConnectionOpen() {
			t := u.client.Publish(mqttv1.Topic(u.opt.GatewayID, mqttv1.ChStatus), 1, true, u.status("offline"))
			t.WaitTimeout(2 * time.Second)
		}
		u.client.Disconnect(500)
	}()
	resend := time.NewTicker(u.opt.ResendInterval)
	defer resend.Stop()
	hb := time.NewTicker(u.opt.Heartbeat)
	defer hb.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-u.lost:
			u.connect(ctx, 1)
			u.heartbeat()
		case <-u.kick:
			u.sendPending(ctx)
		case <-resend.C:
			u.sendPending(ctx)
		case <-hb.C:
			u.heartbeat()
		case <-u.hbNow:
			u.heartbeat()
		case m := <-u.inbox:
			u.handle(m)
		}
	}
}

// Back-off bounds: the n-th retry waits uniformly in [0, min(maxBackoff, baseBackoff·2ⁿ)]
// ("full jitter"), so a city of gateways does not stampede a restarted broker.
const (
	baseBackoff = 500 * time.Millisecond
	maxBackoff  = 2 * time.Minute
)

// backoff returns the wait before retry n (n ≥ 1) drawn with randN.
func backoff(n int, randN func(int64) int64) time.Duration {
	ceiling := min(maxBackoff, baseBackoff<<min(n, 20))
	return time.Duration(randN(int64(ceiling)) + 1)
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// connect blocks until connected or ctx is done, backing off exponentially with full
// jitter. After a lost connection the first attempt is jittered too (n starts at 1).
func (u *Uplink) connect(ctx context.Context, n int) {
	for ; ctx.Err() == nil; n++ {
		if n > 0 && !u.sleep(ctx, backoff(n, u.randN)) {
			return
		}
		t := u.client.Connect()
		if t.WaitTimeout(15*time.Second) && t.Error() == nil {
			return
		}
		u.log.Warn("mqtt connect failed; retrying with back-off", "broker", u.opt.Broker, "err", t.Error(), "attempt", n+1)
	}
}

// sendPending publishes pending alerts in order (those not sent within the resend
// interval on this connection); they stay in the outbox until acknowledged.
func (u *Uplink) sendPending(ctx context.Context) {
	if !u.client.IsConnectionOpen() {
		return
	}
	if g := u.gen.Load(); g != u.sentGen || u.sentAt == nil {
		// A new connection: everything unacknowledged goes again, in order.
		u.sentAt, u.sentGen = map[mqttv1.AckItem]time.Time{}, g
	}
	pending, err := u.box.Pending(500)
	if err != nil {
		u.log.Error("read outbox", "err", err)
		return
	}
	now := time.Now()
	held := make(map[mqttv1.AckItem]bool, len(pending))
	for _, a := range pending {
		held[a.Key()] = true
	}
	for k := range u.sentAt {
		if !held[k] {
			delete(u.sentAt, k) // acknowledged
		}
	}
	for _, a := range pending {
		if ctx.Err() != nil {
			return
		}
		// Acks arriving during a long backlog are applied as we go, so paho's handler
		// never finds the inbox full.
		u.drainInbox()
		if last, ok := u.sentAt[a.Key()]; ok && now.Sub(last) < u.opt.ResendInterval {
			continue
		}
		b, err := mqttv1.Encode(a)
		if err != nil {
			// Cannot happen for alerts our engine made; never drop it silently.
			u.log.Error("alert in outbox does not encode; kept", "id", a.ID, "err", err)
			continue
		}
		t := u.client.Publish(mqttv1.Topic(u.opt.GatewayID, mqttv1.ChAlert), 1, false, b)
		if !t.WaitTimeout(10*time.Second) || t.Error() != nil {
			u.log.Warn("publish alert; will resend", "id", a.ID, "err", t.Error())
			return
		}
		u.sentAt[a.Key()] = time.Now()
		u.Published.Add(1)
	}
	u.sendTelemetry(ctx)
}

// sendTelemetry publishes the telemetry backlog oldest first, after the alerts, and
// deletes each batch once the broker has accepted it.
func (u *Uplink) sendTelemetry(ctx context.Context) {
	batches, err := u.box.PendingTelemetry(50)
	if err != nil {
		u.log.Error("read telemetry backlog", "err", err)
		return
	}
	for _, t := range batches {
		if ctx.Err() != nil || !u.client.IsConnectionOpen() {
			return
		}
		t.V, t.Gateway = mqttv1.Version, u.opt.GatewayID
		b, err := mqttv1.Encode(t)
		if err != nil {
			// A batch that can never be valid would block the queue forever.
			u.log.Error("telemetry batch does not encode; dropped", "seq", t.Seq, "err", err)
			_ = u.box.DeleteTelemetry(t.Seq)
			continue
		}
		tok := u.client.Publish(mqttv1.Topic(u.opt.GatewayID, mqttv1.ChTelemetry), 1, false, b)
		if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			u.log.Warn("publish telemetry; kept for later", "seq", t.Seq, "err", tok.Error())
			return
		}
		if err := u.box.DeleteTelemetry(t.Seq); err != nil {
			u.log.Error("delete sent telemetry", "seq", t.Seq, "err", err)
			return
		}
		u.Telemetry.Add(1)
	}
	if len(batches) == 50 {
		u.Kick() // more to send: continue after serving acks and ticks
	}
}

func (u *Uplink) drainInbox() {
	for {
		select {
		case m := <-u.inbox:
			u.handle(m)
		default:
			return
		}
	}
}

func (u *Uplink) handle(m mqtt.Message) {
	_, ch, err := mqttv1.ParseTopic(m.Topic())
	if err != nil {
		u.Rejected.Add(1)
		u.log.Warn("unexpected topic", "err", err)
		return
	}
	switch ch {
	case mqttv1.ChAck:
		ack, err := mqttv1.Decode[mqttv1.Ack](m.Payload())
		if err != nil {
			u.Rejected.Add(1)
			u.log.Warn("bad ack from cloud", "err", err)
			return
		}
		n, err := u.box.Ack(ack.Alerts)
		if err != nil {
			u.log.Error("apply ack", "err", err)
			return
		}
		u.Acked.Add(int64(n))
		u.log.Debug("alerts acknowledged", "n", n, "pending", u.box.Len())
	case mqttv1.ChConfig:
		if len(m.Payload()) == 0 {
			return // retained config cleared
		}
		cfg, err := mqttv1.Decode[mqttv1.Config](m.Payload())
		if err == nil && cfg.Gateway != u.opt.GatewayID {
			err = fmt.Errorf("config for gateway %q on our topic", cfg.Gateway)
		}
		if err != nil {
			u.Rejected.Add(1)
			u.log.Warn("bad config from cloud", "err", err)
			return
		}
		if u.opt.OnConfig != nil {
			u.opt.OnConfig(cfg)
		}
	}
}

func (u *Uplink) heartbeat() {
	if !u.client.IsConnectionOpen() {
		return
	}
	hb := mqttv1.Heartbeat{V: mqttv1.Version, Gateway: u.opt.GatewayID, At: time.Now(),
		UptimeS: int64(time.Since(u.started) / time.Second), OutboxPending: u.box.Len(),
		ConfigRevision: u.rev.Load(), TelemetryDropped: u.box.TelemetryDropped()}
	if u.opt.LastActivity != nil {
		if t := u.opt.LastActivity(); !t.IsZero() {
			hb.LastActivity = &t
		}
	}
	b, err := mqttv1.Encode(hb)
	if err == nil {
		u.client.Publish(mqttv1.Topic(u.opt.GatewayID, mqttv1.ChHeartbeat), 0, false, b)
	}
}
