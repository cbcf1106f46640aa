// Package config is the cloud service's configuration: one typed struct, from a YAML
// file with SHOUWANG_CLOUD_* environment overrides, validated before anything starts.
// The zero-configuration defaults run everything embedded.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is everything shouwang-cloud reads at start.
type Config struct {
	HTTPAddr      string `yaml:"http_addr"`
	DataDir       string `yaml:"data_dir"` // SQLite file and demo files when embedded
	Database      string `yaml:"database"` // postgres://…; empty: SQLite in data_dir
	SecureCookies bool   `yaml:"secure_cookies"`
	// GatewayBudget is how long a gateway may be silent before the cloud says nobody
	// is watching that home; heartbeats come every 60 s, so the default allows three
	// to be lost before anyone is paged.
	GatewayBudget time.Duration `yaml:"gateway_budget"`
	MQTT          MQTT          `yaml:"mqtt"`
	Influx        Influx        `yaml:"influx"`
	Demo          Demo          `yaml:"demo"`
	Notify        Notify        `yaml:"notify"`
}

// Notify configures how people are paged beyond the web app (always on). Each
// channel is off while its section is absent. SMS and WeCom are first-class: Web Push
// through FCM is unreliable on many phones in mainland China.
type Notify struct {
	Webhook *struct {
		URL    string `yaml:"url"`
		Secret string `yaml:"secret"`
	} `yaml:"webhook"`
	AliyunSMS *struct {
		AccessKeyID     string            `yaml:"access_key_id"`
		AccessKeySecret string            `yaml:"access_key_secret"`
		SignName        string            `yaml:"sign_name"`
		Templates       map[string]string `yaml:"templates"` // kind (dispatched, escalated, status, "") → SMS_… code
		Endpoint        string            `yaml:"endpoint"`
	} `yaml:"aliyun_sms"`
	TencentSMS *struct {
		SecretID    string            `yaml:"secret_id"`
		SecretKey   string            `yaml:"secret_key"`
		SmsSdkAppID string            `yaml:"sdk_app_id"`
		SignName    string            `yaml:"sign_name"`
		Templates   map[string]string `yaml:"templates"`
		Endpoint    string            `yaml:"endpoint"`
	} `yaml:"tencent_sms"`
	WeCom *struct {
		CorpID     string `yaml:"corp_id"`
		CorpSecret string `yaml:"corp_secret"`
		AgentID    int64  `yaml:"agent_id"`
		BaseURL    string `yaml:"base_url"`
	} `yaml:"wecom"`
	// WebPush: VAPID keys from `shouwang-cloud vapid-keys`; subscriber is a real
	// mailto: or https: contact (Apple refuses placeholders).
	WebPush *struct {
		Subscriber      string `yaml:"subscriber"`
		VAPIDPublicKey  string `yaml:"vapid_public_key"`
		VAPIDPrivateKey string `yaml:"vapid_private_key"`
	} `yaml:"web_push"`
	Email *struct {
		Addr     string `yaml:"addr"`
		From     string `yaml:"from"`
		Username string `yaml:"username"`
		Password string `yaml:"password"`
	} `yaml:"email"`
}

// MQTT selects the embedded broker or an external one.
type MQTT struct {
	Listen       string `yaml:"listen"` // embedded broker address; used when broker is empty
	Broker       string `yaml:"broker"` // external broker, tcp://host:1883 or ssl://…
	Username     string `yaml:"username"`
	Password     string `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
	ClientID     string `yaml:"client_id"` // stable per replica
	Group        string `yaml:"group"`     // shared-subscription group
	Workers      int    `yaml:"workers"`
	// DynamicSecurity: the external broker is Mosquitto with its dynamic-security
	// plugin, and the cloud's login also has the plugin's admin role. A claim then
	// makes the gateway's broker login, and a revocation removes it and drops the
	// live connection, with no files to edit on the broker host.
	DynamicSecurity bool `yaml:"dynamic_security"`
	// EMQX: the external broker is an EMQX 5.8 cluster set up as
	// deploy/scale/emqx/emqx.conf says. It asks the cloud (POST /mqtt/emqx/authn)
	// at each gateway connect, and a revocation kicks the session through its API.
	EMQX *EMQX `yaml:"emqx"`
}

// EMQX says how EMQX and the cloud reach each other.
type EMQX struct {
	// AuthnTokenFile holds the bearer token EMQX's HTTP authenticator sends (its
	// headers.authorization); other callers of the endpoint are refused.
	AuthnTokenFile string `yaml:"authn_token_file"`
	API            string `yaml:"api"`             // management API, http://emqx:18083
	APIKey         string `yaml:"api_key"`         // Dashboard → System → API Key
	APISecretFile  string `yaml:"api_secret_file"` // that key's secret
}

// Influx is the telemetry store; an empty URL keeps telemetry in the SQL database.
type Influx struct {
	URL    string `yaml:"url"`
	Token  string `yaml:"token"`
	Org    string `yaml:"org"`
	Bucket string `yaml:"bucket"`
	// BatchSize is the most points per write request (0: 5000, InfluxDB's advice);
	// fewer, larger requests cost InfluxDB less CPU.
	BatchSize int `yaml:"batch_size"`
	// Writers is how many write requests may be in flight at once (0: 2).
	Writers int `yaml:"writers"`
}

// Demo seeds a grid, a worker, a home and a gateway, and writes the simulated edge's
// config, so `make run` shows an alert end to end.
type Demo struct {
	Enabled    bool   `yaml:"enabled"`
	EdgeConfig string `yaml:"edge_config"` // where to write the edge's config; default data_dir/demo-edge.yaml
}

// Embedded reports whether the cloud runs its own broker.
func (m MQTT) Embedded() bool { return m.Broker == "" }

// Default is the configuration a file overrides.
func Default() Config {
	host, _ := os.Hostname()
	return Config{
		HTTPAddr:      "127.0.0.1:8080",
		GatewayBudget: 3*time.Minute + 30*time.Second,
		DataDir:       "./var/cloud",
		MQTT: MQTT{
			Listen:   "127.0.0.1:1883",
			ClientID: "shouwang-cloud-" + host,
			Group:    "shouwang-cloud",
			Workers:  4,
		},
		Influx: Influx{Bucket: "shouwang/autogen"},
	}
}

// Load reads path (strict: unknown keys are errors with their line), applies the
// environment and validates.
func Load(path string) (Config, error) {
	c := Default()
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return c, fmt.Errorf("read config: %w", err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
			return c, fmt.Errorf("config %s: %w", path, err)
		}
	}
	env := map[string]*string{
		"SHOUWANG_CLOUD_HTTP_ADDR":     &c.HTTPAddr,
		"SHOUWANG_CLOUD_DATA_DIR":      &c.DataDir,
		"SHOUWANG_CLOUD_DATABASE":      &c.Database,
		"SHOUWANG_CLOUD_MQTT_LISTEN":   &c.MQTT.Listen,
		"SHOUWANG_CLOUD_MQTT_BROKER":   &c.MQTT.Broker,
		"SHOUWANG_CLOUD_MQTT_USERNAME": &c.MQTT.Username,
		"SHOUWANG_CLOUD_MQTT_PASSWORD": &c.MQTT.Password,
		"SHOUWANG_CLOUD_INFLUX_URL":    &c.Influx.URL,
		"SHOUWANG_CLOUD_INFLUX_TOKEN":  &c.Influx.Token,
	}
	for k, p := range env {
		if v, ok := os.LookupEnv(k); ok {
			*p = v
		}
	}
	if err := c.Validate(); err != nil {
		if path == "" {
			path = "(defaults)"
		}
		return c, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// Validate names every wrong field as spelled in the file.
func (c *Config) Validate() error {
	var errs []string
	add := func(field, format string, a ...any) { errs = append(errs, field+": "+fmt.Sprintf(format, a...)) }
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		add("http_addr", "%q: %v", c.HTTPAddr, err)
	}
	if c.DataDir == "" {
		add("data_dir", "empty")
	}
	if c.GatewayBudget < 30*time.Second || c.GatewayBudget > 24*time.Hour {
		add("gateway_budget", "%v, want 30s–24h", c.GatewayBudget)
	}
	if c.Database != "" && !strings.HasPrefix(c.Database, "postgres://") && !strings.HasPrefix(c.Database, "postgresql://") {
		add("database", "want a postgres:// URL, or empty for the embedded SQLite")
	}
	if c.MQTT.Embedded() {
		if _, _, err := net.SplitHostPort(c.MQTT.Listen); err != nil {
			add("mqtt.listen", "%q: %v", c.MQTT.Listen, err)
		}
	} else {
		if !strings.HasPrefix(c.MQTT.Broker, "tcp://") && !strings.HasPrefix(c.MQTT.Broker, "ssl://") && !strings.HasPrefix(c.MQTT.Broker, "tls://") {
			add("mqtt.broker", "%q: want tcp://host:port or ssl://host:port", c.MQTT.Broker)
		}
		if c.MQTT.Username == "" {
			add("mqtt.username", "an external broker needs the cloud's username")
		}
	}
	if c.MQTT.DynamicSecurity && c.MQTT.Embedded() {
		add("mqtt.dynamic_security", "needs an external Mosquitto (mqtt.broker); the embedded broker checks the registry itself")
	}
	if c.MQTT.Password != "" && c.MQTT.PasswordFile != "" {
		add("mqtt.password_file", "set either password or password_file, not both")
	}
	if e := c.MQTT.EMQX; e != nil {
		if c.MQTT.Embedded() {
			add("mqtt.emqx", "needs an external EMQX (mqtt.broker); the embedded broker checks the registry itself")
		}
		if c.MQTT.DynamicSecurity {
			add("mqtt.emqx", "set either emqx or dynamic_security (Mosquitto), not both")
		}
		if e.AuthnTokenFile == "" {
			add("mqtt.emqx.authn_token_file", "empty: the file with the bearer token EMQX's HTTP authenticator sends")
		}
		if u, err := url.Parse(e.API); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("mqtt.emqx.api", "%q: want EMQX's management API, http(s)://host:18083", e.API)
		}
		if e.APIKey == "" {
			add("mqtt.emqx.api_key", "empty: an EMQX API key, to drop a revoked gateway's session")
		}
		if e.APISecretFile == "" {
			add("mqtt.emqx.api_secret_file", "empty: the file with that API key's secret")
		}
	}
	if c.MQTT.ClientID == "" {
		add("mqtt.client_id", "empty")
	}
	if strings.ContainsAny(c.MQTT.Group, "/+#") || c.MQTT.Group == "" {
		add("mqtt.group", "%q: want a name without / + #", c.MQTT.Group)
	}
	if c.MQTT.Workers < 1 || c.MQTT.Workers > 256 {
		add("mqtt.workers", "%d, want 1–256", c.MQTT.Workers)
	}
	if c.Influx.URL != "" && !strings.HasPrefix(c.Influx.URL, "http://") && !strings.HasPrefix(c.Influx.URL, "https://") {
		add("influx.url", "%q: want http(s)://host:8086", c.Influx.URL)
	}
	if c.Influx.BatchSize < 0 || c.Influx.BatchSize > 100_000 {
		add("influx.batch_size", "%d: want 1–100000 points (0: 5000)", c.Influx.BatchSize)
	}
	if c.Influx.Writers < 0 || c.Influx.Writers > 16 {
		add("influx.writers", "%d: want 1–16 (0: 2)", c.Influx.Writers)
	}
	if c.Influx.URL != "" && c.Influx.Bucket == "" {
		add("influx.bucket", "empty (on InfluxDB 1.8: database/retention, e.g. shouwang/autogen)")
	}
	if c.Demo.Enabled && !c.MQTT.Embedded() {
		add("demo.enabled", "the demo runs on the embedded broker only")
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

// EMQXSecrets reads the EMQX authenticator's bearer token and the API key's secret.
func (c *Config) EMQXSecrets() (token, apiSecret string, err error) {
	e := c.MQTT.EMQX
	if token, err = readSecretFile("mqtt.emqx.authn_token_file", e.AuthnTokenFile); err != nil {
		return "", "", err
	}
	if len(token) < 16 || strings.Contains(token, "CHANGE-ME") {
		return "", "", fmt.Errorf("mqtt.emqx.authn_token_file %s: token of %d characters, want at least 16 and not the example's placeholder (e.g. openssl rand -hex 32)", e.AuthnTokenFile, len(token))
	}
	if apiSecret, err = readSecretFile("mqtt.emqx.api_secret_file", e.APISecretFile); err != nil {
		return "", "", err
	}
	return token, apiSecret, nil
}

func readSecretFile(key, path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", key, err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("%s %s: empty", key, path)
	}
	return s, nil
}

// MQTTPassword returns the cloud's broker password, reading password_file if set.
func (c *Config) MQTTPassword() (string, error) {
	if c.MQTT.PasswordFile == "" {
		return c.MQTT.Password, nil
	}
	return readSecretFile("mqtt.password_file", c.MQTT.PasswordFile)
}
