// Package liveness watches that every installed gateway is still reporting. A gateway
// silent past its heartbeat budget means nobody is watching that home: the watcher
// raises a gateway_offline alert (class gateway, so it goes to a technician and never
// counts as a resident alert), which holds the home's "nothing happened" incidents
// until the gateway is back. The budget is the debounce: a broker's last-will or a
// short reconnect does not open an incident; only lasting silence does.
package liveness

import (
	"context"
	"log/slog"
	"time"

	"github.com/shouwang-care/shouwang/cloud/store"
	"github.com/shouwang-care/shouwang/firmware-protocol/mqttv1"
)

// Store is what the watcher needs.
type Store interface {
	SilentGateways(ctx context.Context, cutoff time.Time) ([]store.SilentGateway, error)
	MarkOffline(ctx context.Context, id, alertID string, since time.Time) error
	RecoveredGateways(ctx context.Context) ([]store.RecoveredGateway, error)
	MarkRecovered(ctx context.Context, g store.RecoveredGateway, now time.Time) error
	IngestAlert(ctx context.Context, a mqttv1.Alert, received time.Time) (bool, error)
}

// Committed is told about every alert the watcher commits (the dispatcher).
type Committed func(ctx context.Context, a mqttv1.Alert)

// Watcher checks liveness every interval. Run it once.
type Watcher struct {
	store     Store
	committed Committed
	budget    time.Duration
	interval  time.Duration
	now       func() time.Time
	log       *slog.Logger
}

// New returns a watcher declaring a gateway offline after budget of silence.
func New(s Store, committed Committed, budget, interval time.Duration, now func() time.Time, log *slog.Logger) *Watcher {
	if now == nil {
		now = time.Now
	}
	return &Watcher{store: s, committed: committed, budget: budget, interval: interval, now: now, log: log}
}

// Run checks until ctx is done.
func (w *Watcher) Run(ctx context.Context) error {
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		w.Check(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Check runs one round: new silences, then recoveries.
func (w *Watcher) Check(ctx context.Context) {
	now := w.now()
	silent, err := w.store.SilentGateways(ctx, now.Add(-w.budget))
	if err != nil {
		w.log.Error("liveness check", "err", err)
		return
	}
	for _, g := range silent {
		a := alertFor(g.ID, g.LastSeen, now, mqttv1.Raised)
		a.Evidence = []mqttv1.Evidence{{Signal: "gateway", LastAt: &g.LastSeen, QuietSecs: int64(now.Sub(g.LastSeen) / time.Second), Threshold: int64(w.budget / time.Second)}}
		if _, err := w.store.IngestAlert(ctx, a, now); err != nil {
			w.log.Error("raise gateway_offline", "gateway", g.ID, "err", err)
			continue
		}
		if err := w.store.MarkOffline(ctx, g.ID, a.ID, g.LastSeen); err != nil {
			w.log.Error("mark offline", "gateway", g.ID, "err", err)
			continue
		}
		w.log.Warn("gateway offline: nobody is watching this home", "gateway", g.ID, "home", g.HomeID, "last_seen", g.LastSeen)
		w.committed(ctx, a)
	}
	back, err := w.store.RecoveredGateways(ctx)
	if err != nil {
		w.log.Error("liveness recovery check", "err", err)
		return
	}
	for _, g := range back {
		if err := w.store.MarkRecovered(ctx, g, now); err != nil {
			w.log.Error("mark recovered", "gateway", g.ID, "err", err)
			continue
		}
		if g.AlertID != "" {
			a := alertFor(g.ID, g.Since, g.Seen, mqttv1.Cleared)
			a.ID = g.AlertID
			a.Evidence = []mqttv1.Evidence{{Signal: "gateway", LastAt: &g.Seen, Note: "reporting again"}}
			if _, err := w.store.IngestAlert(ctx, a, now); err != nil {
				w.log.Error("clear gateway_offline", "gateway", g.ID, "err", err)
				continue
			}
			w.committed(ctx, a)
		}
		w.log.Info("gateway back online", "gateway", g.ID, "offline_for", g.Seen.Sub(g.Since).Round(time.Second))
	}
}

// alertFor builds the cloud-side alert; its ID is derived from the gateway and the
// start of the silence, so a replica racing this one commits the same alert.
func alertFor(gw string, since, at time.Time, state mqttv1.AlertState) mqttv1.Alert {
	return mqttv1.Alert{V: mqttv1.Version, ID: "gateway-offline-" + gw + "-" + since.UTC().Format("20060102T150405.000Z"),
		Gateway: gw, Rule: "gateway_offline", State: state, Severity: mqttv1.Warning, Class: mqttv1.ClassGateway, At: at, RaisedAt: since}
}
