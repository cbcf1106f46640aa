package ingest

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/shouwang-care/shouwang/cloud/store"
	"github.com/shouwang-care/shouwang/firmware-protocol/mqttv1"
	"github.com/shouwang-care/shouwang/internal/golden"
)

// recorder stands in for the stores (the real ones are tested against SQLite,
// PostgreSQL and InfluxDB in their packages and in e2e).
type recorder struct {
	alerts    []mqttv1.Alert
	telemetry []mqttv1.Telemetry
	seen      map[string]bool
	activity  time.Time
}

func (r *recorder) IngestAlert(_ context.Context, a mqttv1.Alert, _ time.Time) (bool, error) {
	for _, old := range r.alerts {
		if old.Key() == a.Key() {
			return false, nil
		}
	}
	r.alerts = append(r.alerts, a)
	return true, nil
}
func (r *recorder) Write(_ context.Context, t mqttv1.Telemetry) error {
	r.telemetry = append(r.telemetry, t)
	return nil
}
func (r *recorder) SeenGateways(_ context.Context, batch []store.Seen) error {
	for _, s := range batch {
		r.seen[s.ID] = s.Online
		if s.LastActivity != nil {
			r.activity = *s.LastActivity
		}
	}
	return nil
}

type message struct {
	topic   string
	payload []byte
	acked   *int
}

func (m message) Duplicate() bool   { return false }
func (m message) Qos() byte         { return 1 }
func (m message) Retained() bool    { return false }
func (m message) Topic() string     { return m.topic }
func (m message) MessageID() uint16 { return 1 }
func (m message) Payload() []byte   { return m.payload }
func (m message) Ack()              { *m.acked++ }

func newTestConsumer() (*Consumer, *recorder) {
	r := &recorder{seen: map[string]bool{}}
	return New(Options{Broker: "tcp://127.0.0.1:1", ClientID: "test"}, r, r, r, slog.New(slog.NewTextHandler(io.Discard, nil))), r
}

// TestGoldenUpstream: the cloud decodes and stores every golden upstream payload and
// acks each message to the broker exactly once.
func TestGoldenUpstream(t *testing.T) {
	c, r := newTestConsumer()
	acks := 0
	for _, f := range []struct {
		ch   mqttv1.Channel
		file string
	}{
		{mqttv1.ChStatus, "status_offline.json"},
		{mqttv1.ChAlert, "alert_raised.json"},
		{mqttv1.ChAlert, "alert_raised.json"}, // a resend
		{mqttv1.ChAlert, "alert_cleared.json"},
		{mqttv1.ChTelemetry, "telemetry.json"},
		{mqttv1.ChHeartbeat, "heartbeat.json"},
	} {
		c.handle(context.Background(), message{mqttv1.Topic("gw-hz-0001", f.ch), golden.Payload(t, f.file), &acks})
	}
	if len(r.alerts) != 2 || r.alerts[0].State != mqttv1.Raised || r.alerts[1].State != mqttv1.Cleared {
		t.Errorf("alerts %+v", r.alerts)
	}
	if len(r.telemetry) != 1 || len(r.telemetry[0].Readings) != 2 {
		t.Errorf("telemetry %+v", r.telemetry)
	}
	c.flushSeen(context.Background())
	if !r.seen["gw-hz-0001"] {
		t.Error("heartbeat did not mark the gateway online")
	}
	if acks != 6 {
		t.Errorf("%d broker acks, want 6", acks)
	}
	if got := testutil.ToFloat64(c.duplicate); got != 1 {
		t.Errorf("duplicates %v, want 1", got)
	}
}

func TestRejections(t *testing.T) {
	c, r := newTestConsumer()
	acks := 0
	alert := golden.Payload(t, "alert_raised.json")
	for _, m := range []message{
		{mqttv1.Topic("gw-hz-0001", mqttv1.ChAlert), []byte(`{"v":1`), &acks},
		{mqttv1.Topic("gw-hz-0001", mqttv1.ChAlert), []byte(`{"v":9}`), &acks},
		{mqttv1.Topic("gw-other-1", mqttv1.ChAlert), alert, &acks}, // payload names another gateway
		{mqttv1.Topic("gw-hz-0001", mqttv1.ChTelemetry), make([]byte, 300<<10), &acks},
		{"shouwang/v1/gw/gw-hz-0001/nonsense", alert, &acks},
	} {
		c.handle(context.Background(), m)
	}
	if len(r.alerts) != 0 || len(r.telemetry) != 0 {
		t.Fatalf("rejected payloads were stored: %+v %+v", r.alerts, r.telemetry)
	}
	// Rejected messages are acked: redelivering them cannot help.
	if acks != 5 {
		t.Errorf("%d acks, want 5", acks)
	}
	for _, w := range []struct {
		ch, reason string
		n          float64
	}{
		{"alert", "malformed", 1}, {"alert", "version", 1}, {"alert", "invalid", 1}, {"telemetry", "too_large", 1}, {"unknown", "invalid", 1},
	} {
		if got := testutil.ToFloat64(c.rejected.WithLabelValues(w.ch, w.reason)); got != w.n {
			t.Errorf("rejected{%s,%s} = %v, want %v", w.ch, w.reason, got, w.n)
		}
	}
}
