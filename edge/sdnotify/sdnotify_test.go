package sdnotify

import (
	"context"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// listen makes a real unixgram socket standing in for systemd's and points
// $NOTIFY_SOCKET at it.
func listen(t *testing.T) <-chan string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	got := make(chan string, 100)
	go func() {
		buf := make([]byte, 256)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			got <- string(buf[:n])
		}
	}()
	return got
}

func next(t *testing.T, got <-chan string) string {
	t.Helper()
	select {
	case s := <-got:
		return s
	case <-time.After(5 * time.Second):
		t.Fatal("no notification")
		return ""
	}
}

func TestNotifyWithoutSystemdIsNoop(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	if sent, err := Notify("READY=1"); sent || err != nil {
		t.Fatalf("sent=%v err=%v", sent, err)
	}
}

func TestWatchdogInterval(t *testing.T) {
	for _, tc := range []struct {
		usec, pid string
		want      time.Duration
		wantErr   bool
	}{
		{"", "", 0, false},
		{"30000000", "", 30 * time.Second, false},
		{"30000000", "1", 0, false}, // another process's watchdog
		{"abc", "", 0, true},
		{"0", "", 0, true},
	} {
		t.Setenv("WATCHDOG_USEC", tc.usec)
		t.Setenv("WATCHDOG_PID", tc.pid)
		got, err := WatchdogInterval()
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("WATCHDOG_USEC=%q PID=%q: %v %v", tc.usec, tc.pid, got, err)
		}
	}
}

// TestServePingsOnlyWhileAlive: READY first, pings while the loop makes progress,
// none while it is stalled, STOPPING at the end.
func TestServePingsOnlyWhileAlive(t *testing.T) {
	got := listen(t)
	t.Setenv("WATCHDOG_USEC", "100000") // 100 ms: a ping every 50 ms
	t.Setenv("WATCHDOG_PID", "")
	var alive atomic.Bool
	alive.Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, alive.Load, slog.New(slog.NewTextHandler(io.Discard, nil))) }()

	if s := next(t, got); s != "READY=1" {
		t.Fatalf("first notification %q, want READY=1", s)
	}
	for range 3 {
		if s := next(t, got); s != "WATCHDOG=1" {
			t.Fatalf("got %q, want WATCHDOG=1", s)
		}
	}
	alive.Store(false)
	time.Sleep(60 * time.Millisecond) // let a ping already on its way arrive
	for len(got) > 0 {
		<-got
	}
	select {
	case s := <-got:
		t.Fatalf("notification %q while the loop is stalled", s)
	case <-time.After(300 * time.Millisecond):
	}
	alive.Store(true)
	if s := next(t, got); s != "WATCHDOG=1" {
		t.Fatalf("after recovery got %q", s)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for {
		s := next(t, got)
		if s == "STOPPING=1" {
			break
		}
		if !strings.HasPrefix(s, "WATCHDOG=") {
			t.Fatalf("unexpected %q", s)
		}
	}
}
