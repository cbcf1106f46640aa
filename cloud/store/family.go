package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"time"
)

// What a family member can choose to hear, and how. The channel names are the
// media of cloud/notify's router ("sms" is whichever SMS provider is configured).
var (
	NotifyChannels = []string{"inapp", "webpush", "sms", "wecom", "email"}
	NotifyKinds    = []string{"status", "digest"} // incident progress; the evening 平安 digest
)

// NotifyPrefs is how one family member wants to be told: which kinds of message,
// over which channels, and the addresses those channels need.
type NotifyPrefs struct {
	Channels  []string   `json:"channels"`
	Kinds     []string   `json:"kinds"`
	Phone     string     `json:"phone"`
	Email     string     `json:"email"`
	WeComUser string     `json:"wecom_user"`
	WebPush   string     `json:"webpush,omitempty"` // the browser's PushSubscription JSON
	Lang      string     `json:"lang"`              // zh-CN or en: the language of texts and e-mails
	Default   bool       `json:"default"`           // nothing chosen yet: the router's table decides
	UpdatedAt *time.Time `json:"updated_at,omitempty"`
}

// DefaultNotifyPrefs is what a family member gets until they choose: every kind,
// in the app (the only channel that needs no address).
func DefaultNotifyPrefs() NotifyPrefs {
	return NotifyPrefs{Channels: []string{"inapp"}, Kinds: slices.Clone(NotifyKinds), Lang: "zh-CN", Default: true}
}

var (
	mainlandMobile = regexp.MustCompile(`^(\+86)?1\d{10}$`)
	wecomUserID    = regexp.MustCompile(`^[A-Za-z0-9_.@-]{1,64}$`)
)

// Check validates p; on a problem it names the field and says what is wrong, in
// words a person can act on.
func (p NotifyPrefs) Check() (field, msg string) {
	for _, c := range p.Channels {
		if !slices.Contains(NotifyChannels, c) {
			return "channels", fmt.Sprintf("unknown channel %q; want some of %s", c, strings.Join(NotifyChannels, ", "))
		}
	}
	for _, k := range p.Kinds {
		if !slices.Contains(NotifyKinds, k) {
			return "kinds", fmt.Sprintf("unknown kind %q; want some of %s", k, strings.Join(NotifyKinds, ", "))
		}
	}
	if len(p.Kinds) > 0 && len(p.Channels) == 0 {
		return "channels", "choose at least one channel, or switch every kind off"
	}
	has := func(c string) bool { return slices.Contains(p.Channels, c) }
	switch {
	case has("sms") && !mainlandMobile.MatchString(p.Phone):
		return "phone", "SMS needs a mainland mobile number: 11 digits starting with 1"
	case p.Phone != "" && !mainlandMobile.MatchString(p.Phone):
		return "phone", "a mainland mobile number is 11 digits starting with 1"
	case has("email") && p.Email == "":
		return "email", "e-mail needs an address"
	case p.Email != "" && !validEmail(p.Email):
		return "email", fmt.Sprintf("%q is not an e-mail address", p.Email)
	case has("wecom") && p.WeComUser == "":
		return "wecom_user", "WeCom needs your WeCom user ID (企业微信账号)"
	case p.WeComUser != "" && !wecomUserID.MatchString(p.WeComUser):
		return "wecom_user", "a WeCom user ID is 1–64 letters, digits or _ . @ -"
	case has("webpush") && !validPushSubscription(p.WebPush):
		return "webpush", "Web Push needs this browser's push subscription (allow notifications first)"
	case p.Lang != "" && p.Lang != "zh-CN" && p.Lang != "en":
		return "lang", fmt.Sprintf("language %q; want zh-CN or en", p.Lang)
	}
	return "", ""
}

func validEmail(s string) bool {
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == s && len(s) <= 254
}

func validPushSubscription(s string) bool {
	var sub struct {
		Endpoint string `json:"endpoint"`
		Keys     struct {
			P256dh string `json:"p256dh"`
			Auth   string `json:"auth"`
		} `json:"keys"`
	}
	return len(s) <= 4096 && json.Unmarshal([]byte(s), &sub) == nil && strings.HasPrefix(sub.Endpoint, "https://") &&
		sub.Keys.P256dh != "" && sub.Keys.Auth != ""
}

// NotifyPrefsOf returns a user's choices, or the defaults when they made none.
func (s *Store) NotifyPrefsOf(ctx context.Context, userID string) (NotifyPrefs, error) {
	p := NotifyPrefs{}
	var channels, kinds string
	var at int64
	err := s.db.QueryRowContext(ctx, `SELECT channels, kinds, phone, email, wecom_user, webpush, lang, updated_at FROM notify_prefs WHERE user_id = $1`, userID).
		Scan(&channels, &kinds, &p.Phone, &p.Email, &p.WeComUser, &p.WebPush, &p.Lang, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return DefaultNotifyPrefs(), nil
	}
	if err != nil {
		return p, fmt.Errorf("notification choices of %s: %w", userID, err)
	}
	p.Channels, p.Kinds = splitList(channels), splitList(kinds)
	t := time.UnixMilli(at)
	p.UpdatedAt = &t
	return p, nil
}

// PutNotifyPrefs stores a user's choices (checked: a bad one is ErrConflict).
func (s *Store) PutNotifyPrefs(ctx context.Context, userID string, p NotifyPrefs, now time.Time) error {
	if field, msg := p.Check(); field != "" {
		return fmt.Errorf("notification choices: %s: %s: %w", field, msg, ErrConflict)
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO notify_prefs (user_id, channels, kinds, phone, email, wecom_user, webpush, lang, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (user_id) DO UPDATE SET channels = excluded.channels, kinds = excluded.kinds, phone = excluded.phone, email = excluded.email,
			wecom_user = excluded.wecom_user, webpush = excluded.webpush, lang = excluded.lang, updated_at = excluded.updated_at`,
		userID, strings.Join(p.Channels, ","), strings.Join(p.Kinds, ","), p.Phone, p.Email, p.WeComUser, p.WebPush, p.Lang, ms(now))
	if err != nil {
		return fmt.Errorf("store notification choices of %s: %w", userID, err)
	}
	return nil
}

func splitList(s string) []string {
	if s == "" {
		return []string{}
	}
	return strings.Split(s, ",")
}

// Notice is a status or digest message a family member was sent, kept so they can
// read it again in the app.
type Notice struct {
	Key        string    `json:"key"`
	Kind       string    `json:"kind"`
	HomeID     string    `json:"home_id,omitempty"`
	IncidentID string    `json:"incident_id,omitempty"`
	TitleZH    string    `json:"title_zh"`
	TitleEN    string    `json:"title_en"`
	BodyZH     string    `json:"body_zh,omitempty"`
	BodyEN     string    `json:"body_en,omitempty"`
	URL        string    `json:"url,omitempty"`
	Channels   []string  `json:"channels"` // where it was delivered
	At         time.Time `json:"at"`
}

// RecordNotice keeps a message sent to a user. The same key again (once the
// channels that carried it are known, or a retry) updates its channels and time.
func (s *Store) RecordNotice(ctx context.Context, userID string, n Notice) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO family_notices (recipient_id, msg_key, kind, home_id, incident_id, title_zh, title_en, body_zh, body_en, url, channels, at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
		ON CONFLICT (recipient_id, msg_key) DO UPDATE SET channels = excluded.channels, at = excluded.at`,
		userID, n.Key, n.Kind, n.HomeID, n.IncidentID, n.TitleZH, n.TitleEN, n.BodyZH, n.BodyEN, n.URL, strings.Join(n.Channels, ","), ms(n.At))
	if err != nil {
		return fmt.Errorf("record notice %s for %s: %w", n.Key, userID, err)
	}
	return nil
}

// ForgetNotice removes a kept message (one that was never delivered).
func (s *Store) ForgetNotice(ctx context.Context, userID, key string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM family_notices WHERE recipient_id = $1 AND msg_key = $2`, userID, key); err != nil {
		return fmt.Errorf("forget notice %s for %s: %w", key, userID, err)
	}
	return nil
}

// Notices returns the latest messages sent to a user, newest first, of the homes
// they still follow (a home they stopped following, or an erased one, is gone).
func (s *Store) Notices(ctx context.Context, userID string, limit int) ([]Notice, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT n.msg_key, n.kind, n.home_id, n.incident_id, n.title_zh, n.title_en, n.body_zh, n.body_en, n.url, n.channels, n.at
		FROM family_notices n JOIN user_homes l ON l.user_id = n.recipient_id AND l.home_id = n.home_id
		WHERE n.recipient_id = $1 ORDER BY n.at DESC, n.msg_key LIMIT $2`, userID, limit)
	if err != nil {
		return nil, fmt.Errorf("notices of %s: %w", userID, err)
	}
	defer rows.Close()
	out := []Notice{}
	for rows.Next() {
		var n Notice
		var channels string
		var at int64
		if err := rows.Scan(&n.Key, &n.Kind, &n.HomeID, &n.IncidentID, &n.TitleZH, &n.TitleEN, &n.BodyZH, &n.BodyEN, &n.URL, &channels, &at); err != nil {
			return nil, err
		}
		n.Channels, n.At = splitList(channels), time.UnixMilli(at)
		out = append(out, n)
	}
	return out, rows.Err()
}

// FollowedHome is a home a family member (or resident) is linked to.
type FollowedHome struct {
	HomeID   string `json:"home_id"`
	Resident string `json:"resident"`
	Address  string `json:"address"`
	Relation string `json:"relation"`
}

// HomesOf lists the homes linked to a user, in a stable order.
func (s *Store) HomesOf(ctx context.Context, userID string) ([]FollowedHome, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT h.id, h.resident_name, h.address, l.relation FROM user_homes l JOIN homes h ON h.id = l.home_id
		WHERE l.user_id = $1 ORDER BY h.id`, userID)
	if err != nil {
		return nil, fmt.Errorf("homes of %s: %w", userID, err)
	}
	defer rows.Close()
	out := []FollowedHome{}
	for rows.Next() {
		var h FollowedHome
		if err := rows.Scan(&h.HomeID, &h.Resident, &h.Address, &h.Relation); err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, rows.Err()
}
