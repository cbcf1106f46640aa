package deploy

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/shouwang-care/shouwang/deploy/pki"
	"github.com/shouwang-care/shouwang/firmware-protocol/mqttv1"
	"github.com/shouwang-care/shouwang/internal/testinfra"
)

func TestMain(m *testing.M) { testinfra.Main(m) }

// broker is deploy/mosquitto/shouwang.conf and shouwang.acl running in a real
// mosquitto 2, with certificates from deploy/pki and passwords hashed by
// mosquitto_passwd.
type broker struct {
	pkiDir       string
	pwPort       int // listener 8883: TLS + password
	certPort     int // listener 8884: TLS + client certificate
	srv          *testinfra.MosquittoServer
	passwords    map[string]string
	rootCAs      *x509.CertPool
	clientSerial int
}

func startBroker(t *testing.T) *broker {
	t.Helper()
	if testing.Short() {
		t.Skip("needs mosquitto and mosquitto_passwd: skipped with -short")
	}
	dir := t.TempDir()
	b := &broker{
		pkiDir:    filepath.Join(dir, "pki"),
		pwPort:    testinfra.FreePort(t),
		certPort:  testinfra.FreePort(t),
		passwords: map[string]string{"gw-a": "pass-a", "gw-b": "pass-b", "shouwang-cloud": "pass-cloud"},
	}
	if err := pki.Init(b.pkiDir, "Test CA", pki.Options{}); err != nil {
		t.Fatal(err)
	}
	if err := pki.IssueServer(b.pkiDir, []string{"localhost", "127.0.0.1"}, pki.Options{}); err != nil {
		t.Fatal(err)
	}
	ca, err := pki.ReadCert(filepath.Join(b.pkiDir, pki.CACert))
	if err != nil {
		t.Fatal(err)
	}
	b.rootCAs = x509.NewCertPool()
	b.rootCAs.AddCert(ca)

	// Password file in mosquitto's own format ($7$, PBKDF2-SHA512), made by its own tool.
	passwd := filepath.Join(dir, "shouwang.passwd")
	bin, err := exec.LookPath("mosquitto_passwd")
	if err != nil {
		t.Fatalf("mosquitto_passwd not found (package mosquitto): run scripts/test.sh: %v", err)
	}
	first := true
	for _, u := range []string{"gw-a", "gw-b", "shouwang-cloud"} {
		args := []string{"-b", passwd, u, b.passwords[u]}
		if first {
			args = append([]string{"-c"}, args...)
			first = false
		}
		if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
			t.Fatalf("mosquitto_passwd: %v\n%s", err, out)
		}
	}
	if pw, _ := os.ReadFile(passwd); !strings.Contains(string(pw), "gw-a:$7$") {
		t.Fatalf("password file is not PBKDF2-SHA512 ($7$):\n%s", pw)
	}

	conf, err := os.ReadFile("mosquitto/shouwang.conf")
	if err != nil {
		t.Fatal(err)
	}
	acl, err := filepath.Abs("mosquitto/shouwang.acl")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(string(conf), "\n") {
		switch {
		case strings.HasPrefix(l, "persistence "):
			continue // the test broker keeps nothing on disk
		case l == "listener 8883":
			l = fmt.Sprintf("listener %d 127.0.0.1", b.pwPort)
		case l == "listener 8884":
			l = fmt.Sprintf("listener %d 127.0.0.1", b.certPort)
		}
		l = strings.ReplaceAll(l, "/etc/mosquitto/certs/", b.pkiDir+"/")
		l = strings.ReplaceAll(l, "/etc/mosquitto/shouwang.passwd", passwd)
		l = strings.ReplaceAll(l, "/etc/mosquitto/shouwang.acl", acl)
		if !strings.HasPrefix(l, "#") && strings.Contains(l, "/etc/") {
			t.Fatalf("shouwang.conf: the test does not know how to relocate %q", l)
		}
		lines = append(lines, l)
	}
	b.srv = testinfra.Mosquitto(t, testinfra.WithMosquittoConfig(strings.Join(lines, "\n")))
	return b
}

type client struct {
	mqtt.Client
	mu   sync.Mutex
	msgs []mqtt.Message
	got  chan mqtt.Message
}

func (c *client) handler(_ mqtt.Client, m mqtt.Message) {
	c.mu.Lock()
	c.msgs = append(c.msgs, m)
	c.mu.Unlock()
	select {
	case c.got <- m:
	default:
	}
}

func (c *client) received() []mqtt.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]mqtt.Message(nil), c.msgs...)
}

// connect connects over TLS to port with optional username/password and
// client certificate; it returns the CONNECT error.
func (b *broker) connect(t *testing.T, port int, user, pass string, cert *tls.Certificate) (*client, error) {
	t.Helper()
	b.clientSerial++
	c := &client{got: make(chan mqtt.Message, 100)}
	tc := &tls.Config{RootCAs: b.rootCAs, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	if cert != nil {
		tc.Certificates = []tls.Certificate{*cert}
	}
	o := mqtt.NewClientOptions().
		AddBroker("ssl://127.0.0.1:" + strconv.Itoa(port)).
		SetClientID(fmt.Sprintf("%s-%d", strings.ReplaceAll(t.Name(), "/", "-"), b.clientSerial)).
		SetTLSConfig(tc).
		SetProtocolVersion(4).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetConnectTimeout(5 * time.Second).
		SetDefaultPublishHandler(c.handler)
	if user != "" {
		o.SetUsername(user)
		o.SetPassword(pass)
	}
	c.Client = mqtt.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		return nil, fmt.Errorf("connect timed out")
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c, nil
}

func (b *broker) mustConnect(t *testing.T, user string) *client {
	t.Helper()
	c, err := b.connect(t, b.pwPort, user, b.passwords[user], nil)
	if err != nil {
		t.Fatalf("%s: connect: %v\n%s", user, err, b.srv.Log())
	}
	return c
}

// subscribe returns whether the broker granted the subscription.
func (c *client) subscribe(t *testing.T, filter string) bool {
	t.Helper()
	tok := c.Subscribe(filter, 1, c.handler)
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe %s: %v", filter, tok.Error())
	}
	code := tok.(*mqtt.SubscribeToken).Result()[filter]
	return code != 0x80
}

func (c *client) publish(t *testing.T, topic string, retained bool, payload string) {
	t.Helper()
	tok := c.Publish(topic, 1, retained, payload)
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

// waitFor waits until c receives payload on topic.
func (c *client) waitFor(t *testing.T, who, topic, payload string) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		for _, m := range c.received() {
			if m.Topic() == topic && string(m.Payload()) == payload {
				return
			}
		}
		select {
		case <-c.got:
		case <-deadline:
			t.Fatalf("%s did not receive %q on %s; got %s", who, payload, topic, describe(c.received()))
		}
	}
}

func describe(ms []mqtt.Message) string {
	var s []string
	for _, m := range ms {
		s = append(s, fmt.Sprintf("%s=%q", m.Topic(), m.Payload()))
	}
	return "[" + strings.Join(s, " ") + "]"
}

func (c *client) never(t *testing.T, who, substr string) {
	t.Helper()
	for _, m := range c.received() {
		if strings.Contains(string(m.Payload()), substr) || strings.Contains(m.Topic(), substr) {
			t.Errorf("%s received %s = %q, which the ACL must stop", who, m.Topic(), m.Payload())
		}
	}
}

func TestBrokerRefusesAnonymousAndWrongPassword(t *testing.T) {
	b := startBroker(t)
	if _, err := b.connect(t, b.pwPort, "", "", nil); err == nil {
		t.Error("anonymous client accepted on the TLS listener")
	}
	if _, err := b.connect(t, b.srv.Port, "", "", nil); err == nil {
		// testinfra's plain listener: allow_anonymous false is global.
		t.Error("anonymous client accepted")
	}
	if _, err := b.connect(t, b.pwPort, "gw-a", "pass-b", nil); err == nil {
		t.Error("gw-a accepted with gw-b's password")
	}
	if _, err := b.connect(t, b.pwPort, "gw-x", "pass-a", nil); err == nil {
		t.Error("unknown user accepted")
	}
	if _, err := b.connect(t, b.certPort, "gw-a", "pass-a", nil); err == nil {
		t.Error("client without certificate accepted on the certificate listener")
	}
	b.mustConnect(t, "gw-a") // the right password works
}

func TestBrokerACL(t *testing.T) {
	b := startBroker(t)
	topic := func(gw string, ch mqttv1.Channel) string { return mqttv1.Topic(gw, ch) }

	cloud := b.mustConnect(t, "shouwang-cloud")
	for _, ch := range []mqttv1.Channel{mqttv1.ChAlert, mqttv1.ChTelemetry, mqttv1.ChStatus, mqttv1.ChHeartbeat} {
		if !cloud.subscribe(t, mqttv1.SharedFilter("shouwang-cloud", ch)) {
			t.Fatalf("cloud refused shared subscription %s", mqttv1.SharedFilter("shouwang-cloud", ch))
		}
	}
	// Retained config for both gateways, before they connect.
	cloud.publish(t, topic("gw-a", mqttv1.ChConfig), true, "config-for-a")
	cloud.publish(t, topic("gw-b", mqttv1.ChConfig), true, "config-for-b")

	gwB := b.mustConnect(t, "gw-b")
	for _, ch := range []mqttv1.Channel{mqttv1.ChConfig, mqttv1.ChAck} {
		if !gwB.subscribe(t, topic("gw-b", ch)) {
			t.Fatalf("gw-b may not subscribe to its own %s", ch)
		}
	}
	gwB.waitFor(t, "gw-b", topic("gw-b", mqttv1.ChConfig), "config-for-b")

	// A tries to read B's channels, directly and through wildcards.
	gwA := b.mustConnect(t, "gw-a")
	for _, f := range []string{topic("gw-b", mqttv1.ChConfig), topic("gw-b", mqttv1.ChAck), topic("gw-b", mqttv1.ChTelemetry),
		"shouwang/v1/gw/+/config", "shouwang/v1/gw/+/alert", "#"} {
		granted := gwA.subscribe(t, f)
		t.Logf("gw-a subscribe %s: granted=%v", f, granted)
	}
	gwA.subscribe(t, topic("gw-a", mqttv1.ChConfig))
	gwA.waitFor(t, "gw-a", topic("gw-a", mqttv1.ChConfig), "config-for-a")

	// A publishes as B on every channel.
	for _, ch := range []mqttv1.Channel{mqttv1.ChAlert, mqttv1.ChTelemetry, mqttv1.ChStatus, mqttv1.ChHeartbeat, mqttv1.ChConfig, mqttv1.ChAck} {
		gwA.publish(t, topic("gw-b", ch), ch == mqttv1.ChConfig, "spoof-from-a")
	}
	// The cloud may not pose as a gateway either.
	cloud.publish(t, topic("gw-b", mqttv1.ChAlert), false, "spoof-from-cloud")

	// Legitimate traffic, sent after the spoofs, as markers.
	gwB.publish(t, topic("gw-b", mqttv1.ChAlert), false, "alert-from-b")
	gwB.publish(t, topic("gw-b", mqttv1.ChTelemetry), false, "telemetry-from-b")
	gwA.publish(t, topic("gw-a", mqttv1.ChAlert), false, "alert-from-a")
	cloud.publish(t, topic("gw-b", mqttv1.ChAck), false, "ack-for-b")
	cloud.waitFor(t, "cloud", topic("gw-b", mqttv1.ChAlert), "alert-from-b")
	cloud.waitFor(t, "cloud", topic("gw-b", mqttv1.ChTelemetry), "telemetry-from-b")
	cloud.waitFor(t, "cloud", topic("gw-a", mqttv1.ChAlert), "alert-from-a")
	gwB.waitFor(t, "gw-b", topic("gw-b", mqttv1.ChAck), "ack-for-b")
	time.Sleep(300 * time.Millisecond) // anything the broker wrongly forwarded has arrived by now

	cloud.never(t, "cloud", "spoof")
	gwB.never(t, "gw-b", "spoof")
	gwA.never(t, "gw-a", "gw-b") // nothing of B's: not its config, ack, telemetry or alerts
	gwA.never(t, "gw-a", "ack-for-b")

	// B's retained config is still the cloud's, not A's spoof.
	gwB2 := b.mustConnect(t, "gw-b")
	gwB2.subscribe(t, topic("gw-b", mqttv1.ChConfig))
	gwB2.waitFor(t, "gw-b (reconnected)", topic("gw-b", mqttv1.ChConfig), "config-for-b")
	gwB2.never(t, "gw-b (reconnected)", "spoof")
}

// TestBrokerClientCertificates: a gateway certificate issued by shouwang-pki
// logs in as its CN (use_identity_as_username) and is confined by the ACL;
// a certificate from another CA is refused.
func TestBrokerClientCertificates(t *testing.T) {
	b := startBroker(t)
	cert, key, err := pki.IssueGateway(b.pkiDir, "gw-c", pki.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{cert, key} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: mode %v, err %v; want 0600", p, fi.Mode(), err)
		}
	}
	good, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		t.Fatal(err)
	}

	otherDir := filepath.Join(t.TempDir(), "other")
	if err := pki.Init(otherDir, "Rogue CA", pki.Options{}); err != nil {
		t.Fatal(err)
	}
	rc, rk, err := pki.IssueGateway(otherDir, "gw-c", pki.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rogue, err := tls.LoadX509KeyPair(rc, rk)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.connect(t, b.certPort, "", "", &rogue); err == nil {
		t.Fatal("certificate from another CA accepted")
	} else {
		t.Logf("rogue certificate refused: %v", err)
	}

	cloud := b.mustConnect(t, "shouwang-cloud")
	cloud.subscribe(t, mqttv1.SharedFilter("shouwang-cloud", mqttv1.ChAlert))
	cloud.publish(t, mqttv1.Topic("gw-c", mqttv1.ChConfig), true, "config-for-c")

	// The CONNECT username is ignored: the identity is the certificate's CN.
	gwC, err := b.connect(t, b.certPort, "gw-a", "", &good)
	if err != nil {
		t.Fatalf("gateway certificate refused: %v\n%s", err, b.srv.Log())
	}
	gwC.subscribe(t, mqttv1.Topic("gw-c", mqttv1.ChConfig))
	gwC.subscribe(t, mqttv1.Topic("gw-a", mqttv1.ChConfig))
	gwC.waitFor(t, "gw-c", mqttv1.Topic("gw-c", mqttv1.ChConfig), "config-for-c")
	gwC.publish(t, mqttv1.Topic("gw-a", mqttv1.ChAlert), false, "spoof-from-c")
	gwC.publish(t, mqttv1.Topic("gw-c", mqttv1.ChAlert), false, "alert-from-c")
	cloud.waitFor(t, "cloud", mqttv1.Topic("gw-c", mqttv1.ChAlert), "alert-from-c")
	time.Sleep(300 * time.Millisecond)
	cloud.never(t, "cloud", "spoof")
	gwC.never(t, "gw-c", "gw-a")
}
