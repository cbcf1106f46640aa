package loadgen

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"

	"github.com/shouwang-care/shouwang/cloud/credential"
	"github.com/shouwang-care/shouwang/cloud/store"
)

// StackOptions configure a local measurement stack: mosquitto, PostgreSQL, InfluxDB
// 1.8 and shouwang-cloud as a subprocess, all on 127.0.0.1 free ports, all stopped
// by Stop (and killed with this process: parent-death signal).
type StackOptions struct {
	Repo     string // module root, where `go build ./cloud/cmd/shouwang-cloud` runs
	Dir      string // work directory (created; removed by Stop unless Keep)
	Keep     bool
	Gateways int    // registered in the database before the cloud starts
	Prefix   string // gateway ID prefix, as in Config
	GridSize int    // homes per grid (each grid gets one on-duty worker); default 400
	Workers  int    // the cloud's mqtt.workers; default 8 (deploy/cloud/cloud.example.yaml)
	NoInflux bool   // telemetry into PostgreSQL instead
	// BrokerInflight sets mosquitto's max_inflight_messages (QoS 1 messages sent to
	// one client, the cloud, awaiting its PUBACK); 0: mosquitto's default, 20.
	// Negative: 0, no limit.
	BrokerInflight int
	// BrokerMaxQueued sets max_queued_messages (per session, beyond the in-flight
	// window; mosquitto drops QoS 1 messages past it); 0: 10000, as deployed.
	BrokerMaxQueued int
	// BrokerNoDelay sets mosquitto's set_tcp_nodelay (default off: Nagle's algorithm
	// holds small packets such as PUBACKs up to ~40 ms behind unacknowledged data).
	BrokerNoDelay bool
	// BrokerOnly starts mosquitto alone (measures the generator and the broker).
	BrokerOnly bool
	// PGNoFsync runs PostgreSQL with fsync=off and synchronous_commit=off: a
	// diagnostic, to see how much of ingest is waiting for WAL flushes.
	PGNoFsync bool
	CloudBin  string // prebuilt shouwang-cloud; empty: go build
	// NoCloud starts the servers and registers the gateways (and builds the cloud
	// unless CloudBin is set) but leaves starting the cloud to the caller
	// (Compare starts and stops it for each round against the same servers).
	NoCloud   bool
	Log       io.Writer
	Influxd   string // path; empty: $SHOUWANG_INFLUXD, <repo>/.cache/bin/influxd, /tmp/influxbin/influxd, PATH
	PGBin     string // directory of postgres/initdb; empty: /usr/lib/postgresql/*/bin
	Mosquitto string // empty: /usr/sbin/mosquitto
}

// Stack is a running local stack.
type Stack struct {
	Broker        string // tcp://127.0.0.1:port
	CloudURL      string // http://127.0.0.1:port
	DSN           string
	InfluxURL     string
	AdminUser     string
	AdminPassword string
	// Process group IDs for ReadProcGroup.
	Cloud, MosquittoPG, Postgres, Influx int
	// CloudClientID is the cloud's MQTT client ID (its persistent session at the
	// broker); empty: shouwang-cloud-load.
	CloudClientID string

	opt   StackOptions
	mu    sync.Mutex
	procs []*stackProc // in start order
}

type stackProc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
}

// RaiseFileLimit sets RLIMIT_NOFILE (soft and hard, as far as allowed) to n, so the
// load generator and the servers it starts (which inherit it) can hold n sockets.
func RaiseFileLimit(n uint64) (uint64, error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, err
	}
	want := syscall.Rlimit{Cur: n, Max: max(n, rl.Max)}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
		// Not privileged: the soft limit up to the hard one.
		want = syscall.Rlimit{Cur: min(n, rl.Max), Max: rl.Max}
		if err2 := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err2 != nil {
			return rl.Cur, err2
		}
	}
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl)
	return rl.Cur, nil
}

// The parent-death signal fires when the forking *thread* exits (go.dev/issue/27505):
// fork every server from one goroutine locked to a thread that lives until exit.
var (
	spawnOnce sync.Once
	spawnCh   = make(chan spawnReq)
)

type spawnReq struct {
	cmd *exec.Cmd
	res chan error
}

func spawner() {
	runtime.LockOSThread()
	for r := range spawnCh {
		r.res <- r.cmd.Start()
	}
}

func (s *Stack) start(name string, cmd *exec.Cmd, logPath string) (*stackProc, error) {
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer lf.Close()
	if cmd.Stdout == nil {
		cmd.Stdout = lf
	}
	cmd.Stderr = lf
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	cmd.SysProcAttr.Setpgid = true
	spawnOnce.Do(func() { go spawner() })
	res := make(chan error)
	spawnCh <- spawnReq{cmd, res}
	if err := <-res; err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &stackProc{name: name, cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); close(p.done) }()
	s.mu.Lock()
	s.procs = append(s.procs, p)
	s.mu.Unlock()
	return p, nil
}

func (p *stackProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *stackProc) stop(sig syscall.Signal, grace time.Duration) {
	if p.exited() {
		return
	}
	syscall.Kill(p.cmd.Process.Pid, sig)
	select {
	case <-p.done:
	case <-time.After(grace):
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

// Stop stops every process, last started first, and removes the work directory.
func (s *Stack) Stop() {
	s.mu.Lock()
	ps := s.procs
	s.procs = nil
	s.mu.Unlock()
	for i := len(ps) - 1; i >= 0; i-- {
		sig := syscall.SIGTERM
		if ps[i].name == "postgres" {
			sig = syscall.SIGINT // fast shutdown
		}
		ps[i].stop(sig, 15*time.Second)
	}
	if !s.opt.Keep && s.opt.Dir != "" {
		os.RemoveAll(s.opt.Dir)
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func waitFor(p *stackProc, timeout time.Duration, ready func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := ready()
		if err == nil {
			return nil
		}
		if p.exited() {
			return fmt.Errorf("%s exited before it was ready: %v", p.name, err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %v: %v", p.name, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func tcpReady(addr string) func() error {
	return func() error {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return err
		}
		return c.Close()
	}
}

func firstExisting(cands ...string) string {
	for _, c := range cands {
		if c == "" {
			continue
		}
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	return ""
}

func (s *Stack) logf(format string, a ...any) {
	if s.opt.Log != nil {
		fmt.Fprintf(s.opt.Log, format+"\n", a...)
	}
}

// StartStack starts everything and registers opt.Gateways gateways; on error what
// was started is stopped.
func StartStack(ctx context.Context, opt StackOptions) (s *Stack, err error) {
	if opt.GridSize <= 0 {
		opt.GridSize = 400
	}
	if opt.Workers <= 0 {
		opt.Workers = 8
	}
	if opt.Dir == "" {
		if opt.Dir, err = os.MkdirTemp("", "shouwang-load-"); err != nil {
			return nil, err
		}
		// PostgreSQL runs as the postgres user when we are root: it must get through.
		if err := os.Chmod(opt.Dir, 0o755); err != nil {
			return nil, err
		}
	} else if ents, _ := os.ReadDir(opt.Dir); len(ents) > 0 {
		return nil, fmt.Errorf("work directory %s is not empty", opt.Dir)
	} else if err := os.MkdirAll(opt.Dir, 0o755); err != nil {
		return nil, err
	}
	s = &Stack{opt: opt, AdminUser: "load-admin"}
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()
	if opt.BrokerOnly {
		return s, s.startMosquitto()
	}
	var g errgroup.Group
	g.Go(s.startMosquitto)
	if !opt.NoInflux {
		g.Go(s.startInflux)
	}
	if opt.CloudBin == "" {
		g.Go(func() error {
			bin := filepath.Join(opt.Dir, "shouwang-cloud")
			t := time.Now()
			cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cloud/cmd/shouwang-cloud")
			cmd.Dir = opt.Repo
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("go build ./cloud/cmd/shouwang-cloud: %v\n%s", err, out)
			}
			s.opt.CloudBin = bin
			s.logf("built shouwang-cloud in %v", time.Since(t).Round(time.Millisecond))
			return nil
		})
	}
	if err := s.startPostgres(ctx); err != nil {
		return s, err
	}
	if err := s.register(ctx); err != nil {
		return s, err
	}
	if err := g.Wait(); err != nil {
		return s, err
	}
	if opt.NoCloud {
		return s, nil
	}
	return s, s.startCloud()
}

func (s *Stack) startMosquitto() error {
	bin := firstExisting(s.opt.Mosquitto, os.Getenv("SHOUWANG_MOSQUITTO"), "/usr/sbin/mosquitto", "mosquitto")
	if bin == "" {
		return errors.New("mosquitto not found")
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	conf := filepath.Join(s.opt.Dir, "mosquitto.conf")
	// As deploy/mosquitto/shouwang.conf, minus TLS, auth and persistence (loopback
	// measurement), plus no connection cap.
	body := fmt.Sprintf(`listener %d 127.0.0.1
allow_anonymous true
persistence false
max_connections -1
max_queued_messages %d
message_size_limit 262144
log_dest stderr
log_type error
log_type warning
connection_messages false
`, port, cmp.Or(s.opt.BrokerMaxQueued, 10000))
	if s.opt.BrokerNoDelay {
		body += "set_tcp_nodelay true\n"
	}
	if s.opt.BrokerInflight != 0 {
		body += fmt.Sprintf("max_inflight_messages %d\n", max(s.opt.BrokerInflight, 0))
	}
	if os.Geteuid() == 0 {
		body += "user root\n"
	}
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		return err
	}
	p, err := s.start("mosquitto", exec.Command(bin, "-c", conf), filepath.Join(s.opt.Dir, "mosquitto.log"))
	if err != nil {
		return err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if err := waitFor(p, 15*time.Second, tcpReady(addr)); err != nil {
		return err
	}
	s.Broker, s.MosquittoPG = "tcp://"+addr, p.cmd.Process.Pid
	s.logf("mosquitto on %s (pid %d)", s.Broker, s.MosquittoPG)
	return nil
}

func (s *Stack) startInflux() error {
	var cache string
	if s.opt.Repo != "" {
		cache = filepath.Join(s.opt.Repo, ".cache", "bin", "influxd")
	}
	bin := firstExisting(s.opt.Influxd, os.Getenv("SHOUWANG_INFLUXD"), cache, "/tmp/influxbin/influxd", "influxd")
	if bin == "" {
		return errors.New("influxd (1.8) not found: set SHOUWANG_INFLUXD or use --no-influx")
	}
	dir := filepath.Join(s.opt.Dir, "influx")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	httpPort, err := freePort()
	if err != nil {
		return err
	}
	rpcPort, err := freePort()
	if err != nil {
		return err
	}
	conf := filepath.Join(dir, "influxdb.conf")
	body := fmt.Sprintf(`reporting-disabled = true
bind-address = "127.0.0.1:%[3]d"
[meta]
  dir = "%[1]s/meta"
  logging-enabled = false
[data]
  dir = "%[1]s/data"
  wal-dir = "%[1]s/wal"
  query-log-enabled = false
[monitor]
  store-enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:%[2]d"
  auth-enabled = false
  log-enabled = false
[logging]
  level = "warn"
[continuous_queries]
  enabled = false
`, dir, httpPort, rpcPort)
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		return err
	}
	cmd := exec.Command(bin, "run", "-config", conf)
	cmd.Env = append(os.Environ(), "INFLUXDB_REPORTING_DISABLED=true")
	p, err := s.start("influxd", cmd, filepath.Join(s.opt.Dir, "influxd.log"))
	if err != nil {
		return err
	}
	u := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	if err := waitFor(p, 60*time.Second, func() error {
		resp, err := http.Get(u + "/ping")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			return errors.New(resp.Status)
		}
		return nil
	}); err != nil {
		return err
	}
	resp, err := http.PostForm(u+"/query", url.Values{"q": {"CREATE DATABASE shouwang"}})
	if err != nil {
		return err
	}
	resp.Body.Close()
	s.InfluxURL, s.Influx = u, p.cmd.Process.Pid
	s.logf("influxd on %s (pid %d)", u, s.Influx)
	return nil
}

func (s *Stack) startPostgres(ctx context.Context) error {
	bin := s.opt.PGBin
	if bin == "" {
		if m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres"); len(m) > 0 {
			bin = filepath.Dir(m[len(m)-1])
		} else if p, err := exec.LookPath("postgres"); err == nil {
			bin = filepath.Dir(p)
		} else {
			return errors.New("postgres not found")
		}
	}
	dir := filepath.Join(s.opt.Dir, "pg")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return fmt.Errorf("running as root without a postgres user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}
		if err := os.Chown(dir, uid, gid); err != nil {
			return err
		}
	}
	command := func(name string, args ...string) *exec.Cmd {
		cmd := exec.Command(filepath.Join(bin, name), args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "LC_ALL=C", "TZ=UTC")
		if cred != nil {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		}
		return cmd
	}
	data := filepath.Join(dir, "data")
	initLog := filepath.Join(s.opt.Dir, "initdb.log")
	p, err := s.start("initdb", command("initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"), initLog)
	if err != nil {
		return err
	}
	<-p.done
	if !p.cmd.ProcessState.Success() {
		b, _ := os.ReadFile(initLog)
		return fmt.Errorf("initdb: %s\n%s", p.cmd.ProcessState, b)
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	// Durable settings (fsync on) but small buffers: this is a shared box. Alert
	// commits wait for the WAL flush, as in production.
	args := []string{"-D", data, "-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=" + dir,
		"-c", "max_connections=200", "-c", "shared_buffers=128MB",
		"-c", "logging_collector=off", "-c", "log_min_messages=warning", "-c", "timezone=UTC"}
	if s.opt.PGNoFsync {
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	p, err = s.start("postgres", command("postgres", args...), filepath.Join(s.opt.Dir, "postgres.log"))
	if err != nil {
		return err
	}
	admin := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	if err := waitFor(p, 60*time.Second, func() error {
		c, err := pgx.Connect(ctx, admin)
		if err != nil {
			return err
		}
		defer c.Close(ctx)
		_, err = c.Exec(ctx, `CREATE DATABASE shouwang`)
		return err
	}); err != nil {
		return err
	}
	s.DSN, s.Postgres = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/shouwang?sslmode=disable", port), p.cmd.Process.Pid
	s.logf("postgres on 127.0.0.1:%d (pid %d)", port, s.Postgres)
	return nil
}

// register creates the schema (store.Open migrates), an admin to watch the stream
// with, and Gateways gateways in homes of grids of GridSize, one on-duty worker each.
func (s *Stack) register(ctx context.Context) error {
	t := time.Now()
	st, err := store.Open(ctx, s.DSN)
	if err != nil {
		return err
	}
	defer st.Close()
	s.AdminPassword = credential.NewSecret()[:20]
	hash, err := credential.HashPassword(s.AdminPassword)
	if err != nil {
		return err
	}
	if err := st.CreateUser(ctx, store.User{ID: uuid.NewString(), Username: s.AdminUser, Name: "load admin", Role: "admin", PasswordHash: hash}); err != nil {
		return err
	}
	secret := credential.HashSecret(credential.NewSecret()) // the broker is anonymous here
	grids := (s.opt.Gateways + s.opt.GridSize - 1) / s.opt.GridSize
	for gi := range grids {
		grid := fmt.Sprintf("grid-load-%04d", gi)
		if err := errors.Join(
			st.PutGrid(ctx, store.Grid{ID: grid, Name: "负载网格 " + strconv.Itoa(gi), Community: "负载社区"}),
			st.PutWorker(ctx, store.Worker{ID: fmt.Sprintf("w-load-%04d", gi), GridID: grid, Name: "网格员 " + strconv.Itoa(gi), Phone: "13800000000", OnDuty: true}),
		); err != nil {
			return err
		}
	}
	var g errgroup.Group
	g.SetLimit(16)
	for i := range s.opt.Gateways {
		g.Go(func() error {
			home := fmt.Sprintf("home-load-%06d", i)
			if err := st.PutHome(ctx, store.Home{ID: home, GridID: fmt.Sprintf("grid-load-%04d", i/s.opt.GridSize), Address: "负载 " + strconv.Itoa(i), ResidentName: "住户 " + strconv.Itoa(i)}); err != nil {
				return err
			}
			return st.PutGateway(ctx, GatewayID(s.opt.Prefix, i), home, secret)
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	s.logf("registered %d gateways in %d grids in %v", s.opt.Gateways, grids, time.Since(t).Round(time.Millisecond))
	return nil
}

func (s *Stack) startCloud() error {
	httpPort, err := freePort()
	if err != nil {
		return err
	}
	conf := filepath.Join(s.opt.Dir, "cloud.yaml")
	clientID := s.CloudClientID
	if clientID == "" {
		clientID = "shouwang-cloud-load"
	}
	body := fmt.Sprintf(`http_addr: 127.0.0.1:%d
data_dir: %s
database: %s
mqtt:
  broker: %s
  username: shouwang-cloud
  client_id: %s
  group: shouwang-cloud
  workers: %d
`, httpPort, filepath.Join(s.opt.Dir, "cloud"), s.DSN, s.Broker, clientID, s.opt.Workers)
	if s.InfluxURL != "" {
		body += fmt.Sprintf("influx:\n  url: %s\n  bucket: shouwang/autogen\n", s.InfluxURL)
	}
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		return err
	}
	cmd := exec.Command(s.opt.CloudBin, "--config", conf)
	cmd.Dir = s.opt.Dir
	p, err := s.start("shouwang-cloud", cmd, filepath.Join(s.opt.Dir, "cloud.log"))
	if err != nil {
		return err
	}
	s.CloudURL = fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	if err := waitFor(p, 60*time.Second, func() error {
		resp, err := http.Get(s.CloudURL + "/healthz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return errors.New(resp.Status)
		}
		return nil
	}); err != nil {
		return fmt.Errorf("%w\n%s", err, tail(filepath.Join(s.opt.Dir, "cloud.log")))
	}
	s.Cloud = p.cmd.Process.Pid
	s.logf("shouwang-cloud on %s (pid %d)", s.CloudURL, s.Cloud)
	return nil
}

func tail(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > 20 {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}
