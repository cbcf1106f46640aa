package store

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/shouwang-care/shouwang/firmware-protocol/mqttv1"
	"github.com/shouwang-care/shouwang/internal/testinfra"
)

func TestMain(m *testing.M) { testinfra.Main(m) }

// backends runs the same contract against SQLite and a real PostgreSQL.
func backends(t *testing.T, fn func(t *testing.T, s *Store)) {
	for _, b := range []struct {
		name string
		dsn  func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return filepath.Join(t.TempDir(), "shouwang.db") }},
		{"postgres", func(t *testing.T) string { return testinfra.Postgres(t) }},
	} {
		t.Run(b.name, func(t *testing.T) {
			s, err := Open(context.Background(), b.dsn(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			fn(t, s)
		})
	}
}

func seed(t *testing.T, s *Store) {
	ctx := context.Background()
	must(t, s.PutGrid(ctx, Grid{ID: "g1", Name: "望江 3 网格"}))
	must(t, s.PutWorker(ctx, Worker{ID: "w2", GridID: "g1", Name: "Off", OnDuty: false}))
	must(t, s.PutWorker(ctx, Worker{ID: "w1", GridID: "g1", Name: "李", Phone: "138", OnDuty: true}))
	must(t, s.PutHome(ctx, Home{ID: "h1", GridID: "g1", Address: "3-2-301", ResidentName: "王"}))
	must(t, s.PutGateway(ctx, "gw-hz-0001", "h1", "hash"))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func raised(id string) mqttv1.Alert {
	at := time.Date(2026, 3, 1, 18, 45, 0, 0, time.UTC)
	return mqttv1.Alert{V: 1, ID: id, Gateway: "gw-hz-0001", Rule: "no_water", State: mqttv1.Raised, Severity: mqttv1.Critical,
		Class: mqttv1.ClassResident, At: at, RaisedAt: at, Evidence: []mqttv1.Evidence{{Signal: "water", QuietSecs: 43380}}}
}

func TestAlertLifecycle(t *testing.T) {
	backends(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		seed(t, s)
		now := time.Now()
		a := raised("a1")
		created, err := s.IngestAlert(ctx, a, now)
		must(t, err)
		dup, err := s.IngestAlert(ctx, a, now.Add(time.Second))
		must(t, err)
		if !created || dup {
			t.Fatalf("created=%v duplicate-created=%v", created, dup)
		}
		ids, err := s.UnattachedAlerts(ctx, 10)
		must(t, err)
		if len(ids) != 1 || ids[0] != "a1" {
			t.Fatalf("unattached %v", ids)
		}
		inc, opened, err := s.OpenIncident(ctx, "a1", now)
		must(t, err)
		pages, err := s.EscalateDue(ctx, now, 10)
		must(t, err)
		if !opened || len(pages) != 1 || pages[0].Worker.ID != "w1" || pages[0].IncidentID != inc {
			t.Fatalf("opened=%v pages=%+v", opened, pages)
		}
		got, err := s.Alert(ctx, "a1")
		must(t, err)
		if got.Status != StatusDispatched || got.Assignee == nil || got.Assignee.Name != "李" || got.Address != "3-2-301" || got.Evidence[0].QuietSecs != 43380 {
			t.Fatalf("%+v", got)
		}
		c := a
		c.State, c.At = mqttv1.Cleared, a.At.Add(time.Hour)
		_, err = s.IngestAlert(ctx, c, now)
		must(t, err)
		got, _ = s.Alert(ctx, "a1")
		if got.State != "cleared" || got.ClearedAt == nil || !got.ClearedAt.Equal(c.At) {
			t.Fatalf("after clear %+v", got)
		}
		list, err := s.Alerts(ctx, 10)
		must(t, err)
		if len(list) != 1 {
			t.Fatalf("%d alerts, want 1", len(list))
		}
	})
}

func TestClearBeforeRaise(t *testing.T) {
	backends(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		seed(t, s)
		a := raised("a2")
		c := a
		c.State = mqttv1.Cleared
		_, err := s.IngestAlert(ctx, c, time.Now())
		must(t, err)
		_, err = s.IngestAlert(ctx, a, time.Now())
		must(t, err)
		got, err := s.Alert(ctx, "a2")
		must(t, err)
		if got.State != "cleared" {
			t.Fatalf("late raise reopened the alert: %+v", got)
		}
	})
}

func TestUsersAndSessions(t *testing.T) {
	backends(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		must(t, s.CreateUser(ctx, User{ID: "u1", Username: "admin", Role: "admin", PasswordHash: "x"}))
		if err := s.CreateUser(ctx, User{ID: "u2", Username: "admin", Role: "admin", PasswordHash: "y"}); err == nil {
			t.Fatal("duplicate username accepted")
		}
		now := time.Now()
		must(t, s.CreateSession(ctx, "t1", "u1", now.Add(time.Hour)))
		must(t, s.CreateSession(ctx, "t2", "u1", now.Add(-time.Second)))
		if u, err := s.SessionUser(ctx, "t1", now); err != nil || u.Username != "admin" {
			t.Fatalf("%+v %v", u, err)
		}
		if _, err := s.SessionUser(ctx, "t2", now); err != ErrNotFound {
			t.Fatalf("expired session: %v", err)
		}
		must(t, s.DeleteSession(ctx, "t1"))
		if _, err := s.SessionUser(ctx, "t1", now); err != ErrNotFound {
			t.Fatalf("deleted session: %v", err)
		}
	})
}

func TestMigrationsIdempotent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	for range 2 {
		s, err := Open(context.Background(), path)
		must(t, err)
		s.Close()
	}
}
