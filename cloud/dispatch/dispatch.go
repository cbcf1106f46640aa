// Package dispatch sends each new alert to the on-duty grid worker of the home's grid.
// It works from the database, not from memory: a sweep picks up every unassigned
// alert, so an alert committed just before a crash is dispatched after the restart.
package dispatch

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shouwang-care/shouwang/cloud/store"
)

// Store is what dispatch needs of the registry and alerts.
type Store interface {
	Unassigned(ctx context.Context, limit int) ([]string, error)
	OnDutyWorker(ctx context.Context, alertID string) (store.Worker, error)
	Assign(ctx context.Context, alertID, workerID string, at time.Time) (bool, error)
	Alert(ctx context.Context, id string) (store.Alert, error)
}

// Notifier tells people about an alert; the first one is the live web app.
type Notifier interface {
	Publish(v any)
}

// Dispatcher assigns alerts. Run it once; Kick from anywhere.
type Dispatcher struct {
	store  Store
	notify Notifier
	log    *slog.Logger
	kick   chan struct{}
	sweep  time.Duration

	Dispatched prometheus.Counter
	Latency    prometheus.Histogram
	NoWorker   prometheus.Counter
}

// New returns a dispatcher that also sweeps every interval.
func New(s Store, n Notifier, log *slog.Logger, sweep time.Duration) *Dispatcher {
	return &Dispatcher{store: s, notify: n, log: log, kick: make(chan struct{}, 1), sweep: sweep,
		Dispatched: prometheus.NewCounter(prometheus.CounterOpts{Name: "shouwang_dispatch_assigned_total", Help: "Alerts assigned to a grid worker."}),
		NoWorker:   prometheus.NewCounter(prometheus.CounterOpts{Name: "shouwang_dispatch_no_worker_total", Help: "Dispatch attempts that found no on-duty worker."}),
		Latency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "shouwang_dispatch_latency_seconds", Help: "From receipt of an alert to its assignment.",
			Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}}),
	}
}

// Collectors returns the metrics to register.
func (d *Dispatcher) Collectors() []prometheus.Collector {
	return []prometheus.Collector{d.Dispatched, d.NoWorker, d.Latency}
}

// Kick asks for a dispatch pass now.
func (d *Dispatcher) Kick() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// Run dispatches until ctx is done.
func (d *Dispatcher) Run(ctx context.Context) error {
	t := time.NewTicker(d.sweep)
	defer t.Stop()
	for {
		d.pass(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-d.kick:
		case <-t.C:
		}
	}
}

func (d *Dispatcher) pass(ctx context.Context) {
	ids, err := d.store.Unassigned(ctx, 200)
	if err != nil {
		d.log.Error("dispatch sweep", "err", err)
		return
	}
	for _, id := range ids {
		w, err := d.store.OnDutyWorker(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			// Stays unassigned and visible to supervisors; retried every sweep.
			d.NoWorker.Inc()
			continue
		}
		if err != nil {
			d.log.Error("find on-duty worker", "alert", id, "err", err)
			continue
		}
		ok, err := d.store.Assign(ctx, id, w.ID, time.Now())
		if err != nil {
			d.log.Error("assign alert", "alert", id, "err", err)
			continue
		}
		if !ok {
			continue // another replica got there first
		}
		a, err := d.store.Alert(ctx, id)
		if err != nil {
			d.log.Error("reload alert", "alert", id, "err", err)
			continue
		}
		d.Dispatched.Inc()
		d.Latency.Observe(time.Since(a.ReceivedAt).Seconds())
		d.log.Info("alert dispatched", "alert", id, "rule", a.Rule, "worker", w.Name, "home", a.HomeID)
		d.notify.Publish(a)
	}
}
