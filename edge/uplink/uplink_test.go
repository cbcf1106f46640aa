package uplink

import (
	"io"
	"log/slog"
	"testing"

	"github.com/shouwang-care/shouwang/firmware-protocol/mqttv1"
	"github.com/shouwang-care/shouwang/internal/golden"
)

type fakeBox struct{ acked []mqttv1.AckItem }

func (f *fakeBox) Pending(int) ([]mqttv1.Alert, error)              { return nil, nil }
func (f *fakeBox) Len() int                                         { return 0 }
func (f *fakeBox) PendingTelemetry(int) ([]mqttv1.Telemetry, error) { return nil, nil }
func (f *fakeBox) DeleteTelemetry(...uint64) error                  { return nil }
func (f *fakeBox) TelemetryDropped() int64                          { return 0 }
func (f *fakeBox) Ack(items []mqttv1.AckItem) (int, error) {
	f.acked = append(f.acked, items...)
	return len(items), nil
}

// message is a received MQTT message; only topic and payload matter here.
type message struct {
	topic   string
	payload []byte
}

func (m message) Duplicate() bool   { return false }
func (m message) Qos() byte         { return 1 }
func (m message) Retained() bool    { return false }
func (m message) Topic() string     { return m.topic }
func (m message) MessageID() uint16 { return 1 }
func (m message) Payload() []byte   { return m.payload }
func (m message) Ack()              {}

func newTestUplink(t *testing.T, box Outbox, onConfig func(mqttv1.Config)) *Uplink {
	u, err := New(Options{Broker: "tcp://127.0.0.1:1", GatewayID: "gw-hz-0001", OnConfig: onConfig}, box, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestGoldenDownstream: the edge decodes the contract's golden ack and config.
func TestGoldenDownstream(t *testing.T) {
	box := &fakeBox{}
	var got []mqttv1.Config
	u := newTestUplink(t, box, func(c mqttv1.Config) { got = append(got, c) })
	u.handle(message{mqttv1.Topic("gw-hz-0001", mqttv1.ChAck), golden.Payload(t, "ack.json")})
	u.handle(message{mqttv1.Topic("gw-hz-0001", mqttv1.ChConfig), golden.Payload(t, "config.json")})
	if len(box.acked) != 1 || box.acked[0] != (mqttv1.AckItem{ID: "01936f6e-9a80-7c1e-9b1e-3f2a4c5d6e7f", State: mqttv1.Raised}) {
		t.Errorf("ack not applied: %+v", box.acked)
	}
	if len(got) != 1 || got[0].Revision != 7 || got[0].NoWaterHours != 12 {
		t.Errorf("config not delivered: %+v", got)
	}
	if u.Acked.Load() != 1 || u.Rejected.Load() != 0 {
		t.Errorf("counters acked=%d rejected=%d", u.Acked.Load(), u.Rejected.Load())
	}
}

func TestBadDownstreamIsCountedNotApplied(t *testing.T) {
	box := &fakeBox{}
	called := false
	u := newTestUplink(t, box, func(mqttv1.Config) { called = true })
	for _, m := range []message{
		{mqttv1.Topic("gw-hz-0001", mqttv1.ChAck), []byte(`{"v":1,"alerts":[]}`)},
		{mqttv1.Topic("gw-hz-0001", mqttv1.ChAck), []byte(`not json`)},
		{mqttv1.Topic("gw-hz-0001", mqttv1.ChConfig), []byte(`{"v":2}`)},
		// A config for another gateway on our topic is refused.
		{mqttv1.Topic("gw-hz-0001", mqttv1.ChConfig), []byte(`{"v":1,"gateway":"gw-hz-0002","revision":9}`)},
		{"elsewhere/x", []byte(`{}`)},
	} {
		u.handle(m)
	}
	if called || len(box.acked) != 0 {
		t.Fatalf("bad payload applied: config=%v acks=%v", called, box.acked)
	}
	if u.Rejected.Load() != 5 {
		t.Fatalf("rejected %d, want 5", u.Rejected.Load())
	}
}
