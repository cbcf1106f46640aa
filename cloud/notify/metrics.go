package notify

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	sent    *prometheus.CounterVec
	failed  *prometheus.CounterVec
	latency *prometheus.HistogramVec
}

func newMetrics() *metrics {
	return &metrics{
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shouwang_notify_sent_total",
			Help: "Messages accepted by a channel's provider.",
		}, []string{"channel"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shouwang_notify_failed_total",
			Help: "Failed delivery attempts (each retry counts), by reason: transient, rate_limited, rejected, auth, gone, invalid, canceled.",
		}, []string{"channel", "reason"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "shouwang_notify_latency_seconds",
			Help:    "Duration of one delivery attempt (one provider call).",
			Buckets: []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}, []string{"channel"}),
	}
}

// Collectors returns the Notifier's metrics for registration:
// shouwang_notify_sent_total{channel}, shouwang_notify_failed_total{channel,reason}
// and shouwang_notify_latency_seconds{channel}.
func (n *Notifier) Collectors() []prometheus.Collector {
	return []prometheus.Collector{n.m.sent, n.m.failed, n.m.latency}
}
