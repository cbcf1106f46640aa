package uplink

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/shouwang-care/shouwang/edge/outbox"
	"github.com/shouwang-care/shouwang/firmware-protocol/mqttv1"
	"github.com/shouwang-care/shouwang/internal/testinfra"
)

// pki is a throwaway CA that issues server and gateway certificates into dir.
type pki struct {
	t    *testing.T
	dir  string
	name string
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newPKI(t *testing.T, dir, name string) *pki {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	p := &pki{t: t, dir: dir, name: name, cert: cert, key: key}
	p.write(name+"-ca.pem", "CERTIFICATE", der)
	return p
}

func (p *pki) caFile() string { return filepath.Join(p.dir, p.name+"-ca.pem") }

func (p *pki) write(name, typ string, der []byte) string {
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		p.t.Fatal(err)
	}
	return path
}

// issue returns cert and key files for cn; a server certificate is valid for 127.0.0.1.
func (p *pki) issue(cn string, server bool) (certFile, keyFile string) {
	p.t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		p.t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.cert, &key.PublicKey, p.key)
	if err != nil {
		p.t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		p.t.Fatal(err)
	}
	return p.write(p.name+"-"+cn+".pem", "CERTIFICATE", der), p.write(p.name+"-"+cn+".key", "EC PRIVATE KEY", kder)
}

// tlsBroker starts Mosquitto with its plain listener (for the test's stand-in cloud)
// and a TLS listener that requires a client certificate from ca and takes the
// certificate's CN as the MQTT username, as deploy/mosquitto does.
func tlsBroker(t *testing.T, ca *pki) (mq *testinfra.MosquittoServer, tlsURL string) {
	t.Helper()
	srvCert, srvKey := ca.issue("mqtt-test-server", true)
	port := testinfra.FreePort(t)
	mq = testinfra.Mosquitto(t, testinfra.WithMosquittoConfig(fmt.Sprintf(
		"listener %d 127.0.0.1\ncafile %s\ncertfile %s\nkeyfile %s\nrequire_certificate true\nuse_identity_as_username true",
		port, ca.caFile(), srvCert, srvKey)))
	return mq, fmt.Sprintf("ssl://127.0.0.1:%d", port)
}

// ackingCloud subscribes to every gateway's alerts on the plain listener and acks
// each one, like the cloud does after its commit. It returns the alerts seen.
func ackingCloud(t *testing.T, broker string) <-chan mqttv1.Alert {
	t.Helper()
	seen := make(chan mqttv1.Alert, 1000)
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(broker).SetClientID("test-cloud").SetAutoReconnect(true).
		SetOnConnectHandler(func(c mqtt.Client) {
			c.Subscribe("shouwang/v1/gw/+/alert", 1, func(c mqtt.Client, m mqtt.Message) {
				a, err := mqttv1.Decode[mqttv1.Alert](m.Payload())
				if err != nil {
					t.Errorf("bad alert: %v", err)
					return
				}
				seen <- a
				b, _ := mqttv1.Encode(mqttv1.Ack{V: 1, Alerts: []mqttv1.AckItem{a.Key()}})
				c.Publish(mqttv1.Topic(a.Gateway, mqttv1.ChAck), 1, false, b)
			})
		}))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("test cloud connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	time.Sleep(200 * time.Millisecond) // subscription in place
	return seen
}

func runUplink(t *testing.T, opt Options, box Outbox) *Uplink {
	t.Helper()
	if opt.ResendInterval == 0 {
		opt.ResendInterval = 200 * time.Millisecond
	}
	if opt.Heartbeat == 0 {
		opt.Heartbeat = time.Hour
	}
	if opt.KeepAlive == 0 {
		opt.KeepAlive = 5 * time.Second
	}
	u, err := New(opt, box, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = u.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return u
}

func boxWithAlert(t *testing.T, gw string) *outbox.Outbox {
	t.Helper()
	box, _, err := outbox.Open(filepath.Join(t.TempDir(), "outbox.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { box.Close() })
	at := time.Now()
	if err := box.Put(mqttv1.Alert{V: 1, ID: "tls-alert-1", Gateway: gw, Rule: "sos", State: mqttv1.Raised, Severity: mqttv1.Critical,
		Class: mqttv1.ClassResident, At: at, RaisedAt: at}); err != nil {
		t.Fatal(err)
	}
	return box
}

// TestTLSClientCertificate: a gateway with a certificate from the deployment's CA
// connects to Mosquitto's TLS listener as its CN and delivers an alert; certificates
// from another CA, or none, are refused at the handshake and the alert stays held.
func TestTLSClientCertificate(t *testing.T) {
	dir := t.TempDir()
	ca := newPKI(t, dir, "shouwang")
	mq, tlsURL := tlsBroker(t, ca)
	seen := ackingCloud(t, mq.Addr)

	const gw = "gw-tls-0001"
	cert, key := ca.issue(gw, false)
	box := boxWithAlert(t, gw)
	u := runUplink(t, Options{Broker: tlsURL, GatewayID: gw, CAFile: ca.caFile(), CertFile: cert, KeyFile: key}, box)
	select {
	case a := <-seen:
		if a.ID != "tls-alert-1" || a.Gateway != gw {
			t.Fatalf("delivered %+v", a)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("alert not delivered over TLS; broker log:\n%s", mq.Log())
	}
	deadline := time.Now().Add(10 * time.Second)
	for box.Len() != 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if box.Len() != 0 || u.Acked.Load() != 1 {
		t.Fatalf("ack not applied: pending %d acked %d", box.Len(), u.Acked.Load())
	}
	// The broker took the identity from the certificate (what its ACL keys on).
	if log := mq.Log(); !strings.Contains(log, "u'"+gw+"'") {
		t.Errorf("broker did not log username %s from the certificate:\n%s", gw, log)
	}

	t.Run("refused", func(t *testing.T) {
		rogue := newPKI(t, dir, "rogue")
		rcert, rkey := rogue.issue("gw-tls-0002", false)
		for name, opt := range map[string]Options{
			"certificate from another CA": {CertFile: rcert, KeyFile: rkey},
			"no certificate":              {},
		} {
			opt.Broker, opt.GatewayID, opt.CAFile = tlsURL, "gw-tls-0002", ca.caFile()
			box := boxWithAlert(t, "gw-tls-0002")
			u := runUplink(t, opt, box)
			time.Sleep(2 * time.Second)
			if u.Connects.Load() != 0 || u.Connected() {
				t.Errorf("%s: connected", name)
			}
			if box.Len() != 1 {
				t.Errorf("%s: alert left the outbox", name)
			}
		}
		select {
		case a := <-seen:
			t.Fatalf("refused gateway delivered %+v", a)
		default:
		}
	})
}
