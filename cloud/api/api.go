// Package api is the cloud's HTTP face: the JSON API under /api/v1, live updates as
// server-sent events, the embedded web app, /healthz and /metrics.
package api

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/gofiber/fiber/v2/middleware/filesystem"
	"github.com/google/uuid"

	"github.com/shouwang-care/shouwang/cloud/authz"
	"github.com/shouwang-care/shouwang/cloud/credential"
	"github.com/shouwang-care/shouwang/cloud/live"
	"github.com/shouwang-care/shouwang/cloud/registry"
	"github.com/shouwang-care/shouwang/cloud/store"
	"github.com/shouwang-care/shouwang/cloud/telemetry"
	"github.com/shouwang-care/shouwang/firmware-protocol/mqttv1"
)

// Store is what the API reads and writes.
type Store interface {
	Alerts(ctx context.Context, limit int) ([]store.Alert, error)
	UserByName(ctx context.Context, username string) (store.User, error)
	CreateSession(ctx context.Context, tokenHash, userID string, expires time.Time) error
	SessionUser(ctx context.Context, tokenHash string, now time.Time) (store.User, error)
	DeleteSession(ctx context.Context, tokenHash string) error
	Incidents(ctx context.Context, openOnly bool, limit int) ([]store.Incident, error)
	Incident(ctx context.Context, id string) (store.Incident, error)
	Act(ctx context.Context, id string, a store.Action, now time.Time) error
	KPIsIn(ctx context.Context, sc store.Scope, since, now time.Time) (store.KPIs, error)
	GatewaysIn(ctx context.Context, sc store.Scope, limit, offset int) ([]store.GatewayHealth, error)
	EscalationsIn(ctx context.Context, sc store.Scope, since time.Time, limit int) ([]store.Escalation, error)
	VerifyAudit(ctx context.Context) (int, error)
	AlertsIn(ctx context.Context, sc store.Scope, limit int) ([]store.Alert, error)
	IncidentsIn(ctx context.Context, sc store.Scope, p store.IncidentPage) ([]store.Incident, *store.IncidentCursor, error)
	SetPrivacy(ctx context.Context, homeID, kind string, roles []string, by string, now time.Time) error
	AuditLog(ctx context.Context, home string, limit int) ([]store.AuditEntry, error)
	PutHomeSettings(ctx context.Context, homeID string, set store.HomeSettings, by string, now time.Time) (store.HomeConfig, error)
	HomeConfigs(ctx context.Context, homeID string) ([]store.HomeConfig, error)
	CreateInvite(ctx context.Context, codeHash, homeID, relation, by string, now time.Time, ttl time.Duration) error
	AcceptInvite(ctx context.Context, codeHash string, u store.User, now time.Time) (string, error)
	GatewayOfHome(ctx context.Context, homeID string) (string, error)
	HomeStatus(ctx context.Context, homeID string, now time.Time) (store.HomeStatus, error)
	ResidentHome(ctx context.Context, residentID string) (string, error)
	ResidentMedical(ctx context.Context, residentID string) (string, error)
	HomeResidents(ctx context.Context, homeID string) ([]store.Resident, error)
	SetPassword(ctx context.Context, userID, hash, keepSession string) error
	ExportHome(ctx context.Context, homeID string, now time.Time) (store.HomeExport, error)
	EraseHome(ctx context.Context, homeID, by, reason string, now time.Time) ([]string, error)
	CreateAPIToken(ctx context.Context, tokenHash, userID, name string, now time.Time) error
	TokenUser(ctx context.Context, tokenHash string, now time.Time) (store.User, error)
	CreateUser(ctx context.Context, u store.User) error
	LinkUserHome(ctx context.Context, userID, homeID, relation string) error
	AccessStore
	FamilyStore
}

// Live is the stream of updates.
type Live interface {
	Subscribe() (<-chan live.Message, func())
	Publish(event string, v any)
	Done() <-chan struct{}
}

// Server holds the handlers' dependencies.
type Server struct {
	store    Store
	access   AccessStore
	live     Live
	log      *slog.Logger
	ready    func() error
	throttle *throttle
	// requestTimeout bounds each request's database and telemetry work.
	requestTimeout time.Duration
	// Telemetry answers chart queries (InfluxDB or the embedded store); nil: no charts.
	Telemetry interface {
		Query(ctx context.Context, gateway, sensor string, from, to time.Time, every time.Duration) (telemetry.Series, error)
		Erase(ctx context.Context, gateway string) error
	}
	// Changed, when set, hears of every closed-loop step (to tell the family). It
	// must not block.
	Changed func(inc store.Incident, action string)
	// Configs pushes a home's settings to its gateway; nil leaves them stored only.
	Configs interface {
		PublishConfig(ctx context.Context, cfg mqttv1.Config) error
	}
	// Registry serves the registry routes (nil with a store that has none).
	Registry *registry.Handlers
	// NotifyMedia are the channels a family member may choose (cloud/paging's
	// Media); nil: in-app only.
	NotifyMedia []string
	// PushKey is the VAPID public key when Web Push is set up.
	PushKey string
	// SecureCookies marks the session cookie Secure; on in production behind TLS,
	// off for the loopback demo where browsers would drop a Secure cookie on http.
	SecureCookies bool
	// Base is the parent of every request's context; the service cancels it at
	// shutdown. Not fasthttp's RequestCtx: its Done races with server shutdown.
	Base context.Context
}

const sessionCookie = "shouwang_session"
const sessionTTL = 12 * time.Hour

// New builds the fiber app. ready reports whether the service can do its job
// (database reachable, broker connected) for /healthz.
func New(s Store, live Live, static fs.FS, metrics http.Handler, ready func() error, log *slog.Logger) (*fiber.App, *Server) {
	srv := &Server{store: s, access: s, live: live, log: log, ready: ready, throttle: newThrottle(5, time.Minute), requestTimeout: 30 * time.Second}
	app := fiber.New(fiber.Config{
		// Values from a request outlive handlers (SSE, logs): copy them.
		Immutable:             true,
		DisableStartupMessage: true,
		ReadTimeout:           30 * time.Second,
		// A community's registry CSV (POST /registry/import) is a few hundred KB.
		BodyLimit: 4 << 20,
		ErrorHandler: func(c *fiber.Ctx, err error) error {
			var fe *fiber.Error
			if errors.As(err, &fe) {
				return jsonError(c, fe.Code, codeFor(fe.Code), fe.Message, "")
			}
			if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
				log.Warn("http handler gave up", "path", c.Path(), "err", err)
				return jsonError(c, fiber.StatusServiceUnavailable, "unavailable", "the request took too long; please retry", "")
			}
			log.Error("http handler", "path", c.Path(), "err", err)
			return jsonError(c, fiber.StatusInternalServerError, "internal", "internal error", "")
		},
	})
	app.Use(func(c *fiber.Ctx) error {
		// Everything is served from this binary: nothing else may run or be framed.
		c.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
		c.Set("X-Content-Type-Options", "nosniff")
		c.Set("Referrer-Policy", "no-referrer")
		return c.Next()
	})
	app.Use(func(c *fiber.Ctx) error {
		// fasthttp does not tell a handler that its client went away, so every request
		// gets a deadline: a query left running for a dropped phone ends, and the
		// request context is cancelled at shutdown. The live stream sets its own.
		base := srv.Base
		if base == nil {
			base = context.Background()
		}
		ctx, cancel := context.WithTimeout(base, srv.requestTimeout)
		defer cancel()
		c.SetUserContext(ctx)
		return c.Next()
	})
	app.Get("/healthz", srv.healthz)
	app.Get("/metrics", adaptor.HTTPHandler(metrics))
	v1 := app.Group("/api/v1")
	v1.Get("/openapi.yaml", serveSpec)
	v1.Post("/login", srv.login)
	v1.Post("/logout", srv.logout)
	v1.Get("/me", srv.auth, srv.me)
	v1.Post("/password", srv.auth, srv.password)
	v1.Post("/tokens", srv.auth, srv.token)
	v1.Get("/me/homes", srv.auth, srv.can(authz.ReadFollowed), srv.myHomes)
	v1.Get("/me/notifications", srv.auth, srv.can(authz.ChooseNotifications), srv.notifications)
	v1.Put("/me/notifications", srv.auth, srv.can(authz.ChooseNotifications), srv.putNotifications)
	v1.Get("/me/notices", srv.auth, srv.can(authz.ChooseNotifications), srv.notices)
	v1.Get("/alerts", srv.auth, srv.can(authz.ReadAlerts), srv.alerts)
	v1.Get("/events", srv.auth, srv.can(authz.ReadAlerts), srv.events)
	v1.Get("/incidents", srv.auth, srv.can(authz.ReadIncidents), srv.incidents)
	v1.Get("/incidents/:id", srv.auth, srv.can(authz.ReadIncidents), srv.incident)
	v1.Post("/incidents/:id/:action", srv.auth, srv.act)
	v1.Get("/kpis", srv.auth, srv.can(authz.ReadKPIs), srv.kpis)
	v1.Get("/homes/:id/privacy", srv.auth, srv.can(authz.ReadPrivacy), srv.privacy)
	v1.Put("/homes/:id/privacy", srv.auth, srv.can(authz.WritePrivacy), srv.setPrivacy)
	v1.Get("/audit", srv.auth, srv.can(authz.ReadAudit), srv.auditLog)
	v1.Get("/audit/verify", srv.auth, srv.can(authz.VerifyAudit), srv.verifyAudit)
	v1.Get("/gateways", srv.auth, srv.can(authz.ReadGateways), srv.gateways)
	v1.Get("/escalations", srv.auth, srv.can(authz.ReadEscalations), srv.escalations)
	v1.Post("/users", srv.auth, srv.can(authz.ManageUsers), srv.createUser)
	v1.Post("/homes/:id/invites", srv.auth, srv.can(authz.InviteFamily), srv.invite)
	v1.Post("/invites/accept", srv.acceptInvite)
	v1.Get("/homes/:id/export", srv.auth, srv.can(authz.ExportData), srv.export)
	v1.Post("/homes/:id/erase", srv.auth, srv.can(authz.EraseData), srv.erase)
	v1.Get("/residents/:id/medical", srv.auth, srv.can(authz.ReadMedical), srv.medical)
	v1.Get("/homes/:id/contacts", srv.auth, srv.can(authz.ReadContacts), srv.contacts)
	v1.Get("/homes/:id/status", srv.auth, srv.can(authz.ReadTelemetry), srv.homeStatus)
	v1.Get("/homes/:id/telemetry", srv.auth, srv.can(authz.ReadTelemetry), srv.telemetry)
	v1.Get("/homes/:id/settings", srv.auth, srv.can(authz.ReadSettings), srv.settings)
	v1.Put("/homes/:id/settings", srv.auth, srv.can(authz.WriteSettings), srv.putSettings)
	if rs, ok := s.(registry.Store); ok { // the full store has the registry; test fakes go without
		srv.Registry = registry.Routes(v1, srv.auth, rs, log)
	}
	v1.Use(func(c *fiber.Ctx) error {
		return jsonError(c, fiber.StatusNotFound, "not_found", "no such API route: "+c.Method()+" "+c.Path(), "")
	})
	app.Use("/", filesystem.New(filesystem.Config{Root: http.FS(static), Index: "index.html"}))
	return app, srv
}

func codeFor(status int) string {
	switch status {
	case 400:
		return "bad_request"
	case 401:
		return "unauthorized"
	case 403:
		return "forbidden"
	case 404:
		return "not_found"
	case 409:
		return "conflict"
	case 429:
		return "too_many_requests"
	}
	return "error"
}

// jsonError is the one error shape of the API: {"error":{code, message, field}}.
func jsonError(c *fiber.Ctx, status int, code, msg, field string) error {
	e := fiber.Map{"code": code, "message": msg}
	if field != "" {
		e["field"] = field
	}
	return c.Status(status).JSON(fiber.Map{"error": e})
}

func (s *Server) healthz(c *fiber.Ctx) error {
	if err := s.ready(); err != nil {
		return c.Status(fiber.StatusServiceUnavailable).SendString("not ready: " + err.Error())
	}
	return c.SendString("ok")
}

type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

func (s *Server) login(c *fiber.Ctx) error {
	var req loginRequest
	if err := c.BodyParser(&req); err != nil {
		return jsonError(c, fiber.StatusBadRequest, "bad_request", "body must be JSON {username, password}: "+err.Error(), "")
	}
	if req.Username == "" {
		return jsonError(c, fiber.StatusBadRequest, "bad_request", "username is empty", "username")
	}
	key := c.IP() + "|" + req.Username
	if !s.throttle.allow(key) {
		return jsonError(c, fiber.StatusTooManyRequests, "too_many_requests", "too many failed logins; wait a minute", "")
	}
	u, err := s.store.UserByName(c.UserContext(), req.Username)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if err != nil || !credential.CheckPassword(u.PasswordHash, req.Password) {
		s.throttle.fail(key)
		s.log.Warn("login failed", "username", req.Username, "ip", c.IP())
		return jsonError(c, fiber.StatusUnauthorized, "unauthorized", "wrong username or password", "")
	}
	s.throttle.reset(key)
	token := make([]byte, 32)
	rand.Read(token)
	tok := hex.EncodeToString(token)
	if err := s.store.CreateSession(c.UserContext(), credential.HashSecret(tok), u.ID, time.Now().Add(sessionTTL)); err != nil {
		return err
	}
	c.Cookie(&fiber.Cookie{Name: sessionCookie, Value: tok, Path: "/", HTTPOnly: true, Secure: s.SecureCookies,
		SameSite: fiber.CookieSameSiteStrictMode, MaxAge: int(sessionTTL / time.Second)})
	out, err := s.selfJSON(c, u)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"user": out})
}

func (s *Server) logout(c *fiber.Ctx) error {
	if tok := c.Cookies(sessionCookie); tok != "" {
		if err := s.store.DeleteSession(c.UserContext(), credential.HashSecret(tok)); err != nil {
			return err
		}
	}
	c.ClearCookie(sessionCookie)
	return c.SendStatus(fiber.StatusNoContent)
}

// auth admits requests with a live session cookie or an API token
// (Authorization: Bearer …, for integrations). For cookie sessions, a state-changing
// request from another origin is refused (CSRF): the session cookie is SameSite=Strict
// and, belt and braces, Origin must be this server when a browser sends one.
func (s *Server) auth(c *fiber.Ctx) error {
	if bearer, ok := strings.CutPrefix(c.Get("Authorization"), "Bearer "); ok {
		u, err := s.store.TokenUser(c.UserContext(), credential.HashSecret(strings.TrimSpace(bearer)), time.Now())
		if errors.Is(err, store.ErrNotFound) {
			return jsonError(c, fiber.StatusUnauthorized, "unauthorized", "unknown API token", "")
		}
		if err != nil {
			return err
		}
		c.Locals("user", u)
		return c.Next()
	}
	tok := c.Cookies(sessionCookie)
	if tok == "" {
		return jsonError(c, fiber.StatusUnauthorized, "unauthorized", "log in first", "")
	}
	if c.Method() != fiber.MethodGet && c.Method() != fiber.MethodHead {
		if origin := c.Get("Origin"); origin != "" && origin != c.Protocol()+"://"+c.Hostname() {
			return jsonError(c, fiber.StatusForbidden, "forbidden", "cross-site request refused (origin "+origin+")", "")
		}
	}
	u, err := s.store.SessionUser(c.UserContext(), credential.HashSecret(tok), time.Now())
	if errors.Is(err, store.ErrNotFound) {
		return jsonError(c, fiber.StatusUnauthorized, "unauthorized", "session expired; log in again", "")
	}
	if err != nil {
		return err
	}
	c.Locals("user", u)
	c.Locals("session", credential.HashSecret(tok))
	return c.Next()
}

type passwordRequest struct {
	Old string `json:"old"`
	New string `json:"new"`
}

// password changes the user's own password and ends their other sessions.
func (s *Server) password(c *fiber.Ctx) error {
	var req passwordRequest
	if err := c.BodyParser(&req); err != nil {
		return jsonError(c, fiber.StatusBadRequest, "bad_request", "body must be JSON {old, new}: "+err.Error(), "")
	}
	u := c.Locals("user").(store.User)
	if !credential.CheckPassword(u.PasswordHash, req.Old) {
		return jsonError(c, fiber.StatusForbidden, "forbidden", "the current password is wrong", "old")
	}
	hash, err := credential.HashPassword(req.New)
	if err != nil {
		return jsonError(c, fiber.StatusBadRequest, "bad_request", err.Error(), "new")
	}
	keep, _ := c.Locals("session").(string)
	if err := s.store.SetPassword(c.UserContext(), u.ID, hash, keep); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// token issues an API token for the caller (shown once, stored hashed).
func (s *Server) token(c *fiber.Ctx) error {
	var req struct {
		Name string `json:"name"`
	}
	if err := c.BodyParser(&req); err != nil || req.Name == "" || len(req.Name) > 64 {
		return jsonError(c, fiber.StatusBadRequest, "bad_request", "body must be JSON {name} naming the integration (1–64 characters)", "name")
	}
	u := c.Locals("user").(store.User)
	tok := credential.NewSecret()
	if err := s.store.CreateAPIToken(c.UserContext(), credential.HashSecret(tok), u.ID, req.Name, time.Now()); err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(fiber.Map{"token": tok, "name": req.Name})
}

func userJSON(u store.User) fiber.Map {
	return fiber.Map{"username": u.Username, "role": u.Role, "name": u.Name}
}

func (s *Server) me(c *fiber.Ctx) error {
	out, err := s.selfJSON(c, c.Locals("user").(store.User))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"user": out})
}

// selfJSON is what users learn of themselves (login, /me): a worker also whether
// they are on duty, since they start and end their shift from the app.
func (s *Server) selfJSON(c *fiber.Ctx, u store.User) (fiber.Map, error) {
	out := userJSON(u)
	ws, ok := s.store.(interface {
		Worker(ctx context.Context, id string) (store.Worker, error)
	})
	if !ok || u.WorkerID == "" {
		return out, nil
	}
	w, err := ws.Worker(c.UserContext(), u.WorkerID)
	if errors.Is(err, store.ErrNotFound) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	out["worker_id"], out["on_duty"] = w.ID, w.OnDuty
	return out, nil
}

func (s *Server) alerts(c *fiber.Ctx) error {
	limit := 100
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return jsonError(c, fiber.StatusBadRequest, "bad_request", fmt.Sprintf("limit %q: want 1–1000", v), "limit")
		}
		limit = n
	}
	v, err := s.viewer(c)
	if err != nil {
		return err
	}
	all, err := s.store.AlertsIn(c.UserContext(), v.scope, limit)
	if err != nil {
		return err
	}
	list, err := seenOnly(s, c, v, "alerts", all, func(a store.Alert) (string, string) { return a.HomeID, a.Class })
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"alerts": list})
}

// seenOnly keeps the items the viewer may see as anomaly data of their home (by
// home and class), and records the read of each home: a read that cannot be
// recorded is not served.
func seenOnly[T any](s *Server, c *fiber.Ctx, v *viewer, object string, all []T, of func(T) (home, class string)) ([]T, error) {
	list, homes := []T{}, []string{}
	for _, it := range all {
		if home, class := of(it); v.sees(c.UserContext(), home, class, store.KindAlerts) {
			list = append(list, it)
			homes = append(homes, home)
		}
	}
	return list, s.audit(c, object, homes...)
}

func (s *Server) incidents(c *fiber.Ctx) error {
	limit, ok := intQuery(c, "limit", 200, 1, 200)
	if !ok {
		return nil
	}
	page := store.IncidentPage{OpenOnly: c.Query("open") == "1", Limit: limit}
	if b := c.Query("after"); b != "" {
		cur, err := decodeCursor(b)
		if err != nil {
			return jsonError(c, fiber.StatusBadRequest, "bad_request", "after: not a cursor from a previous page's \"next\"", "after")
		}
		page.After = cur
	}
	v, err := s.viewer(c)
	if err != nil {
		return err
	}
	all, next, err := s.store.IncidentsIn(c.UserContext(), v.scope, page)
	if err != nil {
		return err
	}
	list, err := seenOnly(s, c, v, "incidents", all, func(in store.Incident) (string, string) { return in.HomeID, in.Class })
	if err != nil {
		return err
	}
	out := fiber.Map{"incidents": list}
	if next != nil {
		// A page may hold fewer than limit after the privacy filter; next still
		// continues where the database stopped.
		out["next"] = encodeCursor(*next)
	}
	return c.JSON(out)
}

// Cursors are opaque to clients: base64url of "<updated ms>:<id>".
func encodeCursor(cur store.IncidentCursor) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(cur.UpdatedAt.UnixMilli(), 10) + ":" + cur.ID))
}

func decodeCursor(s string) (*store.IncidentCursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, err
	}
	msPart, id, ok := strings.Cut(string(b), ":")
	if !ok || id == "" {
		return nil, errors.New("no id")
	}
	n, err := strconv.ParseInt(msPart, 10, 64)
	if err != nil {
		return nil, err
	}
	return &store.IncidentCursor{UpdatedAt: time.UnixMilli(n), ID: id}, nil
}

func (s *Server) incident(c *fiber.Ctx) error {
	in, err := s.visibleIncident(c, c.Params("id"))
	if err != nil {
		return err
	}
	if in == nil {
		return nil // response written
	}
	if err := s.audit(c, "incident:"+in.ID, in.HomeID); err != nil {
		return err
	}
	return c.JSON(fiber.Map{"incident": in})
}

// visibleIncident loads an incident the user may see. An incident out of scope
// answers exactly like a missing one: an ID in the URL reveals nothing.
func (s *Server) visibleIncident(c *fiber.Ctx, id string) (*store.Incident, error) {
	in, err := s.store.Incident(c.UserContext(), id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	if err == nil {
		v, verr := s.viewer(c)
		if verr != nil {
			return nil, verr
		}
		if v.sees(c.UserContext(), in.HomeID, in.Class, store.KindAlerts) {
			return &in, nil
		}
	}
	return nil, jsonError(c, fiber.StatusNotFound, "not_found", "no incident "+id, "id")
}

type actRequest struct {
	Outcome  string `json:"outcome"`
	Notes    string `json:"notes"`
	Feedback string `json:"feedback"`
	Rating   int    `json:"rating"`
}

// act takes a closed-loop step: accept, arrive, resolve, feedback, evaluate.
func (s *Server) act(c *fiber.Ctx) error {
	var req actRequest
	if len(c.Body()) > 0 {
		if err := c.BodyParser(&req); err != nil {
			return jsonError(c, fiber.StatusBadRequest, "bad_request", "body must be JSON {outcome, notes, feedback, rating}: "+err.Error(), "")
		}
	}
	if len(req.Notes) > 2000 || len(req.Feedback) > 2000 {
		return jsonError(c, fiber.StatusBadRequest, "bad_request", "notes and feedback are limited to 2000 bytes", "notes")
	}
	u := c.Locals("user").(store.User)
	id := c.Params("id")
	need := authz.ActOnIncident
	if a := c.Params("action"); a == "feedback" || a == "evaluate" {
		need = authz.GiveFeedback
	}
	if !authz.Allowed(u.Role, need) {
		return jsonError(c, fiber.StatusForbidden, "forbidden", "your role ("+u.Role+") may not "+c.Params("action")+" an incident", "")
	}
	if in, err := s.visibleIncident(c, id); in == nil {
		return err
	}
	err := s.store.Act(c.UserContext(), id, store.Action{Name: c.Params("action"), Actor: u.Username,
		Outcome: req.Outcome, Notes: req.Notes, Feedback: req.Feedback, Rating: req.Rating}, time.Now())
	switch {
	case errors.Is(err, store.ErrNotFound):
		return jsonError(c, fiber.StatusNotFound, "not_found", "no incident "+id, "id")
	case errors.Is(err, store.ErrConflict):
		return jsonError(c, fiber.StatusConflict, "conflict", err.Error(), "")
	case err != nil:
		return err
	}
	in, err := s.store.Incident(c.UserContext(), id)
	if err != nil {
		return err
	}
	s.live.Publish("incident", in)
	if s.Changed != nil {
		s.Changed(in, c.Params("action"))
	}
	return c.JSON(fiber.Map{"incident": in})
}

// kpis reports service figures per grid and per rule over the last ?days (default
// 30), of the caller's homes: a supervisor's community, everything for an admin.
func (s *Server) kpis(c *fiber.Ctx) error {
	days, ok := intQuery(c, "days", 30, 1, 3660)
	if !ok {
		return nil
	}
	v, err := s.viewer(c)
	if err != nil {
		return err
	}
	now := time.Now()
	k, err := s.store.KPIsIn(c.UserContext(), v.scope, now.AddDate(0, 0, -days), now)
	if err != nil {
		return err
	}
	return c.JSON(k)
}

// intQuery reads an optional integer query parameter within [lo, hi]; when it is
// not, the 400 answer is written and ok is false.
func intQuery(c *fiber.Ctx, name string, def, lo, hi int) (n int, ok bool) {
	v := c.Query(name)
	if v == "" {
		return def, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		jsonError(c, fiber.StatusBadRequest, "bad_request", fmt.Sprintf("%s %q: want %d–%d", name, v, lo, hi), name)
		return 0, false
	}
	return n, true
}

// gateways lists the gateways of the caller's homes with their liveness and open
// device faults (?limit=, ?offset=). It names homes by address only: device state,
// not the resident's data, so it is not audited.
func (s *Server) gateways(c *fiber.Ctx) error {
	limit, ok := intQuery(c, "limit", 100, 1, 500)
	if !ok {
		return nil
	}
	offset, ok := intQuery(c, "offset", 0, 0, 1<<30)
	if !ok {
		return nil
	}
	v, err := s.viewer(c)
	if err != nil {
		return err
	}
	list, err := s.store.GatewaysIn(c.UserContext(), v.scope, limit, offset)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"gateways": list, "limit": limit, "offset": offset})
}

// escalations lists the pages sent up the escalation chain over the last ?days
// (default 7) for the caller's homes, as the incident list would show them.
func (s *Server) escalations(c *fiber.Ctx) error {
	days, ok := intQuery(c, "days", 7, 1, 366)
	if !ok {
		return nil
	}
	v, err := s.viewer(c)
	if err != nil {
		return err
	}
	all, err := s.store.EscalationsIn(c.UserContext(), v.scope, time.Now().AddDate(0, 0, -days), 200)
	if err != nil {
		return err
	}
	list, err := seenOnly(s, c, v, "escalations", all, func(e store.Escalation) (string, string) { return e.HomeID, e.Class })
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"escalations": list})
}

// homeViewer is the viewer of a request about one home, or nil with the response
// written when the home is out of the caller's scope (answered like a missing home).
func (s *Server) homeViewer(c *fiber.Ctx, home string) (*viewer, error) {
	v, err := s.viewer(c)
	if err != nil {
		return nil, err
	}
	if !v.scope.Has(home) {
		return nil, jsonError(c, fiber.StatusNotFound, "not_found", "no home "+home, "id")
	}
	return v, nil
}

func (s *Server) privacy(c *fiber.Ctx) error {
	home := c.Params("id")
	v, err := s.homeViewer(c, home)
	if v == nil {
		return err
	}
	p, err := s.access.Privacy(c.UserContext(), home)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"home_id": home, "privacy": p})
}

type privacyRequest struct {
	Kind  string   `json:"kind"`
	Roles []string `json:"roles"`
}

// setPrivacy records a resident's choice of who sees one kind of their data.
func (s *Server) setPrivacy(c *fiber.Ctx) error {
	home := c.Params("id")
	v, err := s.homeViewer(c, home)
	if v == nil {
		return err
	}
	var req privacyRequest
	if err := c.BodyParser(&req); err != nil {
		return jsonError(c, fiber.StatusBadRequest, "bad_request", "body must be JSON {kind, roles}: "+err.Error(), "")
	}
	err = s.store.SetPrivacy(c.UserContext(), home, req.Kind, req.Roles, v.user.Username, time.Now())
	if errors.Is(err, store.ErrConflict) {
		return jsonError(c, fiber.StatusBadRequest, "bad_request", err.Error(), "kind")
	}
	if err != nil {
		return err
	}
	return s.privacy(c)
}

func (s *Server) settings(c *fiber.Ctx) error {
	home := c.Params("id")
	v, err := s.homeViewer(c, home)
	if v == nil {
		return err
	}
	list, err := s.store.HomeConfigs(c.UserContext(), home)
	if err != nil {
		return err
	}
	if len(list) == 0 {
		return c.JSON(fiber.Map{"home_id": home, "revision": 0, "settings": store.HomeSettings{}})
	}
	return c.JSON(list[0])
}

// putSettings stores new settings (away mode: travel, hospital; thresholds) and
// pushes them to the home's gateway at once.
func (s *Server) putSettings(c *fiber.Ctx) error {
	home := c.Params("id")
	v, err := s.homeViewer(c, home)
	if v == nil {
		return err
	}
	var set store.HomeSettings
	if err := c.BodyParser(&set); err != nil {
		return jsonError(c, fiber.StatusBadRequest, "bad_request", "body must be JSON settings: "+err.Error(), "")
	}
	hc, err := s.store.PutHomeSettings(c.UserContext(), home, set, v.user.Username, time.Now())
	if errors.Is(err, store.ErrConflict) {
		return jsonError(c, fiber.StatusBadRequest, "bad_request", err.Error(), "")
	}
	if err != nil {
		return err
	}
	status := "stored"
	if hc.GatewayID != "" && s.Configs != nil {
		ctx, cancel := context.WithTimeout(c.UserContext(), 5*time.Second)
		defer cancel()
		if err := s.Configs.PublishConfig(ctx, hc.Config()); err != nil {
			// Stored: the cloud republishes every home's settings when it (re)starts.
			s.log.Warn("settings stored but not yet delivered", "home", home, "err", err)
			status = "stored; delivery to the gateway pending"
		} else {
			status = "sent to gateway " + hc.GatewayID
		}
	}
	return c.JSON(fiber.Map{"home_id": home, "revision": hc.Revision, "settings": hc.Settings, "status": status})
}

// telemetry serves a home's water or electricity chart: ?sensor=water|power
// (default water), ?hours= of history (default 48, at most 24×400), ?every= bucket
// (default 1h). The resident decides who sees charts.
func (s *Server) telemetry(c *fiber.Ctx) error {
	home := c.Params("id")
	v, err := s.viewer(c)
	if err != nil {
		return err
	}
	if !v.sees(c.UserContext(), home, "resident", store.KindCharts) {
		return jsonError(c, fiber.StatusNotFound, "not_found", "no charts for home "+home, "id")
	}
	if s.Telemetry == nil {
		return jsonError(c, fiber.StatusNotFound, "not_found", "no telemetry store", "")
	}
	sensor := c.Query("sensor", "water")
	hours, err := strconv.Atoi(c.Query("hours", "48"))
	if err != nil || hours < 1 || hours > 24*400 {
		return jsonError(c, fiber.StatusBadRequest, "bad_request", "hours: want 1–9600", "hours")
	}
	every, err := time.ParseDuration(c.Query("every", "1h"))
	if err != nil || every < time.Minute {
		return jsonError(c, fiber.StatusBadRequest, "bad_request", "every: a duration of at least 1m, e.g. 15m or 1h", "every")
	}
	gw, err := s.store.GatewayOfHome(c.UserContext(), home)
	if errors.Is(err, store.ErrNotFound) {
		return jsonError(c, fiber.StatusNotFound, "not_found", "home "+home+" has no gateway", "id")
	}
	if err != nil {
		return err
	}
	now := time.Now()
	series, err := s.Telemetry.Query(c.UserContext(), gw, sensor, now.Add(-time.Duration(hours)*time.Hour), now, every)
	if err != nil {
		return jsonError(c, fiber.StatusBadRequest, "bad_request", err.Error(), "sensor")
	}
	if err := s.audit(c, "charts:"+sensor, home); err != nil {
		return err
	}
	return c.JSON(fiber.Map{"home_id": home, "series": series})
}

// export returns everything held about a home's resident, with a year of hourly
// water and electricity readings.
func (s *Server) export(c *fiber.Ctx) error {
	home := c.Params("id")
	v, err := s.homeViewer(c, home)
	if v == nil {
		return err
	}
	now := time.Now()
	x, err := s.store.ExportHome(c.UserContext(), home, now)
	if errors.Is(err, store.ErrNotFound) {
		return jsonError(c, fiber.StatusNotFound, "not_found", "no home "+home, "id")
	}
	if err != nil {
		return err
	}
	out := fiber.Map{"export": x}
	if gw, err := s.store.GatewayOfHome(c.UserContext(), home); err == nil && s.Telemetry != nil {
		series := map[string]telemetry.Series{}
		for _, sensor := range []string{"water", "power"} {
			if sr, err := s.Telemetry.Query(c.UserContext(), gw, sensor, now.AddDate(-1, 0, 0), now, time.Hour); err == nil {
				series[sensor] = sr
			}
		}
		out["telemetry"] = series
	}
	if err := s.audit(c, "export", home); err != nil {
		return err
	}
	c.Set("Content-Disposition", `attachment; filename="shouwang-`+home+`.json"`)
	return c.JSON(out)
}

// erase deletes a resident's data in the cloud (SQL rows, telemetry series) and
// asks the gateway to delete its own, in one action; the confirmation is recorded
// in the audit chain. The body must repeat the home ID: {"confirm": ID, "reason": …}.
func (s *Server) erase(c *fiber.Ctx) error {
	home := c.Params("id")
	var req struct {
		Confirm string `json:"confirm"`
		Reason  string `json:"reason"`
	}
	if err := c.BodyParser(&req); err != nil || req.Confirm != home {
		return jsonError(c, fiber.StatusBadRequest, "bad_request", `confirm by repeating the home ID: {"confirm": "`+home+`", "reason": "…"}`, "confirm")
	}
	u := c.Locals("user").(store.User)
	now := time.Now()
	gateways, err := s.store.EraseHome(c.UserContext(), home, u.Username, req.Reason, now)
	if err != nil {
		return err
	}
	result := fiber.Map{"home_id": home, "erased_at": now, "by": u.Username, "reason": req.Reason}
	var problems []string
	for _, gw := range gateways {
		if s.Telemetry != nil {
			if err := s.Telemetry.Erase(c.UserContext(), gw); err != nil {
				problems = append(problems, err.Error())
			}
		}
	}
	hc, err := s.store.PutHomeSettings(c.UserContext(), home, store.HomeSettings{EraseBefore: &now}, u.Username, now)
	switch {
	case err != nil:
		problems = append(problems, "gateway erase not queued: "+err.Error())
	case hc.GatewayID != "" && s.Configs != nil:
		ctx, cancel := context.WithTimeout(c.UserContext(), 5*time.Second)
		defer cancel()
		if err := s.Configs.PublishConfig(ctx, hc.Config()); err != nil {
			problems = append(problems, "gateway erase stored, delivered when the broker is back: "+err.Error())
		} else {
			result["gateway"] = "erase sent to " + hc.GatewayID
		}
	}
	result["problems"] = problems
	return c.JSON(fiber.Map{"erasure": result})
}

// medical returns a resident's medical notes to whom the resident lets see them
// (by default the grid worker only), and records the read.
func (s *Server) medical(c *fiber.Ctx) error {
	id := c.Params("id")
	home, err := s.store.ResidentHome(c.UserContext(), id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	v, verr := s.viewer(c)
	if verr != nil {
		return verr
	}
	if err != nil || !v.sees(c.UserContext(), home, "resident", store.KindMedical) {
		return jsonError(c, fiber.StatusNotFound, "not_found", "no medical notes for resident "+id+" that you may see", "id")
	}
	notes, err := s.store.ResidentMedical(c.UserContext(), id)
	if err != nil {
		return err
	}
	if err := s.audit(c, "medical:"+id, home); err != nil {
		return err
	}
	c.Set("Cache-Control", "no-store")
	return c.JSON(fiber.Map{"resident_id": id, "medical_notes": notes})
}

// contacts returns whom to call for a home: each resident's own phone and their
// emergency contacts in calling order, to whom the resident lets see them.
func (s *Server) contacts(c *fiber.Ctx) error {
	home := c.Params("id")
	v, err := s.viewer(c)
	if err != nil {
		return err
	}
	if !v.sees(c.UserContext(), home, "resident", store.KindContacts) {
		return jsonError(c, fiber.StatusNotFound, "not_found", "no contacts for home "+home+" that you may see", "id")
	}
	rs, err := s.store.HomeResidents(c.UserContext(), home)
	if err != nil {
		return err
	}
	if err := s.audit(c, "contacts", home); err != nil {
		return err
	}
	type contact struct {
		Name     string `json:"name"`
		Relation string `json:"relation,omitempty"`
		Phone    string `json:"phone"`
	}
	type resident struct {
		ID       string    `json:"id"`
		Name     string    `json:"name"`
		Phone    string    `json:"phone"`
		Contacts []contact `json:"contacts"`
	}
	out := make([]resident, 0, len(rs))
	for _, r := range rs {
		x := resident{ID: r.ID, Name: r.Name, Phone: r.Phone, Contacts: []contact{}}
		for _, ec := range r.Contacts {
			x.Contacts = append(x.Contacts, contact(ec))
		}
		out = append(out, x)
	}
	c.Set("Cache-Control", "no-store")
	return c.JSON(fiber.Map{"home_id": home, "residents": out})
}

// homeStatus is the family's first screen: 平安 or not, and the last sign of life.
func (s *Server) homeStatus(c *fiber.Ctx) error {
	home := c.Params("id")
	v, err := s.viewer(c)
	if err != nil {
		return err
	}
	if !v.sees(c.UserContext(), home, "resident", store.KindTimeline) {
		return jsonError(c, fiber.StatusNotFound, "not_found", "no home "+home, "id")
	}
	st, err := s.store.HomeStatus(c.UserContext(), home, time.Now())
	if errors.Is(err, store.ErrNotFound) {
		return jsonError(c, fiber.StatusNotFound, "not_found", "no home "+home, "id")
	}
	if err != nil {
		return err
	}
	if err := s.audit(c, "status", home); err != nil {
		return err
	}
	return c.JSON(st)
}

// invite makes a one-time code a family member uses to follow this home; it is how
// the resident consents (valid 72 hours, stored hashed, shown once).
func (s *Server) invite(c *fiber.Ctx) error {
	home := c.Params("id")
	v, err := s.homeViewer(c, home)
	if v == nil {
		return err
	}
	var req struct {
		Relation string `json:"relation"`
	}
	if len(c.Body()) > 0 {
		if err := c.BodyParser(&req); err != nil {
			return jsonError(c, fiber.StatusBadRequest, "bad_request", "body must be JSON {relation}: "+err.Error(), "")
		}
	}
	code := credential.NewCode()
	if err := s.store.CreateInvite(c.UserContext(), credential.HashSecret(credential.NormalizeCode(code)), home, req.Relation, v.user.Username, time.Now(), 72*time.Hour); err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(fiber.Map{"code": code, "home_id": home, "expires_in_s": 72 * 3600})
}

// acceptInvite creates a family login from an invitation code (no session needed).
func (s *Server) acceptInvite(c *fiber.Ctx) error {
	var req struct {
		Code     string `json:"code"`
		Username string `json:"username"`
		Name     string `json:"name"`
		Password string `json:"password"`
	}
	if err := c.BodyParser(&req); err != nil {
		return jsonError(c, fiber.StatusBadRequest, "bad_request", "body must be JSON {code, username, name, password}: "+err.Error(), "")
	}
	key := c.IP() + "|invite"
	if !s.throttle.allow(key) {
		return jsonError(c, fiber.StatusTooManyRequests, "too_many_requests", "too many wrong codes; wait a minute", "")
	}
	if req.Username == "" || len(req.Username) > 64 {
		return jsonError(c, fiber.StatusBadRequest, "bad_request", "username: 1–64 characters", "username")
	}
	hash, err := credential.HashPassword(req.Password)
	if err != nil {
		return jsonError(c, fiber.StatusBadRequest, "bad_request", err.Error(), "password")
	}
	u := store.User{ID: uuid.NewString(), Username: req.Username, Name: req.Name, Role: authz.Family, PasswordHash: hash}
	home, err := s.store.AcceptInvite(c.UserContext(), credential.HashSecret(credential.NormalizeCode(req.Code)), u, time.Now())
	switch {
	case errors.Is(err, store.ErrInvalidCode):
		s.throttle.fail(key)
		return jsonError(c, fiber.StatusBadRequest, "bad_request", "the code is wrong, expired or already used", "code")
	case errors.Is(err, store.ErrConflict):
		return jsonError(c, fiber.StatusConflict, "conflict", "that username is taken", "username")
	case err != nil:
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(fiber.Map{"user": userJSON(u), "home_id": home})
}

type userRequest struct {
	Username  string   `json:"username"`
	Name      string   `json:"name"`
	Role      string   `json:"role"`
	Password  string   `json:"password"`
	WorkerID  string   `json:"worker_id"` // worker, technician
	Community string   `json:"community"` // supervisor
	Homes     []string `json:"homes"`     // family, resident
	Relation  string   `json:"relation"`  // family: e.g. 女儿
}

// createUser adds a login with a role and its scope (admin only).
func (s *Server) createUser(c *fiber.Ctx) error {
	var req userRequest
	if err := c.BodyParser(&req); err != nil {
		return jsonError(c, fiber.StatusBadRequest, "bad_request", "body must be JSON: "+err.Error(), "")
	}
	field, msg := "", ""
	switch {
	case req.Username == "" || len(req.Username) > 64:
		field, msg = "username", "1–64 characters"
	case !slices.Contains(authz.Roles, req.Role):
		field, msg = "role", fmt.Sprintf("%q, want one of %v", req.Role, authz.Roles)
	case (req.Role == authz.Worker || req.Role == authz.Technician) && req.WorkerID == "":
		field, msg = "worker_id", "a worker or technician login names its worker record"
	case req.Role == authz.Supervisor && req.Community == "":
		field, msg = "community", "a supervisor oversees a community"
	case (req.Role == authz.Family || req.Role == authz.Resident) && len(req.Homes) == 0:
		field, msg = "homes", "family and residents are linked to at least one home"
	}
	if field != "" {
		return jsonError(c, fiber.StatusBadRequest, "bad_request", field+": "+msg, field)
	}
	hash, err := credential.HashPassword(req.Password)
	if err != nil {
		return jsonError(c, fiber.StatusBadRequest, "bad_request", err.Error(), "password")
	}
	u := store.User{ID: uuid.NewString(), Username: req.Username, Name: req.Name, Role: req.Role, PasswordHash: hash, WorkerID: req.WorkerID, Community: req.Community}
	if err := s.store.CreateUser(c.UserContext(), u); err != nil {
		return jsonError(c, fiber.StatusConflict, "conflict", err.Error(), "username")
	}
	for _, h := range req.Homes {
		if err := s.store.LinkUserHome(c.UserContext(), u.ID, h, req.Relation); err != nil {
			return jsonError(c, fiber.StatusBadRequest, "bad_request", err.Error(), "homes")
		}
	}
	return c.Status(fiber.StatusCreated).JSON(fiber.Map{"user": userJSON(u)})
}

// auditLog shows who read whose data: admins everything (or ?home=), residents and
// family their own home's trail.
func (s *Server) auditLog(c *fiber.Ctx) error {
	v, err := s.viewer(c)
	if err != nil {
		return err
	}
	home := c.Query("home")
	if !v.scope.All {
		if home == "" || !v.scope.Has(home) {
			return jsonError(c, fiber.StatusBadRequest, "bad_request", "name one of your homes: ?home=ID", "home")
		}
	}
	log, err := s.store.AuditLog(c.UserContext(), home, 500)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"audit": log})
}

// verifyAudit walks the whole audit chain: whether every entry follows from the
// one before it, so an admin sees at once if rows were removed or edited.
func (s *Server) verifyAudit(c *fiber.Ctx) error {
	n, err := s.store.VerifyAudit(c.UserContext())
	if errors.Is(err, store.ErrAuditBroken) {
		return c.JSON(fiber.Map{"verified": false, "entries": n, "problem": err.Error()})
	}
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"verified": true, "entries": n})
}

// events streams alert updates as server-sent events until the client goes away.
func (s *Server) events(c *fiber.Ctx) error {
	c.Set("Content-Type", "text/event-stream")
	c.Set("Cache-Control", "no-cache")
	c.Set("X-Accel-Buffering", "no")
	v, err := s.viewer(c)
	if err != nil {
		return err
	}
	ch, leave := s.live.Subscribe()
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		defer leave()
		ping := time.NewTicker(15 * time.Second)
		defer ping.Stop()
		fmt.Fprint(w, ": connected\n\n")
		if w.Flush() != nil {
			return
		}
		for {
			select {
			case <-s.live.Done():
				return
			case msg := <-ch:
				if !v.seesMessage(context.Background(), msg) {
					continue
				}
				fmt.Fprintf(w, "event: %s\ndata: %s\n\n", msg.Event, msg.Data)
			case <-ping.C:
				fmt.Fprint(w, ": ping\n\n")
			}
			// A failed flush is how fasthttp tells us the client left.
			if w.Flush() != nil {
				return
			}
		}
	})
	return nil
}

// throttle limits failed logins per (IP, username) — EN 303 645 5.1-5.
type throttle struct {
	mu     sync.Mutex
	max    int
	window time.Duration
	fails  map[string][]time.Time
}

func newThrottle(max int, window time.Duration) *throttle {
	return &throttle{max: max, window: window, fails: map[string][]time.Time{}}
}

func (t *throttle) allow(key string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	cut := time.Now().Add(-t.window)
	f := t.fails[key]
	for len(f) > 0 && f[0].Before(cut) {
		f = f[1:]
	}
	t.fails[key] = f
	if len(f) == 0 {
		delete(t.fails, key)
	}
	return len(f) < t.max
}

func (t *throttle) fail(key string) {
	t.mu.Lock()
	t.fails[key] = append(t.fails[key], time.Now())
	t.mu.Unlock()
}

func (t *throttle) reset(key string) {
	t.mu.Lock()
	delete(t.fails, key)
	t.mu.Unlock()
}
