package testinfra

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// InfluxDB is a fresh database on the InfluxDB 1.8 server shared by the test
// binary. With influxdb-client-go/v2 use
//
//	c := influxdb2.NewClient(db.URL, db.Token)
//	c.WriteAPIBlocking(db.Org, db.Bucket)
//	c.QueryAPI(db.Org) // Flux: from(bucket: db.Bucket)
type InfluxDB struct {
	URL      string // http://127.0.0.1:port
	Database string // InfluxQL database, for /write?db= and /query?db=
	Org      string // "" (ignored by 1.8)
	Bucket   string // Database + "/autogen"
	Token    string // "" (auth is off)

	// Set by InfluxOwn only: the server's backup/restore service (host:port, for
	// influxd backup -host) and the influxd binary.
	RPC, Bin string
}

type influxServer struct {
	url     string
	rpc     string // host:port of the backup/restore service
	dir     string
	logPath string
	p       *proc
}

var (
	influxShared     *influxServer
	influxSharedErr  error
	influxSharedOnce sync.Once
)

// Influx creates a fresh database for this test on the InfluxDB 1.8 server
// shared by the test binary (flux-enabled, auth off), dropped in t.Cleanup.
// The server binary is $SHOUWANG_INFLUXD, <repo>/.cache/bin/influxd or
// influxd in PATH. The package must use testinfra.Main.
func Influx(t testing.TB) InfluxDB {
	t.Helper()
	bin := influxBinary(t, "Influx")
	influxSharedOnce.Do(func() {
		influxShared, influxSharedErr = startInflux(bin, InfluxOptions{})
		if influxShared != nil {
			onShutdown(influxShared.shutdown)
		}
	})
	if influxSharedErr != nil {
		t.Fatalf("testinfra: InfluxDB: %v", influxSharedErr)
	}
	s := influxShared
	name := uniqueName(t, 120)
	if err := s.query("CREATE DATABASE " + quoteIdent(name)); err != nil {
		t.Fatalf("testinfra: InfluxDB create database %s: %v\n%s", name, err, logTail(s.logPath))
	}
	t.Cleanup(func() {
		if err := s.query("DROP DATABASE " + quoteIdent(name)); err != nil {
			t.Logf("testinfra: InfluxDB drop database %s: %v", name, err)
		}
	})
	return InfluxDB{URL: s.url, Database: name, Bucket: name + "/autogen"}
}

// InfluxOptions change the server InfluxOwn starts.
type InfluxOptions struct {
	Data string // lines added to the [data] section, e.g. compaction settings
	// Auth turns authentication on. The server then has no users, and its first
	// statement must create an admin; InfluxOwn creates no database.
	Auth bool
}

// InfluxOwn starts an InfluxDB 1.8 server of the test's own, as o says, with an
// empty database "shouwang" unless o.Auth. It returns the database and the
// server's data directory, for measurements of what lands on disk. The server
// stops in t.Cleanup.
func InfluxOwn(t testing.TB, o InfluxOptions) (InfluxDB, string) {
	t.Helper()
	bin := influxBinary(t, "InfluxOwn")
	s, err := startInflux(bin, o)
	if err != nil {
		t.Fatalf("testinfra: InfluxDB: %v", err)
	}
	t.Cleanup(s.shutdown)
	if !o.Auth {
		if err := s.query(`CREATE DATABASE "shouwang"`); err != nil {
			t.Fatalf("testinfra: InfluxDB create database: %v", err)
		}
	}
	return InfluxDB{URL: s.url, Database: "shouwang", Bucket: "shouwang/autogen", RPC: s.rpc, Bin: bin}, filepath.Join(s.dir, "data")
}

func influxBinary(t testing.TB, caller string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("needs influxd: skipped with -short")
	}
	requireMain(t, caller)
	var bin string
	if env := os.Getenv("SHOUWANG_INFLUXD"); env != "" {
		bin = lookBinary(t, "influxd (InfluxDB 1.8.10, $SHOUWANG_INFLUXD)", env)
	} else {
		var cache string
		if root := repoRoot(); root != "" {
			cache = filepath.Join(root, ".cache", "bin", "influxd")
		}
		bin = lookBinary(t, "influxd (InfluxDB 1.8.10)", cache, "influxd")
	}
	return bin
}

func quoteIdent(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

func startInflux(bin string, o InfluxOptions) (*influxServer, error) {
	start := time.Now()
	dir, err := tempDir("influx")
	if err != nil {
		return nil, err
	}
	s := &influxServer{dir: dir, logPath: filepath.Join(dir, "influxd.log")}
	for attempt := 0; attempt < 5; attempt++ {
		var httpPort, rpcPort int
		if httpPort, err = freePort(); err != nil {
			break
		}
		if rpcPort, err = freePort(); err != nil {
			break
		}
		conf := filepath.Join(dir, "influxdb.conf")
		if err = os.WriteFile(conf, []byte(influxConf(dir, httpPort, rpcPort, o)), 0o644); err != nil {
			break
		}
		cmd := exec.Command(bin, "run", "-config", conf)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "INFLUXDB_REPORTING_DISABLED=true")
		var p *proc
		if p, err = startProc(cmd, s.logPath); err != nil {
			break
		}
		s.url = fmt.Sprintf("http://127.0.0.1:%d", httpPort)
		s.rpc = fmt.Sprintf("127.0.0.1:%d", rpcPort)
		// Flux compiles its standard library at start-up: ~3 s idle, 15 s on a busy 2-core box.
		err = waitReady(p, 120*time.Second, func() error { // /ping needs no credentials
			resp, err := http.Get(s.url + "/ping")
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusNoContent {
				return fmt.Errorf("GET /ping: %s", resp.Status)
			}
			return nil
		})
		if err == nil {
			s.p = p
			fmt.Fprintf(os.Stderr, "testinfra: InfluxDB on %s ready in %v\n", s.url, time.Since(start).Round(time.Millisecond))
			return s, nil
		}
		p.kill()
	}
	tail := logTail(s.logPath)
	os.RemoveAll(dir)
	return nil, fmt.Errorf("influxd %s did not start: %v\n%s", bin, err, tail)
}

func influxConf(dir string, httpPort, rpcPort int, o InfluxOptions) string {
	return fmt.Sprintf(`reporting-disabled = true
bind-address = "127.0.0.1:%[3]d"

[meta]
  dir = "%[1]s/meta"
  logging-enabled = false

[data]
  dir = "%[1]s/data"
  wal-dir = "%[1]s/wal"
  query-log-enabled = false
  trace-logging-enabled = false
%[4]s

[monitor]
  store-enabled = false

[http]
  enabled = true
  bind-address = "127.0.0.1:%[2]d"
  auth-enabled = %[5]t
  flux-enabled = true
  log-enabled = false
  pprof-enabled = false

[logging]
  level = "warn"

[subscriber]
  enabled = false

[continuous_queries]
  enabled = false
`, dir, httpPort, rpcPort, o.Data, o.Auth)
}

func (s *influxServer) query(q string) error {
	resp, err := http.PostForm(s.url+"/query", url.Values{"q": {q}})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || strings.Contains(string(body), `"error"`) {
		return fmt.Errorf("%s: %s", resp.Status, body)
	}
	return nil
}

func (s *influxServer) shutdown() {
	if s.p != nil {
		s.p.stop(syscall.SIGTERM, 10*time.Second)
	}
	os.RemoveAll(s.dir)
}
