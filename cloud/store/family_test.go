package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestNotifyPrefsAndNotices: choices round-trip (defaults until made), bad ones are
// refused, notices come newest first for followed homes only, and erasing a home
// erases the messages about it.
func TestNotifyPrefsAndNotices(t *testing.T) {
	backends(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		seed(t, s)
		must(t, s.PutHome(ctx, Home{ID: "h2", GridID: "g1", Address: "5-1-101", ResidentName: "张"}))
		must(t, s.CreateUser(ctx, User{ID: "u1", Username: "daughter", Role: "family", PasswordHash: "x"}))
		must(t, s.LinkUserHome(ctx, "u1", "h1", "女儿"))

		p, err := s.NotifyPrefsOf(ctx, "u1")
		if err != nil || !p.Default || len(p.Kinds) != 2 || len(p.Channels) != 1 || p.Channels[0] != "inapp" {
			t.Fatalf("defaults %+v %v", p, err)
		}
		if err := s.PutNotifyPrefs(ctx, "u1", NotifyPrefs{Channels: []string{"sms"}, Kinds: []string{"status"}}, time.Now()); !errors.Is(err, ErrConflict) {
			t.Fatalf("SMS without a phone: %v, want ErrConflict", err)
		}
		now := time.UnixMilli(time.Now().UnixMilli())
		want := NotifyPrefs{Channels: []string{"wecom", "inapp"}, Kinds: []string{"digest"}, WeComUser: "WangXiaoHong", Lang: "en"}
		must(t, s.PutNotifyPrefs(ctx, "u1", want, now))
		got, err := s.NotifyPrefsOf(ctx, "u1")
		if err != nil || got.Default || got.UpdatedAt == nil || !got.UpdatedAt.Equal(now) || got.WeComUser != "WangXiaoHong" || got.Lang != "en" ||
			len(got.Channels) != 2 || got.Channels[0] != "wecom" || len(got.Kinds) != 1 {
			t.Fatalf("stored %+v %v", got, err)
		}
		must(t, s.PutNotifyPrefs(ctx, "u1", NotifyPrefs{Channels: []string{}, Kinds: []string{}}, now))
		if got, _ := s.NotifyPrefsOf(ctx, "u1"); got.Channels == nil || len(got.Channels) != 0 || len(got.Kinds) != 0 {
			t.Fatalf("all off came back as %+v", got)
		}

		homes, err := s.HomesOf(ctx, "u1")
		if err != nil || len(homes) != 1 || homes[0].HomeID != "h1" || homes[0].Resident != "王" || homes[0].Relation != "女儿" {
			t.Fatalf("homes %+v %v", homes, err)
		}

		at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		must(t, s.RecordNotice(ctx, "u1", Notice{Key: "digest/u1/h1/2026-03-01", Kind: "digest", HomeID: "h1", TitleZH: "平安", Channels: []string{"inapp"}, At: at}))
		must(t, s.RecordNotice(ctx, "u1", Notice{Key: "status/i1/accept/2", Kind: "status", HomeID: "h1", IncidentID: "i1", TitleZH: "已接单", At: at.Add(time.Hour)}))
		must(t, s.RecordNotice(ctx, "u1", Notice{Key: "digest/u1/h2/2026-03-01", Kind: "digest", HomeID: "h2", TitleZH: "不再关注", At: at.Add(2 * time.Hour)}))
		// The same message delivered again (another channel, later) is one notice.
		must(t, s.RecordNotice(ctx, "u1", Notice{Key: "digest/u1/h1/2026-03-01", Kind: "digest", HomeID: "h1", TitleZH: "平安", Channels: []string{"inapp", "email"}, At: at}))
		list, err := s.Notices(ctx, "u1", 10)
		if err != nil || len(list) != 2 || list[0].Key != "status/i1/accept/2" || len(list[1].Channels) != 2 || !list[1].At.Equal(at) {
			t.Fatalf("notices %+v %v", list, err)
		}
		if _, err := s.EraseHome(ctx, "h1", "admin", "test", time.Now()); err != nil {
			t.Fatal(err)
		}
		var left int
		must(t, s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM family_notices WHERE home_id = 'h1'`).Scan(&left))
		if left != 0 {
			t.Errorf("%d notices about the erased home remain", left)
		}
	})
}

func TestNotifyPrefsCheck(t *testing.T) {
	for _, tc := range []struct {
		p     NotifyPrefs
		field string
	}{
		{NotifyPrefs{Channels: []string{"inapp"}, Kinds: []string{"status", "digest"}}, ""},
		{NotifyPrefs{Channels: []string{"sms"}, Kinds: []string{"status"}, Phone: "+8613900000000"}, ""},
		{NotifyPrefs{Channels: []string{"pigeon"}, Kinds: nil}, "channels"},
		{NotifyPrefs{Channels: nil, Kinds: []string{"digest"}}, "channels"},
		{NotifyPrefs{Channels: []string{"email"}, Kinds: []string{"digest"}, Email: "a@b"}, ""},
		{NotifyPrefs{Channels: []string{"email"}, Kinds: []string{"digest"}, Email: "Wang <a@b.cn>"}, "email"},
		{NotifyPrefs{Channels: []string{"wecom"}, Kinds: []string{"digest"}}, "wecom_user"},
		{NotifyPrefs{Channels: []string{"webpush"}, Kinds: []string{"digest"}, WebPush: `{"endpoint":"http://x"}`}, "webpush"},
		{NotifyPrefs{Channels: []string{"webpush"}, Kinds: []string{"digest"}, WebPush: `{"endpoint":"https://push.example/1","keys":{"p256dh":"k","auth":"a"}}`}, ""},
	} {
		if field, msg := tc.p.Check(); field != tc.field {
			t.Errorf("%+v: field %q (%s), want %q", tc.p, field, msg, tc.field)
		}
	}
}
