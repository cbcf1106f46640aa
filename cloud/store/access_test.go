package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestScopes(t *testing.T) {
	backends(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		seed(t, s) // grid g1 with home h1, worker w1
		must(t, s.PutGrid(ctx, Grid{ID: "g2", Name: "other", Community: "c2"}))
		must(t, s.PutHome(ctx, Home{ID: "h2", GridID: "g2", Address: "elsewhere"}))
		must(t, s.PutGrid(ctx, Grid{ID: "g1", Name: "mine", Community: "c1"}))
		users := map[string]User{
			"admin":  {ID: "u-a", Username: "a", Role: "admin"},
			"worker": {ID: "u-w", Username: "w", Role: "worker", WorkerID: "w1"},
			"sup":    {ID: "u-s", Username: "s", Role: "supervisor", Community: "c2"},
			"family": {ID: "u-f", Username: "f", Role: "family"},
			"nobody": {ID: "u-n", Username: "n", Role: "hacker"},
		}
		for _, u := range users {
			u.PasswordHash = "x"
			must(t, s.CreateUser(ctx, u))
		}
		must(t, s.LinkUserHome(ctx, "u-f", "h2", "daughter"))
		for name, want := range map[string][2]bool{"admin": {true, true}, "worker": {true, false}, "sup": {false, true}, "family": {false, true}, "nobody": {false, false}} {
			sc, err := s.ScopeOf(ctx, users[name])
			must(t, err)
			if sc.Has("h1") != want[0] || sc.Has("h2") != want[1] {
				t.Errorf("%s: h1=%v h2=%v, want %v", name, sc.Has("h1"), sc.Has("h2"), want)
			}
		}
	})
}

func TestPrivacyChoices(t *testing.T) {
	backends(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		seed(t, s)
		p, err := s.Privacy(ctx, "h1")
		must(t, err)
		if strings.Join(p[KindMedical], ",") != "worker,resident" {
			t.Fatalf("default medical %v", p[KindMedical])
		}
		// "My water/electricity anomalies: the grid worker only."
		must(t, s.SetPrivacy(ctx, "h1", KindAlerts, []string{"worker"}, "resident", time.Now()))
		p, _ = s.Privacy(ctx, "h1")
		if strings.Join(p[KindAlerts], ",") != "worker,resident" {
			t.Fatalf("alerts %v", p[KindAlerts])
		}
		if err := s.SetPrivacy(ctx, "h1", "diary", []string{"worker"}, "r", time.Now()); err == nil {
			t.Fatal("unknown kind accepted")
		}
		if err := s.SetPrivacy(ctx, "h1", KindAlerts, []string{"everyone"}, "r", time.Now()); err == nil {
			t.Fatal("unknown role accepted")
		}
	})
}

func TestAuditChain(t *testing.T) {
	backends(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		at := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
		must(t, s.Audit(ctx, AuditEntry{At: at, Actor: "w", Action: "read", HomeID: "h1", Object: "alerts", Reason: "duty"}))
		must(t, s.Audit(ctx, AuditEntry{At: at, Actor: "f", Action: "read", HomeID: "h2", Object: "incident:1"},
			AuditEntry{At: at, Actor: "f", Action: "read", HomeID: "h1", Object: "charts"}))
		n, err := s.VerifyAudit(ctx)
		if err != nil || n != 3 {
			t.Fatalf("verify: %d %v", n, err)
		}
		log, err := s.AuditLog(ctx, "h1", 10)
		must(t, err)
		if len(log) != 2 || log[0].Seq != 3 || log[1].Actor != "w" {
			t.Fatalf("log %+v", log)
		}
		// Someone edits history: the chain says where.
		_, err = s.db.Exec(`UPDATE audit_log SET actor = 'nobody' WHERE seq = 2`)
		must(t, err)
		if _, err := s.VerifyAudit(ctx); err == nil || !strings.Contains(err.Error(), "entry 2 was altered") {
			t.Fatalf("tampering not detected: %v", err)
		}
		_, err = s.db.Exec(`DELETE FROM audit_log WHERE seq = 2`)
		must(t, err)
		if _, err := s.VerifyAudit(ctx); err == nil || !strings.Contains(err.Error(), "entry 2 missing") {
			t.Fatalf("deletion not detected: %v", err)
		}
	})
}

func TestInvites(t *testing.T) {
	backends(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		seed(t, s)
		now := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
		must(t, s.CreateInvite(ctx, "hash1", "h1", "女儿", "resident", now, 72*time.Hour))
		home, err := s.AcceptInvite(ctx, "hash1", User{ID: "u-d", Username: "daughter", PasswordHash: "x"}, now.Add(time.Hour))
		must(t, err)
		if home != "h1" {
			t.Fatalf("home %s", home)
		}
		sc, err := s.ScopeOf(ctx, User{ID: "u-d", Role: "family"})
		must(t, err)
		if !sc.Has("h1") {
			t.Fatal("family member not linked to the home")
		}
		if _, err := s.AcceptInvite(ctx, "hash1", User{ID: "u-e", Username: "again", PasswordHash: "x"}, now.Add(time.Hour)); !errors.Is(err, ErrInvalidCode) {
			t.Fatalf("second use: %v", err)
		}
		must(t, s.CreateInvite(ctx, "hash2", "h1", "", "resident", now, time.Hour))
		if _, err := s.AcceptInvite(ctx, "hash2", User{ID: "u-f", Username: "late", PasswordHash: "x"}, now.Add(2*time.Hour)); !errors.Is(err, ErrInvalidCode) {
			t.Fatalf("expired: %v", err)
		}
	})
}

func TestSeenGatewaysBatch(t *testing.T) {
	backends(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		seed(t, s)
		for i := range 900 {
			must(t, s.PutGateway(ctx, fmt.Sprintf("gw-batch-%04d", i), "h1", "x"))
		}
		now := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
		act := now.Add(-time.Minute)
		var batch []Seen
		for i := range 900 {
			g := Seen{ID: fmt.Sprintf("gw-batch-%04d", i), Online: i%2 == 0, At: now}
			if i == 7 {
				g.LastActivity = &act
			}
			batch = append(batch, g)
		}
		must(t, s.SeenGateways(ctx, batch))
		g0, err := s.Gateway(ctx, "gw-batch-0000")
		must(t, err)
		g1, _ := s.Gateway(ctx, "gw-batch-0899")
		if !g0.Online || g1.Online || g0.LastSeen == nil || !g0.LastSeen.Equal(now) {
			t.Fatalf("%+v %+v", g0, g1)
		}
		// An older activity never replaces a newer one.
		older := act.Add(-time.Hour)
		must(t, s.SeenGateways(ctx, []Seen{{ID: "gw-batch-0007", Online: true, At: now, LastActivity: &older}}))
		var got int64
		must(t, s.db.QueryRow(`SELECT last_activity_at FROM gateways WHERE id = 'gw-batch-0007'`).Scan(&got))
		if got != act.UnixMilli() {
			t.Fatalf("last activity %d, want %d", got, act.UnixMilli())
		}
	})
}

func TestCountGateways(t *testing.T) {
	backends(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		seed(t, s)
		if c, err := s.CountGateways(ctx); err != nil || c != (GatewayCounts{NeverSeen: 1}) {
			t.Fatalf("seeded registry (one gateway, never seen): %+v %v", c, err)
		}
		for _, id := range []string{"gw-c-1", "gw-c-2", "gw-c-3", "gw-c-4", "gw-c-5"} {
			must(t, s.PutGateway(ctx, id, "h1", "x"))
		}
		now := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
		must(t, s.SeenGateways(ctx, []Seen{{ID: "gw-c-1", Online: true, At: now}, {ID: "gw-c-2", Online: false, At: now}, {ID: "gw-c-3", Online: true, At: now}}))
		must(t, s.RevokeGateway(ctx, "gw-c-3", now))
		c, err := s.CountGateways(ctx)
		must(t, err)
		if want := (GatewayCounts{Online: 1, Offline: 1, NeverSeen: 3, Revoked: 1}); c != want {
			t.Fatalf("%+v, want %+v", c, want)
		}
	})
}
