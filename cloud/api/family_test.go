package api

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/shouwang-care/shouwang/cloud/store"
	"github.com/shouwang-care/shouwang/internal/testinfra"
)

// familyBackends runs fn on the fixture over SQLite and over a real PostgreSQL.
func familyBackends(t *testing.T, fn func(t *testing.T, f *fixture)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, newFixtureOn(t, filepath.Join(t.TempDir(), "api.db"))) })
	t.Run("postgres", func(t *testing.T) { fn(t, newFixtureOn(t, testinfra.Postgres(t))) })
}

func errField(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	f, _ := e["field"].(string)
	return f
}

// TestFamilyHomesAndRefusal: a family member learns the homes they follow and sees
// their status; another resident's home answers like a missing one.
func TestFamilyHomesAndRefusal(t *testing.T) {
	familyBackends(t, func(t *testing.T, f *fixture) {
		fam := f.as("family")
		st, body := fam("GET", "/api/v1/me/homes", "")
		homes, _ := body["homes"].([]any)
		if st != 200 || len(homes) != 1 {
			t.Fatalf("GET /me/homes: %d %v", st, body)
		}
		h := homes[0].(map[string]any)
		if h["home_id"] != "h1" || h["resident"] != "resident h1" || h["relation"] != "女儿" {
			t.Errorf("followed home %v", h)
		}
		if st, body := fam("GET", "/api/v1/homes/h1/status", ""); st != 200 || body["home_id"] != "h1" {
			t.Errorf("own parent's status: %d %v", st, body)
		}
		for _, path := range []string{"/api/v1/homes/h2/status", "/api/v1/homes/h2/settings"} {
			if st, _ := fam("GET", path, ""); st != 404 {
				t.Errorf("GET %s of another resident: %d, want 404", path, st)
			}
		}
		if st, _ := fam("PUT", "/api/v1/homes/h2/settings", `{"away":true}`); st != 404 {
			t.Errorf("set another resident away: %d, want 404", st)
		}
		if st, _ := f.as("worker")("GET", "/api/v1/me/homes", ""); st != 403 {
			t.Errorf("worker GET /me/homes: %d, want 403", st)
		}
	})
}

// TestFamilyNotificationChoices: defaults until chosen; choices are checked (with
// the field named), limited to the channels set up here, stored per user, and
// only family may make them.
func TestFamilyNotificationChoices(t *testing.T) {
	familyBackends(t, func(t *testing.T, f *fixture) {
		f.srv.NotifyMedia = []string{"inapp", "sms", "email"}
		fam := f.as("family")
		st, body := fam("GET", "/api/v1/me/notifications", "")
		n, _ := body["notifications"].(map[string]any)
		if st != 200 || n["default"] != true || count(n, "channels") != 1 || count(n, "kinds") != 2 {
			t.Fatalf("defaults: %d %v", st, body)
		}
		if av, _ := body["available"].(map[string]any); count(av, "channels") != 3 {
			t.Errorf("available: %v", body["available"])
		}
		for _, tc := range []struct{ body, field string }{
			{`{"channels":["fax"],"kinds":["status"]}`, "channels"},
			{`{"channels":["sms"],"kinds":["status"]}`, "phone"},
			{`{"channels":["sms"],"kinds":["status"],"phone":"12345"}`, "phone"},
			{`{"channels":["email"],"kinds":["digest"],"email":"not an address"}`, "email"},
			{`{"channels":["wecom"],"kinds":["digest"],"wecom_user":"zhang"}`, "channels"}, // not set up here
			{`{"channels":[],"kinds":["digest"]}`, "channels"},
			{`{"channels":["inapp"],"kinds":["weekly"]}`, "kinds"},
			{`{"channels":["inapp"]}`, "kinds"},
			{`{"channels":["inapp"],"kinds":[],"lang":"fr"}`, "lang"},
		} {
			st, body := fam("PUT", "/api/v1/me/notifications", tc.body)
			if st != 400 || errField(body) != tc.field {
				t.Errorf("PUT %s: %d %v, want 400 on field %s", tc.body, st, body, tc.field)
			}
		}
		st, body = fam("PUT", "/api/v1/me/notifications", `{"channels":["sms","email","sms"],"kinds":["digest"],"phone":" 13900000000 ","email":"xh@example.cn","lang":"en"}`)
		n, _ = body["notifications"].(map[string]any)
		if st != 200 || n["default"] != false || count(n, "channels") != 2 || n["phone"] != "13900000000" || n["lang"] != "en" {
			t.Fatalf("PUT choices: %d %v", st, body)
		}
		p, err := f.store.NotifyPrefsOf(context.Background(), "u-family")
		if err != nil || p.Default || len(p.Kinds) != 1 || p.Kinds[0] != "digest" || p.Email != "xh@example.cn" {
			t.Errorf("stored choices %+v %v", p, err)
		}
		// Every kind off is a choice too.
		if st, body := fam("PUT", "/api/v1/me/notifications", `{"channels":[],"kinds":[]}`); st != 200 {
			t.Errorf("all off: %d %v", st, body)
		}
		for _, who := range []string{"worker", "resident", "admin"} {
			if st, _ := f.as(who)("PUT", "/api/v1/me/notifications", `{"channels":["inapp"],"kinds":[]}`); st != 403 {
				t.Errorf("%s PUT /me/notifications: %d, want 403", who, st)
			}
		}
	})
}

// TestFamilyNotices: the messages a family member was sent, newest first, only for
// homes they follow.
func TestFamilyNotices(t *testing.T) {
	familyBackends(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		at := time.Now().Add(-time.Hour)
		for i, n := range []store.Notice{
			{Key: "digest/u-family/h1/d1", Kind: "digest", HomeID: "h1", TitleZH: "【守望】resident h1 平安", Channels: []string{"inapp"}, At: at},
			{Key: "status/x/accept/3", Kind: "status", HomeID: "h1", IncidentID: f.inc, TitleZH: "网格员已接单", Channels: []string{"sms"}, At: at.Add(time.Minute)},
			{Key: "digest/u-family/h2/d1", Kind: "digest", HomeID: "h2", TitleZH: "not theirs", At: at.Add(2 * time.Minute)},
		} {
			if err := f.store.RecordNotice(ctx, "u-family", n); err != nil {
				t.Fatal(i, err)
			}
		}
		st, body := f.as("family")("GET", "/api/v1/me/notices", "")
		list, _ := body["notices"].([]any)
		if st != 200 || len(list) != 2 {
			t.Fatalf("notices: %d %v", st, body)
		}
		if first := list[0].(map[string]any); first["kind"] != "status" || first["incident_id"] != f.inc {
			t.Errorf("newest first: %v", first)
		}
		if st, _ := f.as("family")("GET", "/api/v1/me/notices?limit=0", ""); st != 400 {
			t.Errorf("limit=0: %d, want 400", st)
		}
	})
}

// With Web Push set up the family member's settings carry the key to subscribe
// with; without it there is none to offer.
func TestNotificationsOfferPushKey(t *testing.T) {
	f := newFixture(t)
	fam := f.as("family")
	if code, body := fam("GET", "/api/v1/me/notifications", ""); code != 200 || body["available"].(map[string]any)["webpush_key"] != nil {
		t.Fatalf("without Web Push: %d %v", code, body)
	}
	f.srv.NotifyMedia, f.srv.PushKey = []string{"inapp", "webpush"}, "BPUBLICKEY"
	code, body := fam("GET", "/api/v1/me/notifications", "")
	av, _ := body["available"].(map[string]any)
	if code != 200 || av["webpush_key"] != "BPUBLICKEY" {
		t.Fatalf("with Web Push: %d %v", code, body)
	}
	// Choosing it without this browser's subscription names the field.
	code, body = fam("PUT", "/api/v1/me/notifications", `{"channels":["webpush"],"kinds":["status"]}`)
	if code != 400 || errField(body) != "webpush" {
		t.Fatalf("webpush without a subscription: %d %v", code, body)
	}
	sub := `{"endpoint":"https://push.example.net/s/1","keys":{"p256dh":"BKEY","auth":"AUTH"}}`
	code, body = fam("PUT", "/api/v1/me/notifications", fmt.Sprintf(`{"channels":["webpush"],"kinds":["status"],"webpush":%q}`, sub))
	if code != 200 || body["notifications"].(map[string]any)["webpush"] != sub {
		t.Fatalf("webpush with a subscription: %d %v", code, body)
	}
}
