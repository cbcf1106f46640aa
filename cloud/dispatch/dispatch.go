// Package dispatch turns committed alerts into incidents and pages people: the
// on-duty grid worker first, then along the grid's escalation chain until someone
// accepts. Everything it decides is in the database first (incident, timer,
// notification row) and acted on after, so a crash or a second replica neither loses
// nor doubles a page.
package dispatch

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shouwang-care/shouwang/cloud/store"
	"github.com/shouwang-care/shouwang/firmware-protocol/mqttv1"
)

// Store is what dispatch needs of the database.
type Store interface {
	UnattachedAlerts(ctx context.Context, limit int) ([]string, error)
	OpenIncident(ctx context.Context, alertID string, now time.Time) (string, bool, error)
	AutoResolveDevice(ctx context.Context, alertID string, now time.Time) (string, error)
	EscalateDue(ctx context.Context, now time.Time, limit int) ([]store.Page, error)
	PendingNotifications(ctx context.Context, limit int) ([]store.Page, error)
	MarkNotified(ctx context.Context, id string, at time.Time) error
	Alert(ctx context.Context, id string) (store.Alert, error)
	AlertsOfIncident(ctx context.Context, incidentID string) ([]store.Alert, error)
	Incident(ctx context.Context, id string) (store.Incident, error)
}

// Notifier delivers a page to a person (in-app, SMS, WeCom…). It must be idempotent
// on page.ID: after a crash the same page may be delivered again.
type Notifier interface {
	Notify(ctx context.Context, p store.Page, inc store.Incident) error
}

// Publisher shows changes live in the web app.
type Publisher interface {
	Publish(event string, v any)
}

// Clock is injected so escalation can be tested on a timeline.
type Clock interface{ Now() time.Time }

type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

// Dispatcher runs the passes. Run it once; Kick and Committed from anywhere.
type Dispatcher struct {
	store    Store
	notifier Notifier
	live     Publisher
	clock    Clock
	log      *slog.Logger
	kick     chan struct{}
	interval time.Duration

	pages    *prometheus.CounterVec
	failures prometheus.Counter
	latency  prometheus.Histogram
	backlog  prometheus.Gauge
}

// New returns a dispatcher checking timers every interval. clock nil means the wall clock.
func New(s Store, n Notifier, live Publisher, clock Clock, log *slog.Logger, interval time.Duration) *Dispatcher {
	if clock == nil {
		clock = wallClock{}
	}
	return &Dispatcher{store: s, notifier: n, live: live, clock: clock, log: log, kick: make(chan struct{}, 1), interval: interval,
		pages:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "shouwang_dispatch_pages_total", Help: "People paged, by kind (dispatched, escalated)."}, []string{"kind"}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{Name: "shouwang_notification_failures_total", Help: "Page deliveries that failed (retried)."}),
		backlog:  prometheus.NewGauge(prometheus.GaugeOpts{Name: "shouwang_notification_backlog", Help: "Pages decided but not yet delivered."}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "shouwang_dispatch_latency_seconds", Help: "From receipt of the first alert to the first page of its incident.",
			Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}}),
	}
}

// Collectors returns the metrics to register.
func (d *Dispatcher) Collectors() []prometheus.Collector {
	return []prometheus.Collector{d.pages, d.failures, d.latency, d.backlog}
}

// Kick asks for a pass now.
func (d *Dispatcher) Kick() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// Committed is called after ingest commits an alert message.
func (d *Dispatcher) Committed(ctx context.Context, a mqttv1.Alert) {
	if a.State == mqttv1.Cleared && a.Class != mqttv1.ClassResident {
		id, err := d.store.AutoResolveDevice(ctx, a.ID, d.clock.Now())
		if err != nil {
			d.log.Error("auto-resolve device incident", "alert", a.ID, "err", err)
		} else if id != "" {
			d.publishIncident(ctx, id)
		}
	}
	if cur, err := d.store.Alert(ctx, a.ID); err == nil {
		d.live.Publish("alert", cur)
	}
	d.Kick()
}

// Run passes until ctx is done.
func (d *Dispatcher) Run(ctx context.Context) error {
	t := time.NewTicker(d.interval)
	defer t.Stop()
	for {
		d.Pass(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-d.kick:
		case <-t.C:
		}
	}
}

// Pass groups new alerts into incidents, fires due escalation timers and delivers
// pending pages. Tests call it directly with an injected clock.
func (d *Dispatcher) Pass(ctx context.Context) {
	now := d.clock.Now()
	ids, err := d.store.UnattachedAlerts(ctx, 200)
	if err != nil {
		d.log.Error("list new alerts", "err", err)
	}
	for _, id := range ids {
		inc, opened, err := d.store.OpenIncident(ctx, id, now)
		if err != nil {
			d.log.Error("open incident", "alert", id, "err", err)
			continue
		}
		if !opened {
			d.log.Info("alert attached to open incident; no new page", "alert", id, "incident", inc)
			// It now shares the incident's assignee: show that live.
			d.publishIncident(ctx, inc)
		}
	}
	if _, err := d.store.EscalateDue(ctx, now, 100); err != nil {
		d.log.Error("escalate", "err", err)
	}
	d.deliver(ctx)
}

func (d *Dispatcher) deliver(ctx context.Context) {
	pending, err := d.store.PendingNotifications(ctx, 200)
	if err != nil {
		d.log.Error("pending notifications", "err", err)
		return
	}
	d.backlog.Set(float64(len(pending)))
	for _, p := range pending {
		inc, err := d.store.Incident(ctx, p.IncidentID)
		if err != nil {
			d.log.Error("load incident", "incident", p.IncidentID, "err", err)
			continue
		}
		if err := d.notifier.Notify(ctx, p, inc); err != nil {
			// Stays pending: retried on the next pass.
			d.failures.Inc()
			d.log.Warn("page not delivered; will retry", "page", p.ID, "worker", p.Worker.ID, "err", err)
			continue
		}
		if err := d.store.MarkNotified(ctx, p.ID, d.clock.Now()); err != nil {
			d.log.Error("mark page delivered", "page", p.ID, "err", err)
		}
		d.pages.WithLabelValues(p.Kind).Inc()
		if p.Kind == "dispatched" {
			d.latency.Observe(d.clock.Now().Sub(inc.OpenedAt).Seconds())
		}
		d.log.Info("paged", "kind", p.Kind, "incident", p.IncidentID, "worker", p.Worker.Name, "step", p.Step)
		d.publishIncident(ctx, p.IncidentID)
	}
	d.backlog.Set(0)
}

func (d *Dispatcher) publishIncident(ctx context.Context, id string) {
	inc, err := d.store.Incident(ctx, id)
	if err != nil {
		return
	}
	d.live.Publish("incident", inc)
	alerts, err := d.store.AlertsOfIncident(ctx, id)
	if err != nil {
		return
	}
	for _, a := range alerts {
		d.live.Publish("alert", a)
	}
}
