// Command stormedge is a test-only gateway for the kill -9 fault test
// (e2e/faults_test.go): it raises a stream of SOS alerts through the production outbox
// and uplink, committing each with its "rule state" in one transaction as the daemon
// does, and prints "committed <id>" only after the commit returned. The test kills it
// at random points and checks that every printed alert reaches the cloud once.
//
//	stormedge -state DIR -broker tcp://… -gw ID -total N [-pace D]
//
// On start it resumes from the state it committed last, so a restarted storm neither
// forgets nor re-raises an alert under a new ID. When all N alerts are committed it
// waits for the cloud to acknowledge every one, prints "drained" and exits 0.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/shouwang-care/shouwang/edge/outbox"
	"github.com/shouwang-care/shouwang/edge/uplink"
	"github.com/shouwang-care/shouwang/firmware-protocol/mqttv1"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "stormedge:", err)
		os.Exit(1)
	}
}

func run() error {
	state := flag.String("state", "", "state directory")
	broker := flag.String("broker", "", "MQTT broker URL")
	gw := flag.String("gw", "", "gateway ID")
	total := flag.Int("total", 150, "alerts to raise over all runs")
	pace := flag.Duration("pace", 2*time.Millisecond, "pause between alerts")
	flag.Parse()

	box, quarantined, err := outbox.Open(filepath.Join(*state, "outbox.db"))
	if err != nil {
		return err
	}
	defer box.Close()
	if quarantined != "" {
		// A kill -9 must never corrupt bbolt; the test treats this as a failure.
		fmt.Printf("quarantined %s\n", quarantined)
	}
	next := 0
	if err := box.GetState("storm", &next); err != nil && !errors.Is(err, outbox.ErrNotFound) {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	u, err := uplink.New(uplink.Options{Broker: *broker, GatewayID: *gw, KeepAlive: 5 * time.Second,
		ResendInterval: 300 * time.Millisecond, Heartbeat: time.Hour, Software: "stormedge"}, box, log)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- u.Run(ctx) }()

	for ; next < *total; next++ {
		at := time.Now()
		a := mqttv1.Alert{V: mqttv1.Version, ID: fmt.Sprintf("storm-%04d", next), Gateway: *gw, Rule: "sos",
			State: mqttv1.Raised, Severity: mqttv1.Critical, Class: mqttv1.ClassResident, At: at, RaisedAt: at,
			Evidence: []mqttv1.Evidence{{Signal: "button", LastAt: &at, Note: "button.sos"}}}
		if err := box.Commit([]mqttv1.Alert{a}, "storm", next+1); err != nil {
			return err
		}
		fmt.Printf("committed %s\n", a.ID)
		u.Kick()
		time.Sleep(*pace)
	}
	for box.Len() > 0 {
		time.Sleep(20 * time.Millisecond)
	}
	fmt.Println("drained")
	cancel()
	return <-done
}
