package dynsec

import (
	"context"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/shouwang-care/shouwang/internal/testinfra"
)

func TestMain(m *testing.M) { testinfra.Main(m) }

// broker starts a real mosquitto with the dynamic-security plugin, initialised by
// mosquitto_ctrl with an admin login, and returns it with a connected Client.
func broker(t *testing.T) (*testinfra.MosquittoServer, *Client) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs mosquitto: skipped with -short")
	}
	m := testinfra.Mosquitto(t, testinfra.WithDynamicSecurity(t, "admin", "admin-secret"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := Dial(ctx, Options{Broker: m.Addr, ClientID: "cloud-dynsec", Username: "admin", Password: "admin-secret"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	return m, d
}

type conn struct {
	c    mqtt.Client
	lost chan error
	got  chan string
}

func connect(t *testing.T, addr, user, clientID, password string) (*conn, error) {
	t.Helper()
	cn := &conn{lost: make(chan error, 1), got: make(chan string, 10)}
	o := mqtt.NewClientOptions().AddBroker(addr).SetClientID(clientID).SetUsername(user).SetPassword(password).
		SetAutoReconnect(false).SetConnectTimeout(5 * time.Second)
	o.SetConnectionLostHandler(func(_ mqtt.Client, err error) { cn.lost <- err })
	cn.c = mqtt.NewClient(o)
	tok := cn.c.Connect()
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		return nil, tok.Error()
	}
	t.Cleanup(func() { cn.c.Disconnect(0) })
	return cn, nil
}

func (cn *conn) subscribe(t *testing.T, filter string) byte {
	t.Helper()
	tok := cn.c.Subscribe(filter, 1, func(_ mqtt.Client, m mqtt.Message) { cn.got <- m.Topic() + " " + string(m.Payload()) })
	if !tok.WaitTimeout(10 * time.Second) {
		t.Fatalf("subscribe %s: no answer", filter)
	}
	return tok.(*mqtt.SubscribeToken).Result()[filter]
}

func (cn *conn) publish(t *testing.T, topic, payload string) {
	t.Helper()
	tok := cn.c.Publish(topic, 1, false, payload)
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

// A claimed gateway logs in and is confined to its own topics; revocation drops its
// live connection at once and it cannot come back; a renewed login retires the old
// password.
func TestGatewayLoginLifecycle(t *testing.T) {
	m, d := broker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	// A reader standing in for the cloud: a plugin client with a role of its own.
	if err := d.must(ctx, command{"command": "createRole", "rolename": "reader", "acls": []map[string]any{
		{"acltype": "subscribePattern", "topic": "shouwang/#", "allow": true},
		{"acltype": "publishClientSend", "topic": "shouwang/v1/gw/+/config", "allow": true},
	}}); err != nil {
		t.Fatal(err)
	}
	if err := d.must(ctx, command{"command": "createClient", "username": "reader", "password": "reader-secret", "roles": []map[string]any{{"rolename": "reader"}}}); err != nil {
		t.Fatal(err)
	}
	reader, err := connect(t, m.Addr, "reader", "reader", "reader-secret")
	if err != nil {
		t.Fatal(err)
	}
	if rc := reader.subscribe(t, "shouwang/#"); rc > 2 {
		t.Fatalf("reader subscribe: %#x", rc)
	}

	for _, id := range []string{"gw-a-0001", "gw-b-0001"} {
		if err := d.AddGateway(ctx, id, "pw-"+id); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := connect(t, m.Addr, "gw-a-0001", "someone-else", "pw-gw-a-0001"); err == nil {
		t.Error("gateway login with another client ID was accepted")
	}
	if _, err := connect(t, m.Addr, "gw-a-0001", "gw-a-0001", "pw-gw-b-0001"); err == nil {
		t.Error("gateway login with another gateway's password was accepted")
	}
	a, err := connect(t, m.Addr, "gw-a-0001", "gw-a-0001", "pw-gw-a-0001")
	if err != nil {
		t.Fatalf("claimed gateway cannot log in: %v", err)
	}
	if rc := a.subscribe(t, "shouwang/v1/gw/gw-b-0001/config"); rc != 0x80 {
		t.Errorf("gw-a subscribing to gw-b's config: granted %#x, want refusal 0x80", rc)
	}
	if rc := a.subscribe(t, "shouwang/v1/gw/gw-a-0001/config"); rc > 2 {
		t.Errorf("gw-a subscribing to its own config: %#x", rc)
	}
	a.publish(t, "shouwang/v1/gw/gw-b-0001/alert", "spoofed")
	a.publish(t, "shouwang/v1/gw/gw-a-0001/alert", "mine")
	reader.publish(t, "shouwang/v1/gw/gw-a-0001/config", "cfg")
	select {
	case got := <-reader.got:
		if got != "shouwang/v1/gw/gw-a-0001/alert mine" {
			t.Errorf("reader got %q first, want gw-a's own alert (the spoofed one must be dropped)", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("gw-a's alert never reached the reader")
	}
	select {
	case got := <-a.got:
		if got != "shouwang/v1/gw/gw-a-0001/config cfg" {
			t.Errorf("gw-a got %q", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("gw-a never got its config")
	}

	// Revoke: the live connection goes now, not at the next reconnect.
	if err := d.RemoveGateway(ctx, "gw-a-0001"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-a.lost:
	case <-time.After(10 * time.Second):
		t.Fatal("revoked gateway still connected")
	}
	if _, err := connect(t, m.Addr, "gw-a-0001", "gw-a-0001", "pw-gw-a-0001"); err == nil {
		t.Error("revoked gateway logged in again")
	}
	if err := d.RemoveGateway(ctx, "gw-a-0001"); err != nil {
		t.Errorf("revoking twice: %v", err)
	}

	// Renew gw-b's login (a re-claim): the connection made with the old password goes,
	// the old password stops working, the new one works.
	b, err := connect(t, m.Addr, "gw-b-0001", "gw-b-0001", "pw-gw-b-0001")
	if err != nil {
		t.Fatal(err)
	}
	if err := d.AddGateway(ctx, "gw-b-0001", "pw2"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-b.lost:
	case <-time.After(10 * time.Second):
		t.Error("connection with the old password survived the renewal")
	}
	if _, err := connect(t, m.Addr, "gw-b-0001", "gw-b-0001", "pw-gw-b-0001"); err == nil {
		t.Error("old password still accepted after renewal")
	}
	if _, err := connect(t, m.Addr, "gw-b-0001", "gw-b-0001", "pw2"); err != nil {
		t.Errorf("renewed login refused: %v", err)
	}
	if err := d.AddGateway(ctx, "GW/bad", "x"); err == nil {
		t.Error("a gateway ID with a topic separator was accepted")
	}
}

// A login without the plugin's admin role gets a clear error, not a hang.
func TestDialWrongLogin(t *testing.T) {
	m, _ := broker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := Dial(ctx, Options{Broker: m.Addr, ClientID: "x", Username: "admin", Password: "wrong"}); err == nil {
		t.Fatal("wrong admin password accepted")
	}
}
