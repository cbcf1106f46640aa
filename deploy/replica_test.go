package deploy

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/shouwang-care/shouwang/cloud/store"
	"github.com/shouwang-care/shouwang/internal/testinfra"
)

// TestPostgresStandbyFailover follows the operator guide's replica runbook on real
// PostgreSQL servers: with the role of replica.sql, a streaming standby made with
// pg_basebackup -R holds every
// row the cloud wrote to the primary and refuses writes; when the primary dies and
// the standby is promoted, the cloud, whose DSN names both hosts with
// target_session_attrs=read-write, finds the new primary by itself, with the open
// incident and its page intact, and goes on writing.
func TestPostgresStandbyFailover(t *testing.T) {
	primary := testinfra.NewPostgresServer(t) // private: it is killed below
	ctx := context.Background()
	dsn := primary.CreateDatabase(t)
	db := dsn[strings.LastIndex(dsn, "/")+1 : strings.Index(dsn, "?")]
	s, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	seedAndAssign(t, s)
	before := snapshot(t, s.DB())
	s.Close()

	// The replication role of deploy/postgres/replica.sql; it can stream and no more.
	if out, err := sh(t, primary, pgBin(t), "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-v", "replicator_password=repl-secret",
		"-d", "postgres", "-f", "postgres/replica.sql"); err != nil {
		t.Fatalf("replica.sql: %v\n%s", err, out)
	}
	if _, err := store.Open(ctx, roleDSN(primary, "shouwang_replicator", "repl-secret", db)); err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("the replication role opened the database: %v", err)
	}
	standby := primary.NewStandby(t, "shouwang_replicator")
	// Replication is asynchronous: wait for the standby to replay what was committed.
	var onStandby map[string][]string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		r, err := store.Open(ctx, standby.DSN(db)) // schema current: no DDL, so it opens read-only
		if err == nil {
			onStandby = snapshot(t, r.DB())
			_, werr := r.DB().ExecContext(ctx, `UPDATE incidents SET state = state`)
			r.Close()
			if reflect.DeepEqual(onStandby, before) {
				if werr == nil || !strings.Contains(werr.Error(), "read-only") {
					t.Fatalf("a write on the standby: %v, want a read-only refusal", werr)
				}
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("standby did not catch up in 30 s (open: %v)", err)
		}
	}

	// The cloud's DSN names both; libpq semantics (pgx): the first that takes writes.
	both := fmt.Sprintf("postgres://postgres@%s:%d,%s:%d/%s?sslmode=disable&target_session_attrs=read-write&connect_timeout=2",
		primary.Host, primary.Port, standby.Host, standby.Port, db)
	primary.Kill()
	standby.Promote(t)
	c, err := store.Open(ctx, both)
	if err != nil {
		t.Fatalf("the cloud after failover: %v", err)
	}
	defer c.Close()
	if after := snapshot(t, c.DB()); !reflect.DeepEqual(after, before) {
		t.Errorf("rows after failover differ from before")
	}
	created, err := c.IngestAlert(ctx, alert("alert-0002"), time.Now())
	if err != nil || !created {
		t.Fatalf("the promoted standby does not take the cloud's writes: %v %v", created, err)
	}
}
