// Package ingest consumes gateway messages from MQTT: it validates each payload,
// commits it, and only then acknowledges — to the broker (manual MQTT ack) and, for
// alerts, to the gateway (the application-level ack that lets it drop the alert).
package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shouwang-care/shouwang/cloud/store"
	"github.com/shouwang-care/shouwang/firmware-protocol/mqttv1"
)

// Alerts commits alert messages idempotently.
type Alerts interface {
	IngestAlert(ctx context.Context, a mqttv1.Alert, received time.Time) (bool, error)
}

// Telemetry stores meter totals and activity counts.
type Telemetry interface {
	Write(ctx context.Context, t mqttv1.Telemetry) error
}

// Gateways records signs of life (of the gateway, and of the resident), in batches.
type Gateways interface {
	SeenGateways(ctx context.Context, batch []store.Seen) error
}

// Options configure the consumer.
type Options struct {
	Broker   string
	ClientID string // stable per replica, so its persistent session survives restarts
	Username string
	Password string
	Group    string // shared-subscription group: replicas in one group split the load
	Workers  int
	// OnAlert is called after a new alert message is committed.
	OnAlert func(a mqttv1.Alert)
}

// Consumer is one replica's MQTT ingest.
type Consumer struct {
	opt       Options
	alerts    Alerts
	telemetry Telemetry
	gateways  Gateways
	log       *slog.Logger
	client    mqtt.Client // telemetry, status, heartbeat; publishes config
	queue     chan mqtt.Message
	// alertClient and alertQueue carry alerts only (and their acks).
	alertClient mqtt.Client
	alertQueue  chan mqtt.Message
	// Each session acks in arrival order, whatever order its workers finish in.
	acks, alertAcks ackOrder

	// Liveness is soft state with a minutes-long budget: it is gathered here and
	// written once a second, not once per message (that was half of ingest's cost).
	seenMu sync.Mutex
	seen   map[string]store.Seen

	received  *prometheus.CounterVec
	rejected  *prometheus.CounterVec
	failed    *prometheus.CounterVec
	duplicate prometheus.Counter
	lag       prometheus.Histogram
}

// New prepares a consumer; Run connects.
func New(opt Options, a Alerts, t Telemetry, g Gateways, log *slog.Logger) *Consumer {
	if opt.Workers < 1 {
		opt.Workers = 4
	}
	if opt.Group == "" {
		opt.Group = "shouwang-cloud"
	}
	c := &Consumer{seen: map[string]store.Seen{}, alertQueue: make(chan mqtt.Message, 1024), opt: opt, alerts: a, telemetry: t, gateways: g, log: log, queue: make(chan mqtt.Message, 1024),
		received:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "shouwang_ingest_messages_total", Help: "Messages received, by channel."}, []string{"channel"}),
		rejected:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "shouwang_ingest_rejected_total", Help: "Messages rejected, by channel and reason."}, []string{"channel", "reason"}),
		failed:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "shouwang_ingest_failed_total", Help: "Valid messages that could not be stored (retried by the sender)."}, []string{"channel"}),
		duplicate: prometheus.NewCounter(prometheus.CounterOpts{Name: "shouwang_ingest_alert_duplicates_total", Help: "Alert messages received again (resends), stored once."}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "shouwang_ingest_alert_commit_seconds", Help: "Time to validate and commit an alert message.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
	}
	c.client = mqtt.NewClient(c.clientOptions("", []mqttv1.Channel{mqttv1.ChTelemetry, mqttv1.ChStatus, mqttv1.ChHeartbeat}, c.enqueue))
	c.alertClient = mqtt.NewClient(c.clientOptions("-alerts", []mqttv1.Channel{mqttv1.ChAlert},
		func(_ mqtt.Client, m mqtt.Message) { c.alertQueue <- c.alertAcks.add(m) }))
	return c
}

// Collectors returns the metrics to register.
func (c *Consumer) Collectors() []prometheus.Collector {
	return []prometheus.Collector{c.received, c.rejected, c.failed, c.duplicate, c.lag}
}

var upstream = []mqttv1.Channel{mqttv1.ChAlert, mqttv1.ChTelemetry, mqttv1.ChStatus, mqttv1.ChHeartbeat}

// clientOptions builds one of the two sessions: alerts travel on their own
// connection and queue, so a flood of telemetry (at the broker's per-session queue
// and in ours) never delays a person's alert.
func (c *Consumer) clientOptions(suffix string, channels []mqttv1.Channel, enqueue mqtt.MessageHandler) *mqtt.ClientOptions {
	o := mqtt.NewClientOptions().AddBroker(c.opt.Broker).SetClientID(c.opt.ClientID + suffix).
		SetUsername(c.opt.Username).SetPassword(c.opt.Password).
		SetCleanSession(false).
		SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(time.Second).SetMaxReconnectInterval(30 * time.Second).
		SetKeepAlive(30 * time.Second).
		SetCustomOpenConnectionFn(openBatchConn).
		// Ack to the broker only after the commit: a crash before it means redelivery.
		SetAutoAckDisabled(true)
	o.SetOnConnectHandler(func(cl mqtt.Client) {
		filters := map[string]byte{}
		for _, ch := range channels {
			filters[mqttv1.SharedFilter(c.opt.Group, ch)] = 1
		}
		cl.SubscribeMultiple(filters, enqueue)
		c.log.Info("ingest connected", "broker", c.opt.Broker, "group", c.opt.Group, "channels", channels)
	})
	o.SetConnectionLostHandler(func(_ mqtt.Client, err error) { c.log.Warn("ingest connection lost", "channels", channels, "err", err) })
	o.SetDefaultPublishHandler(enqueue)
	return o
}

// Run connects, consumes until ctx is done, then drains in-flight work and disconnects.
func (c *Consumer) Run(ctx context.Context) error {
	c.alertClient.Connect()
	c.client.Connect()

	var wg sync.WaitGroup
	work := func(q <-chan mqtt.Message) {
		defer wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case m := <-q:
				c.handle(ctx, m)
			}
		}
	}
	for range c.opt.Workers {
		wg.Add(1)
		go work(c.queue)
	}
	for range max(2, c.opt.Workers/2) {
		wg.Add(1)
		go work(c.alertQueue)
	}
	flush := time.NewTicker(time.Second)
	defer flush.Stop()
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-flush.C:
		}
		c.flushSeen(context.WithoutCancel(ctx))
	}
	wg.Wait()
	c.flushSeen(context.WithoutCancel(ctx))
	c.client.Disconnect(500)
	c.alertClient.Disconnect(500)
	return nil
}

// markSeen notes a sign of life; the newest per gateway wins.
func (c *Consumer) markSeen(gw string, online bool, at time.Time, activity *time.Time) {
	c.seenMu.Lock()
	defer c.seenMu.Unlock()
	prev, ok := c.seen[gw]
	if ok && prev.LastActivity != nil && (activity == nil || activity.Before(*prev.LastActivity)) {
		activity = prev.LastActivity
	}
	c.seen[gw] = store.Seen{ID: gw, Online: online, At: at, LastActivity: activity}
}

// flushSeen writes the gathered liveness in one batch; on failure it is kept and
// merged into the next batch (newer signs replace older ones).
func (c *Consumer) flushSeen(ctx context.Context) {
	c.seenMu.Lock()
	if len(c.seen) == 0 {
		c.seenMu.Unlock()
		return
	}
	batch := make([]store.Seen, 0, len(c.seen))
	for _, s := range c.seen {
		batch = append(batch, s)
	}
	c.seen = map[string]store.Seen{}
	c.seenMu.Unlock()
	if err := c.gateways.SeenGateways(ctx, batch); err != nil {
		c.failed.WithLabelValues("liveness").Inc()
		c.log.Error("record gateway liveness; retrying next second", "gateways", len(batch), "err", err)
		for _, s := range batch {
			c.seenMu.Lock()
			if _, newer := c.seen[s.ID]; !newer {
				c.seen[s.ID] = s
			}
			c.seenMu.Unlock()
		}
	}
}

// enqueue runs on paho's goroutine and only hands over; the bounded queue is the
// back-pressure.
func (c *Consumer) enqueue(_ mqtt.Client, m mqtt.Message) { c.queue <- c.acks.add(m) }

func (c *Consumer) handle(ctx context.Context, m mqtt.Message) {
	gw, ch, err := mqttv1.ParseTopic(m.Topic())
	if err != nil {
		c.reject("unknown", mqttv1.ReasonInvalid, err, m)
		return
	}
	c.received.WithLabelValues(string(ch)).Inc()
	now := time.Now()
	var storeErr error
	switch ch {
	case mqttv1.ChAlert:
		a, err := mqttv1.Decode[mqttv1.Alert](m.Payload())
		if err == nil && a.Gateway != gw {
			err = &mqttv1.Error{Channel: ch, Reason: mqttv1.ReasonInvalid, Field: "gateway", Msg: fmt.Sprintf("%q, but published on %s's topic", a.Gateway, gw)}
		}
		if err != nil {
			c.reject(string(ch), mqttv1.ReasonOf(err), err, m)
			return
		}
		created, err := c.alerts.IngestAlert(ctx, a, now)
		if err != nil {
			storeErr = err
			break
		}
		c.lag.Observe(time.Since(now).Seconds())
		if !created {
			c.duplicate.Inc()
		}
		c.ackAlert(gw, a)
		if created && c.opt.OnAlert != nil {
			c.opt.OnAlert(a)
		}
	case mqttv1.ChTelemetry:
		t, err := mqttv1.Decode[mqttv1.Telemetry](m.Payload())
		if err == nil && t.Gateway != gw {
			err = &mqttv1.Error{Channel: ch, Reason: mqttv1.ReasonInvalid, Field: "gateway", Msg: fmt.Sprintf("%q, but published on %s's topic", t.Gateway, gw)}
		}
		if err != nil {
			c.reject(string(ch), mqttv1.ReasonOf(err), err, m)
			return
		}
		storeErr = c.telemetry.Write(ctx, t)
		c.markSeen(gw, true, now, nil)
	case mqttv1.ChStatus:
		if len(m.Payload()) == 0 {
			break // a cleared retained status
		}
		s, err := mqttv1.Decode[mqttv1.Status](m.Payload())
		if err != nil {
			c.reject(string(ch), mqttv1.ReasonOf(err), err, m)
			return
		}
		c.markSeen(gw, s.State == "online", now, nil)
	case mqttv1.ChHeartbeat:
		hb, err := mqttv1.Decode[mqttv1.Heartbeat](m.Payload())
		if err != nil {
			c.reject(string(ch), mqttv1.ReasonOf(err), err, m)
			return
		}
		c.markSeen(gw, true, now, hb.LastActivity)
	default:
		c.reject(string(ch), mqttv1.ReasonInvalid, errors.New("not an upstream channel"), m)
		return
	}
	if storeErr != nil {
		// Not acked: the broker redelivers after a reconnect and the gateway resends
		// alerts until the application ack, so nothing is lost while the database is down.
		c.failed.WithLabelValues(string(ch)).Inc()
		c.log.Error("store message", "topic", m.Topic(), "err", storeErr)
		skip(m)
		return
	}
	m.Ack()
}

// reject counts and logs a bad message and acks it: redelivering it cannot help.
func (c *Consumer) reject(ch string, reason mqttv1.Reason, err error, m mqtt.Message) {
	c.rejected.WithLabelValues(ch, string(reason)).Inc()
	c.log.Warn("message rejected", "topic", m.Topic(), "bytes", len(m.Payload()), "reason", reason, "err", err)
	m.Ack()
}

func (c *Consumer) ackAlert(gw string, a mqttv1.Alert) {
	b, err := mqttv1.Encode(mqttv1.Ack{V: mqttv1.Version, Alerts: []mqttv1.AckItem{a.Key()}})
	if err != nil {
		c.log.Error("encode ack", "err", err)
		return
	}
	// Not waited on: if it is lost, the gateway resends and gets acked again.
	c.alertClient.Publish(mqttv1.Topic(gw, mqttv1.ChAck), 1, false, b)
}

// Connected reports whether the consumer's MQTT session is up.
func (c *Consumer) Connected() bool {
	return c.client.IsConnectionOpen() && c.alertClient.IsConnectionOpen()
}

// PublishConfig sends a home's settings to its gateway, retained so the gateway gets
// them on every (re)connect; it waits for the broker's acknowledgement.
func (c *Consumer) PublishConfig(ctx context.Context, cfg mqttv1.Config) error {
	b, err := mqttv1.Encode(cfg)
	if err != nil {
		return fmt.Errorf("config for %s: %w", cfg.Gateway, err)
	}
	t := c.client.Publish(mqttv1.Topic(cfg.Gateway, mqttv1.ChConfig), 1, true, b)
	select {
	case <-t.Done():
		if err := t.Error(); err != nil {
			return fmt.Errorf("publish config to %s: %w", cfg.Gateway, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("publish config to %s: %w", cfg.Gateway, ctx.Err())
	}
}
