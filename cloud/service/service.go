// Package service assembles the cloud: store, telemetry, broker (embedded or not),
// ingest, dispatch and the HTTP API. cmd/shouwang-cloud is a thin main around it, and
// end-to-end tests start it in-process.
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"github.com/shouwang-care/shouwang/cloud/api"
	"github.com/shouwang-care/shouwang/cloud/broker"
	"github.com/shouwang-care/shouwang/cloud/config"
	"github.com/shouwang-care/shouwang/cloud/credential"
	"github.com/shouwang-care/shouwang/cloud/dispatch"
	"github.com/shouwang-care/shouwang/cloud/dynsec"
	"github.com/shouwang-care/shouwang/cloud/emqx"
	"github.com/shouwang-care/shouwang/cloud/ingest"
	"github.com/shouwang-care/shouwang/cloud/live"
	"github.com/shouwang-care/shouwang/cloud/liveness"
	"github.com/shouwang-care/shouwang/cloud/notify"
	"github.com/shouwang-care/shouwang/cloud/paging"
	"github.com/shouwang-care/shouwang/cloud/registry"
	"github.com/shouwang-care/shouwang/cloud/store"
	"github.com/shouwang-care/shouwang/cloud/telemetry"
	"github.com/shouwang-care/shouwang/cloud/web"
	"github.com/shouwang-care/shouwang/firmware-protocol/mqttv1"
)

// TelemetryStore is where telemetry goes: InfluxDB or the embedded SQL table.
type TelemetryStore interface {
	Write(ctx context.Context, t mqttv1.Telemetry) error
	Query(ctx context.Context, gateway, sensor string, from, to time.Time, every time.Duration) (telemetry.Series, error)
	Erase(ctx context.Context, gateway string) error
}

// Service is one running cloud replica.
type Service struct {
	cfg        config.Config
	log        *slog.Logger
	Store      *store.Store
	Telemetry  TelemetryStore
	broker     *broker.Broker
	logins     registry.Logins // the broker's side of claims and revocations; nil: none
	emqxAuthn  *emqx.Authn     // answers EMQX's gateway login checks; nil: not EMQX
	consumer   *ingest.Consumer
	dispatcher *dispatch.Dispatcher
	liveness   *liveness.Watcher
	pager      *paging.Pager
	hub        *live.Hub
	ln         net.Listener
	reg        *prometheus.Registry
	closers    []func()

	// AdminPassword is set on first run only: shown once, stored only as a hash.
	AdminPassword string
	// DemoEdgeConfig is the path of the simulated edge's config, when demo is on.
	DemoEdgeConfig string
}

// DemoGateway is the gateway the demo seeds.
const DemoGateway = "gw-demo-0001"

// New opens everything and listens, but processes nothing until Run.
func New(ctx context.Context, cfg config.Config, log *slog.Logger) (_ *Service, err error) {
	s := &Service{cfg: cfg, log: log, hub: live.NewHub()}
	defer func() {
		if err != nil {
			s.close() // s, not the nil result: what was opened before the error
		}
	}()
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data_dir: %w", err)
	}
	dsn := cfg.Database
	if dsn == "" {
		dsn = filepath.Join(cfg.DataDir, "shouwang.db")
	}
	if s.Store, err = store.Open(ctx, dsn); err != nil {
		return nil, err
	}
	s.closers = append(s.closers, func() { s.Store.Close() })
	if err := s.firstRun(ctx); err != nil {
		return nil, err
	}

	reg := prometheus.NewRegistry()
	s.reg = reg
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if cfg.Influx.URL != "" {
		in, err := telemetry.NewInflux(telemetry.InfluxConfig{URL: cfg.Influx.URL, Token: cfg.Influx.Token, Org: cfg.Influx.Org, Bucket: cfg.Influx.Bucket, BatchSize: uint(cfg.Influx.BatchSize), Writers: cfg.Influx.Writers}, log)
		if err != nil {
			return nil, err
		}
		reg.MustRegister(in.Collectors()...)
		s.Telemetry = in
		s.closers = append(s.closers, in.Close)
	} else {
		sq, err := telemetry.NewSQL(s.Store.DB())
		if err != nil {
			return nil, err
		}
		s.Telemetry = sq
	}

	brokerURL, user := cfg.MQTT.Broker, cfg.MQTT.Username
	var password string
	if cfg.MQTT.Embedded() {
		// The cloud's own login to its own broker: made fresh at every start, never stored.
		user, password = "shouwang-cloud", credential.NewSecret()
		if s.broker, err = broker.Start(cfg.MQTT.Listen, s.Store, user, password, log); err != nil {
			return nil, err
		}
		s.closers = append(s.closers, func() { s.broker.Close() })
		brokerURL = "tcp://" + cfg.MQTT.Listen
		s.logins = s.broker
	} else if password, err = cfg.MQTTPassword(); err != nil {
		return nil, err
	}
	if cfg.MQTT.DynamicSecurity {
		d, err := dynsec.Dial(ctx, dynsec.Options{Broker: brokerURL, ClientID: cfg.MQTT.ClientID + "-dynsec", Username: user, Password: password})
		if err != nil {
			return nil, fmt.Errorf("mqtt.dynamic_security: %w", err)
		}
		s.closers = append(s.closers, d.Close)
		if err := d.EnsureService(ctx, user); err != nil {
			return nil, fmt.Errorf("mqtt.dynamic_security: %w", err)
		}
		s.logins = d
	}
	if cfg.MQTT.EMQX != nil {
		token, apiSecret, err := cfg.EMQXSecrets()
		if err != nil {
			return nil, err
		}
		s.emqxAuthn = emqx.NewAuthn(s.Store, token, user, log)
		reg.MustRegister(s.emqxAuthn.Collectors()...)
		s.logins = emqx.NewAPI(cfg.MQTT.EMQX.API, cfg.MQTT.EMQX.APIKey, apiSecret)
	}
	if cfg.Demo.Enabled {
		if err := s.seedDemo(ctx, brokerURL); err != nil {
			return nil, err
		}
	}

	deliveryLog, err := notify.NewSQLLog(s.Store.DB())
	if err != nil {
		return nil, err
	}
	pager, err := paging.New(cfg.Notify, s.hub, deliveryLog, "http://"+cfg.HTTPAddr)
	if err != nil {
		return nil, err
	}
	reg.MustRegister(pager.Notifier().Collectors()...)
	s.pager = pager
	reg.MustRegister(newKPICollector(s.Store))
	s.dispatcher = dispatch.New(s.Store, pager, s.hub, nil, log, time.Second)
	reg.MustRegister(s.dispatcher.Collectors()...)
	s.liveness = liveness.New(s.Store, s.dispatcher.Committed, cfg.GatewayBudget, 15*time.Second, nil, log)
	s.consumer = ingest.New(ingest.Options{
		Broker: brokerURL, ClientID: cfg.MQTT.ClientID, Username: user, Password: password,
		Group: cfg.MQTT.Group, Workers: cfg.MQTT.Workers,
		OnAlert: func(a mqttv1.Alert) { s.dispatcher.Committed(context.Background(), a) },
	}, s.Store, s.Telemetry, s.Store, log)
	reg.MustRegister(s.consumer.Collectors()...)

	if s.ln, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
		return nil, fmt.Errorf("listen http_addr %s: %w", cfg.HTTPAddr, err)
	}
	return s, nil
}

// URL is where the web app is served.
func (s *Service) URL() string { return "http://" + s.ln.Addr().String() + "/" }

func (s *Service) firstRun(ctx context.Context) error {
	n, err := s.Store.CountUsers(ctx)
	if err != nil || n > 0 {
		return err
	}
	// No default password anywhere (EN 303 645 5.1-1): a random one, shown once.
	pw := credential.NewSecret()[:20]
	hash, err := credential.HashPassword(pw)
	if err != nil {
		return err
	}
	if err := s.Store.CreateUser(ctx, store.User{ID: uuid.NewString(), Username: "admin", Name: "管理员", Role: "admin", PasswordHash: hash}); err != nil {
		return err
	}
	s.AdminPassword = pw
	return nil
}

func (s *Service) seedDemo(ctx context.Context, brokerURL string) error {
	steps := []error{
		s.Store.PutGrid(ctx, store.Grid{ID: "grid-demo-1", Name: "望江街道 第3网格", Community: "近江社区"}),
		s.Store.PutWorker(ctx, store.Worker{ID: "w-demo-1", GridID: "grid-demo-1", Name: "李网格员", Phone: "13800000000", OnDuty: true}),
		s.Store.PutHome(ctx, store.Home{ID: "home-demo-1", GridID: "grid-demo-1", Address: "杭州市上城区望江街道 3幢2单元301", ResidentName: "王秀英"}),
	}
	if err := errors.Join(steps...); err != nil {
		return fmt.Errorf("seed demo: %w", err)
	}
	secret := credential.NewSecret()
	if err := s.Store.PutGateway(ctx, DemoGateway, "home-demo-1", credential.HashSecret(secret)); err != nil {
		return err
	}
	path := s.cfg.Demo.EdgeConfig
	if path == "" {
		path = filepath.Join(s.cfg.DataDir, "demo-edge.yaml")
	}
	body := fmt.Sprintf(`# Written by shouwang-cloud's demo: a simulated home on a fast clock.
gateway_id: %s
state_dir: %s
metrics_addr: ""
mqtt:
  broker: %s
  username: %s
  password: %s
  resend_interval: 2s
simulate:
  enabled: true
  speed: 3600
  scenario: collapse
telemetry:
  interval: 2s
`, DemoGateway, filepath.Join(s.cfg.DataDir, "demo-edge-state"), brokerURL, DemoGateway, secret)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		return fmt.Errorf("write demo edge config: %w", err)
	}
	s.DemoEdgeConfig = path
	return nil
}

// Run serves until ctx is done.
func (s *Service) Run(ctx context.Context) error {
	defer s.close()
	g, ctx := errgroup.WithContext(ctx)
	app, srv := api.New(s.Store, s.hub, web.FS(), promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}), s.ready, s.log)
	srv.SecureCookies = s.cfg.SecureCookies
	srv.Base = ctx
	srv.Configs = s.consumer
	srv.Telemetry = s.Telemetry
	if s.logins != nil && srv.Registry != nil {
		srv.Registry.Logins = s.logins
	}
	if s.emqxAuthn != nil {
		app.Post("/mqtt/emqx/authn", s.emqxAuthn.Handle)
	}
	srv.NotifyMedia = s.pager.Media()
	srv.PushKey = s.pager.PushKey()
	changes := make(chan incidentChange, 256)
	srv.Changed = func(inc store.Incident, action string) {
		select {
		case changes <- incidentChange{inc, action}:
		default:
			s.log.Warn("family status notification dropped: queue full", "incident", inc.ID)
		}
	}
	g.Go(func() error {
		for {
			select {
			case <-ctx.Done():
				return nil
			case ch := <-changes:
				nctx, cancel := context.WithTimeout(ctx, time.Minute)
				if err := s.pager.IncidentChanged(nctx, s.Store, ch.inc, ch.action); err != nil {
					s.log.Warn("family status notification", "incident", ch.inc.ID, "err", err)
				}
				cancel()
			}
		}
	})
	g.Go(func() error { s.republishSettings(ctx); return nil })
	g.Go(func() error { return s.dispatcher.Run(ctx) })
	g.Go(func() error { return s.liveness.Run(ctx) })
	g.Go(func() error { s.digestDaily(ctx); return nil })
	g.Go(func() error { return s.consumer.Run(ctx) })
	g.Go(func() error {
		<-ctx.Done()
		s.hub.Close() // end live streams first, or shutdown waits on them
		// fasthttp counts a new connection without a request as busy for 5 s (as
		// net/http does), and browsers open such connections ahead of use; requests
		// still running after 3 s are abandoned too (they end with the process).
		// Neither makes the stop a failure.
		if err := app.ShutdownWithTimeout(3 * time.Second); err != nil {
			s.log.Warn("http shutdown: stopped waiting for open connections after 3s", "err", err)
		}
		return nil
	})
	g.Go(func() error {
		if err := app.Listener(s.ln); err != nil {
			return fmt.Errorf("http: %w", err)
		}
		return nil
	})
	s.log.Info("cloud running", "url", s.URL(), "embedded_broker", s.cfg.MQTT.Embedded())
	return g.Wait()
}

type incidentChange struct {
	inc    store.Incident
	action string
}

// digestLocation is where "20:00" is: the pilots are in Hangzhou.
var digestLocation = func() *time.Location {
	if loc, err := time.LoadLocation("Asia/Shanghai"); err == nil {
		return loc
	}
	return time.FixedZone("CST", 8*3600)
}()

// SendDigest sends today's 平安 digest to every family member now.
func (s *Service) SendDigest(ctx context.Context, now time.Time) (int, error) {
	return s.pager.Digest(ctx, s.Store, now, digestLocation)
}

// digestDaily sends the digest every evening at 20:00 Beijing time.
func (s *Service) digestDaily(ctx context.Context) {
	for {
		now := time.Now().In(digestLocation)
		next := time.Date(now.Year(), now.Month(), now.Day(), 20, 0, 0, 0, digestLocation)
		if !next.After(now) {
			next = next.AddDate(0, 0, 1)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Until(next)):
		}
		n, err := s.SendDigest(ctx, time.Now())
		if err != nil {
			s.log.Error("daily digest", "sent", n, "err", err)
		} else {
			s.log.Info("daily digest sent", "messages", n)
		}
	}
}

// republishSettings pushes every home's settings once the broker connection is up,
// so a change stored while the broker was unreachable still reaches its gateway.
func (s *Service) republishSettings(ctx context.Context) {
	for !s.consumer.Connected() {
		select {
		case <-ctx.Done():
			return
		case <-time.After(500 * time.Millisecond):
		}
	}
	list, err := s.Store.HomeConfigs(ctx, "")
	if err != nil {
		s.log.Error("republish settings", "err", err)
		return
	}
	for _, hc := range list {
		if hc.GatewayID == "" {
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if err := s.consumer.PublishConfig(pctx, hc.Config()); err != nil {
			s.log.Warn("republish settings", "home", hc.HomeID, "err", err)
		}
		cancel()
	}
}

func (s *Service) ready() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.Store.DB().PingContext(ctx); err != nil {
		return fmt.Errorf("database: %w", err)
	}
	if !s.consumer.Connected() {
		return errors.New("mqtt: not connected")
	}
	return nil
}

func (s *Service) close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
	s.closers = nil
}
