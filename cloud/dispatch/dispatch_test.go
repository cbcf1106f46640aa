package dispatch

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/shouwang-care/shouwang/cloud/store"
	"github.com/shouwang-care/shouwang/firmware-protocol/mqttv1"
	"github.com/shouwang-care/shouwang/internal/testinfra"
)

func TestMain(m *testing.M) { testinfra.Main(m) }

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) set(t time.Time) { c.mu.Lock(); c.now = t; c.mu.Unlock() }

// pager records deliveries; fail makes the next n deliveries fail.
type pager struct {
	mu    sync.Mutex
	got   []string // "worker@time-offset"
	t0    time.Time
	clock *fakeClock
	fail  int
}

func (p *pager) Notify(_ context.Context, pg store.Page, _ store.Incident) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail > 0 {
		p.fail--
		return context.DeadlineExceeded
	}
	p.got = append(p.got, pg.Worker.ID+"@"+p.clock.Now().Sub(p.t0).String())
	return nil
}

type nopPublisher struct{}

func (nopPublisher) Publish(string, any) {}

func stores(t *testing.T) map[string]func(t *testing.T) string {
	return map[string]func(t *testing.T) string{
		"sqlite":   func(t *testing.T) string { return filepath.Join(t.TempDir(), "s.db") },
		"postgres": func(t *testing.T) string { return testinfra.Postgres(t) },
	}
}

// TestTimeline is the acceptance timeline: no-water raised at t=0 → the on-duty
// worker is paged in the same pass; no acceptance → the backup at 30 min, not before;
// accepted → nothing more, ever.
func TestTimeline(t *testing.T) {
	for name, dsn := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s, err := store.Open(ctx, dsn(t))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			for _, err := range []error{
				s.PutGrid(ctx, store.Grid{ID: "g1", Name: "g"}),
				s.PutWorker(ctx, store.Worker{ID: "w1", GridID: "g1", Name: "worker", OnDuty: true}),
				s.PutWorker(ctx, store.Worker{ID: "b1", GridID: "g1", Name: "backup", Role: "backup"}),
				s.PutWorker(ctx, store.Worker{ID: "s1", GridID: "g1", Name: "supervisor", Role: "supervisor"}),
				s.PutHome(ctx, store.Home{ID: "h1", GridID: "g1", Address: "x"}),
				s.PutGateway(ctx, "gw-hz-0001", "h1", "hash"),
			} {
				if err != nil {
					t.Fatal(err)
				}
			}
			t0 := time.Date(2026, 3, 1, 18, 45, 0, 0, time.UTC)
			clk := &fakeClock{now: t0}
			p := &pager{t0: t0, clock: clk, fail: 1}
			d := New(s, p, nopPublisher{}, clk, slog.New(slog.NewTextHandler(io.Discard, nil)), time.Second)

			a := mqttv1.Alert{V: 1, ID: "a1", Gateway: "gw-hz-0001", Rule: "no_water", State: mqttv1.Raised, Severity: mqttv1.Critical,
				Class: mqttv1.ClassResident, At: t0, RaisedAt: t0}
			if _, err := s.IngestAlert(ctx, a, t0); err != nil {
				t.Fatal(err)
			}
			pass := func(at time.Duration) {
				clk.set(t0.Add(at))
				d.Pass(ctx)
			}
			pass(0)           // the first delivery fails…
			pass(time.Second) // …and is retried a second later
			pass(29*time.Minute + 59*time.Second)
			pass(30 * time.Minute) // backup
			inc, err := s.Incidents(ctx, true, 10)
			if err != nil || len(inc) != 1 {
				t.Fatalf("%v %v", inc, err)
			}
			if err := s.Act(ctx, inc[0].ID, store.Action{Name: "accept", Actor: "b1"}, t0.Add(31*time.Minute)); err != nil {
				t.Fatal(err)
			}
			for _, at := range []time.Duration{60 * time.Minute, 90 * time.Minute, 24 * time.Hour} {
				pass(at)
			}
			want := []string{"w1@1s", "b1@30m0s"}
			if len(p.got) != len(want) || p.got[0] != want[0] || p.got[1] != want[1] {
				t.Fatalf("pages %v, want %v", p.got, want)
			}
		})
	}
}
