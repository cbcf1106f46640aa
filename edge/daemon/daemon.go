// Package daemon wires the gateway together: event sources → rules → outbox → uplink,
// plus telemetry batching, cloud config and the local metrics endpoint. It owns every
// goroutine it starts and stops them when its context ends.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/shouwang-care/shouwang/edge/config"
	"github.com/shouwang-care/shouwang/edge/gpiosensor"
	"github.com/shouwang-care/shouwang/edge/meterbus"
	"github.com/shouwang-care/shouwang/edge/metersim"
	"github.com/shouwang-care/shouwang/edge/outbox"
	"github.com/shouwang-care/shouwang/edge/radio"
	"github.com/shouwang-care/shouwang/edge/rules"
	"github.com/shouwang-care/shouwang/edge/sdnotify"
	"github.com/shouwang-care/shouwang/edge/sim"
	"github.com/shouwang-care/shouwang/edge/uplink"
	"github.com/shouwang-care/shouwang/firmware-protocol/event"
	"github.com/shouwang-care/shouwang/firmware-protocol/mqttv1"
)

// Source produces sensor events until ctx is done.
type Source interface {
	Run(ctx context.Context, out chan<- event.Event) error
}

// Clock tells the rules what time it is; the simulator's runs fast.
type Clock interface{ Now() time.Time }

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

const (
	stateKeyRules  = "rules"
	stateKeyConfig = "config"
)

// Version is reported in the birth message.
var Version = "dev"

// Daemon is one running gateway.
type Daemon struct {
	cfg     config.Config
	log     *slog.Logger
	box     *outbox.Outbox
	up      *uplink.Uplink
	engine  *rules.Engine
	clock   Clock
	sources []Source
	configs chan mqttv1.Config
	remote  mqttv1.Config // last applied cloud config
	tick    time.Duration
	lastT   time.Time // simulator only: latest time fed to the engine
	// lastActivity is the latest sign of life (unix ns), read by the uplink's
	// heartbeat from its own goroutine.
	lastActivity atomic.Int64
	totals       map[string]mqttv1.Reading // latest total per meter, to see use

	gpio      *gpiosensor.Watcher
	indicator *gpiosensor.Indicator // local buzzer/LED for the pre-alarm
	stopBlink context.CancelFunc    // owned by loop
	// progress is the UnixNano time the rule loop last went round; the systemd
	// watchdog is pinged only while it is recent.
	progress atomic.Int64

	batch    map[string]mqttv1.Reading // latest reading per meter
	activity map[string]int            // events per sensor since the last batch
	since    time.Time

	events *prometheus.CounterVec
	alerts *prometheus.CounterVec
}

// New opens the state and prepares the daemon; Run starts it.
func New(cfg config.Config, log *slog.Logger, reg prometheus.Registerer) (*Daemon, error) {
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("create state_dir: %w", err)
	}
	box, quarantined, err := outbox.Open(filepath.Join(cfg.StateDir, "outbox.db"))
	if err != nil {
		return nil, err
	}
	if quarantined != "" {
		log.Error("outbox file was corrupt; moved aside and started fresh", "kept_as", quarantined, "alerts_salvaged", box.Salvaged)
	}
	box.SetTelemetryLimit(cfg.Telemetry.BacklogBytes)
	password, err := cfg.MQTTPassword()
	if err != nil {
		box.Close()
		return nil, err
	}
	d := &Daemon{cfg: cfg, log: log, box: box, clock: realClock{}, configs: make(chan mqttv1.Config, 4),
		tick: time.Second, batch: map[string]mqttv1.Reading{}, activity: map[string]int{}, totals: map[string]mqttv1.Reading{}}
	var st rules.State
	if err := box.GetState(stateKeyRules, &st); err != nil && !errors.Is(err, outbox.ErrNotFound) {
		log.Error("rule state unreadable; starting timers afresh", "err", err)
	}
	_ = box.GetState(stateKeyConfig, &d.remote)
	d.engine = rules.New(d.settings(), st, newID)
	if cfg.Simulate.Enabled {
		loc, _ := time.LoadLocation(cfg.Timezone)
		clk := sim.NewClock(sim.DayStart(time.Now().In(loc)), cfg.Simulate.Speed)
		sc := sim.Collapse()
		if cfg.Simulate.Scenario == "normal" {
			sc = sim.Normal()
		}
		d.clock = clk
		// Rules are evaluated every virtual minute (at least every 20 ms of real time).
		d.tick = max(20*time.Millisecond, clk.Real(time.Minute))
		meters, err := d.simulatedMeters(clk)
		if err != nil {
			box.Close()
			return nil, err
		}
		nodes, err := d.simulatedRadio(clk)
		if err != nil {
			box.Close()
			return nil, err
		}
		d.sources = append(d.sources, &sim.Home{Clock: clk, Scenario: sc, Meters: meters, Radio: nodes})
	} else if err := d.openDevices(); err != nil {
		box.Close()
		return nil, err
	}
	d.up, err = uplink.New(uplink.Options{
		Broker: cfg.MQTT.Broker, GatewayID: cfg.GatewayID, Username: cfg.MQTT.Username, Password: password,
		CAFile: cfg.MQTT.CAFile, CertFile: cfg.MQTT.CertFile, KeyFile: cfg.MQTT.KeyFile,
		KeepAlive: cfg.MQTT.KeepAlive, ResendInterval: cfg.MQTT.ResendInterval, Heartbeat: cfg.MQTT.Heartbeat,
		Software: "shouwang-edge " + Version,
		OnConfig: func(c mqttv1.Config) { d.configs <- c },
		LastActivity: func() time.Time {
			if ns := d.lastActivity.Load(); ns != 0 {
				return time.Unix(0, ns)
			}
			return time.Time{}
		},
	}, box, log)
	if err != nil {
		box.Close()
		return nil, err
	}
	d.up.SetConfigRevision(d.remote.Revision)
	d.register(reg)
	return d, nil
}

// simulatedMeters starts a water meter (CJ/T 188) and an electricity meter
// (DL/T 645) behind pseudo-terminals and reads them with the same bus code and
// codecs as real meters on RS-485; only the wire is simulated.
func (d *Daemon) simulatedMeters(clk *sim.Clock) (*metersim.Sim, error) {
	const waterAddr, powerAddr = "00000000000001", "000000000002"
	ms, err := metersim.New(
		metersim.Spec{Protocol: metersim.CJT188, Address: waterAddr, Total: 123.4567},
		metersim.Spec{Protocol: metersim.DLT645, Address: powerAddr, Total: 5012.31})
	if err != nil {
		return nil, fmt.Errorf("simulated meters: %w", err)
	}
	// A reading every 10 virtual minutes, as often as a real line allows.
	every := max(100*time.Millisecond, clk.Real(10*time.Minute))
	for _, m := range []struct{ proto, addr, sensor string }{{metersim.CJT188, waterAddr, "water"}, {metersim.DLT645, powerAddr, "power"}} {
		master, slave, err := metersim.OpenPTY()
		if err != nil {
			return nil, fmt.Errorf("simulated meters: %w", err)
		}
		bus, err := meterbus.NewBus(meterbus.BusConfig{Port: slave, Protocol: m.proto, ResponseTimeout: 500 * time.Millisecond,
			Meters: []meterbus.MeterConfig{{Address: m.addr, Sensor: m.sensor, Interval: every, MaxPerHour: 1000}}}, nil, d.log.With("sim", m.sensor))
		if err != nil {
			master.Close()
			return nil, fmt.Errorf("simulated meters: %w", err)
		}
		bus.Clock = clk.Now
		d.sources = append(d.sources, bus, &servedMeter{sim: ms, port: master})
	}
	return ms, nil
}

// simulatedRadio puts the bathroom PIR on a battery radio node behind a
// pseudo-terminal: its frames are decoded, supervised and acknowledged by the same
// receiver as a real UART radio module's.
func (d *Daemon) simulatedRadio(clk *sim.Clock) (*radio.SimNodes, error) {
	master, slave, err := metersim.OpenPTY()
	if err != nil {
		return nil, fmt.Errorf("simulated radio: %w", err)
	}
	cfg := radio.Config{Port: slave, Baud: 9600, Nodes: []radio.NodeConfig{{ID: "5A000001", Sensor: "pir.bathroom", CheckIn: 6 * time.Hour}}}
	r, err := radio.New(cfg, nil, clk.Now, d.log.With("sim", "radio"))
	if err != nil {
		master.Close()
		return nil, fmt.Errorf("simulated radio: %w", err)
	}
	nodes, err := radio.NewSimNodes(master, cfg.Nodes)
	if err != nil {
		master.Close()
		return nil, err
	}
	d.sources = append(d.sources, r, &drainedPort{port: master})
	return nodes, nil
}

// drainedPort reads (and drops) what the gateway sends back to the simulated
// nodes — their ACKs — so the pseudo-terminal never fills up.
type drainedPort struct{ port *os.File }

func (p *drainedPort) Run(ctx context.Context, _ chan<- event.Event) error {
	go func() {
		<-ctx.Done()
		p.port.Close()
	}()
	buf := make([]byte, 256)
	for {
		if _, err := p.port.Read(buf); err != nil {
			return nil // closed at shutdown
		}
	}
}

// servedMeter runs the meter simulator on its end of a pseudo-terminal.
type servedMeter struct {
	sim  *metersim.Sim
	port *os.File
}

func (s *servedMeter) Run(ctx context.Context, _ chan<- event.Event) error {
	go func() {
		<-ctx.Done()
		s.port.Close() // unblocks Serve's read
	}()
	if err := s.sim.Serve(ctx, s.port); err != nil && ctx.Err() == nil {
		return err
	}
	return nil
}

// openDevices adds the real meters and GPIO sensors from the config. A configured
// pin that does not exist stops the start with the list of pins that do.
func (d *Daemon) openDevices() error {
	for i, bc := range d.cfg.Buses {
		if c := meterbus.SerialConsole("/", bc.Port); c != "" {
			// Not a refusal: the other sensors still watch the home.
			d.log.Error("meter port is also a console: frames will be corrupted and a login prompt is on the bus; disable it (install guide, step 2)", "bus", i, "port", bc.Port, "console", c)
		}
		bus, err := meterbus.NewBus(bc, nil, d.log)
		if err != nil {
			return fmt.Errorf("buses[%d]: %w", i, err)
		}
		d.sources = append(d.sources, bus)
	}
	if d.cfg.Radio != nil {
		r, err := radio.New(*d.cfg.Radio, nil, nil, d.log)
		if err != nil {
			return err
		}
		d.sources = append(d.sources, r)
	}
	if len(d.cfg.GPIO.Sensors) == 0 && len(d.cfg.GPIO.Indicators) == 0 {
		return nil
	}
	resolve, err := gpiosensor.HostResolver()
	if err != nil {
		return fmt.Errorf("gpio: %w", err)
	}
	w, err := gpiosensor.Open(d.cfg.GPIO, gpiosensor.Options{Resolve: resolve})
	if err != nil {
		return err // already says "gpio: sensors[i] (name): …"
	}
	d.gpio = w
	if len(d.cfg.GPIO.Indicators) > 0 {
		d.indicator, _ = w.Indicator(d.cfg.GPIO.Indicators[0].Name)
	}
	d.sources = append(d.sources, w)
	return nil
}

// signalPreAlarm blinks the local buzzer/LED while a pre-alarm waits for the
// resident's "I'm OK" long press, and stops it when the pre-alarm ends.
func (d *Daemon) signalPreAlarm(ctx context.Context) {
	if d.indicator == nil {
		return
	}
	active, _ := d.engine.PreAlarm()
	switch {
	case active && d.stopBlink == nil:
		bctx, cancel := context.WithCancel(ctx)
		d.stopBlink = cancel
		go func() {
			if err := d.indicator.Blink(bctx, gpiosensor.PreAlarm); err != nil && bctx.Err() == nil {
				d.log.Error("pre-alarm indicator", "err", err)
			}
		}()
	case !active && d.stopBlink != nil:
		d.stopBlink()
		d.stopBlink = nil
		if err := d.indicator.Off(); err != nil {
			d.log.Error("pre-alarm indicator off", "err", err)
		}
	}
}

// newID makes alert IDs: UUIDv7 is unique without coordination and sorts by time.
func newID() string { return uuid.Must(uuid.NewV7()).String() }

// AddSource adds an event source (meters, GPIO, radio nodes) before Run.
func (d *Daemon) AddSource(s Source) { d.sources = append(d.sources, s) }

func (d *Daemon) settings() rules.Settings {
	s := rules.ApplyRemote(d.cfg.RuleSettings(), d.remote)
	if d.cfg.Simulate.Enabled {
		// The simulated clock is monotonic by construction and runs in big steps
		// between ticks: no wall-clock step detection.
		s.MaxForward = 0
	}
	return s
}

func (d *Daemon) register(reg prometheus.Registerer) {
	d.events = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "shouwang_edge_events_total", Help: "Sensor events seen, by kind."}, []string{"kind"})
	d.alerts = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "shouwang_edge_alerts_total", Help: "Alert transitions raised by the rules."}, []string{"rule", "state"})
	reg.MustRegister(d.events, d.alerts,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "shouwang_edge_outbox_pending", Help: "Alerts waiting for the cloud's acknowledgement."}, func() float64 { return float64(d.box.Len()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "shouwang_edge_uplink_connected", Help: "1 while the MQTT session is up."}, func() float64 {
			if d.up.Connected() {
				return 1
			}
			return 0
		}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "shouwang_edge_alert_publishes_total", Help: "Alert messages published, resends included."}, func() float64 { return float64(d.up.Published.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "shouwang_edge_alert_acks_total", Help: "Alert messages acknowledged by the cloud."}, func() float64 { return float64(d.up.Acked.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "shouwang_edge_rejected_total", Help: "Cloud→edge payloads that failed validation."}, func() float64 { return float64(d.up.Rejected.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "shouwang_edge_telemetry_dropped_total", Help: "Telemetry readings and counts dropped because the backlog outgrew telemetry.backlog_bytes."}, func() float64 { return float64(d.box.TelemetryDropped()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "shouwang_edge_telemetry_backlog_bytes", Help: "Telemetry held in the outbox waiting for the broker."}, func() float64 { _, b := d.box.TelemetryLen(); return float64(b) }),
	)
}

// Pending returns the number of unacknowledged alerts (for tests and health).
func (d *Daemon) Pending() int { return d.box.Len() }

// Run runs until ctx is done or a part fails; it closes the outbox on return.
func (d *Daemon) Run(ctx context.Context, metrics http.Handler) error {
	defer d.box.Close()
	g, ctx := errgroup.WithContext(ctx)
	events := make(chan event.Event, 256)
	for _, s := range d.sources {
		g.Go(func() error { return s.Run(ctx, events) })
	}
	g.Go(func() error { return d.up.Run(ctx) })
	if d.cfg.MetricsAddr != "" {
		ln, err := net.Listen("tcp", d.cfg.MetricsAddr)
		if err != nil {
			return fmt.Errorf("listen metrics_addr %s: %w", d.cfg.MetricsAddr, err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", metrics)
		mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprintf(w, "ok\nconnected %v\npending %d\n", d.up.Connected(), d.box.Len())
		})
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		g.Go(func() error {
			<-ctx.Done()
			return srv.Close()
		})
		g.Go(func() error {
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		})
	}
	g.Go(func() error { return d.loop(ctx, events) })
	g.Go(func() error { return sdnotify.Serve(ctx, d.alive, d.log) })
	d.log.Info("gateway running", "gateway", d.cfg.GatewayID, "simulate", d.cfg.Simulate.Enabled, "pending_alerts", d.box.Len())
	return g.Wait()
}

// loop is the single owner of the rule engine: events, ticks and config changes are
// serialised here.
func (d *Daemon) loop(ctx context.Context, events <-chan event.Event) error {
	d.commit(d.engine.Observe(event.Event{T: d.monotone(d.clock.Now()), Sensor: "gateway", Kind: event.Boot}))
	tick := time.NewTicker(d.tick)
	defer tick.Stop()
	tele := time.NewTicker(d.cfg.Telemetry.Interval)
	defer tele.Stop()
	d.since = d.clock.Now()
	for {
		d.progress.Store(time.Now().UnixNano())
		select {
		case <-ctx.Done():
			return nil
		case ev := <-events:
			d.events.WithLabelValues(string(ev.Kind)).Inc()
			ev.T = d.monotone(ev.T)
			d.record(ev)
			if d.gpio != nil && ev.Kind != event.Motion && ev.Kind != event.Fault {
				d.gpio.Activity(ev.T) // life elsewhere: lets a silent PIR be noticed
			}
			d.commit(d.engine.Observe(ev))
			d.signalPreAlarm(ctx)
		case <-tick.C:
			d.commit(d.engine.Tick(d.monotone(d.clock.Now())))
			d.signalPreAlarm(ctx)
		case c := <-d.configs:
			d.applyConfig(c)
		case <-tele.C:
			d.flushTelemetry()
		}
	}
}

// erase is the gateway's part of erasing a resident: the learned routine and rule
// history start afresh, and unsent telemetry and alerts about them are dropped.
func (d *Daemon) erase(before time.Time) {
	d.engine = rules.New(d.settings(), rules.State{}, newID)
	for {
		pending, err := d.box.Pending(500)
		if err != nil || len(pending) == 0 {
			break
		}
		items := make([]mqttv1.AckItem, len(pending))
		for i, a := range pending {
			items[i] = a.Key()
		}
		if _, err := d.box.Ack(items); err != nil {
			d.log.Error("erase pending alerts", "err", err)
			break
		}
	}
	for {
		tele, err := d.box.PendingTelemetry(500)
		if err != nil || len(tele) == 0 {
			break
		}
		seqs := make([]uint64, len(tele))
		for i, t := range tele {
			seqs[i] = t.Seq
		}
		if err := d.box.DeleteTelemetry(seqs...); err != nil {
			d.log.Error("erase pending telemetry", "err", err)
			break
		}
	}
	clear(d.batch)
	clear(d.activity)
	if err := d.box.SetState(stateKeyRules, d.engine.State()); err != nil {
		d.log.Error("persist erased rule state", "err", err)
	}
	d.log.Warn("resident data erased at the cloud's request", "before", before)
}

// monotone keeps the simulator's timeline in order. Its clock runs up to 36000×
// fast, so a millisecond of goroutine scheduling between the meter pollers and the
// simulated sensors is a minute of virtual time, which the engine would rightly take
// for a wall-clock step. Real time is left alone: there, steps are the engine's to
// detect.
func (d *Daemon) monotone(t time.Time) time.Time {
	if !d.cfg.Simulate.Enabled {
		return t
	}
	if t.Before(d.lastT) {
		t = d.lastT
	}
	d.lastT = t
	return t
}

// commit makes transitions durable together with the rule state, then wakes the uplink.
func (d *Daemon) commit(out []mqttv1.Alert) {
	if len(out) == 0 {
		return
	}
	for i := range out {
		out[i].Gateway = d.cfg.GatewayID
		d.alerts.WithLabelValues(out[i].Rule, string(out[i].State)).Inc()
		d.log.Info("alert", "rule", out[i].Rule, "state", out[i].State, "id", out[i].ID, "at", out[i].At)
	}
	if err := d.box.Commit(out, stateKeyRules, d.engine.State()); err != nil {
		// The store is failing (disk full, SD card dying): keep trying on the next
		// transition and say so loudly; the rule state in memory still holds the episode.
		d.log.Error("store alerts", "err", err)
		return
	}
	d.up.Kick()
}

// alive reports whether the rule loop went round recently (it ticks every d.tick, at
// most a second): the systemd watchdog's condition.
func (d *Daemon) alive() bool {
	return time.Since(time.Unix(0, d.progress.Load())) < max(10*time.Second, 5*d.tick)
}

func (d *Daemon) applyConfig(c mqttv1.Config) {
	if c.Revision <= d.remote.Revision {
		return
	}
	if c.EraseBefore != nil && (d.remote.EraseBefore == nil || c.EraseBefore.After(*d.remote.EraseBefore)) {
		d.erase(*c.EraseBefore)
	}
	d.remote = c
	d.engine.SetSettings(d.settings())
	if err := d.box.SetState(stateKeyConfig, c); err != nil {
		d.log.Error("persist cloud config", "err", err)
	} else {
		d.up.SetConfigRevision(c.Revision) // confirmed to the cloud only once durable
	}
	d.log.Info("cloud config applied", "revision", c.Revision, "away", c.Away)
}

func (d *Daemon) record(ev event.Event) {
	switch ev.Kind {
	case event.Motion, event.Door, event.Button:
		d.lastActivity.Store(ev.T.UnixNano())
	}
	if ev.Kind == event.Meter {
		if prev, ok := d.totals[ev.Sensor]; ok && changed(prev, ev) {
			d.lastActivity.Store(ev.T.UnixNano())
		}
		d.totals[ev.Sensor] = mqttv1.Reading{TotalM3: ev.TotalM3, TotalKWh: ev.TotalKWh}
	}
	switch ev.Kind {
	case event.Meter:
		d.batch[ev.Sensor] = mqttv1.Reading{T: ev.T, Sensor: ev.Sensor, TotalM3: ev.TotalM3, TotalKWh: ev.TotalKWh}
	case event.Motion, event.Door, event.Button:
		d.activity[ev.Sensor]++
	}
}

// changed reports whether a meter total moved since the last reading: use is a
// sign of life.
func changed(prev mqttv1.Reading, ev event.Event) bool {
	switch {
	case ev.TotalM3 != nil && prev.TotalM3 != nil:
		return *ev.TotalM3 > *prev.TotalM3+0.0005
	case ev.TotalKWh != nil && prev.TotalKWh != nil:
		return *ev.TotalKWh > *prev.TotalKWh+0.01
	}
	return false
}

func (d *Daemon) flushTelemetry() {
	now := d.clock.Now()
	period := int(now.Sub(d.since) / time.Second)
	if len(d.batch) == 0 && len(d.activity) == 0 {
		return
	}
	var t mqttv1.Telemetry
	for _, r := range d.batch {
		t.Readings = append(t.Readings, r)
	}
	sort.Slice(t.Readings, func(i, j int) bool { return t.Readings[i].Sensor < t.Readings[j].Sensor })
	for s, n := range d.activity {
		t.Activity = append(t.Activity, mqttv1.Activity{T: d.since, PeriodS: min(max(period, 1), 86400), Sensor: s, Count: n})
	}
	// Into the outbox's bounded telemetry bucket (one synced write per interval); the
	// uplink sends the backlog in order whenever the link is up.
	if _, err := d.box.PutTelemetry(t); err != nil {
		d.log.Warn("store telemetry; kept for the next batch", "err", err)
		return
	}
	d.up.Kick()
	clear(d.batch)
	clear(d.activity)
	d.since = now
}
