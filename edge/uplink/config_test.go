package uplink

import (
	"fmt"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/shouwang-care/shouwang/firmware-protocol/mqttv1"
	"github.com/shouwang-care/shouwang/internal/faultproxy"
	"github.com/shouwang-care/shouwang/internal/testinfra"
)

// TestRetainedConfigResubscribeAndConfirm: the retained config reaches the edge on
// connect; after the link is cut and restored the uplink subscribes again (clean
// session) and a newer revision arrives; each applied revision is confirmed to the
// cloud at once in a heartbeat's config_revision.
func TestRetainedConfigResubscribeAndConfirm(t *testing.T) {
	const gw = "gw-config-0001"
	mq := testinfra.Mosquitto(t)
	proxy, err := faultproxy.New(fmt.Sprintf("127.0.0.1:%d", mq.Port))
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	cloud := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(mq.Addr).SetClientID("test-cloud-config"))
	if tok := cloud.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer cloud.Disconnect(100)
	revisions := make(chan int64, 10)
	cloud.Subscribe(mqttv1.Topic(gw, mqttv1.ChHeartbeat), 0, func(_ mqtt.Client, m mqtt.Message) {
		hb, err := mqttv1.Decode[mqttv1.Heartbeat](m.Payload())
		if err != nil {
			t.Errorf("bad heartbeat: %v", err)
			return
		}
		revisions <- hb.ConfigRevision
	}).WaitTimeout(5 * time.Second)
	publishConfig := func(rev int64) {
		b, _ := mqttv1.Encode(mqttv1.Config{V: 1, Gateway: gw, Revision: rev, NoWaterHours: 24})
		if tok := cloud.Publish(mqttv1.Topic(gw, mqttv1.ChConfig), 1, true, b); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatal(tok.Error())
		}
	}
	publishConfig(5) // retained before the gateway ever connects

	configs := make(chan mqttv1.Config, 10)
	uc := make(chan *Uplink, 1)
	u := runUplink(t, Options{Broker: "tcp://" + proxy.Addr, GatewayID: gw, KeepAlive: 2 * time.Second,
		OnConfig: func(c mqttv1.Config) {
			configs <- c
			u := <-uc
			u.SetConfigRevision(c.Revision) // what the daemon does once the config is persisted
			uc <- u
		}}, boxWithAlert(t, gw))
	uc <- u
	expect := func(rev int64) {
		t.Helper()
		select {
		case c := <-configs:
			if c.Revision != rev {
				t.Fatalf("config revision %d, want %d", c.Revision, rev)
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("config revision %d not received", rev)
		}
		deadline := time.After(10 * time.Second)
		for {
			select {
			case r := <-revisions:
				if r == rev {
					return
				}
			case <-deadline:
				t.Fatalf("no heartbeat confirming revision %d", rev)
			}
		}
	}
	expect(5)

	proxy.Down()
	waitUntil(t, 10*time.Second, "uplink notices the cut", func() bool { return !u.Connected() })
	for len(revisions) > 0 || len(configs) > 0 { // only what comes after the reconnect counts
		select {
		case <-revisions:
		case <-configs:
		}
	}
	proxy.Up()
	waitUntil(t, 15*time.Second, "uplink reconnected", func() bool { return u.Connects.Load() >= 2 && u.Connected() })
	// The retained revision 5 comes again with the new subscription; the edge (here:
	// the test's OnConfig) sees it and the heartbeat keeps saying 5.
	expect(5)
	publishConfig(6)
	expect(6)
}
