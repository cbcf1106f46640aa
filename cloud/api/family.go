package api

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/shouwang-care/shouwang/cloud/store"
)

// FamilyStore is what a family member's own pages read and write.
type FamilyStore interface {
	HomesOf(ctx context.Context, userID string) ([]store.FollowedHome, error)
	NotifyPrefsOf(ctx context.Context, userID string) (store.NotifyPrefs, error)
	PutNotifyPrefs(ctx context.Context, userID string, p store.NotifyPrefs, now time.Time) error
	Notices(ctx context.Context, userID string, limit int) ([]store.Notice, error)
}

// myHomes lists the homes the caller follows (family) or lives in (resident): how
// the family's app learns whose status to show.
func (s *Server) myHomes(c *fiber.Ctx) error {
	u := c.Locals("user").(store.User)
	homes, err := s.store.HomesOf(c.UserContext(), u.ID)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"homes": homes})
}

// media is what a family member may choose here: the channels this cloud has
// configured (in-app always).
func (s *Server) media() []string {
	if len(s.NotifyMedia) == 0 {
		return []string{"inapp"}
	}
	return s.NotifyMedia
}

func (s *Server) notificationsJSON(p store.NotifyPrefs) fiber.Map {
	available := fiber.Map{"channels": s.media(), "kinds": store.NotifyKinds}
	if s.PushKey != "" {
		available["webpush_key"] = s.PushKey // the browser subscribes with it
	}
	return fiber.Map{"notifications": p, "available": available}
}

// notifications shows the caller's choice of how to be told, and what they can choose from.
func (s *Server) notifications(c *fiber.Ctx) error {
	u := c.Locals("user").(store.User)
	p, err := s.store.NotifyPrefsOf(c.UserContext(), u.ID)
	if err != nil {
		return err
	}
	c.Set("Cache-Control", "no-store")
	return c.JSON(s.notificationsJSON(p))
}

// putNotifications stores the caller's choice: the channels (only ones set up
// here) and kinds, and the addresses those channels need.
func (s *Server) putNotifications(c *fiber.Ctx) error {
	var p store.NotifyPrefs
	if err := c.BodyParser(&p); err != nil {
		return jsonError(c, fiber.StatusBadRequest, "bad_request", "body must be JSON {channels, kinds, phone, email, wecom_user, lang}: "+err.Error(), "")
	}
	// A missing list is a mistake, not "none": that is an empty list.
	if p.Channels == nil {
		return jsonError(c, fiber.StatusBadRequest, "bad_request", "channels: missing; send [] for none", "channels")
	}
	if p.Kinds == nil {
		return jsonError(c, fiber.StatusBadRequest, "bad_request", "kinds: missing; send [] to switch every kind off", "kinds")
	}
	p.Phone, p.Email, p.WeComUser = strings.TrimSpace(p.Phone), strings.TrimSpace(p.Email), strings.TrimSpace(p.WeComUser)
	p.Channels, p.Kinds = dedupe(p.Channels), dedupe(p.Kinds)
	p.Default, p.UpdatedAt = false, nil
	if field, msg := p.Check(); field != "" {
		return jsonError(c, fiber.StatusBadRequest, "bad_request", field+": "+msg, field)
	}
	for _, ch := range p.Channels {
		if !slices.Contains(s.media(), ch) {
			return jsonError(c, fiber.StatusBadRequest, "bad_request",
				fmt.Sprintf("channels: %s is not set up on this server; available: %s", ch, strings.Join(s.media(), ", ")), "channels")
		}
	}
	u := c.Locals("user").(store.User)
	err := s.store.PutNotifyPrefs(c.UserContext(), u.ID, p, time.Now())
	if errors.Is(err, store.ErrConflict) {
		return jsonError(c, fiber.StatusBadRequest, "bad_request", err.Error(), "")
	}
	if err != nil {
		return err
	}
	return s.notifications(c)
}

func dedupe(list []string) []string {
	out := []string{}
	for _, v := range list {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// notices are the status and digest messages the caller was sent, newest first
// (?limit=, default 20).
func (s *Server) notices(c *fiber.Ctx) error {
	limit := 20
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 200 {
			return jsonError(c, fiber.StatusBadRequest, "bad_request", fmt.Sprintf("limit %q: want 1–200", v), "limit")
		}
		limit = n
	}
	u := c.Locals("user").(store.User)
	list, err := s.store.Notices(c.UserContext(), u.ID, limit)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"notices": list})
}
