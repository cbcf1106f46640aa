// Package dynsec keeps gateway logins in Mosquitto's dynamic-security plugin, so a
// claim makes a login at once and a revocation takes it away — and drops the live
// connection — without editing files on the broker host or restarting it. It talks
// to the plugin's control topic over MQTT, so any cloud replica can do it.
//
// Each gateway gets a client whose username and client ID are the gateway ID, and a
// role of the same name that lets it publish only its upstream channels and read only
// its own config and acks (the same rule as deploy/mosquitto/shouwang.acl).
package dynsec

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/shouwang-care/shouwang/firmware-protocol/mqttv1"
)

const (
	controlTopic  = "$CONTROL/dynamic-security/v1"
	responseTopic = controlTopic + "/response"
)

// Options say how to reach the broker as a client allowed to use the control topic
// (the plugin's "admin" role, or one with its ACLs).
type Options struct {
	Broker, ClientID, Username, Password string
}

// Client sends dynamic-security commands and waits for their answers.
type Client struct {
	c       mqtt.Client
	mu      sync.Mutex
	waiting map[string]chan response
	seq     atomic.Uint64
}

type command map[string]any

type response struct {
	Command         string          `json:"command"`
	Error           string          `json:"error"`
	CorrelationData string          `json:"correlationData"`
	Data            json.RawMessage `json:"data"`
}

// Dial connects and subscribes to the plugin's answers. It fails rather than retries
// at start: a wrong admin login is a configuration error to report.
func Dial(ctx context.Context, o Options) (*Client, error) {
	d := &Client{waiting: map[string]chan response{}}
	opts := mqtt.NewClientOptions().AddBroker(o.Broker).SetClientID(o.ClientID).
		SetUsername(o.Username).SetPassword(o.Password).
		SetCleanSession(true).SetAutoReconnect(true).SetMaxReconnectInterval(30 * time.Second).
		SetKeepAlive(30 * time.Second)
	opts.SetOnConnectHandler(func(cl mqtt.Client) {
		// Resubscribe on every (re)connect: the session is clean.
		cl.Subscribe(responseTopic, 1, d.receive)
	})
	d.c = mqtt.NewClient(opts)
	if err := wait(ctx, d.c.Connect()); err != nil {
		return nil, fmt.Errorf("dynamic security: connect %s as %s: %w", o.Broker, o.Username, err)
	}
	// The first subscription is made by the connect handler; make sure it is in place
	// before the first command, or its answer could be missed.
	if err := wait(ctx, d.c.Subscribe(responseTopic, 1, d.receive)); err != nil {
		d.c.Disconnect(0)
		return nil, fmt.Errorf("dynamic security: subscribe %s: %w", responseTopic, err)
	}
	return d, nil
}

// Close disconnects.
func (d *Client) Close() { d.c.Disconnect(250) }

func (d *Client) receive(_ mqtt.Client, m mqtt.Message) {
	var msg struct {
		Responses []response `json:"responses"`
	}
	if err := json.Unmarshal(m.Payload(), &msg); err != nil {
		return // not ours to judge; the waiting command times out with a clear error
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, r := range msg.Responses {
		if ch, ok := d.waiting[r.CorrelationData]; ok {
			ch <- r
			delete(d.waiting, r.CorrelationData)
		}
	}
}

// ServiceRole is the role the cloud's own login gets: read every gateway's upstream
// channels (shared subscriptions are checked without their $share/<group>/ prefix)
// and write each gateway's config and acks.
const ServiceRole = "shouwang-cloud"

// EnsureService gives the login username (the cloud's own, already holding the
// plugin's admin role from `mosquitto_ctrl dynsec init`) the ServiceRole, so an
// operator sets up the broker with one command and the cloud does the rest.
func (d *Client) EnsureService(ctx context.Context, username string) error {
	var acls []map[string]any
	for _, ch := range slices.Sorted(maps.Keys(mqttv1.Specs)) {
		topic := mqttv1.Topic("+", ch)
		if mqttv1.Specs[ch].Upstream {
			acls = append(acls,
				map[string]any{"acltype": "subscribePattern", "topic": topic, "allow": true},
				map[string]any{"acltype": "publishClientReceive", "topic": topic, "allow": true})
			continue
		}
		acls = append(acls, map[string]any{"acltype": "publishClientSend", "topic": topic, "allow": true})
	}
	if err := d.must(ctx, command{"command": "createRole", "rolename": ServiceRole, "acls": acls}, "Role already exists"); err != nil {
		return fmt.Errorf("cloud's broker role: %w", err)
	}
	has, err := d.hasRole(ctx, username, ServiceRole)
	if err != nil || has {
		return err
	}
	// The plugin drops a login whose roles change — this one — so the answer may be
	// lost ("Internal error" in 2.0.11). What counts is the role being there once the
	// client is back; this happens once in the broker's life, before ingest connects.
	actx, cancel := context.WithTimeout(ctx, 5*time.Second)
	d.do(actx, command{"command": "addClientRole", "username": username, "rolename": ServiceRole})
	cancel()
	var last error
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("cloud's broker login %s: role %s not granted: %w", username, ServiceRole, errors.Join(last, ctx.Err()))
		case <-time.After(500 * time.Millisecond):
		}
		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		has, last = d.hasRole(cctx, username, ServiceRole)
		cancel()
		if has {
			return nil
		}
		if last == nil {
			return fmt.Errorf("cloud's broker login %s: addClientRole %s did not take", username, ServiceRole)
		}
	}
}

func (d *Client) hasRole(ctx context.Context, username, role string) (bool, error) {
	r, err := d.doData(ctx, command{"command": "getClient", "username": username})
	if err != nil {
		return false, fmt.Errorf("cloud's broker login %s: %w", username, err)
	}
	var got struct {
		Client struct {
			Roles []struct {
				Rolename string `json:"rolename"`
			} `json:"roles"`
		} `json:"client"`
	}
	if err := json.Unmarshal(r, &got); err != nil {
		return false, fmt.Errorf("cloud's broker login %s: getClient answer: %w", username, err)
	}
	for _, r := range got.Client.Roles {
		if r.Rolename == role {
			return true, nil
		}
	}
	return false, nil
}

// doData runs cmd and returns its data, or the plugin's error as an error.
func (d *Client) doData(ctx context.Context, cmd command) (json.RawMessage, error) {
	r, err := d.roundTrip(ctx, cmd)
	if err != nil {
		return nil, err
	}
	if r.Error != "" {
		return nil, fmt.Errorf("%s: %s", cmd["command"], r.Error)
	}
	return r.Data, nil
}

// do sends one command and returns the plugin's error text ("" when it succeeded).
func (d *Client) do(ctx context.Context, cmd command) (string, error) {
	r, err := d.roundTrip(ctx, cmd)
	return r.Error, err
}

func (d *Client) roundTrip(ctx context.Context, cmd command) (response, error) {
	id := strconv.FormatUint(d.seq.Add(1), 10)
	cmd["correlationData"] = id
	ch := make(chan response, 1)
	d.mu.Lock()
	d.waiting[id] = ch
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		delete(d.waiting, id)
		d.mu.Unlock()
	}()
	body, err := json.Marshal(map[string]any{"commands": []command{cmd}})
	if err != nil {
		return response{}, err
	}
	if err := wait(ctx, d.c.Publish(controlTopic, 1, false, body)); err != nil {
		return response{}, fmt.Errorf("%s: publish: %w", cmd["command"], err)
	}
	select {
	case r := <-ch:
		return r, nil
	case <-ctx.Done():
		return response{}, fmt.Errorf("%s: no answer from the dynamic-security plugin (is it loaded, and may %s use %s?): %w",
			cmd["command"], "this login", controlTopic, ctx.Err())
	}
}

// must runs cmd; an error text in ok is accepted as success (e.g. "already exists"
// when making something idempotently).
func (d *Client) must(ctx context.Context, cmd command, ok ...string) error {
	msg, err := d.do(ctx, cmd)
	if err != nil {
		return err
	}
	if msg == "" {
		return nil
	}
	for _, o := range ok {
		if msg == o {
			return nil
		}
	}
	return fmt.Errorf("%s: %s", cmd["command"], msg)
}

// ACLs of a gateway's role: its upstream channels to publish, the others to read.
func gatewayACLs(id string) []map[string]any {
	var acls []map[string]any
	for _, ch := range slices.Sorted(maps.Keys(mqttv1.Specs)) {
		topic := mqttv1.Topic(id, ch)
		if mqttv1.Specs[ch].Upstream {
			acls = append(acls, map[string]any{"acltype": "publishClientSend", "topic": topic, "allow": true})
			continue
		}
		acls = append(acls,
			map[string]any{"acltype": "subscribeLiteral", "topic": topic, "allow": true},
			map[string]any{"acltype": "publishClientReceive", "topic": topic, "allow": true})
	}
	return acls
}

// AddGateway makes (or renews) the gateway's login with password. A renewed login
// drops a connection made with the old password.
func (d *Client) AddGateway(ctx context.Context, id, password string) error {
	if err := mqttv1.ValidGatewayID(id); err != nil {
		return fmt.Errorf("add gateway login: %w", err)
	}
	if err := d.must(ctx, command{"command": "createRole", "rolename": id, "acls": gatewayACLs(id)}, "Role already exists"); err != nil {
		return fmt.Errorf("add gateway %s login: %w", id, err)
	}
	msg, err := d.do(ctx, command{"command": "createClient", "username": id, "clientid": id, "password": password,
		"roles": []map[string]any{{"rolename": id}}})
	if err != nil {
		return fmt.Errorf("add gateway %s login: %w", id, err)
	}
	switch msg {
	case "":
		return nil
	case "Client already exists":
		// Made together with its role, so only the password is new.
		if err := d.must(ctx, command{"command": "setClientPassword", "username": id, "password": password}); err != nil {
			return fmt.Errorf("renew gateway %s login: %w", id, err)
		}
		return nil
	}
	return fmt.Errorf("add gateway %s login: createClient: %s", id, msg)
}

// RemoveGateway deletes the gateway's login; the plugin disconnects it at once.
// Removing a login that is not there is not an error (a retried revocation).
func (d *Client) RemoveGateway(ctx context.Context, id string) error {
	if err := d.must(ctx, command{"command": "deleteClient", "username": id}, "Client not found"); err != nil {
		return fmt.Errorf("remove gateway %s login: %w", id, err)
	}
	if err := d.must(ctx, command{"command": "deleteRole", "rolename": id}, "Role not found"); err != nil {
		return fmt.Errorf("remove gateway %s role: %w", id, err)
	}
	return nil
}

func wait(ctx context.Context, t mqtt.Token) error {
	select {
	case <-t.Done():
		return t.Error()
	case <-ctx.Done():
		return errors.Join(ctx.Err(), errors.New("broker did not answer"))
	}
}
