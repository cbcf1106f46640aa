// Package broker is the embedded MQTT broker (mochi-mqtt) used when no external
// broker is configured. Authentication is on and denies by default: a gateway logs in
// with its ID and secret and may only touch its own topics; the cloud's own client
// uses a service credential made at start.
package broker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/shouwang-care/shouwang/cloud/credential"
	"github.com/shouwang-care/shouwang/firmware-protocol/mqttv1"
)

// Gateways looks up a gateway's secret hash.
type Gateways interface {
	GatewaySecretHash(ctx context.Context, id string) (string, error)
}

// Broker is a running embedded broker.
type Broker struct {
	srv *mqtt.Server
}

// Start listens on addr (host:port). service is the cloud's own login.
func Start(addr string, gateways Gateways, serviceUser, servicePassword string, log *slog.Logger) (*Broker, error) {
	srv := mqtt.New(&mqtt.Options{Logger: log.With("component", "broker"), InlineClient: false})
	hook := &authHook{gateways: gateways, user: serviceUser, password: servicePassword, log: log}
	if err := srv.AddHook(hook, nil); err != nil {
		return nil, fmt.Errorf("broker auth hook: %w", err)
	}
	if err := srv.AddListener(listeners.NewTCP(listeners.Config{ID: "tcp", Address: addr})); err != nil {
		return nil, fmt.Errorf("broker listen %s: %w", addr, err)
	}
	if err := srv.Serve(); err != nil {
		return nil, fmt.Errorf("broker serve: %w", err)
	}
	return &Broker{srv: srv}, nil
}

// Close stops the broker.
func (b *Broker) Close() error { return b.srv.Close() }

// AddGateway does nothing: the broker checks each login against the registry.
func (b *Broker) AddGateway(context.Context, string, string) error { return nil }

// RemoveGateway drops the gateway's live connection after a revocation; its next
// login is refused by the registry. The client ID is the gateway ID (OnConnectAuthenticate).
func (b *Broker) RemoveGateway(_ context.Context, id string) error {
	cl, ok := b.srv.Clients.Get(id)
	if !ok || cl.Closed() {
		return nil
	}
	err := b.srv.DisconnectClient(cl, packets.ErrNotAuthorized)
	if errors.Is(err, packets.ErrNotAuthorized) {
		return nil // DisconnectClient reports the reason it was given
	}
	return err
}

type authHook struct {
	mqtt.HookBase
	gateways       Gateways
	user, password string
	log            *slog.Logger
}

func (h *authHook) ID() string { return "shouwang-auth" }

func (h *authHook) Provides(b byte) bool {
	return bytes.Contains([]byte{mqtt.OnConnectAuthenticate, mqtt.OnACLCheck}, []byte{b})
}

func (h *authHook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	user, pass := string(pk.Connect.Username), string(pk.Connect.Password)
	if user == h.user {
		return credential.CheckSecret(credential.HashSecret(h.password), pass)
	}
	if mqttv1.ValidGatewayID(user) != nil || cl.ID != user {
		h.log.Warn("mqtt login refused: username must be the gateway ID and equal the client ID", "username", user, "client", cl.ID)
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	hash, err := h.gateways.GatewaySecretHash(ctx, user)
	if err != nil || !credential.CheckSecret(hash, pass) {
		h.log.Warn("mqtt login refused", "gateway", user, "err", err)
		return false
	}
	return true
}

// OnACLCheck lets a gateway publish only its upstream channels and subscribe only to
// its own config and ack: gateway A can neither speak as B nor read B's config.
func (h *authHook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	user := string(cl.Properties.Username)
	if user == h.user {
		return true
	}
	gw, ch, err := mqttv1.ParseTopic(topic)
	if err != nil || gw != user {
		return false
	}
	// Upstream channels are the gateway's to write; the others are its to read.
	return mqttv1.Specs[ch].Upstream == write
}
