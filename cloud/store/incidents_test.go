package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/shouwang-care/shouwang/firmware-protocol/mqttv1"
)

func seedChain(t *testing.T, s *Store) {
	seed(t, s)
	ctx := context.Background()
	must(t, s.PutWorker(ctx, Worker{ID: "b1", GridID: "g1", Name: "Backup", Role: "backup"}))
	must(t, s.PutWorker(ctx, Worker{ID: "s1", GridID: "g1", Name: "Supervisor", Role: "supervisor"}))
	must(t, s.PutWorker(ctx, Worker{ID: "t1", GridID: "g1", Name: "Tech", Role: "technician"}))
}

func ingest(t *testing.T, s *Store, id, rule string, class mqttv1.Class, state mqttv1.AlertState, at time.Time) {
	t.Helper()
	a := raised(id)
	a.Rule, a.Class, a.State, a.At, a.RaisedAt = rule, class, state, at, at
	_, err := s.IngestAlert(context.Background(), a, at)
	must(t, err)
}

// escalateAt runs the escalation at now and returns the IDs of the workers paged.
func escalateAt(t *testing.T, s *Store, now time.Time) []string {
	t.Helper()
	pages, err := s.EscalateDue(context.Background(), now, 100)
	must(t, err)
	var who []string
	for _, p := range pages {
		who = append(who, p.Worker.ID)
	}
	return who
}

func open(t *testing.T, s *Store, alertID string, now time.Time) (string, bool) {
	t.Helper()
	id, opened, err := s.OpenIncident(context.Background(), alertID, now)
	must(t, err)
	return id, opened
}

func eq(a []string, b ...string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestEscalationTimeline(t *testing.T) {
	backends(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		seedChain(t, s)
		t0 := time.Date(2026, 3, 1, 18, 45, 0, 0, time.UTC)
		ingest(t, s, "a1", "no_water", mqttv1.ClassResident, mqttv1.Raised, t0)
		inc, opened := open(t, s, "a1", t0)
		if !opened {
			t.Fatal("no incident opened")
		}
		// A second cause in the same home joins the incident and pages nobody.
		ingest(t, s, "a2", "no_motion", mqttv1.ClassResident, mqttv1.Raised, t0.Add(time.Minute))
		if id2, opened2 := open(t, s, "a2", t0.Add(time.Minute)); id2 != inc || opened2 {
			t.Fatalf("second cause: incident %s opened=%v, want %s attached", id2, opened2, inc)
		}
		// The policy edited after the start does not change the running incident.
		must(t, s.PutEscalationPolicy(ctx, "g1", Chain{Steps: []Step{{"supervisor", 60}}}))
		steps := []struct {
			at   time.Duration
			want []string
		}{
			{0, []string{"w1"}},
			{time.Second, nil},
			{30*time.Minute - time.Second, nil},
			{30 * time.Minute, []string{"b1"}},
			{60 * time.Minute, []string{"s1"}},
			{90 * time.Minute, []string{"w1"}}, // the round repeats once
		}
		for _, st := range steps {
			if got := escalateAt(t, s, t0.Add(st.at)); !eq(got, st.want...) {
				t.Fatalf("t+%v: paged %v, want %v", st.at, got, st.want)
			}
		}
		must(t, s.Act(ctx, inc, Action{Name: "accept", Actor: "w1"}, t0.Add(95*time.Minute)))
		for _, at := range []time.Duration{2 * time.Hour, 10 * time.Hour} {
			if got := escalateAt(t, s, t0.Add(at)); len(got) != 0 {
				t.Fatalf("accepted incident paged %v at t+%v", got, at)
			}
		}
		got, err := s.Incident(ctx, inc)
		must(t, err)
		if got.State != IncAccepted || got.Assignee == nil || got.Assignee.ID != "w1" || !eq(got.Rules, "no_motion", "no_water") {
			t.Fatalf("incident %+v", got)
		}
		listed, _, err := s.IncidentsIn(ctx, Scope{All: true}, IncidentPage{Limit: 10})
		must(t, err)
		if len(listed) != 1 || !eq(listed[0].Rules, "no_motion", "no_water") {
			t.Fatalf("listed %+v", listed)
		}
		var actions []string
		for _, e := range got.Timeline {
			actions = append(actions, e.Action)
		}
		want := []string{"discovered", "alert_attached", "dispatched", "escalated", "escalated", "escalated", "accept"}
		if !eq(actions, want...) {
			t.Fatalf("timeline %v, want %v", actions, want)
		}
		a, _ := s.Alert(ctx, "a1")
		if a.IncidentID != inc || a.Status != StatusDispatched {
			t.Fatalf("alert not linked: %+v", a)
		}
	})
}

func TestEscalationExhaustsAndNewPolicyApplies(t *testing.T) {
	backends(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		seedChain(t, s)
		must(t, s.PutEscalationPolicy(ctx, "g1", Chain{Steps: []Step{{"on_duty", 600}, {"supervisor", 600}}}))
		t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
		ingest(t, s, "a1", "sos", mqttv1.ClassResident, mqttv1.Raised, t0)
		open(t, s, "a1", t0)
		for i, want := range [][]string{{"w1"}, {"s1"}, nil, nil} {
			if got := escalateAt(t, s, t0.Add(time.Duration(i)*10*time.Minute)); !eq(got, want...) {
				t.Fatalf("step %d: paged %v, want %v", i, got, want)
			}
		}
	})
}

func TestClosedLoop(t *testing.T) {
	backends(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		seedChain(t, s)
		t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
		ingest(t, s, "a1", "no_water", mqttv1.ClassResident, mqttv1.Raised, t0)
		inc, _ := open(t, s, "a1", t0)
		escalateAt(t, s, t0)
		act := func(a Action, at time.Duration) error { return s.Act(ctx, inc, a, t0.Add(at)) }
		if err := act(Action{Name: "resolve", Actor: "w1", Outcome: "safe"}, time.Minute); !errors.Is(err, ErrConflict) {
			t.Fatalf("resolve before accept: %v", err)
		}
		must(t, act(Action{Name: "accept", Actor: "w1"}, 2*time.Minute))
		must(t, act(Action{Name: "arrive", Actor: "w1"}, 20*time.Minute))
		if err := act(Action{Name: "resolve", Actor: "w1", Outcome: "fine"}, 30*time.Minute); !errors.Is(err, ErrConflict) {
			t.Fatalf("unknown outcome: %v", err)
		}
		must(t, act(Action{Name: "resolve", Actor: "w1", Outcome: "false_alarm", Notes: "at daughter's"}, 30*time.Minute))
		must(t, act(Action{Name: "feedback", Actor: "family", Feedback: "来得很快"}, 2*time.Hour))
		if err := act(Action{Name: "evaluate", Actor: "family", Rating: 6}, 3*time.Hour); !errors.Is(err, ErrConflict) {
			t.Fatalf("rating 6: %v", err)
		}
		must(t, act(Action{Name: "evaluate", Actor: "family", Rating: 5}, 3*time.Hour))
		if err := act(Action{Name: "accept", Actor: "w1"}, 4*time.Hour); !errors.Is(err, ErrConflict) {
			t.Fatalf("accept after evaluation: %v", err)
		}
		got, err := s.Incident(ctx, inc)
		must(t, err)
		if got.State != IncEvaluated || got.Outcome != "false_alarm" || got.Rating == nil || *got.Rating != 5 || got.Feedback != "来得很快" {
			t.Fatalf("%+v", got)
		}
		last := got.Timeline[len(got.Timeline)-1]
		if last.Actor != "family" || last.Action != "evaluate" || !last.At.Equal(t0.Add(3*time.Hour)) {
			t.Fatalf("timeline end %+v", last)
		}
		// The edge raises again within a day: the case reopens and pages again.
		ingest(t, s, "a3", "no_water", mqttv1.ClassResident, mqttv1.Raised, t0.Add(5*time.Hour))
		if id, opened := open(t, s, "a3", t0.Add(5*time.Hour)); id != inc || !opened {
			t.Fatalf("reopen: %s %v", id, opened)
		}
		if got := escalateAt(t, s, t0.Add(5*time.Hour)); !eq(got, "w1") {
			t.Fatalf("reopened incident paged %v", got)
		}
	})
}

func TestDeviceIncidents(t *testing.T) {
	backends(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		seedChain(t, s)
		t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
		ingest(t, s, "d1", "meter_silent", mqttv1.ClassDevice, mqttv1.Raised, t0)
		inc, _ := open(t, s, "d1", t0)
		if got := escalateAt(t, s, t0); !eq(got, "t1") {
			t.Fatalf("device fault paged %v, want the technician", got)
		}
		ingest(t, s, "d1", "meter_silent", mqttv1.ClassDevice, mqttv1.Cleared, t0.Add(time.Hour))
		id, err := s.AutoResolveDevice(ctx, "d1", t0.Add(time.Hour))
		must(t, err)
		got, _ := s.Incident(ctx, inc)
		if id != inc || got.State != IncResolved || got.Outcome != "device_recovered" {
			t.Fatalf("not auto-resolved: %q %+v", id, got)
		}
		// A resident incident is never closed by the machine.
		ingest(t, s, "r1", "no_water", mqttv1.ClassResident, mqttv1.Raised, t0)
		rinc, _ := open(t, s, "r1", t0)
		ingest(t, s, "r1", "no_water", mqttv1.ClassResident, mqttv1.Cleared, t0.Add(time.Hour))
		if id, _ := s.AutoResolveDevice(ctx, "r1", t0.Add(time.Hour)); id != "" {
			t.Fatalf("resident incident %s auto-resolved", rinc)
		}
	})
}

// TestEscalationFiresOnceAcrossReplicas: concurrent passes (as two replicas would
// run) page each step exactly once.
func TestEscalationFiresOnceAcrossReplicas(t *testing.T) {
	backends(t, func(t *testing.T, s *Store) {
		seedChain(t, s)
		t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
		for i := range 20 {
			id := "a" + string(rune('a'+i))
			a := raised(id)
			a.Gateway = "gw-hz-0001"
			_, err := s.IngestAlert(context.Background(), a, t0)
			must(t, err)
			// Each alert its own home so each makes its own incident.
			home := "h-" + id
			must(t, s.PutHome(context.Background(), Home{ID: home, GridID: "g1", Address: id}))
			_, err = s.db.Exec(`UPDATE alerts SET home_id = $1 WHERE id = $2`, home, id)
			must(t, err)
			open(t, s, id, t0)
		}
		var mu sync.Mutex
		count := 0
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 5 {
					pages, err := s.EscalateDue(context.Background(), t0, 7)
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					count += len(pages)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if count != 20 {
			t.Fatalf("%d pages for 20 incidents", count)
		}
	})
}

func TestKPIs(t *testing.T) {
	backends(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		seedChain(t, s)
		t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
		// Three homes, three incidents: accepted after 5, 10 and 20 minutes; two
		// resolved (one a false alarm, rated 4); one still open.
		for i, acceptAfter := range []time.Duration{5 * time.Minute, 10 * time.Minute, 20 * time.Minute} {
			id := []string{"k1", "k2", "k3"}[i]
			home := "hk" + id
			must(t, s.PutHome(ctx, Home{ID: home, GridID: "g1", Address: id}))
			gw := "gw-kpi-000" + string(rune('1'+i))
			must(t, s.PutGateway(ctx, gw, home, "x"))
			a := raised(id)
			a.Gateway = gw
			_, err := s.IngestAlert(ctx, a, t0)
			must(t, err)
			inc, _ := open(t, s, id, t0)
			escalateAt(t, s, t0)
			must(t, s.Act(ctx, inc, Action{Name: "accept", Actor: "w1"}, t0.Add(acceptAfter)))
			if i < 2 {
				must(t, s.Act(ctx, inc, Action{Name: "arrive", Actor: "w1"}, t0.Add(acceptAfter+15*time.Minute)))
				out := []string{"safe", "false_alarm"}[i]
				must(t, s.Act(ctx, inc, Action{Name: "resolve", Actor: "w1", Outcome: out}, t0.Add(time.Hour)))
			}
			if i == 1 {
				must(t, s.Act(ctx, inc, Action{Name: "evaluate", Actor: "family", Rating: 4}, t0.Add(2*time.Hour)))
			}
		}
		k, err := s.KPIs(ctx, t0.Add(-time.Hour), t0.Add(3*time.Hour))
		must(t, err)
		if len(k.Grids) != 1 || len(k.Rules) != 1 {
			t.Fatalf("%+v", k)
		}
		g := k.Grids[0]
		if g.Key != "g1" || g.Incidents != 3 || g.Accepted != 3 || g.Resolved != 2 || g.FalseAlarms != 1 || g.FalseAlarmRatio != 0.5 {
			t.Fatalf("grid KPI %+v", g)
		}
		if g.AcceptP50S != 600 || g.AcceptP90S != 1200 || g.ResolveP50S != 3600 || g.OnSiteP50S != 20*60 || g.Open1hTo24h != 1 || g.MeanRating != 4 {
			t.Fatalf("grid KPI times %+v", g)
		}
		if k.Rules[0].Key != "no_water" {
			t.Fatalf("rule KPI %+v", k.Rules[0])
		}
	})
}

// TestWhatOpensACase: a resident alert that arrives already cleared (an SOS re-armed
// on the gateway while the cloud was down) still opens a case; info-level alerts
// and recovered device faults do not.
func TestWhatOpensACase(t *testing.T) {
	backends(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		seedChain(t, s)
		t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
		ingest(t, s, "sos1", "sos", mqttv1.ClassResident, mqttv1.Raised, t0)
		ingest(t, s, "sos1", "sos", mqttv1.ClassResident, mqttv1.Cleared, t0.Add(time.Minute))
		ingest(t, s, "dev1", "device_fault", mqttv1.ClassDevice, mqttv1.Raised, t0)
		ingest(t, s, "dev1", "device_fault", mqttv1.ClassDevice, mqttv1.Cleared, t0.Add(time.Minute))
		a := raised("info1")
		a.Rule, a.Severity = "away_suggested", mqttv1.Info
		_, err := s.IngestAlert(ctx, a, t0)
		must(t, err)
		ids, err := s.UnattachedAlerts(ctx, 10)
		must(t, err)
		if len(ids) != 1 || ids[0] != "sos1" {
			t.Fatalf("unattached %v, want only the cleared SOS", ids)
		}
	})
}

// Paging walks every incident once, newest change first, ties broken by ID, and a
// new incident opened mid-walk neither repeats nor hides the older ones.
func TestIncidentPages(t *testing.T) {
	backends(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		seed(t, s)
		t0 := time.Date(2026, 3, 1, 18, 45, 0, 0, time.UTC)
		for i := 1; i <= 8; i++ {
			home, gw := fmt.Sprintf("h%d", i), fmt.Sprintf("gw-hz-%04d", i)
			if i > 1 {
				must(t, s.PutHome(ctx, Home{ID: home, GridID: "g1", Address: home}))
				must(t, s.PutGateway(ctx, gw, home, "hash"))
			}
		}
		// h1..h7: h3 and h4 open at the same millisecond.
		at := map[int]time.Duration{1: 1, 2: 2, 3: 3, 4: 3, 5: 5, 6: 6, 7: 7}
		byHome := map[string]string{}
		for i := 1; i <= 7; i++ {
			a := raised(fmt.Sprintf("a%d", i))
			a.Gateway = fmt.Sprintf("gw-hz-%04d", i)
			when := t0.Add(at[i] * time.Minute)
			_, err := s.IngestAlert(ctx, a, when)
			must(t, err)
			id, _ := open(t, s, a.ID, when)
			byHome[fmt.Sprintf("h%d", i)] = id
		}
		var walked []string
		var after *IncidentCursor
		for page := 0; ; page++ {
			list, next, err := s.IncidentsIn(ctx, Scope{All: true}, IncidentPage{Limit: 3, After: after})
			must(t, err)
			for _, in := range list {
				walked = append(walked, in.HomeID)
			}
			if page == 0 {
				// Opened after the first page was read: on top, not on a later page.
				a := raised("a8")
				a.Gateway = "gw-hz-0008"
				_, err := s.IngestAlert(ctx, a, t0.Add(time.Hour))
				must(t, err)
				open(t, s, "a8", t0.Add(time.Hour))
			}
			if next == nil {
				if len(list) > 3 {
					t.Fatalf("last page has %d", len(list))
				}
				break
			}
			if len(list) != 3 {
				t.Fatalf("page %d has %d incidents, want 3 before the last", page, len(list))
			}
			after = next
		}
		tie := []string{"h4", "h3"}
		if byHome["h3"] > byHome["h4"] {
			tie = []string{"h3", "h4"}
		}
		want := append(append([]string{"h7", "h6", "h5"}, tie...), "h2", "h1")
		if !eq(walked, want...) {
			t.Fatalf("walked %v, want %v", walked, want)
		}
		// A scope and a cursor together.
		list, next, err := s.IncidentsIn(ctx, Scope{Homes: map[string]bool{"h1": true, "h2": true}}, IncidentPage{OpenOnly: true, Limit: 1})
		must(t, err)
		if len(list) != 1 || list[0].HomeID != "h2" || next == nil {
			t.Fatalf("scoped first page %v next %v", list, next)
		}
		list, next, err = s.IncidentsIn(ctx, Scope{Homes: map[string]bool{"h1": true, "h2": true}}, IncidentPage{OpenOnly: true, Limit: 1, After: next})
		must(t, err)
		if len(list) != 1 || list[0].HomeID != "h1" || next != nil {
			t.Fatalf("scoped second page %v next %v", list, next)
		}
	})
}
