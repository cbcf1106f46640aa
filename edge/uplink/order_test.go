package uplink

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/shouwang-care/shouwang/edge/outbox"
	"github.com/shouwang-care/shouwang/firmware-protocol/mqttv1"
	"github.com/shouwang-care/shouwang/internal/faultproxy"
	"github.com/shouwang-care/shouwang/internal/testinfra"
)

// TestBacklogDrainsInOrder: with the link cut, alerts and telemetry pile up in the
// outbox (the uplink keeps trying, nothing is lost); when the link returns the
// backlog reaches the cloud in commit order, alerts before telemetry, each alert is
// acknowledged and the outbox empties.
func TestBacklogDrainsInOrder(t *testing.T) {
	mq := testinfra.Mosquitto(t)
	proxy, err := faultproxy.New(fmt.Sprintf("127.0.0.1:%d", mq.Port))
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	seen := ackingCloud(t, mq.Addr)
	telemetry := make(chan uint64, 100)
	tap := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(mq.Addr).SetClientID("test-tap"))
	if tok := tap.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer tap.Disconnect(100)
	tap.Subscribe("shouwang/v1/gw/+/telemetry", 1, func(_ mqtt.Client, m mqtt.Message) {
		tm, err := mqttv1.Decode[mqttv1.Telemetry](m.Payload())
		if err != nil {
			t.Errorf("bad telemetry: %v", err)
			return
		}
		telemetry <- tm.Seq
	}).WaitTimeout(5 * time.Second)

	box, _, err := outbox.Open(filepath.Join(t.TempDir(), "outbox.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer box.Close()
	const gw, n = "gw-order-0001", 200
	proxy.Down()
	u := runUplink(t, Options{Broker: "tcp://" + proxy.Addr, GatewayID: gw, ResendInterval: 100 * time.Millisecond}, box)
	t0 := time.Now()
	var want []string
	for i := range n {
		at := t0.Add(time.Duration(i) * time.Millisecond)
		a := mqttv1.Alert{V: 1, ID: fmt.Sprintf("order-%03d", i), Gateway: gw, Rule: "sos", State: mqttv1.Raised,
			Severity: mqttv1.Critical, Class: mqttv1.ClassResident, At: at, RaisedAt: at}
		if err := box.Put(a); err != nil {
			t.Fatal(err)
		}
		want = append(want, a.ID)
		u.Kick()
		if i%40 == 0 {
			v := float64(i)
			if _, err := box.PutTelemetry(mqttv1.Telemetry{Readings: []mqttv1.Reading{{T: at, Sensor: "water", TotalM3: &v}}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	time.Sleep(time.Second) // the uplink retries against the cut link meanwhile
	if box.Len() != n || u.Connects.Load() != 0 {
		t.Fatalf("while down: %d pending, %d connects", box.Len(), u.Connects.Load())
	}
	proxy.Up()
	up := time.Now()

	var got []string
	first := map[string]bool{}
	deadline := time.After(30 * time.Second)
	for len(first) < n {
		select {
		case a := <-seen:
			if !first[a.ID] {
				first[a.ID] = true
				got = append(got, a.ID)
			}
		case <-deadline:
			t.Fatalf("only %d of %d alerts arrived", len(first), n)
		}
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("backlog out of order:\n got %v\nwant %v", got, want)
	}
	var seqs []uint64
	for len(seqs) < 5 {
		select {
		case s := <-telemetry:
			seqs = append(seqs, s)
		case <-time.After(10 * time.Second):
			t.Fatalf("telemetry backlog: got seqs %v, want 1–5", seqs)
		}
	}
	for i, s := range seqs {
		if s != uint64(i+1) {
			t.Fatalf("telemetry out of order: %v", seqs)
		}
	}
	waitUntil(t, 10*time.Second, "outbox drained", func() bool {
		nb, _ := box.TelemetryLen()
		return box.Len() == 0 && nb == 0
	})
	t.Logf("%d alerts and %d telemetry batches drained in order in %v after the link returned; %d alert publishes",
		n, len(seqs), time.Since(up).Round(time.Millisecond), u.Published.Load())
}

func waitUntil(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
