package liveness

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/shouwang-care/shouwang/cloud/store"
	"github.com/shouwang-care/shouwang/firmware-protocol/mqttv1"
)

// TestOfflineInhibitsAndRecovers runs on a real SQLite store: silence past the budget
// raises gateway_offline, holds a no-water incident opened meanwhile, and recovery
// clears the alert, resolves the gateway incident and releases the held one.
func TestOfflineInhibitsAndRecovers(t *testing.T) {
	ctx := context.Background()
	s, err := store.Open(ctx, filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, err := range []error{
		s.PutGrid(ctx, store.Grid{ID: "g1", Name: "g"}),
		s.PutWorker(ctx, store.Worker{ID: "w1", GridID: "g1", Name: "w", OnDuty: true}),
		s.PutWorker(ctx, store.Worker{ID: "t1", GridID: "g1", Name: "tech", Role: "technician"}),
		s.PutHome(ctx, store.Home{ID: "h1", GridID: "g1", Address: "x"}),
		s.PutGateway(ctx, "gw-hz-0001", "h1", "hash"),
		s.PutGateway(ctx, "gw-hz-0002", "h1", "never seen"),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	now := t0
	var committed []mqttv1.Alert
	w := New(s, func(_ context.Context, a mqttv1.Alert) { committed = append(committed, a) }, 3*time.Minute, time.Second,
		func() time.Time { return now }, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := s.SeenGateways(ctx, []store.Seen{{ID: "gw-hz-0001", Online: true, At: t0}}); err != nil {
		t.Fatal(err)
	}
	// A last will arrives (online=false) but silence is still within budget: nothing.
	if err := s.SeenGateways(ctx, []store.Seen{{ID: "gw-hz-0001", Online: false, At: t0.Add(time.Minute)}}); err != nil {
		t.Fatal(err)
	}
	now = t0.Add(3*time.Minute + 59*time.Second)
	w.Check(ctx)
	if len(committed) != 0 {
		t.Fatalf("offline declared within the budget: %+v", committed)
	}
	now = t0.Add(5 * time.Minute)
	w.Check(ctx)
	w.Check(ctx) // once only
	if len(committed) != 1 || committed[0].Rule != "gateway_offline" || committed[0].Class != mqttv1.ClassGateway {
		t.Fatalf("committed %+v", committed)
	}
	gwInc, _, err := s.OpenIncident(ctx, committed[0].ID, now)
	if err != nil {
		t.Fatal(err)
	}
	pages, _ := s.EscalateDue(ctx, now, 10)
	if len(pages) != 1 || pages[0].Worker.ID != "t1" {
		t.Fatalf("gateway offline paged %+v, want the technician", pages)
	}
	// A no-water alert (from the backlog) while offline: opened but held.
	nw := mqttv1.Alert{V: 1, ID: "nw1", Gateway: "gw-hz-0001", Rule: "no_water", State: mqttv1.Raised, Severity: mqttv1.Critical,
		Class: mqttv1.ClassResident, At: now, RaisedAt: now}
	if _, err := s.IngestAlert(ctx, nw, now); err != nil {
		t.Fatal(err)
	}
	held, _, err := s.OpenIncident(ctx, "nw1", now)
	if err != nil {
		t.Fatal(err)
	}
	if pages, _ := s.EscalateDue(ctx, now.Add(time.Hour), 10); len(pages) != 0 {
		t.Fatalf("inhibited incident paged %+v", pages)
	}
	if inc, _ := s.Incident(ctx, held); !inc.Inhibited {
		t.Fatalf("inhibition not visible: %+v", inc)
	}
	// The gateway reports again.
	now = t0.Add(2 * time.Hour)
	if err := s.SeenGateways(ctx, []store.Seen{{ID: "gw-hz-0001", Online: true, At: now}}); err != nil {
		t.Fatal(err)
	}
	w.Check(ctx)
	if len(committed) != 2 || committed[1].State != mqttv1.Cleared || committed[1].ID != committed[0].ID {
		t.Fatalf("recovery: %+v", committed)
	}
	if _, err := s.AutoResolveDevice(ctx, committed[1].ID, now); err != nil {
		t.Fatal(err)
	}
	if inc, _ := s.Incident(ctx, gwInc); inc.State != store.IncResolved {
		t.Fatalf("gateway incident %s", inc.State)
	}
	if inc, _ := s.Incident(ctx, held); inc.Inhibited {
		t.Fatalf("still inhibited after recovery")
	}
	if pages, _ := s.EscalateDue(ctx, now, 10); len(pages) != 1 || pages[0].Worker.ID != "w1" {
		t.Fatalf("released incident paged %+v, want the worker", pages)
	}
}
