package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	cloudconfig "github.com/shouwang-care/shouwang/cloud/config"
	"github.com/shouwang-care/shouwang/cloud/store"
	"github.com/shouwang-care/shouwang/internal/testinfra"
)

// TestTwoReplicasOneKilled: two cloud replicas share one Mosquitto (shared
// subscription) and one PostgreSQL. Replica A is a real process, killed with SIGKILL
// right after the first page; replica B carries on. Every incident is paged exactly
// once, its escalation fires exactly once, and no alert is lost.
func TestTwoReplicasOneKilled(t *testing.T) {
	mq := testinfra.Mosquitto(t)
	dsn := testinfra.Postgres(t)
	b := newCloud(t, func(cfg *cloudconfig.Config) {
		cfg.Database = dsn
		cfg.MQTT.Broker, cfg.MQTT.Username, cfg.MQTT.ClientID = mq.Addr, "shouwang-cloud", "cloud-replica-b"
	})
	b.seed("gw-e2e-0007")
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(b.svc.Store.PutWorker(ctx, store.Worker{ID: "b-1", GridID: "grid-1", Name: "后备", Role: "backup"}))
	// A chain with a 2-second first step, so the escalation happens within the test
	// (operators cannot configure under a minute; the store's validation says so).
	_, err := b.svc.Store.DB().ExecContext(ctx, `INSERT INTO escalation_policies (grid_id, steps, repeat_count) VALUES ('grid-1', $1, 0)`,
		`[{"target":"on_duty","after_s":2},{"target":"backup","after_s":600}]`)
	must(err)

	bin := filepath.Join(t.TempDir(), "shouwang-cloud")
	build := exec.Command("go", "build", "-o", bin, "../cloud/cmd/shouwang-cloud")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build cloud: %v\n%s", err, out)
	}
	conf := filepath.Join(t.TempDir(), "cloud-a.yaml")
	must(os.WriteFile(conf, []byte(fmt.Sprintf(`http_addr: 127.0.0.1:%d
data_dir: %s
database: %s
mqtt:
  broker: %s
  username: shouwang-cloud
  client_id: cloud-replica-a
`, testinfra.FreePort(t), t.TempDir(), dsn, mq.Addr)), 0o600))
	a := exec.Command(bin, "--config", conf)
	a.Stdout, a.Stderr = os.Stderr, os.Stderr
	if os.Getenv("E2E_VERBOSE") == "" {
		a.Stdout, a.Stderr = nil, nil
	}
	a.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	must(a.Start())
	killed := false
	kill := func() {
		if !killed {
			killed = true
			a.Process.Kill()
			a.Wait()
		}
	}
	t.Cleanup(kill)
	time.Sleep(time.Second) // let A subscribe, so the shared subscription splits between A and B

	hc := b.client()
	e := newEdge(t, "gw-e2e-0007", mq.Addr, "", t.TempDir())
	var inc store.Incident
	waitFor(t, 30*time.Second, "the first page", func() bool {
		for _, in := range b.incidents(hc) {
			if in.Class == "resident" && in.Assignee != nil {
				inc = in
				return true
			}
		}
		return false
	})
	kill() // mid-escalation: the backup is due 2 s after the first page
	waitFor(t, 30*time.Second, "escalation to the backup", func() bool {
		full := b.incident(hc, inc.ID)
		return full.Assignee != nil && full.Assignee.ID == "b-1"
	})
	waitFor(t, 20*time.Second, "edge outbox drained by replica B", func() bool { return e.d.Pending() == 0 })
	time.Sleep(3 * time.Second) // any duplicate page or escalation would land now
	full := b.incident(hc, inc.ID)
	count := map[string]int{}
	for _, ev := range full.Timeline {
		count[ev.Action]++
	}
	if count["dispatched"] != 1 || count["escalated"] != 1 {
		t.Fatalf("timeline %+v: want exactly one dispatch and one escalation", full.Timeline)
	}
	checkDispatchedTo(t, b, hc, "后备", "no_water")
}
