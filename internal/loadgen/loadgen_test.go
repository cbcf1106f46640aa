package loadgen

import (
	"context"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/shouwang-care/shouwang/firmware-protocol/mqttv1"
	"github.com/shouwang-care/shouwang/internal/testinfra"
)

func TestMain(m *testing.M) { testinfra.Main(m) }

// TestFleetPublishesWhatItCounts runs 20 gateways against a real mosquitto with a
// paho subscriber standing in for the cloud: every payload must pass the v1
// decoder, every QoS 1 publish the generator counts must arrive, and the acks the
// stand-in sends for alerts must come back as measured ack latencies.
func TestFleetPublishesWhatItCounts(t *testing.T) {
	broker := testinfra.Mosquitto(t)

	var mu sync.Mutex
	got := map[mqttv1.Channel]int{}
	gateways := map[string]bool{}
	var bad []string
	o := mqtt.NewClientOptions().AddBroker(broker.Addr).SetClientID("fake-cloud").SetOrderMatters(false)
	cloud := mqtt.NewClient(o)
	if tok := cloud.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer cloud.Disconnect(100)
	handle := func(c mqtt.Client, m mqtt.Message) {
		gw, ch, err := mqttv1.ParseTopic(m.Topic())
		if err != nil {
			t.Errorf("topic: %v", err)
			return
		}
		var derr error
		switch ch {
		case mqttv1.ChTelemetry:
			_, derr = mqttv1.Decode[mqttv1.Telemetry](m.Payload())
		case mqttv1.ChHeartbeat:
			_, derr = mqttv1.Decode[mqttv1.Heartbeat](m.Payload())
		case mqttv1.ChStatus:
			_, derr = mqttv1.Decode[mqttv1.Status](m.Payload())
		case mqttv1.ChAlert:
			var a mqttv1.Alert
			if a, derr = mqttv1.Decode[mqttv1.Alert](m.Payload()); derr == nil {
				b, _ := mqttv1.Encode(mqttv1.Ack{V: 1, Alerts: []mqttv1.AckItem{a.Key()}})
				c.Publish(mqttv1.Topic(gw, mqttv1.ChAck), 1, false, b)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		if derr != nil {
			bad = append(bad, derr.Error())
		}
		got[ch]++
		gateways[gw] = true
	}
	filters := map[string]byte{}
	for _, ch := range []mqttv1.Channel{mqttv1.ChTelemetry, mqttv1.ChAlert, mqttv1.ChStatus, mqttv1.ChHeartbeat} {
		filters[mqttv1.Filter(ch)] = 1
	}
	if tok := cloud.SubscribeMultiple(filters, handle); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := Run(ctx, Config{
		Broker: broker.Addr, Gateways: 20, TelemetryEvery: 200 * time.Millisecond, HeartbeatEvery: 500 * time.Millisecond,
		AlertRate: 10, Duration: 2 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", *res)
	if res.Connected != 20 || res.ConnErrors != 0 || res.Dropped != 0 {
		t.Fatalf("connected %d, errors %d %v, dropped %d", res.Connected, res.ConnErrors, res.FirstErrors, res.Dropped)
	}
	// 20 gateways × 2 s / 200 ms ≈ 200 telemetry batches, 10/s × 2 s ≈ 20 alerts.
	if n := res.Published["telemetry"]; n < 150 {
		t.Errorf("published %d telemetry batches, want ≈200", n)
	}
	if n := res.AlertsSent; n < 15 {
		t.Errorf("sent %d alerts, want ≈20", n)
	}
	for ch, n := range res.Published {
		if ch != "heartbeat" && res.PubAcked[ch] != n {
			t.Errorf("%s: %d published, %d PUBACKed", ch, n, res.PubAcked[ch])
		}
	}
	if res.AlertsAcked != res.AlertsSent || res.AckP99 <= 0 || res.AckP99 > 2*time.Second {
		t.Errorf("alerts: %d sent, %d acked, p99 %v", res.AlertsSent, res.AlertsAcked, res.AckP99)
	}

	// Everything counted reached the subscriber (QoS 0 heartbeats may not, in theory).
	deadline := time.Now().Add(3 * time.Second)
	for {
		mu.Lock()
		done := got[mqttv1.ChTelemetry] >= int(res.Published["telemetry"]) && got[mqttv1.ChAlert] >= int(res.AlertsSent)
		mu.Unlock()
		if done || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bad) > 0 {
		t.Errorf("%d payloads failed the v1 decoder, e.g. %s", len(bad), bad[0])
	}
	for _, ch := range []mqttv1.Channel{mqttv1.ChTelemetry, mqttv1.ChAlert, mqttv1.ChStatus} {
		if got[ch] != int(res.Published[string(ch)]) {
			t.Errorf("%s: generator says %d, subscriber got %d", ch, res.Published[string(ch)], got[ch])
		}
	}
	if hb := res.Published["heartbeat"]; hb == 0 || got[mqttv1.ChHeartbeat] < int(hb)*9/10 {
		t.Errorf("heartbeat: generator says %d, subscriber got %d", hb, got[mqttv1.ChHeartbeat])
	}
	if len(gateways) != 20 {
		t.Errorf("messages from %d gateways, want 20", len(gateways))
	}
}
