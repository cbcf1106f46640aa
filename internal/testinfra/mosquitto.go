package testinfra

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// MosquittoServer is a mosquitto 2 broker private to one test.
type MosquittoServer struct {
	Addr    string // "tcp://127.0.0.1:port", for paho's AddBroker
	Port    int
	Dir     string // temp dir holding mosquitto.conf and mosquitto.log
	LogPath string

	t    testing.TB
	bin  string
	conf string
	mu   sync.Mutex
	p    *proc
}

// MosquittoOption configures Mosquitto.
type MosquittoOption func(*mosquittoConfig)

type mosquittoConfig struct{ extra []string }

// WithMosquittoConfig appends lines to mosquitto.conf, after the defaults
// ("listener <port> 127.0.0.1", "allow_anonymous true", "persistence false"),
// so it can override them: e.g. "allow_anonymous false\npassword_file /x".
// Files it refers to can live in t.TempDir(); as root the broker keeps
// running as root ("user root") so it can read them.
func WithMosquittoConfig(extra string) MosquittoOption {
	return func(c *mosquittoConfig) { c.extra = append(c.extra, extra) }
}

// WithDynamicSecurity loads Mosquitto's dynamic-security plugin, set up the way the
// operator guide says (`mosquitto_ctrl dynsec init`) with admin as the plugin's
// admin login; anonymous logins are refused.
func WithDynamicSecurity(t testing.TB, admin, password string) MosquittoOption {
	t.Helper()
	plugins, _ := filepath.Glob("/usr/lib/*/mosquitto_dynamic_security.so")
	if len(plugins) == 0 {
		t.Fatal("mosquitto_dynamic_security.so not found (package mosquitto): run scripts/test.sh")
	}
	conf := filepath.Join(t.TempDir(), "dynamic-security.json")
	if out, err := exec.Command("mosquitto_ctrl", "dynsec", "init", conf, admin, password).CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_ctrl dynsec init: %v\n%s", err, out)
	}
	return WithMosquittoConfig("allow_anonymous false\nplugin " + plugins[0] + "\nplugin_opt_config_file " + conf)
}

// Mosquitto starts a fresh mosquitto 2 broker on a free 127.0.0.1 port for
// this test; it is stopped in t.Cleanup.
func Mosquitto(t testing.TB, opts ...MosquittoOption) *MosquittoServer {
	t.Helper()
	if testing.Short() {
		t.Skip("needs mosquitto: skipped with -short")
	}
	bin := lookBinary(t, "mosquitto", os.Getenv("SHOUWANG_MOSQUITTO"), "/usr/sbin/mosquitto", "mosquitto")
	var cfg mosquittoConfig
	for _, o := range opts {
		o(&cfg)
	}
	dir := t.TempDir()
	port := FreePort(t)
	s := &MosquittoServer{
		Addr:    "tcp://127.0.0.1:" + strconv.Itoa(port),
		Port:    port,
		Dir:     dir,
		LogPath: filepath.Join(dir, "mosquitto.log"),
		t:       t,
		bin:     bin,
		conf:    filepath.Join(dir, "mosquitto.conf"),
	}
	conf := fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\nlog_type information\nconnection_messages true\n", port)
	if os.Geteuid() == 0 {
		conf += "user root\n"
	}
	for _, e := range cfg.extra {
		conf += e + "\n"
	}
	if err := os.WriteFile(s.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	s.Start()
	return s
}

// Start starts the broker again on the same port with the same config
// (after Stop); it fails the test if the broker does not come up.
func (s *MosquittoServer) Start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.p != nil && !s.p.exited() {
		return
	}
	start := time.Now()
	var err error
	// The port may briefly stay busy after a restart; retry a few times.
	for attempt := 0; attempt < 20; attempt++ {
		var p *proc
		p, err = startProc(exec.Command(s.bin, "-c", s.conf), s.LogPath)
		if err != nil {
			break
		}
		err = waitReady(p, 15*time.Second, tcpReady(fmt.Sprintf("127.0.0.1:%d", s.Port)))
		if err == nil {
			s.p = p
			s.t.Logf("testinfra: mosquitto on %s ready in %v", s.Addr, time.Since(start).Round(time.Millisecond))
			return
		}
		p.kill()
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("testinfra: mosquitto on port %d: %v\n%s", s.Port, err, logTail(s.LogPath))
}

// Stop stops the broker (clients see the connection drop). It is idempotent.
func (s *MosquittoServer) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.p != nil {
		s.p.stop(syscall.SIGTERM, 5*time.Second)
		s.p = nil
	}
}

// Kill stops the broker with SIGKILL, like a crash or power loss.
func (s *MosquittoServer) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.p != nil {
		s.p.kill()
		s.p = nil
	}
}

// Log returns the broker log so far.
func (s *MosquittoServer) Log() string {
	b, _ := os.ReadFile(s.LogPath)
	return string(b)
}
