package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	cloudconfig "github.com/shouwang-care/shouwang/cloud/config"
	"github.com/shouwang-care/shouwang/cloud/store"
	"github.com/shouwang-care/shouwang/internal/testinfra"
)

// gatewayConn is a gateway's raw MQTT session, to watch it being dropped.
type gatewayConn struct {
	c    mqtt.Client
	lost chan error
}

func dialGateway(t *testing.T, broker, gw, password string) (*gatewayConn, error) {
	t.Helper()
	g := &gatewayConn{lost: make(chan error, 1)}
	o := mqtt.NewClientOptions().AddBroker(broker).SetClientID(gw).SetUsername(gw).SetPassword(password).
		SetAutoReconnect(false).SetConnectTimeout(5 * time.Second)
	o.SetConnectionLostHandler(func(_ mqtt.Client, err error) { g.lost <- err })
	g.c = mqtt.NewClient(o)
	tok := g.c.Connect()
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		return nil, fmt.Errorf("connect %s: %v", gw, tok.Error())
	}
	t.Cleanup(func() { g.c.Disconnect(0) })
	return g, nil
}

func postJSON(t *testing.T, hc *http.Client, url, body string) (int, map[string]any) {
	t.Helper()
	r, err := hc.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	var out map[string]any
	json.NewDecoder(r.Body).Decode(&out)
	return r.StatusCode, out
}

// revoke revokes gw as admin and checks the live session goes at once.
func revoke(t *testing.T, c *cloud, hc *http.Client, g *gatewayConn, gw string) {
	t.Helper()
	if code, body := postJSON(t, hc, c.svc.URL()+"api/v1/gateways/"+gw+"/revoke", ""); code != 200 || body["disconnected"] != true {
		t.Fatalf("revoke: %d %v", code, body)
	}
	select {
	case <-g.lost:
	case <-time.After(10 * time.Second):
		t.Fatal("the revoked gateway's live connection was not dropped")
	}
}

// With the embedded broker, revoking a gateway drops its live connection and its
// next login is refused.
func TestRevokeDropsLiveConnectionEmbedded(t *testing.T) {
	c := newCloud(t, nil)
	secret := c.seed("gw-rev-0001")
	broker := "tcp://" + c.cfg.MQTT.Listen
	g, err := dialGateway(t, broker, "gw-rev-0001", secret)
	if err != nil {
		t.Fatal(err)
	}
	revoke(t, c, c.client(), g, "gw-rev-0001")
	if _, err := dialGateway(t, broker, "gw-rev-0001", secret); err == nil {
		t.Error("revoked gateway logged in again")
	}
}

// With Mosquitto and its dynamic-security plugin, set up as the operator guide says
// (one `mosquitto_ctrl dynsec init` naming the cloud's login), a claim makes the
// gateway's broker login — a real edge then gets an alert dispatched — and a
// revocation drops the live connection and the login.
func TestClaimAndRevokeWithMosquittoDynamicSecurity(t *testing.T) {
	if testing.Short() {
		t.Skip("needs mosquitto: skipped with -short")
	}
	mq := testinfra.Mosquitto(t, testinfra.WithDynamicSecurity(t, "shouwang-cloud", "cloud-secret"))
	c := newCloud(t, func(cfg *cloudconfig.Config) {
		cfg.Database = testinfra.Postgres(t)
		cfg.MQTT.Broker, cfg.MQTT.Username, cfg.MQTT.Password = mq.Addr, "shouwang-cloud", "cloud-secret"
		cfg.MQTT.DynamicSecurity = true
	})
	ctx := context.Background()
	s := c.svc.Store
	for _, err := range []error{
		s.PutGrid(ctx, store.Grid{ID: "grid-1", Name: "望江 3"}),
		s.PutWorker(ctx, store.Worker{ID: "w-1", GridID: "grid-1", Name: "李网格员", Phone: "13800000000", OnDuty: true}),
		s.PutHome(ctx, store.Home{ID: "home-1", GridID: "grid-1", Address: "3-2-301", ResidentName: "王秀英"}),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	hc := c.client()
	code, body := postJSON(t, hc, c.svc.URL()+"api/v1/homes/home-1/claim-codes", "")
	if code != 201 {
		t.Fatalf("claim code: %d %v", code, body)
	}
	claimCode := body["code"].(string)
	if code, _ := postJSON(t, http.DefaultClient, c.svc.URL()+"api/v1/claim", fmt.Sprintf(`{"code":"WRONG-CODE","gateway_id":"gw-dyn-0001"}`)); code < 400 {
		t.Fatalf("a wrong code claimed: %d", code)
	}
	code, body = postJSON(t, http.DefaultClient, c.svc.URL()+"api/v1/claim", fmt.Sprintf(`{"code":%q,"gateway_id":"gw-dyn-0001"}`, claimCode))
	if code != 200 {
		t.Fatalf("claim: %d %v", code, body)
	}
	password := body["mqtt_password"].(string)

	// The edge logs in with what the claim gave it; its alert is dispatched.
	e := newEdge(t, "gw-dyn-0001", mq.Addr, password, t.TempDir())
	checkDispatched(t, c, hc, "no_water")
	e.stop()

	g, err := dialGateway(t, mq.Addr, "gw-dyn-0001", password)
	if err != nil {
		t.Fatal(err)
	}
	revoke(t, c, hc, g, "gw-dyn-0001")
	if _, err := dialGateway(t, mq.Addr, "gw-dyn-0001", password); err == nil {
		t.Error("revoked gateway logged in to Mosquitto again")
	}
}
