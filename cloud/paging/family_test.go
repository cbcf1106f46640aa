package paging

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	webpush "github.com/SherClockHolmes/webpush-go"
	"gopkg.in/yaml.v3"

	"github.com/shouwang-care/shouwang/cloud/config"
	"github.com/shouwang-care/shouwang/cloud/notify"
	"github.com/shouwang-care/shouwang/cloud/store"
	"github.com/shouwang-care/shouwang/internal/testinfra"
)

func TestMain(m *testing.M) { testinfra.Main(m) }

// providers stands in for Aliyun SMS and WeCom (their HTTP APIs, on loopback) and
// records who each was asked to reach; inapp records the in-app events.
type providers struct {
	mu    sync.Mutex
	sms   []string // phone numbers
	wecom []string // WeCom user IDs
	inapp []string // recipient IDs
}

// unreachable is a number the SMS provider refuses.
const unreachable = "13900000009"

func (p *providers) serve(t *testing.T) (smsURL, wecomURL string) {
	sms := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		phone := r.URL.Query().Get("PhoneNumbers")
		if phone == unreachable {
			fmt.Fprint(w, `{"Message":"invalid number","RequestId":"R","Code":"isv.MOBILE_NUMBER_ILLEGAL"}`)
			return
		}
		p.mu.Lock()
		p.sms = append(p.sms, phone)
		p.mu.Unlock()
		fmt.Fprint(w, `{"Message":"OK","RequestId":"R","Code":"OK","BizId":"1^0"}`)
	}))
	wecom := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/cgi-bin/gettoken" {
			fmt.Fprint(w, `{"errcode":0,"errmsg":"ok","access_token":"T","expires_in":7200}`)
			return
		}
		var body struct {
			ToUser string `json:"touser"`
		}
		b, _ := io.ReadAll(r.Body)
		json.Unmarshal(b, &body)
		p.mu.Lock()
		p.wecom = append(p.wecom, body.ToUser)
		p.mu.Unlock()
		fmt.Fprint(w, `{"errcode":0,"errmsg":"ok","msgid":"m"}`)
	}))
	t.Cleanup(sms.Close)
	t.Cleanup(wecom.Close)
	return sms.URL + "/", wecom.URL
}

func (p *providers) Publish(event string, v any) {
	if e, ok := v.(notify.InAppEvent); ok {
		p.mu.Lock()
		p.inapp = append(p.inapp, e.RecipientID)
		p.mu.Unlock()
	}
}

// take returns what each provider got since the last call, sorted, and forgets it.
func (p *providers) take() (sms, wecom, inapp []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	sms, wecom, inapp = p.sms, p.wecom, p.inapp
	p.sms, p.wecom, p.inapp = nil, nil, nil
	for _, l := range [][]string{sms, wecom, inapp} {
		sort.Strings(l)
	}
	return sms, wecom, inapp
}

// TestFamilyChoicesHonoured: three family members follow one home. 女儿 chose SMS
// for everything; 儿子 chose WeCom and switched the digest off; 孙女 chose nothing
// (the router's table: in-app). The digest and a status message go to each exactly
// over their channels (SMS even though the table sends status and digests by
// other media), nothing to whoever switched that kind off, and each message is
// kept with the channels that carried it. On SQLite and PostgreSQL.
func TestFamilyChoicesHonoured(t *testing.T) {
	for _, b := range []struct {
		name string
		dsn  func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return filepath.Join(t.TempDir(), "paging.db") }},
		{"postgres", func(t *testing.T) string { return testinfra.Postgres(t) }},
	} {
		t.Run(b.name, func(t *testing.T) { familyChoices(t, b.dsn(t)) })
	}
}

func familyChoices(t *testing.T, dsn string) {
	ctx := context.Background()
	s, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.PutGrid(ctx, store.Grid{ID: "g1", Name: "望江 3"}))
	must(s.PutHome(ctx, store.Home{ID: "h1", GridID: "g1", Address: "3-2-301", ResidentName: "王秀英"}))
	for _, u := range []string{"daughter", "son", "granddaughter"} {
		must(s.CreateUser(ctx, store.User{ID: "u-" + u, Username: u, Role: "family", PasswordHash: "x"}))
		must(s.LinkUserHome(ctx, "u-"+u, "h1", ""))
	}
	now := time.Now()
	must(s.PutNotifyPrefs(ctx, "u-daughter", store.NotifyPrefs{Channels: []string{"sms"}, Kinds: []string{"status", "digest"}, Phone: "13900000001"}, now))
	must(s.PutNotifyPrefs(ctx, "u-son", store.NotifyPrefs{Channels: []string{"wecom"}, Kinds: []string{"status"}, WeComUser: "WangJun"}, now))

	var prov providers
	smsURL, wecomURL := prov.serve(t)
	var cfg config.Notify
	must(yaml.Unmarshal([]byte(fmt.Sprintf(`
aliyun_sms: {access_key_id: LTAI-test, access_key_secret: s3cr3t, sign_name: 守望, templates: {"": SMS_1000}, endpoint: %q}
wecom: {corp_id: ww0123456789abcdef, corp_secret: app-secret, agent_id: 1000002, base_url: %q}
`, smsURL, wecomURL)), &cfg))
	p, err := New(cfg, &prov, notify.NewMemLog(), "http://shouwang.test")
	must(err)
	if got := p.Media(); !slices.Equal(got, []string{"inapp", "sms", "wecom"}) {
		t.Errorf("media offered %v, want inapp, sms, wecom", got)
	}

	sent, err := p.Digest(ctx, s, now, time.UTC)
	must(err)
	sms, wecom, inapp := prov.take()
	if sent != 2 || !slices.Equal(sms, []string{"13900000001"}) || len(wecom) != 0 || !slices.Equal(inapp, []string{"u-granddaughter"}) {
		t.Errorf("digest: sent %d; SMS to %v, WeCom to %v, in-app to %v; want 2, the daughter by SMS, the granddaughter in the app, not the son", sent, sms, wecom, inapp)
	}

	inc := store.Incident{ID: "inc-1", HomeID: "h1", Class: "resident", Resident: "王秀英", Timeline: make([]store.IncidentEvent, 3)}
	must(p.IncidentChanged(ctx, s, inc, "accept"))
	sms, wecom, inapp = prov.take()
	if !slices.Equal(sms, []string{"13900000001"}) || !slices.Equal(wecom, []string{"WangJun"}) || !slices.Equal(inapp, []string{"u-granddaughter"}) {
		t.Errorf("status: SMS to %v, WeCom to %v, in-app to %v; want the daughter, the son and the granddaughter each on their own channel", sms, wecom, inapp)
	}

	// The daughter switches every kind off: nothing to her, the others as before.
	must(s.PutNotifyPrefs(ctx, "u-daughter", store.NotifyPrefs{Channels: []string{"sms"}, Kinds: []string{}, Phone: "13900000001"}, now))
	must(p.IncidentChanged(ctx, s, inc, "arrive"))
	sms, wecom, inapp = prov.take()
	if len(sms) != 0 || !slices.Equal(wecom, []string{"WangJun"}) || !slices.Equal(inapp, []string{"u-granddaughter"}) {
		t.Errorf("status with the daughter's kinds off: SMS to %v, WeCom to %v, in-app to %v", sms, wecom, inapp)
	}

	// The son gives feedback himself: the others hear of it, he does not.
	inc.Timeline = append(inc.Timeline, store.IncidentEvent{Actor: "son", Action: "feedback"})
	must(p.IncidentChanged(ctx, s, inc, "feedback"))
	if _, wecom, inapp := prov.take(); len(wecom) != 0 || !slices.Equal(inapp, []string{"u-granddaughter"}) {
		t.Errorf("feedback by the son: WeCom to %v, in-app to %v; want only the granddaughter told", wecom, inapp)
	}

	// A message that reached nobody is not kept for them (and the failure is reported).
	must(s.CreateUser(ctx, store.User{ID: "u-grandson", Username: "grandson", Role: "family", PasswordHash: "x"}))
	must(s.LinkUserHome(ctx, "u-grandson", "h1", ""))
	must(s.PutNotifyPrefs(ctx, "u-grandson", store.NotifyPrefs{Channels: []string{"sms"}, Kinds: []string{"status"}, Phone: unreachable}, now))
	inc.Timeline = append(inc.Timeline, store.IncidentEvent{Actor: "li", Action: "resolve"})
	if err := p.IncidentChanged(ctx, s, inc, "resolve"); err == nil {
		t.Error("a status the provider refused for the grandson reported no error")
	}
	prov.take()
	if list, err := s.Notices(ctx, "u-grandson", 10); err != nil || len(list) != 0 {
		t.Errorf("the grandson was kept %+v (%v), though nothing reached him", list, err)
	}

	// A resident who keeps their daily status from family gets no digest sent about them.
	must(s.SetPrivacy(ctx, "h1", store.KindTimeline, []string{"worker"}, "resident", now))
	if sent, err := p.Digest(ctx, s, now.Add(24*time.Hour), time.UTC); err != nil || sent != 0 {
		t.Errorf("digest of a private status: sent %d (%v), want 0", sent, err)
	}
	if sms, wecom, inapp := prov.take(); len(sms)+len(wecom)+len(inapp) != 0 {
		t.Errorf("digest of a private status went by SMS %v, WeCom %v, in-app %v", sms, wecom, inapp)
	}

	want := map[string][]string{"u-daughter": {"status:sms", "digest:sms"}, "u-son": {"status:wecom", "status:wecom", "status:wecom"}, "u-granddaughter": {"status:inapp", "status:inapp", "status:inapp", "status:inapp", "digest:inapp"}}
	for user, w := range want {
		list, err := s.Notices(ctx, user, 10)
		must(err)
		var got []string
		for _, n := range list {
			for _, ch := range n.Channels {
				got = append(got, n.Kind+":"+ch)
			}
			if n.HomeID != "h1" || n.TitleZH == "" || n.TitleEN == "" {
				t.Errorf("%s notice %+v lacks its home or titles", user, n)
			}
		}
		if !slices.Equal(got, w) {
			t.Errorf("%s was kept %v, want %v (newest first)", user, got, w)
		}
	}
}

// Web Push set up in the config is offered to family members with the key their
// browser subscribes with; a wrong key stops the start naming what is wrong.
func TestWebPushOffered(t *testing.T) {
	priv, pub, err := webpush.GenerateVAPIDKeys()
	if err != nil {
		t.Fatal(err)
	}
	var cfg config.Notify
	if err := yaml.Unmarshal([]byte(fmt.Sprintf("web_push: {subscriber: \"mailto:ops@shouwang-care.cn\", vapid_public_key: %q, vapid_private_key: %q}", pub, priv)), &cfg); err != nil {
		t.Fatal(err)
	}
	p, err := New(cfg, &providers{}, notify.NewMemLog(), "http://shouwang.test")
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Media(); !slices.Equal(got, []string{"inapp", "webpush"}) || p.PushKey() != pub {
		t.Errorf("media %v, key %q; want inapp, webpush and the configured key", got, p.PushKey())
	}
	cfg.WebPush.VAPIDPrivateKey = pub
	if _, err := New(cfg, &providers{}, notify.NewMemLog(), "http://shouwang.test"); err == nil || !strings.Contains(err.Error(), "VAPIDPrivateKey") {
		t.Errorf("a public key as the private one: %v", err)
	}
	if p, err := New(config.Notify{}, &providers{}, notify.NewMemLog(), ""); err != nil || p.PushKey() != "" {
		t.Errorf("without web_push: key %q, %v", p.PushKey(), err)
	}
}
