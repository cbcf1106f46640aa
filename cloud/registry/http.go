package registry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"strconv"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/shouwang-care/shouwang/cloud/authz"
	"github.com/shouwang-care/shouwang/cloud/credential"
	"github.com/shouwang-care/shouwang/cloud/store"
	"github.com/shouwang-care/shouwang/firmware-protocol/mqttv1"
)

// Store is what the registry endpoints read and write; *store.Store has it all.
type Store interface {
	Grids(ctx context.Context, limit, offset int) ([]store.Grid, error)
	Grid(ctx context.Context, id string) (store.Grid, error)
	Workers(ctx context.Context, limit, offset int) ([]store.Worker, error)
	CommunityWorkers(ctx context.Context, community string, limit, offset int) ([]store.Worker, error)
	Worker(ctx context.Context, id string) (store.Worker, error)
	SetOnDuty(ctx context.Context, id string, on bool) error
	Homes(ctx context.Context, limit, offset int) ([]store.HomeRecord, error)
	HomeRecord(ctx context.Context, id string) (store.HomeRecord, error)
	Residents(ctx context.Context, limit, offset int) ([]store.Resident, error)
	Resident(ctx context.Context, id string) (store.Resident, error)
	FamilyOf(ctx context.Context, residentID string) ([]store.FamilyMember, error)
	ResidentMedical(ctx context.Context, residentID string) (string, error)
	ExistingRegistryIDs(ctx context.Context) (store.RegistryIDs, error)
	ImportRegistry(ctx context.Context, r store.Registry) (store.RegistryCounts, error)
	ExportRegistry(ctx context.Context) (store.Registry, error)
	CreateClaimCode(ctx context.Context, homeID, codeHash, by string, now, expires time.Time) error
	ClaimGateway(ctx context.Context, codeHash, gatewayID, secretHash string, now time.Time, beforeCommit ...func(home string) error) (string, error)
	RevokeGateway(ctx context.Context, id string, now time.Time) error
	Audit(ctx context.Context, entries ...store.AuditEntry) error
}

// Logins is the broker's side of a gateway's credentials: a claim makes the login,
// a revocation takes it away and drops the live connection. Brokers that ask the
// store at each connect (the embedded one) only need the second.
type Logins interface {
	AddGateway(ctx context.Context, id, password string) error
	RemoveGateway(ctx context.Context, id string) error
}

// Handlers serve the registry API.
type Handlers struct {
	store    Store
	log      *slog.Logger
	throttle *throttle
	now      func() time.Time
	// Logins, when set, is told of claims and revocations; nil: the broker reads the
	// registry only when a gateway connects (Mosquitto with a password file).
	Logins Logins
}

// Routes mounts the registry API on r (the /api/v1 group). auth must set
// c.Locals("user") to a store.User; every route but POST /claim needs it and a role
// the authz table allows. POST /claim is for gateways during installation: it has no session,
// so it is throttled per IP and the code itself is the credential.
func Routes(r fiber.Router, auth fiber.Handler, s Store, log *slog.Logger) *Handlers {
	h := &Handlers{store: s, log: log, throttle: newThrottle(10, 15*time.Minute), now: time.Now}
	r.Post("/claim", h.claim)
	read, manage, provision := can(authz.ReadRegistry), can(authz.ManageRegistry), can(authz.ProvisionDevice)
	r.Get("/grids", auth, read, h.grids)
	r.Get("/grids/:id", auth, read, h.grid)
	r.Get("/workers", auth, can(authz.ReadWorkers), h.workers)
	r.Get("/workers/:id", auth, read, h.worker)
	r.Put("/workers/:id/duty", auth, can(authz.SetDuty), h.duty)
	r.Get("/homes", auth, read, h.homes)
	r.Get("/homes/:id", auth, read, h.home)
	r.Post("/homes/:id/claim-codes", auth, provision, h.claimCode)
	r.Get("/residents", auth, read, h.residents)
	r.Get("/residents/:id", auth, read, h.resident)
	r.Post("/gateways/:id/revoke", auth, provision, h.revoke)
	r.Post("/registry/import", auth, manage, h.importCSV)
	r.Get("/registry/export", auth, manage, h.exportCSV)
	return h
}

// jsonError is the API's one error shape: {"error":{code, message, field}}.
func jsonError(c *fiber.Ctx, status int, code, msg, field string) error {
	e := fiber.Map{"code": code, "message": msg}
	if field != "" {
		e["field"] = field
	}
	return c.Status(status).JSON(fiber.Map{"error": e})
}

// can admits the roles the one authorization table (cloud/authz) allows a.
func can(a authz.Action) fiber.Handler {
	return func(c *fiber.Ctx) error {
		u, ok := c.Locals("user").(store.User)
		if !ok || !authz.Allowed(u.Role, a) {
			return jsonError(c, fiber.StatusForbidden, "forbidden", "your role ("+u.Role+") may not do "+string(a), "")
		}
		return c.Next()
	}
}

// pageOf reads ?limit=&offset=; msg and field describe a bad value.
func pageOf(c *fiber.Ctx) (limit, offset int, msg, field string) {
	limit, offset = 50, 0
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			return 0, 0, fmt.Sprintf("limit %q: want 1–500", v), "limit"
		}
		limit = n
	}
	if v := c.Query("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return 0, 0, fmt.Sprintf("offset %q: want 0 or more", v), "offset"
		}
		offset = n
	}
	return limit, offset, "", ""
}

// list answers a paginated list of key, each item through view.
// audited names the home of a listed record whose read is personal data (nil: staff
// or grid data, not audited).
type audited[T any] func(T) string

func list[T, V any](c *fiber.Ctx, h *Handlers, key string, get func(ctx context.Context, limit, offset int) ([]T, error), view func(T) V, homeOf audited[T]) error {
	limit, offset, msg, field := pageOf(c)
	if msg != "" {
		return jsonError(c, fiber.StatusBadRequest, "bad_request", msg, field)
	}
	items, err := get(c.UserContext(), limit, offset)
	if err != nil {
		return err
	}
	if homeOf != nil {
		homes := make([]string, len(items))
		for i, it := range items {
			homes[i] = homeOf(it)
		}
		if err := h.auditRead(c, "registry:"+key, homes...); err != nil {
			return err
		}
	}
	out := make([]V, len(items))
	for i, it := range items {
		out[i] = view(it)
	}
	return c.JSON(fiber.Map{key: out, "limit": limit, "offset": offset})
}

func one[T, V any](c *fiber.Ctx, h *Handlers, what string, get func(ctx context.Context, id string) (T, error), view func(T) V, homeOf audited[T]) error {
	v, err := get(c.UserContext(), c.Params("id"))
	if errors.Is(err, store.ErrNotFound) {
		return jsonError(c, fiber.StatusNotFound, "not_found", "no "+what+" "+c.Params("id"), "id")
	}
	if err != nil {
		return err
	}
	if homeOf != nil {
		if err := h.auditRead(c, "registry:"+what+":"+c.Params("id"), homeOf(v)); err != nil {
			return err
		}
	}
	return c.JSON(fiber.Map{what: view(v)})
}

// auditRead records that the caller read object about each home, as every read of
// a resident's data is (cloud/api does the same for its routes). Fail closed: a read
// that cannot be recorded is not served.
func (h *Handlers) auditRead(c *fiber.Ctx, object string, homes ...string) error {
	u, _ := c.Locals("user").(store.User)
	entries := store.ReadEntries(u.Username, object, c.Get("X-Shouwang-Reason", "registry"), h.now(), homes...)
	if err := h.store.Audit(c.UserContext(), entries...); err != nil {
		return fmt.Errorf("audit %s: %w", object, err)
	}
	return nil
}

type gridJSON struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Community string `json:"community"`
}

func gridView(g store.Grid) gridJSON { return gridJSON{g.ID, g.Name, g.Community} }

type workerJSON struct {
	ID     string `json:"id"`
	GridID string `json:"grid_id"`
	Name   string `json:"name"`
	Phone  string `json:"phone"`
	Role   string `json:"role"`
	OnDuty bool   `json:"on_duty"`
}

func workerView(w store.Worker) workerJSON {
	return workerJSON{w.ID, w.GridID, w.Name, w.Phone, w.Role, w.OnDuty}
}

type sensorJSON struct {
	ID   string `json:"id"`
	Kind string `json:"kind"`
}

type homeJSON struct {
	ID           string       `json:"id"`
	GridID       string       `json:"grid_id"`
	Address      string       `json:"address"`
	ResidentName string       `json:"resident_name"`
	GatewayID    string       `json:"gateway_id"`
	Sensors      []sensorJSON `json:"sensors"`
}

func homeView(h store.HomeRecord) homeJSON {
	s := make([]sensorJSON, len(h.Sensors))
	for i, sn := range h.Sensors {
		s[i] = sensorJSON{sn.ID, sn.Kind}
	}
	return homeJSON{h.ID, h.GridID, h.Address, h.ResidentName, h.GatewayID, s}
}

type contactJSON struct {
	Name     string `json:"name"`
	Relation string `json:"relation"`
	Phone    string `json:"phone"`
}

type familyJSON struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Relation string `json:"relation"`
	Phone    string `json:"phone"`
}

// residentJSON leaves medical notes out: they have their own endpoint, so the
// privacy rules to come can gate exactly that one.
type residentJSON struct {
	ID       string        `json:"id"`
	HomeID   string        `json:"home_id"`
	Name     string        `json:"name"`
	Phone    string        `json:"phone"`
	Contacts []contactJSON `json:"emergency_contacts"`
	Family   []familyJSON  `json:"family,omitempty"`
}

func residentView(r store.Resident) residentJSON {
	cs := make([]contactJSON, len(r.Contacts))
	for i, c := range r.Contacts {
		cs[i] = contactJSON{c.Name, c.Relation, c.Phone}
	}
	return residentJSON{ID: r.ID, HomeID: r.HomeID, Name: r.Name, Phone: r.Phone, Contacts: cs}
}

func (h *Handlers) grids(c *fiber.Ctx) error {
	return list(c, h, "grids", h.store.Grids, gridView, nil)
}
func (h *Handlers) grid(c *fiber.Ctx) error { return one(c, h, "grid", h.store.Grid, gridView, nil) }
func (h *Handlers) workers(c *fiber.Ctx) error {
	get := h.store.Workers
	// A supervisor sees the staff of their own community's grids only.
	if u := c.Locals("user").(store.User); u.Role == authz.Supervisor {
		get = func(ctx context.Context, limit, offset int) ([]store.Worker, error) {
			return h.store.CommunityWorkers(ctx, u.Community, limit, offset)
		}
	}
	return list(c, h, "workers", get, workerView, nil)
}
func (h *Handlers) worker(c *fiber.Ctx) error {
	return one(c, h, "worker", h.store.Worker, workerView, nil)
}
func (h *Handlers) homes(c *fiber.Ctx) error {
	return list(c, h, "homes", h.store.Homes, homeView, func(r store.HomeRecord) string { return r.ID })
}
func (h *Handlers) home(c *fiber.Ctx) error {
	return one(c, h, "home", h.store.HomeRecord, homeView, func(r store.HomeRecord) string { return r.ID })
}
func (h *Handlers) residents(c *fiber.Ctx) error {
	return list(c, h, "residents", h.store.Residents, residentView, func(r store.Resident) string { return r.HomeID })
}

func (h *Handlers) resident(c *fiber.Ctx) error {
	return one(c, h, "resident", func(ctx context.Context, id string) (residentJSON, error) {
		r, err := h.store.Resident(ctx, id)
		if err != nil {
			return residentJSON{}, err
		}
		fam, err := h.store.FamilyOf(ctx, id)
		if err != nil {
			return residentJSON{}, err
		}
		v := residentView(r)
		v.Family = make([]familyJSON, len(fam))
		for i, f := range fam {
			v.Family[i] = familyJSON{f.ID, f.Name, f.Relation, f.Phone}
		}
		return v, nil
	}, func(v residentJSON) residentJSON { return v }, func(v residentJSON) string { return v.HomeID })
}

type dutyRequest struct {
	OnDuty *bool `json:"on_duty"`
}

func (h *Handlers) duty(c *fiber.Ctx) error {
	var req dutyRequest
	if err := c.BodyParser(&req); err != nil || req.OnDuty == nil {
		return jsonError(c, fiber.StatusBadRequest, "bad_request", `body must be JSON {"on_duty": true|false}`, "on_duty")
	}
	id := c.Params("id")
	u := c.Locals("user").(store.User)
	if ok, err := h.dutyOf(c.UserContext(), u, id); err != nil {
		return err
	} else if !ok {
		// Someone else's worker answers like a missing one: an ID reveals nothing.
		return jsonError(c, fiber.StatusNotFound, "not_found", "no worker "+id, "id")
	}
	err := h.store.SetOnDuty(c.UserContext(), id, *req.OnDuty)
	if errors.Is(err, store.ErrNotFound) {
		return jsonError(c, fiber.StatusNotFound, "not_found", "no worker "+id, "id")
	}
	if err == nil {
		h.log.Info("duty changed", "worker", id, "on_duty", *req.OnDuty, "by", u.Username)
	}
	if err != nil {
		return err
	}
	return one(c, h, "worker", h.store.Worker, workerView, nil)
}

// dutyOf reports whether u may start or end worker id's shift: admins anyone's,
// workers and technicians their own, supervisors those of their community's grids.
func (h *Handlers) dutyOf(ctx context.Context, u store.User, id string) (bool, error) {
	switch u.Role {
	case authz.Admin:
		return true, nil
	case authz.Worker, authz.Technician:
		return u.WorkerID != "" && u.WorkerID == id, nil
	case authz.Supervisor:
		w, err := h.store.Worker(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		g, err := h.store.Grid(ctx, w.GridID)
		if errors.Is(err, store.ErrNotFound) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		return u.Community != "" && g.Community == u.Community, nil
	}
	return false, nil
}

func (h *Handlers) importCSV(c *fiber.Ctx) error {
	if mt, _, err := mime.ParseMediaType(c.Get(fiber.HeaderContentType)); err != nil || (mt != "text/csv" && mt != "application/csv" && mt != "text/plain") {
		return jsonError(c, fiber.StatusUnsupportedMediaType, "unsupported_media_type", "send the registry as text/csv", "")
	}
	ctx := c.UserContext()
	existing, err := h.store.ExistingRegistryIDs(ctx)
	if err != nil {
		return err
	}
	reg, err := Parse(bytes.NewReader(c.Body()), existing)
	var ie *ImportError
	if errors.As(err, &ie) {
		return c.Status(fiber.StatusUnprocessableEntity).JSON(fiber.Map{"error": fiber.Map{
			"code":    "invalid_csv",
			"message": fmt.Sprintf("%d error(s); nothing was imported", len(ie.Errors)+ie.More),
			"lines":   ie.Errors,
			"more":    ie.More,
		}})
	}
	if err != nil {
		return err
	}
	n, err := h.store.ImportRegistry(ctx, reg)
	if err != nil {
		return err
	}
	u := c.Locals("user").(store.User)
	h.log.Info("registry imported", "user", u.Username, "grids", n.Grids, "workers", n.Workers, "homes", n.Homes, "residents", n.Residents)
	return c.JSON(fiber.Map{"imported": n})
}

func (h *Handlers) exportCSV(c *fiber.Ctx) error {
	reg, err := h.store.ExportRegistry(c.UserContext())
	if err != nil {
		return err
	}
	// Everything about every resident, medical notes included: one row per home.
	homes := make([]string, len(reg.Homes))
	for i, r := range reg.Homes {
		homes[i] = r.ID
	}
	if err := h.auditRead(c, "registry:export", homes...); err != nil {
		return err
	}
	var b bytes.Buffer
	if err := Export(&b, reg); err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="registry.csv"`)
	c.Set("Cache-Control", "no-store")
	return c.Send(b.Bytes())
}

func (h *Handlers) claimCode(c *fiber.Ctx) error {
	id := c.Params("id")
	code := NewClaimCode()
	canon, _ := NormalizeClaimCode(code)
	now := h.now()
	u := c.Locals("user").(store.User)
	err := h.store.CreateClaimCode(c.UserContext(), id, credential.HashSecret(canon), u.Username, now, now.Add(ClaimTTL))
	if errors.Is(err, store.ErrNotFound) {
		return jsonError(c, fiber.StatusNotFound, "not_found", "no home "+id, "id")
	}
	if err != nil {
		return err
	}
	c.Set("Cache-Control", "no-store")
	return c.Status(fiber.StatusCreated).JSON(fiber.Map{"code": code, "home_id": id, "expires_at": now.Add(ClaimTTL).UTC().Format(time.RFC3339)})
}

type claimRequest struct {
	Code      string `json:"code"`
	GatewayID string `json:"gateway_id"`
}

// claim binds the calling gateway to the code's home and returns its MQTT secret.
// The secret is shown once: only its hash is kept.
func (h *Handlers) claim(c *fiber.Ctx) error {
	key := c.IP()
	if !h.throttle.allow(key) {
		return jsonError(c, fiber.StatusTooManyRequests, "too_many_requests", "too many failed claims from this address; wait 15 minutes", "")
	}
	var req claimRequest
	if err := c.BodyParser(&req); err != nil {
		h.throttle.fail(key)
		return jsonError(c, fiber.StatusBadRequest, "bad_request", `body must be JSON {"code", "gateway_id"}`, "")
	}
	if err := mqttv1.ValidGatewayID(req.GatewayID); err != nil {
		h.throttle.fail(key)
		return jsonError(c, fiber.StatusBadRequest, "bad_request", err.Error(), "gateway_id")
	}
	code, err := NormalizeClaimCode(req.Code)
	if err != nil {
		h.throttle.fail(key)
		return jsonError(c, fiber.StatusBadRequest, "bad_request", err.Error(), "code")
	}
	secret := credential.NewSecret()
	var brokerErr error
	home, err := h.store.ClaimGateway(c.UserContext(), credential.HashSecret(code), req.GatewayID, credential.HashSecret(secret), h.now(),
		func(string) error {
			if h.Logins == nil {
				return nil
			}
			brokerErr = h.Logins.AddGateway(c.UserContext(), req.GatewayID, secret)
			return brokerErr
		})
	var msg string
	status := fiber.StatusGone
	switch {
	case err == nil:
	case brokerErr != nil:
		// The claim was rolled back: the installer can retry with the same code.
		h.log.Error("gateway claim: broker login", "gateway", req.GatewayID, "err", brokerErr)
		return jsonError(c, fiber.StatusServiceUnavailable, "unavailable", "the broker could not make the gateway's login; the code is still valid, retry in a minute", "")
	case errors.Is(err, store.ErrClaimUnknown):
		status, msg = fiber.StatusNotFound, "unknown claim code: check it, or ask for a new one"
	case errors.Is(err, store.ErrClaimUsed):
		msg = "this claim code was already used; ask for a new one"
	case errors.Is(err, store.ErrClaimExpired):
		msg = "this claim code expired (codes last 24 hours); ask for a new one"
	case errors.Is(err, store.ErrGatewayActive):
		status, msg = fiber.StatusConflict, "gateway "+req.GatewayID+" is already provisioned; an admin must revoke it first"
	default:
		return err
	}
	if err != nil {
		h.throttle.fail(key)
		h.log.Warn("gateway claim refused", "gateway", req.GatewayID, "ip", key, "err", err)
		field := "code"
		if status == fiber.StatusConflict {
			field = "gateway_id"
		}
		return jsonError(c, status, codeFor(status), msg, field)
	}
	h.log.Info("gateway claimed", "gateway", req.GatewayID, "home", home, "ip", key)
	// The address lets the installer read the binding back with the resident: a
	// code from the wrong sheet of paper binds the wrong home. The claim is done
	// either way, so a failed look-up only leaves it out.
	var address string
	if rec, err := h.store.HomeRecord(c.UserContext(), home); err == nil {
		address = rec.Address
	} else {
		h.log.Warn("claimed home not readable", "home", home, "err", err)
	}
	c.Set("Cache-Control", "no-store")
	return c.JSON(fiber.Map{"gateway_id": req.GatewayID, "home_id": home, "home_address": address, "mqtt_username": req.GatewayID, "mqtt_password": secret})
}

func codeFor(status int) string {
	switch status {
	case fiber.StatusNotFound:
		return "claim_code_unknown"
	case fiber.StatusGone:
		return "claim_code_spent"
	case fiber.StatusConflict:
		return "conflict"
	}
	return "error"
}

func (h *Handlers) revoke(c *fiber.Ctx) error {
	id := c.Params("id")
	err := h.store.RevokeGateway(c.UserContext(), id, h.now())
	if errors.Is(err, store.ErrNotFound) {
		return jsonError(c, fiber.StatusNotFound, "not_found", "no gateway "+id, "id")
	}
	if err != nil {
		return err
	}
	u := c.Locals("user").(store.User)
	h.log.Info("gateway revoked", "gateway", id, "user", u.Username)
	if h.Logins != nil {
		if err := h.Logins.RemoveGateway(c.UserContext(), id); err != nil {
			// The registry refuses the gateway's next login already; say that the live
			// connection may linger, and that revoking again retries.
			h.log.Error("gateway revoke: broker", "gateway", id, "err", err)
			return jsonError(c, fiber.StatusBadGateway, "broker", "revoked in the registry, but the broker did not drop the login: "+err.Error()+"; revoke again to retry", "")
		}
	}
	return c.JSON(fiber.Map{"gateway_id": id, "revoked": true, "disconnected": h.Logins != nil})
}

// throttle counts failed claims per key within a window.
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
	if len(f) == 0 {
		delete(t.fails, key)
	} else {
		t.fails[key] = f
	}
	return len(f) < t.max
}

func (t *throttle) fail(key string) {
	t.mu.Lock()
	t.fails[key] = append(t.fails[key], time.Now())
	t.mu.Unlock()
}
