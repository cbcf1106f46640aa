// Package e2e runs whole Shouwang deployments in-process against real servers:
// simulated edge → MQTT broker → cloud → database → HTTP API.
package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	cloudconfig "github.com/shouwang-care/shouwang/cloud/config"
	"github.com/shouwang-care/shouwang/cloud/credential"
	"github.com/shouwang-care/shouwang/cloud/service"
	"github.com/shouwang-care/shouwang/cloud/store"
	"github.com/shouwang-care/shouwang/edge/config"
	"github.com/shouwang-care/shouwang/edge/daemon"
	"github.com/shouwang-care/shouwang/firmware-protocol/event"
	"github.com/shouwang-care/shouwang/firmware-protocol/mqttv1"
	"github.com/shouwang-care/shouwang/internal/testinfra"
)

func TestMain(m *testing.M) { testinfra.Main(m) }

func logger(t testing.TB, name string) *slog.Logger {
	if os.Getenv("E2E_VERBOSE") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil)).With("side", name)
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// cloud is a running cloud replica that can be stopped and started again on the same
// data, ports and client ID.
type cloud struct {
	t      *testing.T
	cfg    cloudconfig.Config
	svc    *service.Service
	cancel context.CancelFunc
	done   chan error
	admin  string
}

func newCloud(t *testing.T, mutate func(*cloudconfig.Config)) *cloud {
	cfg := cloudconfig.Default()
	cfg.HTTPAddr = fmt.Sprintf("127.0.0.1:%d", testinfra.FreePort(t))
	cfg.DataDir = t.TempDir()
	cfg.MQTT.Listen = fmt.Sprintf("127.0.0.1:%d", testinfra.FreePort(t))
	cfg.MQTT.ClientID = "cloud-" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-"))
	if mutate != nil {
		mutate(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	c := &cloud{t: t, cfg: cfg}
	c.start()
	t.Cleanup(c.stop)
	return c
}

func (c *cloud) start() {
	c.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	svc, err := service.New(ctx, c.cfg, logger(c.t, "cloud"))
	if err != nil {
		cancel()
		c.t.Fatal(err)
	}
	if svc.AdminPassword != "" {
		c.admin = svc.AdminPassword
	}
	c.svc, c.cancel, c.done = svc, cancel, make(chan error, 1)
	go func() { c.done <- svc.Run(ctx) }()
	waitFor(c.t, 20*time.Second, "cloud healthy", func() bool {
		r, err := http.Get(c.svc.URL() + "healthz")
		if err != nil {
			return false
		}
		r.Body.Close()
		return r.StatusCode == 200
	})
}

func (c *cloud) stop() {
	if c.cancel == nil {
		return
	}
	c.cancel()
	if err := <-c.done; err != nil {
		c.t.Errorf("cloud stopped with %v", err)
	}
	c.cancel = nil
}

// seed registers a grid, an on-duty worker, a home and gateway gw; it returns the
// gateway's MQTT secret.
func (c *cloud) seed(gw string) string {
	c.t.Helper()
	c.seedHome()
	secret := credential.NewSecret()
	if err := c.svc.Store.PutGateway(context.Background(), gw, "home-1", credential.HashSecret(secret)); err != nil {
		c.t.Fatal(err)
	}
	return secret
}

// seedHome registers a grid, an on-duty worker and home-1, with no gateway yet.
func (c *cloud) seedHome() {
	c.t.Helper()
	ctx := context.Background()
	s := c.svc.Store
	for _, err := range []error{
		s.PutGrid(ctx, store.Grid{ID: "grid-1", Name: "望江 3"}),
		s.PutWorker(ctx, store.Worker{ID: "w-1", GridID: "grid-1", Name: "李网格员", Phone: "13800000000", OnDuty: true}),
		s.PutHome(ctx, store.Home{ID: "home-1", GridID: "grid-1", Address: "3-2-301", ResidentName: "王秀英"}),
	} {
		if err != nil {
			c.t.Fatal(err)
		}
	}
}

// client logs in as admin and returns an HTTP client with the session cookie.
func (c *cloud) client() *http.Client {
	c.t.Helper()
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	r, err := hc.Post(c.svc.URL()+"api/v1/login", "application/json", strings.NewReader(fmt.Sprintf(`{"username":"admin","password":%q}`, c.admin)))
	if err != nil {
		c.t.Fatal(err)
	}
	defer r.Body.Close()
	if r.StatusCode != 200 {
		b, _ := io.ReadAll(r.Body)
		c.t.Fatalf("login: %d %s", r.StatusCode, b)
	}
	return hc
}

func (c *cloud) alerts(hc *http.Client) []store.Alert {
	c.t.Helper()
	r, err := hc.Get(c.svc.URL() + "api/v1/alerts")
	if err != nil {
		c.t.Fatal(err)
	}
	defer r.Body.Close()
	var body struct{ Alerts []store.Alert }
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || r.StatusCode != 200 {
		c.t.Fatalf("alerts: %d %v", r.StatusCode, err)
	}
	return body.Alerts
}

// edge is a running simulated gateway.
type edge struct {
	d      *daemon.Daemon
	button *buttonSource
	cancel context.CancelFunc
	done   chan error
}

// buttonSource lets a test press the SOS button.
type buttonSource struct{ press chan time.Time }

func (b *buttonSource) Run(ctx context.Context, out chan<- event.Event) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case at := <-b.press:
			out <- event.Event{T: at, Sensor: "button.sos", Kind: event.Button}
		}
	}
}

func newEdge(t *testing.T, gw, broker, password, stateDir string, mutate ...func(*config.Config)) *edge {
	t.Helper()
	cfg := config.Default()
	cfg.GatewayID, cfg.StateDir, cfg.MetricsAddr = gw, stateDir, ""
	cfg.MQTT.Broker, cfg.MQTT.Username, cfg.MQTT.Password = broker, gw, password
	cfg.MQTT.ResendInterval = 300 * time.Millisecond
	cfg.Telemetry.Interval = 200 * time.Millisecond
	cfg.MQTT.Heartbeat = time.Second
	cfg.Simulate = config.Simulate{Enabled: true, Speed: 36000, Scenario: "collapse"}
	for _, m := range mutate {
		m(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return startEdge(t, cfg)
}

// startEdge runs a daemon with cfg as it is.
func startEdge(t *testing.T, cfg config.Config) *edge {
	t.Helper()
	d, err := daemon.New(cfg, logger(t, "edge"), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	e := &edge{d: d, button: &buttonSource{press: make(chan time.Time, 4)}, done: make(chan error, 1)}
	d.AddSource(e.button)
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	go func() { e.done <- d.Run(ctx, http.NotFoundHandler()) }()
	t.Cleanup(e.stop)
	return e
}

func (e *edge) stop() {
	if e.cancel != nil {
		e.cancel()
		<-e.done
		e.cancel = nil
	}
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkDispatched waits until the API shows an alert for each wanted rule, every
// resident alert dispatched to the seeded worker; then checks that no alert is listed
// twice and that every incident paged its worker exactly once (the collapse scenario
// raises several causes in one home: they group into one incident).
func checkDispatched(t *testing.T, c *cloud, hc *http.Client, rules ...string) []store.Alert {
	t.Helper()
	return checkDispatchedTo(t, c, hc, "李网格员", rules...)
}

// checkDispatchedTo is checkDispatched for alerts assigned to worker.
func checkDispatchedTo(t *testing.T, c *cloud, hc *http.Client, worker string, rules ...string) []store.Alert {
	t.Helper()
	var list []store.Alert
	waitFor(t, 30*time.Second, fmt.Sprintf("alerts %v dispatched", rules), func() bool {
		list = c.alerts(hc)
		seen := map[string]bool{}
		for _, a := range list {
			if a.Class == "resident" && a.Severity != "info" && a.Status != store.StatusDispatched {
				return false
			}
			seen[a.Rule] = true
		}
		for _, r := range rules {
			if !seen[r] {
				return false
			}
		}
		return true
	})
	time.Sleep(time.Second) // resends still in flight must not add copies
	list = c.alerts(hc)
	ids := map[string]int{}
	for _, a := range list {
		ids[a.ID]++
		if a.Class != "resident" || a.Severity == "info" {
			continue // info-level alerts page nobody
		}
		if a.Assignee == nil || a.Assignee.Name != worker || a.Resident != "王秀英" || a.HomeID != "home-1" || a.IncidentID == "" {
			t.Errorf("alert %s (%s) not dispatched to the grid worker: %+v", a.ID, a.Rule, a)
		}
	}
	for id, n := range ids {
		if n != 1 {
			t.Errorf("alert %s listed %d times", id, n)
		}
	}
	incidents := c.incidents(hc)
	for _, in := range incidents {
		if in.Class != "resident" {
			continue
		}
		full := c.incident(hc, in.ID)
		pages := 0
		for _, e := range full.Timeline {
			if e.Action == "dispatched" {
				pages++
			}
		}
		if pages != 1 {
			t.Errorf("incident %s (%v) paged %d times, want once: %+v", in.ID, full.Rules, pages, full.Timeline)
		}
	}
	return list
}

func (c *cloud) incidents(hc *http.Client) []store.Incident {
	c.t.Helper()
	var body struct{ Incidents []store.Incident }
	c.getJSON(hc, "api/v1/incidents", &body)
	return body.Incidents
}

func (c *cloud) incident(hc *http.Client, id string) store.Incident {
	c.t.Helper()
	var body struct{ Incident store.Incident }
	c.getJSON(hc, "api/v1/incidents/"+id, &body)
	return body.Incident
}

func (c *cloud) getJSON(hc *http.Client, path string, v any) {
	c.t.Helper()
	r, err := hc.Get(c.svc.URL() + path)
	if err != nil {
		c.t.Fatal(err)
	}
	defer r.Body.Close()
	if err := json.NewDecoder(r.Body).Decode(v); err != nil || r.StatusCode != 200 {
		c.t.Fatalf("GET %s: %d %v", path, r.StatusCode, err)
	}
}

func rulesOf(list []store.Alert, rule string) []store.Alert {
	var out []store.Alert
	for _, a := range list {
		if a.Rule == rule {
			out = append(out, a)
		}
	}
	return out
}

func TestEmbeddedDefaults(t *testing.T) {
	c := newCloud(t, nil)
	secret := c.seed("gw-e2e-0001")
	e := newEdge(t, "gw-e2e-0001", "tcp://"+c.cfg.MQTT.Listen, secret, t.TempDir())
	hc := c.client()
	list := rulesOf(checkDispatched(t, c, hc, "no_water"), "no_water")
	if len(list) != 1 {
		t.Fatalf("%d no_water alerts, want 1", len(list))
	}
	ev := list[0].Evidence
	// The meters are polled every 100 ms of real time, an hour of virtual time at
	// this speed, so the use at 06:42 is seen at the first reading after it.
	used := time.Date(ev[0].LastAt.Year(), ev[0].LastAt.Month(), ev[0].LastAt.Day(), 6, 42, 0, 0, ev[0].LastAt.Location())
	if len(ev) == 0 || ev[0].Signal != "water" || ev[0].QuietSecs < 12*3600 || ev[0].LastAt.Before(used) || ev[0].LastAt.After(used.Add(2*time.Hour)) {
		t.Errorf("evidence lost on the way: %+v", ev)
	}
	waitFor(t, 10*time.Second, "edge outbox drained by the cloud's acks", func() bool { return e.d.Pending() == 0 })
	waitFor(t, 10*time.Second, "telemetry in the embedded store", func() bool {
		s, err := c.svc.Telemetry.Query(context.Background(), "gw-e2e-0001", "water", time.Now().Add(-48*time.Hour), time.Now().Add(48*time.Hour), time.Hour)
		return err == nil && len(s.Points) > 0 && s.Points[len(s.Points)-1].Value > 123
	})
	var chart struct {
		Series struct {
			Sensor string
			Points []struct{ Value float64 }
		}
	}
	c.getJSON(hc, "api/v1/homes/home-1/telemetry?sensor=water&hours=96&every=1h", &chart)
	if chart.Series.Sensor != "water" || len(chart.Series.Points) == 0 || chart.Series.Points[0].Value < 123 {
		t.Errorf("water chart through the API: %+v", chart.Series)
	}
	gwStatus, err := c.svc.Store.Gateway(context.Background(), "gw-e2e-0001")
	if err != nil || !gwStatus.Online || gwStatus.LastSeen == nil {
		t.Errorf("gateway liveness not recorded: %+v %v", gwStatus, err)
	}
	// What the gateways-offline alert rule reads (deploy/monitoring).
	if m := c.metrics(); !strings.Contains(m, `shouwang_gateways{state="online"} 1`) || !strings.Contains(m, `shouwang_gateways{state="offline"} 0`) {
		t.Errorf("/metrics: gateway counts missing or wrong:\n%s", grepLines(m, "shouwang_gateways"))
	}
}

// metrics returns the cloud's /metrics page.
func (c *cloud) metrics() string {
	c.t.Helper()
	r, err := http.Get(c.svc.URL() + "metrics")
	if err != nil {
		c.t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return string(b)
}

func grepLines(text, substr string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestWrongGatewaySecretIsRefused(t *testing.T) {
	c := newCloud(t, nil)
	c.seed("gw-e2e-0002")
	e := newEdge(t, "gw-e2e-0002", "tcp://"+c.cfg.MQTT.Listen, "not-the-secret", t.TempDir())
	time.Sleep(3 * time.Second) // the rule fires after ~1.3 s; give the uplink time to (fail to) deliver
	if n := len(c.alerts(c.client())); n != 0 {
		t.Fatalf("a gateway with a wrong secret delivered %d alerts", n)
	}
	if e.d.Pending() == 0 {
		t.Fatal("the alert left the outbox although nobody acknowledged it")
	}
}

func TestRealServers(t *testing.T) {
	mq := testinfra.Mosquitto(t)
	influx := testinfra.Influx(t)
	c := newCloud(t, func(cfg *cloudconfig.Config) {
		cfg.Database = testinfra.Postgres(t)
		cfg.MQTT.Broker, cfg.MQTT.Username = mq.Addr, "shouwang-cloud"
		cfg.Influx.URL, cfg.Influx.Bucket, cfg.Influx.Token = influx.URL, influx.Bucket, influx.Token
	})
	c.seed("gw-e2e-0003")
	e := newEdge(t, "gw-e2e-0003", mq.Addr, "", t.TempDir())
	hc := c.client()
	checkDispatched(t, c, hc, "no_water")
	waitFor(t, 10*time.Second, "edge outbox drained", func() bool { return e.d.Pending() == 0 })
	waitFor(t, 30*time.Second, "telemetry queryable in InfluxDB", func() bool {
		s, err := c.svc.Telemetry.Query(context.Background(), "gw-e2e-0003", "water", time.Now().Add(-48*time.Hour), time.Now().Add(48*time.Hour), time.Hour)
		return err == nil && len(s.Points) > 0 && s.Points[len(s.Points)-1].Value > 123
	})
}

// TestCloudRestartExactlyOnce: alerts raised while the cloud is down wait in the
// edge's outbox and arrive exactly once after it comes back, although the edge
// resends them many times and the broker also queued copies for the cloud's session.
func TestCloudRestartExactlyOnce(t *testing.T) {
	mq := testinfra.Mosquitto(t)
	c := newCloud(t, func(cfg *cloudconfig.Config) {
		cfg.Database = testinfra.Postgres(t)
		cfg.MQTT.Broker, cfg.MQTT.Username = mq.Addr, "shouwang-cloud"
	})
	c.seed("gw-e2e-0004")
	hc := c.client()
	c.stop()

	e := newEdge(t, "gw-e2e-0004", mq.Addr, "", t.TempDir())
	e.button.press <- time.Now()
	waitFor(t, 20*time.Second, "alerts held by the edge", func() bool { return e.d.Pending() >= 2 })
	time.Sleep(time.Second) // several resends while nobody acknowledges

	c.start()
	checkDispatched(t, c, hc, "no_water", "sos")
	waitFor(t, 10*time.Second, "edge outbox drained", func() bool { return e.d.Pending() == 0 })
}

// TestEdgeRestartKeepsAlerts: an edge stopped with unacknowledged alerts sends them
// after its restart (the outbox is on disk).
func TestEdgeRestartKeepsAlerts(t *testing.T) {
	mq := testinfra.Mosquitto(t)
	c := newCloud(t, func(cfg *cloudconfig.Config) {
		cfg.MQTT.Broker, cfg.MQTT.Username = mq.Addr, "shouwang-cloud"
	})
	c.seed("gw-e2e-0005")
	hc := c.client()
	c.stop()
	state := t.TempDir()
	e := newEdge(t, "gw-e2e-0005", mq.Addr, "", state)
	// The collapse scenario's first alert is no_motion (4 h of waking time).
	waitFor(t, 20*time.Second, "alert held by the edge", func() bool { return e.d.Pending() >= 1 })
	e.stop()
	c.start()
	// Without the simulator: a restarted simulator would replay the morning and
	// legitimately clear the alert; here only the outbox speaks.
	e2 := newEdge(t, "gw-e2e-0005", mq.Addr, "", state, func(c *config.Config) { c.Simulate.Enabled = false })
	list := checkDispatched(t, c, hc, "no_motion")
	waitFor(t, 10*time.Second, "edge outbox drained", func() bool { return e2.d.Pending() == 0 })
	time.Sleep(2 * time.Second) // the restarted rules must not raise the open episodes again
	if again := c.alerts(hc); len(again) != len(list) {
		t.Fatalf("after the edge restart: %d alerts, want the %d from before", len(again), len(list))
	}
}

// TestPageReachesWebhook: the dispatcher's page leaves through the notify layer
// (here the signed webhook) exactly once per incident, however often the edge resends.
func TestPageReachesWebhook(t *testing.T) {
	var mu sync.Mutex
	var bodies []map[string]any
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.Header.Get("X-Shouwang-Signature"), "sha256=") {
			http.Error(w, "unsigned", http.StatusUnauthorized)
			return
		}
		var b map[string]any
		if err := json.NewDecoder(r.Body).Decode(&b); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		bodies = append(bodies, b)
		mu.Unlock()
	}))
	defer hook.Close()
	c := newCloud(t, func(cfg *cloudconfig.Config) {
		cfg.Notify.Webhook = &struct {
			URL    string `yaml:"url"`
			Secret string `yaml:"secret"`
		}{URL: hook.URL, Secret: "0123456789abcdef0123"}
	})
	secret := c.seed("gw-e2e-0006")
	newEdge(t, "gw-e2e-0006", "tcp://"+c.cfg.MQTT.Listen, secret, t.TempDir())
	checkDispatched(t, c, c.client(), "no_water")
	mu.Lock()
	defer mu.Unlock()
	if len(bodies) != 1 {
		t.Fatalf("webhook got %d pages, want 1: %v", len(bodies), bodies)
	}
	if s, _ := json.Marshal(bodies[0]); !strings.Contains(string(s), "王秀英") || !strings.Contains(string(s), "dispatched") {
		t.Errorf("page body %s", s)
	}
}

// TestAwayModeReachesTheEdge: family sets the resident away (a hospital stay)
// through the API; the cloud pushes the setting as the gateway's retained config, and
// the edge's no-activity rules stay quiet through a simulated silent day.
func TestAwayModeReachesTheEdge(t *testing.T) {
	c := newCloud(t, nil)
	secret := c.seed("gw-e2e-0008")
	hc := c.client()
	req, _ := http.NewRequest("PUT", c.svc.URL()+"api/v1/homes/home-1/settings", strings.NewReader(`{"away":true}`))
	req.Header.Set("Content-Type", "application/json")
	r, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Revision int64
		Status   string
	}
	json.NewDecoder(r.Body).Decode(&body)
	r.Body.Close()
	if r.StatusCode != 200 || body.Revision != 1 || !strings.Contains(body.Status, "sent to gateway gw-e2e-0008") {
		t.Fatalf("settings: %d %+v", r.StatusCode, body)
	}
	newEdge(t, "gw-e2e-0008", "tcp://"+c.cfg.MQTT.Listen, secret, t.TempDir())
	time.Sleep(4 * time.Second) // two virtual days at 36000×: the collapse would have raised
	for _, a := range c.alerts(hc) {
		if a.Class == "resident" && a.Rule != "away_suggested" {
			t.Errorf("away home raised %s", a.Rule)
		}
	}
}

// TestFamilyStatusAndDigest: a family member sees their parent's status at a glance
// with the last sign of life the gateway reported, and gets the evening digest.
func TestFamilyStatusAndDigest(t *testing.T) {
	c := newCloud(t, nil)
	secret := c.seed("gw-e2e-0009")
	admin := c.client()
	r, err := admin.Post(c.svc.URL()+"api/v1/users", "application/json",
		strings.NewReader(`{"username":"daughter","name":"王小红","role":"family","password":"a long family password","homes":["home-1"],"relation":"女儿"}`))
	if err != nil || r.StatusCode != 201 {
		t.Fatalf("create family login: %v %v", r.StatusCode, err)
	}
	r.Body.Close()
	jar, _ := cookiejar.New(nil)
	family := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	r, err = family.Post(c.svc.URL()+"api/v1/login", "application/json", strings.NewReader(`{"username":"daughter","password":"a long family password"}`))
	if err != nil || r.StatusCode != 200 {
		t.Fatalf("family login: %v %v", r.StatusCode, err)
	}
	r.Body.Close()
	newEdge(t, "gw-e2e-0009", "tcp://"+c.cfg.MQTT.Listen, secret, t.TempDir(), func(cfg *config.Config) { cfg.Simulate.Scenario = "normal" })
	var st store.HomeStatus
	waitFor(t, 20*time.Second, "status with the last sign of life", func() bool {
		c.getJSON(family, "api/v1/homes/home-1/status", &st)
		return st.LastActivity != nil && st.GatewayOnline
	})
	if st.Status != store.StatusSafe || st.Resident != "王秀英" {
		t.Errorf("status %+v, want safe", st)
	}
	if n, err := c.svc.SendDigest(context.Background(), time.Now()); err != nil || n != 1 {
		t.Fatalf("digest: %d %v", n, err)
	}
}

// TestFamilyHearsOfProgress: when the worker accepts, the family following the home
// is told (in-app here), because the resident lets family see their alerts; after
// the resident withdraws that, the next step tells them nothing.
func TestFamilyHearsOfProgress(t *testing.T) {
	c := newCloud(t, nil)
	secret := c.seed("gw-e2e-0010")
	admin := c.client()
	r, err := admin.Post(c.svc.URL()+"api/v1/users", "application/json",
		strings.NewReader(`{"username":"son","role":"family","password":"a long family password","homes":["home-1"]}`))
	if err != nil || r.StatusCode != 201 {
		t.Fatalf("create family login: %v %v", r.StatusCode, err)
	}
	r.Body.Close()
	r, err = admin.Post(c.svc.URL()+"api/v1/users", "application/json",
		strings.NewReader(`{"username":"li","role":"worker","worker_id":"w-1","password":"a long worker password"}`))
	if err != nil || r.StatusCode != 201 {
		t.Fatalf("create worker login: %v %v", r.StatusCode, err)
	}
	r.Body.Close()
	jar, _ := cookiejar.New(nil)
	worker := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	r, err = worker.Post(c.svc.URL()+"api/v1/login", "application/json", strings.NewReader(`{"username":"li","password":"a long worker password"}`))
	if err != nil || r.StatusCode != 200 {
		t.Fatalf("worker login: %v %v", r.StatusCode, err)
	}
	r.Body.Close()
	newEdge(t, "gw-e2e-0010", "tcp://"+c.cfg.MQTT.Listen, secret, t.TempDir())
	var inc store.Incident
	waitFor(t, 30*time.Second, "an incident", func() bool {
		for _, in := range c.incidents(admin) {
			if in.Class == "resident" && in.Assignee != nil {
				inc = in
				return true
			}
		}
		return false
	})
	statusSent := func(step string) int {
		var n int
		err := c.svc.Store.DB().QueryRow(`SELECT COUNT(*) FROM notify_delivery_log l JOIN users u ON u.id = l.recipient_id
			WHERE u.username = 'son' AND l.kind = 'status' AND l.status = 'sent' AND l.msg_key LIKE $1`, "status/"+inc.ID+"/"+step+"/%").Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	act := func(step, body string) {
		r, err := worker.Post(c.svc.URL()+"api/v1/incidents/"+inc.ID+"/"+step, "application/json", strings.NewReader(body))
		if err != nil || r.StatusCode != 200 {
			t.Fatalf("%s: %v %v", step, r.StatusCode, err)
		}
		r.Body.Close()
	}
	act("accept", "")
	waitFor(t, 10*time.Second, "the family told of the acceptance", func() bool { return statusSent("accept") == 1 })
	// The resident now keeps anomalies to the grid worker.
	if err := c.svc.Store.SetPrivacy(context.Background(), "home-1", store.KindAlerts, []string{"worker"}, "resident", time.Now()); err != nil {
		t.Fatal(err)
	}
	act("arrive", "")
	time.Sleep(time.Second)
	if n := statusSent("arrive"); n != 0 {
		t.Fatalf("family told of arrival against the resident's choice (%d)", n)
	}
}

// TestTelemetryWhileCloudDown: telemetry a gateway publishes while every cloud
// replica is down is queued by the broker for the replicas' persistent shared
// subscription and stored when the cloud is back, not lost between broker and cloud.
func TestTelemetryWhileCloudDown(t *testing.T) {
	mq := testinfra.Mosquitto(t)
	c := newCloud(t, func(cfg *cloudconfig.Config) {
		cfg.MQTT.Broker, cfg.MQTT.Username = mq.Addr, "shouwang-cloud"
	})
	c.seed("gw-e2e-0009")
	c.stop() // its session and subscriptions stay on the broker

	g, err := dialGateway(t, mq.Addr, "gw-e2e-0009", "")
	if err != nil {
		t.Fatal(err)
	}
	base := time.Now().Add(-time.Hour).Truncate(time.Minute)
	const n = 20
	for i := range n {
		v := 100 + float64(i)/10
		b, _ := json.Marshal(mqttv1.Telemetry{V: 1, Gateway: "gw-e2e-0009", Seq: uint64(i + 1),
			Readings: []mqttv1.Reading{{T: base.Add(time.Duration(i) * time.Minute), Sensor: "water", TotalM3: &v}}})
		tok := g.c.Publish(mqttv1.Topic("gw-e2e-0009", mqttv1.ChTelemetry), 1, false, b)
		if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("publish %d: %v", i, tok.Error())
		}
	}
	c.start()
	waitFor(t, 20*time.Second, "telemetry published while the cloud was down, stored", func() bool {
		s, err := c.svc.Telemetry.Query(context.Background(), "gw-e2e-0009", "water", base.Add(-time.Minute), base.Add(n*time.Minute), time.Minute)
		return err == nil && len(s.Points) == n
	})
}
