// Package emqx lets an EMQX 5.8 cluster take its gateway logins from the registry, so
// a claim works at once and a revocation ends the login and the live connection, as
// the embedded broker and Mosquitto's dynamic-security plugin do.
//
// EMQX asks the cloud at each gateway connect (its HTTP authenticator, Authn below)
// and gets back, with "allow", the gateway's own ACL: publish on its upstream
// channels, subscribe to its own config and acks, nothing else. The registry is the
// only copy of the credentials, so there is nothing to keep in step. A revocation
// also kicks the live session through EMQX's REST API (API below).
package emqx

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shouwang-care/shouwang/cloud/credential"
	"github.com/shouwang-care/shouwang/cloud/store"
	"github.com/shouwang-care/shouwang/firmware-protocol/mqttv1"
)

// Gateways looks up a gateway's secret hash; a revoked gateway has none.
type Gateways interface {
	GatewaySecretHash(ctx context.Context, id string) (string, error)
}

// Authn answers EMQX's HTTP authenticator.
type Authn struct {
	gateways Gateways
	bearer   []byte // the whole Authorization header EMQX sends
	service  string
	log      *slog.Logger
	results  *prometheus.CounterVec
}

// NewAuthn serves EMQX requests that carry "Authorization: Bearer <token>". service
// is the cloud's own login, which EMQX checks elsewhere (its built-in database).
func NewAuthn(gateways Gateways, token, service string, log *slog.Logger) *Authn {
	return &Authn{gateways: gateways, bearer: []byte("Bearer " + token), service: service, log: log,
		results: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shouwang_emqx_authn_total",
			Help: "EMQX gateway login checks answered, by result (allow, deny, ignore, error).",
		}, []string{"result"})}
}

// Collectors returns the authenticator's metrics.
func (a *Authn) Collectors() []prometheus.Collector { return []prometheus.Collector{a.results} }

// Request is the body EMQX sends, as set in deploy/scale/emqx/emqx.conf.
type Request struct {
	ClientID string `json:"clientid"`
	Username string `json:"username"`
	Password string `json:"password"`
}

// Response is EMQX 5.8's authentication result; ACL is checked before every other
// authorization source.
type Response struct {
	Result      string `json:"result"` // allow, deny, ignore
	IsSuperuser bool   `json:"is_superuser"`
	ACL         []Rule `json:"acl,omitempty"`
}

// Rule is one entry of the ACL in EMQX's "new format" (5.5+).
type Rule struct {
	Permission string `json:"permission"` // allow, deny
	Action     string `json:"action"`     // publish, subscribe, all
	Topic      string `json:"topic"`
}

// GatewayACL is what gateway gw may do: the rule of deploy/mosquitto/shouwang.acl and
// of the embedded broker, ending in a deny of everything else so that no later
// authorization source can widen it. ("#" does not match topics that start with
// "$", such as $SYS; those fall to acl.conf, which ends in {deny, all}, and to
// no_match = deny.)
func GatewayACL(gw string) []Rule {
	var acl []Rule
	for _, ch := range []mqttv1.Channel{mqttv1.ChTelemetry, mqttv1.ChAlert, mqttv1.ChStatus, mqttv1.ChHeartbeat, mqttv1.ChConfig, mqttv1.ChAck} {
		action := "subscribe"
		if mqttv1.Specs[ch].Upstream {
			action = "publish"
		}
		acl = append(acl, Rule{Permission: "allow", Action: action, Topic: mqttv1.Topic(gw, ch)})
	}
	return append(acl, Rule{Permission: "deny", Action: "all", Topic: "#"})
}

// Handle is the fiber handler for POST from EMQX. Names that are not gateways in the
// registry (the cloud's own login among them) get "ignore", so EMQX goes on down its
// authenticator chain; a known gateway gets "allow" or "deny". A failed look-up
// answers 503, which EMQX also takes as "ignore": with the chain of
// deploy/scale/emqx/emqx.conf a gateway is then refused, never let in.
func (a *Authn) Handle(c *fiber.Ctx) error {
	if subtle.ConstantTimeCompare([]byte(c.Get(fiber.HeaderAuthorization)), a.bearer) != 1 {
		a.results.WithLabelValues("error").Inc()
		a.log.Warn("emqx authn: request without the configured bearer token", "ip", c.IP())
		return c.Status(fiber.StatusUnauthorized).JSON(fiber.Map{"error": "missing or wrong bearer token (mqtt.emqx.authn_token_file)"})
	}
	var req Request
	if err := json.Unmarshal(c.Body(), &req); err != nil {
		a.results.WithLabelValues("error").Inc()
		return c.Status(fiber.StatusBadRequest).JSON(fiber.Map{"error": `body must be JSON {"clientid","username","password"}: ` + err.Error()})
	}
	res, err := a.check(c.UserContext(), req)
	if err != nil {
		a.results.WithLabelValues("error").Inc()
		a.log.Error("emqx authn", "gateway", req.Username, "err", err)
		return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"error": "registry unavailable"})
	}
	a.results.WithLabelValues(res.Result).Inc()
	return c.JSON(res)
}

func (a *Authn) check(ctx context.Context, req Request) (Response, error) {
	if req.Username == a.service || mqttv1.ValidGatewayID(req.Username) != nil {
		return Response{Result: "ignore"}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	hash, err := a.gateways.GatewaySecretHash(ctx, req.Username)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return Response{Result: "ignore"}, nil
	case err != nil:
		return Response{}, fmt.Errorf("look up gateway %s: %w", req.Username, err)
	}
	if req.ClientID != req.Username {
		// The session is the gateway's: another client ID would let a second
		// session live beside it, and kicks go by client ID.
		a.log.Warn("emqx login refused: client ID must equal the gateway ID", "gateway", req.Username, "client", req.ClientID)
		return Response{Result: "deny"}, nil
	}
	if !credential.CheckSecret(hash, req.Password) {
		a.log.Warn("emqx login refused: wrong secret or revoked", "gateway", req.Username)
		return Response{Result: "deny"}, nil
	}
	return Response{Result: "allow", ACL: GatewayACL(req.Username)}, nil
}

// API is EMQX's management REST API, as much of it as a revocation needs.
type API struct {
	base        string
	key, secret string
	hc          *http.Client
}

// NewAPI talks to the API at base (http://emqx:18083) with an API key
// (Dashboard → System → API Key).
func NewAPI(base, key, secret string) *API {
	return &API{base: strings.TrimRight(base, "/"), key: key, secret: secret, hc: &http.Client{Timeout: 10 * time.Second}}
}

// AddGateway does nothing: EMQX asks the registry at each connect.
func (*API) AddGateway(context.Context, string, string) error { return nil }

// RemoveGateway kicks the gateway's session anywhere in the cluster; its next
// connect is refused by the registry. A gateway not connected is not an error.
func (a *API) RemoveGateway(ctx context.Context, id string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, a.base+"/api/v5/clients/"+url.PathEscape(id), nil)
	if err != nil {
		return fmt.Errorf("emqx: kick %s: %w", id, err)
	}
	req.SetBasicAuth(a.key, a.secret)
	resp, err := a.hc.Do(req)
	if err != nil {
		return fmt.Errorf("emqx: kick %s: %w", id, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	switch {
	case resp.StatusCode == http.StatusNoContent || resp.StatusCode == http.StatusOK:
		return nil
	case resp.StatusCode == http.StatusNotFound && strings.Contains(string(body), "CLIENTID_NOT_FOUND"):
		return nil
	}
	return fmt.Errorf("emqx: kick %s: DELETE /api/v5/clients/%s answered %s: %s", id, id, resp.Status, strings.TrimSpace(string(body)))
}
