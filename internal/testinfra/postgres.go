package testinfra

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// PGServer is a PostgreSQL server run from a temporary data directory.
type PGServer struct {
	Host    string // "127.0.0.1"
	Port    int
	Dir     string // temp dir: data/, the unix socket and postgres.log
	LogPath string

	bin     string // directory with postgres, initdb
	cred    *syscall.Credential
	private bool
	mu      sync.Mutex
	p       *proc
}

var (
	pgShared     *PGServer
	pgSharedErr  error
	pgSharedOnce sync.Once
)

// Postgres returns a DSN
// (postgres://postgres@127.0.0.1:port/dbname?sslmode=disable) for a fresh
// empty database created for this test on the PostgreSQL server shared by
// the test binary. The database is dropped in t.Cleanup. The package must
// use testinfra.Main.
func Postgres(t testing.TB) string {
	t.Helper()
	return PostgresServer(t).CreateDatabase(t)
}

// PostgresServer returns the server shared by the test binary, for tests
// that need superuser access (AdminDSN) or stop and restart it. Such tests
// must not run in parallel with other Postgres tests of the package; if the
// test leaves the server stopped, it is started again in t.Cleanup.
func PostgresServer(t testing.TB) *PGServer {
	t.Helper()
	if testing.Short() {
		t.Skip("needs PostgreSQL: skipped with -short")
	}
	requireMain(t, "Postgres")
	bin := pgBinDir(t)
	pgSharedOnce.Do(func() {
		pgShared, pgSharedErr = newPGServer(bin, false)
		if pgShared != nil {
			onShutdown(pgShared.shutdown)
		}
	})
	if pgSharedErr != nil {
		t.Fatalf("testinfra: PostgreSQL: %v", pgSharedErr)
	}
	s := pgShared
	t.Cleanup(func() {
		s.mu.Lock()
		stopped := s.p == nil
		s.mu.Unlock()
		if stopped {
			s.Start(t)
		}
	})
	return s
}

// NewPostgresServer starts a PostgreSQL server private to this test (about
// a second of initdb), removed in t.Cleanup. Prefer Postgres; use this for
// fault tests that stop the server while other tests run in parallel.
func NewPostgresServer(t testing.TB) *PGServer {
	t.Helper()
	if testing.Short() {
		t.Skip("needs PostgreSQL: skipped with -short")
	}
	s, err := newPGServer(pgBinDir(t), true)
	if err != nil {
		t.Fatalf("testinfra: PostgreSQL: %v", err)
	}
	t.Cleanup(s.shutdown)
	return s
}

func pgBinDir(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("SHOUWANG_PG_BINDIR"); d != "" {
		return d
	}
	if m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres"); len(m) > 0 {
		return filepath.Dir(m[len(m)-1]) // highest version
	}
	if p, err := exec.LookPath("postgres"); err == nil {
		return filepath.Dir(p)
	}
	t.Fatalf("testinfra: PostgreSQL server binary postgres not found (looked in /usr/lib/postgresql/*/bin and PATH): %s", installHint)
	return ""
}

func newPGServer(bin string, private bool) (*PGServer, error) {
	start := time.Now()
	s, err := newPGDir(bin, private)
	if err != nil {
		return nil, err
	}
	dir := s.Dir
	initLog := filepath.Join(dir, "initdb.log")
	cmd := s.command("initdb", "-D", s.dataDir(), "-U", "postgres", "--auth=trust",
		"-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
	if err := runProc(cmd, initLog); err != nil {
		defer os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %v\n%s", err, logTail(initLog))
	}
	if err := s.start(); err != nil {
		defer os.RemoveAll(dir)
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "testinfra: PostgreSQL on 127.0.0.1:%d ready in %v (initdb+start)\n", s.Port, time.Since(start).Round(time.Millisecond))
	return s, nil
}

// NewStandby makes a streaming replica of s, as an operator would: pg_basebackup
// -R from s over a replication connection as role (which needs REPLICATION), then
// start. It is read-only until Promote. Removed in t.Cleanup.
func (s *PGServer) NewStandby(t testing.TB, role string) *PGServer {
	t.Helper()
	r, err := newPGDir(s.bin, true)
	if err != nil {
		t.Fatalf("testinfra: standby: %v", err)
	}
	t.Cleanup(r.shutdown)
	logPath := filepath.Join(r.Dir, "basebackup.log")
	cmd := r.command("pg_basebackup", "-h", s.Host, "-p", strconv.Itoa(s.Port), "-U", role,
		"-D", r.dataDir(), "-R", "-X", "stream", "--no-sync", "-c", "fast")
	if err := runProc(cmd, logPath); err != nil {
		t.Fatalf("testinfra: pg_basebackup: %v\n%s", err, logTail(logPath))
	}
	if err := r.start(); err != nil {
		t.Fatalf("testinfra: standby: %v", err)
	}
	return r
}

// Promote makes a standby the primary (pg_ctl promote) and waits until it takes
// writes.
func (s *PGServer) Promote(t testing.TB) {
	t.Helper()
	if out, err := s.command("pg_ctl", "promote", "-w", "-D", s.dataDir()).CombinedOutput(); err != nil {
		t.Fatalf("testinfra: pg_ctl promote: %v\n%s", err, out)
	}
}

// newPGDir makes the server's directory, owned by the postgres user when we run
// as root (PostgreSQL refuses to run as root).
func newPGDir(bin string, private bool) (*PGServer, error) {
	dir, err := tempDir("pg")
	if err != nil {
		return nil, err
	}
	s := &PGServer{Host: "127.0.0.1", Dir: dir, LogPath: filepath.Join(dir, "postgres.log"), bin: bin, private: private}
	// PostgreSQL refuses to run as root: run it as the postgres user, which
	// must own the directory.
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("running as root but there is no postgres user to run PostgreSQL as (%v): %s", err, installHint)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return s, nil
}

func (s *PGServer) dataDir() string { return filepath.Join(s.Dir, "data") }

func (s *PGServer) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(s.bin, name), args...)
	cmd.Dir = s.Dir
	cmd.Env = append(os.Environ(), "LC_ALL=C", "TZ=UTC")
	if s.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	}
	return cmd
}

// start runs postgres in the foreground (as our child, so that it dies with
// the test binary) and waits until it accepts queries. Caller holds mu or
// owns s exclusively.
func (s *PGServer) start() error {
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		port := s.Port // once clients know the port, a restart reuses it
		if port == 0 {
			if port, err = freePort(); err != nil {
				return err
			}
		}
		cmd := s.command("postgres", "-D", s.dataDir(),
			"-p", strconv.Itoa(port),
			"-c", "listen_addresses=127.0.0.1",
			"-c", "unix_socket_directories="+s.Dir,
			"-c", "fsync=off",
			"-c", "full_page_writes=off",
			"-c", "max_connections=200",
			"-c", "shared_buffers=32MB",
			"-c", "logging_collector=off",
			"-c", "log_min_messages=warning",
			"-c", "timezone=UTC",
		)
		var p *proc
		if p, err = startProc(cmd, s.LogPath); err != nil {
			return err
		}
		dsn := s.dsn(port, "postgres")
		err = waitReady(p, 60*time.Second, func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			c, err := pgx.Connect(ctx, dsn)
			if err != nil {
				return err
			}
			defer c.Close(ctx)
			return c.Ping(ctx)
		})
		if err == nil {
			s.Port, s.p = port, p
			return nil
		}
		p.kill()
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("postgres did not start: %v\n%s", err, logTail(s.LogPath))
}

func (s *PGServer) dsn(port int, db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", port, db)
}

// DSN returns the superuser DSN for database db.
func (s *PGServer) DSN(db string) string { return s.dsn(s.Port, db) }

// AdminDSN returns the superuser DSN for the "postgres" database.
func (s *PGServer) AdminDSN() string { return s.dsn(s.Port, "postgres") }

// CreateDatabase creates a fresh empty database, dropped in t.Cleanup, and
// returns its DSN.
func (s *PGServer) CreateDatabase(t testing.TB) string {
	t.Helper()
	name := uniqueName(t, 63)
	if err := s.admin(fmt.Sprintf(`CREATE DATABASE %q`, name)); err != nil {
		t.Fatalf("testinfra: create database %s: %v\n%s", name, err, logTail(s.LogPath))
	}
	t.Cleanup(func() {
		if err := s.admin(fmt.Sprintf(`DROP DATABASE IF EXISTS %q WITH (FORCE)`, name)); err != nil {
			t.Logf("testinfra: drop database %s: %v", name, err)
		}
	})
	return s.DSN(name)
}

func (s *PGServer) admin(sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, s.AdminDSN())
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	_, err = c.Exec(ctx, sql)
	return err
}

// Stop shuts the server down ("fast" mode: sessions are disconnected). It
// is idempotent.
func (s *PGServer) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.p != nil {
		s.p.stop(syscall.SIGINT, 30*time.Second)
		s.p = nil
	}
}

// Kill stops the server with SIGKILL, like a crash; Start then recovers.
func (s *PGServer) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.p != nil {
		s.p.kill()
		s.p = nil
	}
}

// Start starts the server again on the same port (after Stop or Kill).
func (s *PGServer) Start(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.p != nil && !s.p.exited() {
		return
	}
	if err := s.start(); err != nil {
		t.Fatalf("testinfra: restart PostgreSQL: %v", err)
	}
}

// shutdown stops the server at once ("immediate" mode, fine for throw-away
// data) and removes its directory.
func (s *PGServer) shutdown() {
	s.mu.Lock()
	if s.p != nil {
		s.p.stop(syscall.SIGQUIT, 10*time.Second)
		s.p = nil
	}
	s.mu.Unlock()
	os.RemoveAll(s.Dir)
}
