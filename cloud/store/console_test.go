package store

import (
	"context"
	"testing"
	"time"

	"github.com/shouwang-care/shouwang/firmware-protocol/mqttv1"
)

// TestConsoleQueries: the gateway list, escalations and KPIs of a supervisor's
// scope hold their community's homes only; an admin's hold everything, unbound
// gateways too.
func TestConsoleQueries(t *testing.T) {
	backends(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		seedChain(t, s) // grid g1: home h1, gateway gw-hz-0001, on-duty w1, backup b1
		must(t, s.PutGrid(ctx, Grid{ID: "g1", Name: "mine", Community: "c1"}))
		must(t, s.PutGrid(ctx, Grid{ID: "g2", Name: "other", Community: "c2"}))
		must(t, s.PutHome(ctx, Home{ID: "h2", GridID: "g2", Address: "elsewhere"}))
		must(t, s.PutGateway(ctx, "gw-hz-0002", "h2", "hash"))
		// Provisioned in the factory, not yet claimed by a home.
		_, err := s.db.ExecContext(ctx, `INSERT INTO gateways (id, secret_hash, created_at) VALUES ('gw-hz-0003', 'hash', 0)`)
		must(t, err)
		t0 := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
		must(t, s.SeenGateways(ctx, []Seen{{ID: "gw-hz-0001", Online: true, At: t0}, {ID: "gw-hz-0002", Online: true, At: t0}}))
		must(t, s.MarkOffline(ctx, "gw-hz-0002", "a-off", t0.Add(time.Hour)))
		fault := raised("a-batt")
		fault.Gateway, fault.Rule, fault.Class = "gw-hz-0002", "battery_low", mqttv1.ClassDevice
		_, err = s.IngestAlert(ctx, fault, t0)
		must(t, err)

		mine := Scope{Homes: map[string]bool{"h1": true}}
		theirs := Scope{Homes: map[string]bool{"h2": true}}
		all := Scope{All: true}

		gws, err := s.GatewaysIn(ctx, mine, 50, 0)
		must(t, err)
		if len(gws) != 1 || gws[0].ID != "gw-hz-0001" || !gws[0].Online || gws[0].Address != "3-2-301" || gws[0].GridID != "g1" ||
			gws[0].LastSeen == nil || !gws[0].LastSeen.Equal(t0) || len(gws[0].Faults) != 0 {
			t.Fatalf("c1's gateways: %+v", gws)
		}
		gws, err = s.GatewaysIn(ctx, all, 50, 0)
		must(t, err)
		var ids []string
		for _, g := range gws {
			ids = append(ids, g.ID)
		}
		// Not reporting first: the one marked offline and the one never heard from.
		if !eq(ids, "gw-hz-0002", "gw-hz-0003", "gw-hz-0001") {
			t.Fatalf("all gateways in order %v", ids)
		}
		if g := gws[0]; g.Online || g.OfflineSince == nil || !eq(g.Faults, "battery_low") {
			t.Errorf("offline gateway with a fault: %+v", g)
		}
		if gws, err := s.GatewaysIn(ctx, all, 1, 2); err != nil || len(gws) != 1 || gws[0].ID != "gw-hz-0001" {
			t.Errorf("third page of one: %+v %v", gws, err)
		}
		if gws, err := s.GatewaysIn(ctx, Scope{}, 50, 0); err != nil || len(gws) != 0 {
			t.Errorf("empty scope: %+v %v", gws, err)
		}

		// h1's no-water case: paged to w1, then nobody accepts for 30 min: backup.
		ingest(t, s, "a-1", "no_water", mqttv1.ClassResident, mqttv1.Raised, t0)
		id, _ := open(t, s, "a-1", t0)
		if who := escalateAt(t, s, t0); !eq(who, "w1") {
			t.Fatalf("first page to %v", who)
		}
		if who := escalateAt(t, s, t0.Add(31*time.Minute)); !eq(who, "b1") {
			t.Fatalf("escalation to %v", who)
		}
		esc, err := s.EscalationsIn(ctx, mine, t0.Add(-time.Hour), 10)
		must(t, err)
		if len(esc) != 1 || esc[0].IncidentID != id || esc[0].Step != 2 || esc[0].Target != "backup" || esc[0].Worker.Name != "Backup" ||
			!esc[0].At.Equal(t0.Add(31*time.Minute)) || esc[0].State != IncDispatched || esc[0].Address != "3-2-301" {
			t.Fatalf("c1's escalations: %+v", esc)
		}
		if esc, err := s.EscalationsIn(ctx, theirs, t0.Add(-time.Hour), 10); err != nil || len(esc) != 0 {
			t.Errorf("c2 sees c1's escalations: %+v %v", esc, err)
		}
		if esc, err := s.EscalationsIn(ctx, all, t0.Add(time.Hour), 10); err != nil || len(esc) != 0 {
			t.Errorf("escalations before since: %+v %v", esc, err)
		}

		k, err := s.KPIsIn(ctx, mine, t0.Add(-time.Hour), t0.Add(2*time.Hour))
		must(t, err)
		if len(k.Grids) != 1 || k.Grids[0].Key != "g1" || k.Grids[0].Incidents != 1 || len(k.Rules) != 1 || k.Rules[0].Key != "no_water" {
			t.Errorf("c1's KPIs: %+v", k)
		}
		k, err = s.KPIsIn(ctx, theirs, t0.Add(-time.Hour), t0.Add(2*time.Hour))
		must(t, err)
		if len(k.Grids) != 0 || len(k.Rules) != 0 {
			t.Errorf("c2's KPIs hold c1's case: %+v", k)
		}
	})
}
