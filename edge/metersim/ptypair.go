package metersim

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Socat is a pair of connected ptys made by socat, for tests that need real
// serial ports (termios, tarm/serial) without hardware. A and B are symlinks
// that stay the same across Stop and Start, like /dev/serial/by-id names do
// across unplugging an adapter.
type Socat struct {
	A, B string

	t      testing.TB
	mu     sync.Mutex
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	done   chan struct{}
}

// PtyPair starts socat with two linked ptys in a temporary directory and
// returns their paths; socat is killed when the test ends.
func PtyPair(t testing.TB) (a, b string) {
	t.Helper()
	s := StartSocat(t)
	return s.A, s.B
}

// StartSocat is PtyPair with control over the pair's life: Stop makes both
// ports vanish (reads and writes on open ends fail), Start brings them back
// under the same names. Tests are skipped with -short; a missing socat fails
// the test, since scripts/test.sh installs it.
func StartSocat(t testing.TB) *Socat {
	t.Helper()
	if testing.Short() {
		t.Skip("pty pair via socat: skipped with -short")
	}
	if _, err := exec.LookPath("socat"); err != nil {
		t.Fatal("socat not found: run scripts/test.sh (make test), which installs it")
	}
	dir := t.TempDir()
	s := &Socat{A: filepath.Join(dir, "a"), B: filepath.Join(dir, "b"), t: t}
	t.Cleanup(s.Stop)
	s.Start()
	return s
}

// Start starts socat again after Stop and waits for both links.
func (s *Socat) Start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		s.t.Fatal("socat already running")
	}
	os.Remove(s.A) // a killed socat can leave dangling links
	os.Remove(s.B)
	s.stderr = new(bytes.Buffer)
	cmd := exec.Command("socat", "-d", "-d",
		"pty,raw,echo=0,link="+s.A, "pty,raw,echo=0,link="+s.B)
	cmd.Stderr = &lockedWriter{w: s.stderr, mu: &s.mu}
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start socat: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	s.cmd, s.done = cmd, done
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, errA := os.Stat(s.A)
		_, errB := os.Stat(s.B)
		// socat creates the links before it applies raw,echo=0 to the ptys;
		// termios set by a port opened in between (tarm's VTIME read timeout)
		// would be overwritten with VMIN=1, and reads would block forever.
		// "starting data transfer loop" (-d -d) comes after all setup.
		if errA == nil && errB == nil && strings.Contains(s.stderr.String(), "starting data transfer loop") {
			return
		}
		select {
		case <-done:
			s.cmd = nil
			s.t.Fatalf("socat exited before creating %s and %s: %s", s.A, s.B, s.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("socat did not create %s and %s within 10s: %v %v; stderr: %s", s.A, s.B, errA, errB, s.stderr.String())
		}
		s.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
		s.mu.Lock()
	}
}

// Stop terminates socat and waits for it; the links disappear. Safe to call twice.
func (s *Socat) Stop() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	// SIGTERM lets socat remove its links; SIGKILL is the fallback.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		cmd.Process.Kill()
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		<-done
	}
	os.Remove(s.A)
	os.Remove(s.B)
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	// Start holds mu while polling for the links; socat writes stderr from
	// the exec copier goroutine, so this must not block on mu for long.
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
