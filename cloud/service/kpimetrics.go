package service

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shouwang-care/shouwang/cloud/store"
)

// kpiCollector exports the per-grid service figures of the last 30 days on each
// scrape, so dashboards and alert rules see the same numbers as the API.
type kpiCollector struct {
	store *store.Store
	descs map[string]*prometheus.Desc
}

func newKPICollector(s *store.Store) *kpiCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &kpiCollector{store: s, descs: map[string]*prometheus.Desc{
		"accept":  d("shouwang_kpi_accept_p50_seconds", "Median time from discovery to a worker accepting, last 30 days.", "grid"),
		"resolve": d("shouwang_kpi_resolve_p50_seconds", "Median time from discovery to resolution, last 30 days.", "grid"),
		"false":   d("shouwang_kpi_false_alarm_ratio", "Resolved incidents that were false alarms, last 30 days.", "grid"),
		"open":    d("shouwang_kpi_open_incidents", "Open resident incidents by age.", "grid", "age"),
		// Read from the registry, so every replica reports the same numbers: aggregate
		// with max, not sum.
		"gateways": d("shouwang_gateways", "Registered gateways by liveness: online, offline, never_seen (not yet installed), revoked.", "state"),
	}}
}

func (k *kpiCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range k.descs {
		ch <- d
	}
}

// Collect reads the figures at each scrape. A failed query leaves its series out
// (missing, not zero); the gateway counts are read first and on their own, so a
// slow 30-day KPI query cannot hide them (ShouwangGatewayCountsMissing watches).
func (k *kpiCollector) Collect(ch chan<- prometheus.Metric) {
	g := func(d string, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(k.descs[d], prometheus.GaugeValue, v, labels...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	if c, err := k.store.CountGateways(ctx); err == nil {
		g("gateways", float64(c.Online), "online")
		g("gateways", float64(c.Offline), "offline")
		g("gateways", float64(c.NeverSeen), "never_seen")
		g("gateways", float64(c.Revoked), "revoked")
	}
	cancel()
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	now := time.Now()
	kp, err := k.store.KPIs(ctx, now.AddDate(0, 0, -30), now)
	if err != nil {
		return
	}
	for _, x := range kp.Grids {
		g("accept", x.AcceptP50S, x.Key)
		g("resolve", x.ResolveP50S, x.Key)
		g("false", x.FalseAlarmRatio, x.Key)
		g("open", float64(x.OpenUnder1h), x.Key, "under_1h")
		g("open", float64(x.Open1hTo24h), x.Key, "1h_to_24h")
		g("open", float64(x.OpenOver24h), x.Key, "over_24h")
	}
}
