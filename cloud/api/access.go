package api

import (
	"context"
	"slices"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/shouwang-care/shouwang/cloud/authz"
	"github.com/shouwang-care/shouwang/cloud/live"
	"github.com/shouwang-care/shouwang/cloud/store"
)

// AccessStore is what access checks read and write.
type AccessStore interface {
	ScopeOf(ctx context.Context, u store.User) (store.Scope, error)
	Privacy(ctx context.Context, homeID string) (map[string][]string, error)
	Audit(ctx context.Context, entries ...store.AuditEntry) error
}

// can admits a request only if the user's role may do a (deny by default).
func (s *Server) can(a authz.Action) fiber.Handler {
	return func(c *fiber.Ctx) error {
		u := c.Locals("user").(store.User)
		if !authz.Allowed(u.Role, a) {
			return jsonError(c, fiber.StatusForbidden, "forbidden", "your role ("+u.Role+") may not do "+string(a), "")
		}
		return c.Next()
	}
}

// viewer is one request's (or one stream's) right to see homes' data.
type viewer struct {
	user    store.User
	scope   store.Scope
	store   AccessStore
	privacy map[string]map[string][]string // per home, loaded on first use
	loaded  time.Time
}

func (s *Server) viewer(c *fiber.Ctx) (*viewer, error) {
	u := c.Locals("user").(store.User)
	sc, err := s.access.ScopeOf(c.UserContext(), u)
	if err != nil {
		return nil, err
	}
	return &viewer{user: u, scope: sc, store: s.access, privacy: map[string]map[string][]string{}, loaded: time.Now()}, nil
}

// sees reports whether the viewer may see data of kind about home, for an item of
// class (device and gateway trouble is not the resident's anomaly data).
func (v *viewer) sees(ctx context.Context, home, class, kind string) bool {
	if !v.scope.Has(home) {
		return false
	}
	if class != "" && class != "resident" {
		return true
	}
	if v.scope.DeviceOnly {
		return false
	}
	p, ok := v.privacy[home]
	if !ok {
		var err error
		if p, err = v.store.Privacy(ctx, home); err != nil {
			return false // fail closed
		}
		v.privacy[home] = p
	}
	return slices.Contains(p[kind], v.user.Role)
}

// seesMessage decides for one live event.
func (v *viewer) seesMessage(ctx context.Context, m live.Message) bool {
	if m.Recipient != "" {
		return v.user.Role == authz.Admin || m.Recipient == v.user.ID || (v.scope.WorkerID != "" && m.Recipient == v.scope.WorkerID)
	}
	if m.Home == "" {
		return v.user.Role == authz.Admin
	}
	// Privacy choices may change while a stream is open: reload them each minute.
	if time.Since(v.loaded) > time.Minute {
		v.privacy, v.loaded = map[string]map[string][]string{}, time.Now()
	}
	return v.sees(ctx, m.Home, m.Class, store.KindAlerts)
}

// audit records that the viewer read object of each home (one row per home).
func (s *Server) audit(c *fiber.Ctx, object string, homes ...string) error {
	u := c.Locals("user").(store.User)
	entries := store.ReadEntries(u.Username, object, c.Get("X-Shouwang-Reason", "duty"), time.Now(), homes...)
	// Fail closed: a read that cannot be recorded is not served.
	return s.access.Audit(c.UserContext(), entries...)
}
