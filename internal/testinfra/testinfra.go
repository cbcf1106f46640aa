// Package testinfra starts real servers (mosquitto, PostgreSQL, InfluxDB 1.8)
// on loopback for tests. There is no Docker and nothing is mocked: the
// binaries are installed by scripts/test.sh (make test).
//
// Per-test servers (Mosquitto) are stopped in t.Cleanup. Shared servers
// (Postgres, Influx) are started once per test binary on first use and
// stopped by Main, so a package that uses them must have
//
//	func TestMain(m *testing.M) { testinfra.Main(m) }
//
// Every server process is started with a parent-death signal (SIGKILL), so
// it dies with the test binary even when the binary crashes or times out.
package testinfra

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

const installHint = "run scripts/test.sh (make test), which installs it"

// mainActive is set by Main; shared servers refuse to start without it,
// because nothing else would stop them and remove their data directories.
var mainActive atomic.Bool

// Main runs the tests and then stops every shared server; use as
//
//	func TestMain(m *testing.M) { testinfra.Main(m) }
func Main(m *testing.M) {
	mainActive.Store(true)
	cleanStaleDirs()
	code := m.Run()
	shutdownShared()
	os.Exit(code)
}

func requireMain(t testing.TB, what string) {
	t.Helper()
	if !mainActive.Load() {
		t.Fatalf("testinfra.%s uses a server shared by the test binary: add\n\tfunc TestMain(m *testing.M) { testinfra.Main(m) }\nto this package so the server is stopped when the tests end", what)
	}
}

// shutdowns are run by Main, last registered first.
var (
	shutdownMu sync.Mutex
	shutdowns  []func()
)

func onShutdown(f func()) {
	shutdownMu.Lock()
	shutdowns = append(shutdowns, f)
	shutdownMu.Unlock()
}

func shutdownShared() {
	shutdownMu.Lock()
	fs := shutdowns
	shutdowns = nil
	shutdownMu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
	// Anything still running (a per-test server whose cleanup did not run).
	procsMu.Lock()
	left := make([]*proc, 0, len(procs))
	for p := range procs {
		left = append(left, p)
	}
	procsMu.Unlock()
	for _, p := range left {
		p.kill()
	}
}

// FreePort returns a free loopback TCP port.
func FreePort(t testing.TB) int {
	t.Helper()
	p, err := freePort()
	if err != nil {
		t.Fatalf("testinfra: no free port: %v", err)
	}
	return p
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// lookBinary finds a server binary, or fails the test naming it.
func lookBinary(t testing.TB, name string, candidates ...string) string {
	t.Helper()
	for _, c := range candidates {
		if c == "" {
			continue
		}
		if strings.ContainsRune(c, '*') {
			m, _ := filepath.Glob(c)
			if len(m) > 0 {
				return m[len(m)-1]
			}
			continue
		}
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	t.Fatalf("testinfra: %s not found (looked for %s): %s", name, strings.Join(nonEmpty(candidates), ", "), installHint)
	return ""
}

func nonEmpty(s []string) []string {
	var out []string
	for _, x := range s {
		if x != "" {
			out = append(out, x)
		}
	}
	return out
}

// repoRoot is the directory holding go.mod, found from the working directory
// (go test runs each package in its own directory).
func repoRoot() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// ---- temp dirs ----

const dirPrefix = "shouwang-testinfra-"

// tempDir makes a directory under os.TempDir named after this process, so
// that cleanStaleDirs can remove the leftovers of crashed test binaries.
func tempDir(kind string) (string, error) {
	return os.MkdirTemp("", fmt.Sprintf("%s%d-%s-", dirPrefix, os.Getpid(), kind))
}

// cleanStaleDirs removes directories left by test binaries that are gone.
func cleanStaleDirs() {
	ents, err := os.ReadDir(os.TempDir())
	if err != nil {
		return
	}
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), dirPrefix)
		if !ok || !e.IsDir() {
			continue
		}
		pidStr, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidStr)
		if err != nil || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); err == syscall.ESRCH {
			os.RemoveAll(filepath.Join(os.TempDir(), e.Name()))
		}
	}
}

// ---- processes ----

// proc is a running server process.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // Wait result, valid after done
}

var (
	procsMu sync.Mutex
	procs   = map[*proc]struct{}{}
)

// The parent-death signal is delivered when the *thread* that forked the
// child exits (go.dev/issue/27505), so every server is forked from one
// goroutine locked to a thread that lives as long as the process.
type spawnReq struct {
	cmd *exec.Cmd
	res chan error
}

var (
	spawnOnce sync.Once
	spawnCh   = make(chan spawnReq)
)

func spawner() {
	runtime.LockOSThread() // never unlocked: the thread lives until exit
	for r := range spawnCh {
		r.res <- r.cmd.Start()
	}
}

// startProc starts cmd with its output appended to logPath.
func startProc(cmd *exec.Cmd, logPath string) (*proc, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child has its own copy
	cmd.Stdout = logf
	cmd.Stderr = logf
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	cmd.SysProcAttr.Setpgid = true // keep terminal ^C for go test itself
	spawnOnce.Do(func() { go spawner() })
	res := make(chan error)
	spawnCh <- spawnReq{cmd, res}
	if err := <-res; err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	procsMu.Lock()
	procs[p] = struct{}{}
	procsMu.Unlock()
	go func() {
		p.err = cmd.Wait()
		procsMu.Lock()
		delete(procs, p)
		procsMu.Unlock()
		close(p.done)
	}()
	return p, nil
}

// runProc runs cmd to its end, its output appended to logPath.
func runProc(cmd *exec.Cmd, logPath string) error {
	p, err := startProc(cmd, logPath)
	if err != nil {
		return err
	}
	<-p.done
	return p.err
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends sig and waits up to grace for exit, then kills.
func (p *proc) stop(sig syscall.Signal, grace time.Duration) {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(grace):
		p.kill()
	}
}

func (p *proc) kill() {
	if p.exited() {
		return
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	_ = p.cmd.Process.Kill()
	<-p.done
}

// waitReady polls ready until it returns nil, the process exits or timeout.
func waitReady(p *proc, timeout time.Duration, ready func() error) error {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		if last = ready(); last == nil {
			return nil
		}
		if p.exited() {
			return fmt.Errorf("process exited (%v) before it was ready: %v", p.err, last)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %v: %v", timeout, last)
		}
		time.Sleep(25 * time.Millisecond)
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

// logTail returns the last lines of a server log for failure messages.
func logTail(path string) string {
	const max = 4096
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > max {
		f.Seek(st.Size()-max, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return "(log " + path + " is empty)"
	}
	return "log " + path + " (tail):\n" + string(b)
}

// uniqueName makes a lower-case identifier from the test name.
var nameSeq atomic.Int64

func uniqueName(t testing.TB, max int) string {
	var b strings.Builder
	for _, r := range strings.ToLower(t.Name()) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	suffix := fmt.Sprintf("_%d_%d", os.Getpid(), nameSeq.Add(1))
	base := "t_" + b.String()
	if len(base)+len(suffix) > max {
		base = base[:max-len(suffix)]
	}
	return base + suffix
}
