// Package sdnotify speaks systemd's notify protocol for a Type=notify service with a
// watchdog: READY=1 once the daemon works, WATCHDOG=1 while it makes progress,
// STOPPING=1 on the way out. Outside systemd ($NOTIFY_SOCKET unset) every call is a
// no-op, so the daemon runs the same way in a terminal or a test.
package sdnotify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"
)

// Notify sends state (e.g. "READY=1") to $NOTIFY_SOCKET. It reports false, nil when
// not run by systemd.
func Notify(state string) (bool, error) {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return false, nil
	}
	// A leading '@' names a socket in the abstract namespace; Go spells it with a NUL
	// byte, which net.UnixAddr does for a name starting with '@'.
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return false, fmt.Errorf("sd_notify %s: %w", path, err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return false, fmt.Errorf("sd_notify %q: %w", state, err)
	}
	return true, nil
}

// WatchdogInterval returns systemd's WatchdogSec for this process (from $WATCHDOG_USEC,
// honouring $WATCHDOG_PID), or 0 when no watchdog is configured.
func WatchdogInterval() (time.Duration, error) {
	usec := os.Getenv("WATCHDOG_USEC")
	if usec == "" {
		return 0, nil
	}
	if pid := os.Getenv("WATCHDOG_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return 0, nil // meant for another process (e.g. a wrapper script's parent)
	}
	n, err := strconv.ParseInt(usec, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("WATCHDOG_USEC=%q: not a positive integer", usec)
	}
	return time.Duration(n) * time.Microsecond, nil
}

// Serve tells systemd the service is ready, then pings the watchdog every half
// interval for as long as alive reports progress, and says STOPPING=1 when ctx ends.
// A daemon whose loop is wedged stops pinging and systemd restarts it: the watchdog
// proves the work goes on, not merely that the process exists. Serve returns nil when
// ctx is done; notify errors are logged, never fatal (a gateway that cannot reach
// systemd still watches the home).
func Serve(ctx context.Context, alive func() bool, log *slog.Logger) error {
	if _, err := Notify("READY=1"); err != nil {
		log.Warn("systemd notify", "err", err)
	}
	defer func() {
		if _, err := Notify("STOPPING=1"); err != nil {
			log.Warn("systemd notify", "err", err)
		}
	}()
	interval, err := WatchdogInterval()
	if err != nil {
		log.Warn("systemd watchdog", "err", err)
	}
	if interval <= 0 {
		<-ctx.Done()
		return nil
	}
	t := time.NewTicker(interval / 2)
	defer t.Stop()
	stalled := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if !alive() {
				if !stalled {
					log.Error("daemon made no progress; withholding the systemd watchdog ping", "watchdog", interval)
				}
				stalled = true
				continue
			}
			stalled = false
			if _, err := Notify("WATCHDOG=1"); err != nil && !errors.Is(err, context.Canceled) {
				log.Warn("systemd watchdog ping", "err", err)
			}
		}
	}
}
