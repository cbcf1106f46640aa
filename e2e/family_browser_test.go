package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"gopkg.in/yaml.v3"

	cloudconfig "github.com/shouwang-care/shouwang/cloud/config"
	"github.com/shouwang-care/shouwang/cloud/store"
	"github.com/shouwang-care/shouwang/edge/config"
	"github.com/shouwang-care/shouwang/firmware-protocol/mqttv1"
)

// smsProvider stands in for Aliyun's SMS API on loopback and records the numbers
// it was asked to text.
type smsProvider struct {
	mu     sync.Mutex
	phones []string
}

func (p *smsProvider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.phones = append(p.phones, r.URL.Query().Get("PhoneNumbers"))
	p.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprint(w, `{"Message":"OK","RequestId":"R","Code":"OK","BizId":"1^0"}`)
}

func (p *smsProvider) texted() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.phones...)
}

// resolvedIncident opens a no-water incident for home-1's gateway and takes it
// through the worker's steps to resolved (outcome safe); it returns its ID.
func resolvedIncident(t *testing.T, c *cloud, gw string) string {
	t.Helper()
	ctx := context.Background()
	s := c.svc.Store
	at := time.Now().Add(-2 * time.Hour)
	if _, err := s.IngestAlert(ctx, mqttv1.Alert{V: 1, ID: "a-fam-1", Gateway: gw, Rule: "no_water", State: mqttv1.Raised,
		Severity: mqttv1.Critical, Class: mqttv1.ClassResident, At: at, RaisedAt: at}, at); err != nil {
		t.Fatal(err)
	}
	id, _, err := s.OpenIncident(ctx, "a-fam-1", at)
	if err != nil {
		t.Fatal(err)
	}
	for i, step := range []store.Action{{Name: "accept", Actor: "li"}, {Name: "arrive", Actor: "li"}, {Name: "resolve", Actor: "li", Outcome: "safe", Notes: "老人在家，水管检修"}} {
		if err := s.Act(ctx, id, step, at.Add(time.Duration(i+1)*10*time.Minute)); err != nil {
			t.Fatalf("%s: %v", step.Name, err)
		}
	}
	return id
}

// familyLogin creates a family login for homes through the admin API and returns an
// HTTP client logged in as them.
func familyLogin(t *testing.T, c *cloud, username, relation string, homes ...string) *http.Client {
	t.Helper()
	hs, _ := json.Marshal(homes)
	r, err := c.client().Post(c.svc.URL()+"api/v1/users", "application/json", strings.NewReader(fmt.Sprintf(
		`{"username":%q,"name":"王小红","role":"family","password":"a long family password","homes":%s,"relation":%q}`, username, hs, relation)))
	if err != nil || r.StatusCode != 201 {
		t.Fatalf("create family login: %v %v", r.StatusCode, err)
	}
	r.Body.Close()
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	r, err = hc.Post(c.svc.URL()+"api/v1/login", "application/json", strings.NewReader(fmt.Sprintf(`{"username":%q,"password":"a long family password"}`, username)))
	if err != nil || r.StatusCode != 200 {
		t.Fatalf("family login: %v %v", r.StatusCode, err)
	}
	r.Body.Close()
	return hc
}

// familyView is what the family pages show.
type familyView struct {
	Hash     string
	Status   string // data-status of the first status card
	Word     string // its status word
	Last     string // its last-activity line
	Away     string // #fam-away data-away
	Incident string // data-state of the incident on the home page / incident page
	Refused  string // the refusal, if shown
	Message  string // the visible form message (saved / error)
	Notices  int
	Lang     string
	Focus    string // id of the focused element
}

const familyJS = `(() => {
	const q = s => document.querySelector('#ext-view ' + s);
	const txt = s => (q(s) || {}).textContent || '';
	const msg = [...document.querySelectorAll('#ext-view .fam-ok, #ext-view .login-error')].filter(e => !e.hidden).map(e => e.textContent).join(' ');
	const inc = q('.fam-inc') || q('.fam-inc-head');
	return {
		Hash: location.hash,
		Status: q('.fam-card') ? q('.fam-card').dataset.status : '',
		Word: txt('.fam-status'),
		Last: txt('.fam-last'),
		Away: q('#fam-away') ? q('#fam-away').dataset.away : '',
		Incident: inc ? inc.dataset.state : '',
		Refused: txt('.fam-refusal'),
		Message: msg,
		Notices: document.querySelectorAll('#ext-view .fam-notice').length,
		Lang: document.documentElement.lang,
		Focus: document.activeElement ? document.activeElement.id : '',
	};
})()`

func (b *browser) waitFamily(what string, ok func(familyView) bool) familyView {
	b.t.Helper()
	return waitJS(b, what, familyJS, ok)
}

func (b *browser) goTo(hash string) {
	b.t.Helper()
	eval[chromedp.Void](b, fmt.Sprintf(`void (location.hash = %q)`, hash))
}

// TestFamilyInBrowser: a daughter logs in on her phone and lands on her mother's
// status — 平安 with the last activity — and on the notification she got; opens the
// home, sets her mother away (travelling, back in three days) and back, and the API
// has each; rates the resolved incident with feedback; chooses SMS for incident
// progress only (a missing number is refused with the field named) and the evening
// digest then skips her. Another resident's home is refused, in the page and the
// API; a status her mother keeps private is said to be so. In Chinese and in
// English, at phone width, with screenshots.
func TestFamilyInBrowser(t *testing.T) {
	sms := &smsProvider{}
	provider := httptest.NewServer(sms)
	defer provider.Close()
	c := newCloud(t, func(cfg *cloudconfig.Config) {
		if err := yaml.Unmarshal([]byte(fmt.Sprintf(`aliyun_sms: {access_key_id: LTAI-test, access_key_secret: s3cr3t, sign_name: 守望, templates: {"": SMS_1000}, endpoint: %q}`,
			provider.URL+"/")), &cfg.Notify); err != nil {
			t.Fatal(err)
		}
	})
	secret := c.seed("gw-fam-0001")
	ctx := context.Background()
	if err := c.svc.Store.PutHome(ctx, store.Home{ID: "home-2", GridID: "grid-1", Address: "5-1-101", ResidentName: "张建国"}); err != nil {
		t.Fatal(err)
	}
	incID := resolvedIncident(t, c, "gw-fam-0001")
	family := familyLogin(t, c, "daughter", "女儿", "home-1")
	admin := c.client()
	newEdge(t, "gw-fam-0001", "tcp://"+c.cfg.MQTT.Listen, secret, t.TempDir(), func(cfg *config.Config) { cfg.Simulate.Scenario = "normal" })
	var st store.HomeStatus
	waitFor(t, 30*time.Second, "home-1 safe, with the last sign of life", func() bool {
		c.getJSON(family, "api/v1/homes/home-1/status", &st)
		return st.Status == store.StatusSafe && st.LastActivity != nil
	})
	// The evening digest (in the app, until she chooses) is kept for her to read.
	if n, err := c.svc.SendDigest(ctx, time.Now()); err != nil || n != 1 {
		t.Fatalf("digest: %d %v", n, err)
	}

	stopCloudAfterBrowser(t, c)
	b := newBrowser(t)
	// The digest's link: the home's page, once logged in.
	b.open(c.svc.URL() + "#home/home-1")
	b.login("daughter", "a long family password")
	b.waitFamily("the digest's link opens the home", func(v familyView) bool {
		return v.Hash == "#home/home-1" && v.Status == "safe" && v.Away == "false"
	})

	// 1. Landing: her mother's status at a glance, and the digest she got.
	b.click("back to the family page", "#ext-view .back-link")
	lastRe := regexp.MustCompile(`^最近活动：.*\d\d:\d\d（(.+前|刚刚)）$`)
	v := b.waitFamily("the landing page: 平安 with the last activity", func(v familyView) bool {
		return v.Hash == "#family" && v.Status == "safe" && v.Notices == 1
	})
	if v.Word != "✓平安" || !lastRe.MatchString(v.Last) {
		t.Errorf("status card: word %q, last activity %q", v.Word, v.Last)
	}
	if got := b.text("#ext-view .fam-notice"); !strings.Contains(got, "每日平安报告") || !strings.Contains(got, "王秀英") || !strings.Contains(got, "应用内") {
		t.Errorf("the digest notice reads %q", got)
	}
	if tabs := b.text("#role-nav"); !strings.Contains(tabs, "家人") || !strings.Contains(tabs, "通知设置") || strings.Contains(tabs, "事件") {
		t.Errorf("family tabs %q, want 家人 and 通知设置 without the worker's 事件", tabs)
	}
	// The next evening's digest arrives in the app while she looks: listed live.
	eval[chromedp.Void](b, `void (window.__marker = 1)`)
	if n, err := c.svc.SendDigest(ctx, time.Now().Add(24*time.Hour)); err != nil || n != 1 {
		t.Fatalf("next digest: %d %v", n, err)
	}
	b.waitFamily("the new digest listed without a reload", func(v familyView) bool { return v.Notices == 2 })
	if eval[int](b, `window.__marker || 0`) != 1 {
		t.Error("the page was reloaded")
	}
	b.fits("the family landing page")
	b.screenshot("family-zh-CN")

	// 2. The home (where the digest links), away and back.
	b.click("open the home", "#ext-view .fam-more")
	v = b.waitFamily("the home page", func(v familyView) bool {
		return v.Hash == "#home/home-1" && v.Away == "false" && v.Incident == "resolved"
	})
	loc, _ := time.LoadLocation(config.Default().Timezone)
	back := time.Now().In(loc).AddDate(0, 0, 3)
	b.click("reason: travelling", `label[for="fam-reason-travel"]`)
	b.do("return date", chromedp.SetValue(chromedp.CSS("#fam-until"), back.Format("2006-01-02")))
	b.fits("the away form")
	b.click("set away", "#fam-away-submit")
	v = b.waitFamily("away shown", func(v familyView) bool { return v.Away == "true" && strings.Contains(v.Message, "已设置外出") })
	if got := b.text("#ext-view .fam-away-now"); !strings.Contains(got, "外出旅行") || !strings.Contains(got, fmt.Sprintf("%d月%d日", back.Month(), back.Day())) {
		t.Errorf("away reads %q, want 外出旅行 until %s", got, back.Format("1月2日"))
	}
	var set store.HomeConfig
	c.getJSON(admin, "api/v1/homes/home-1/settings", &set)
	if !set.Settings.Away || set.Settings.AwayReason != "travel" || set.Settings.AwayUntil == nil ||
		set.Settings.AwayUntil.In(loc).Format("2006-01-02") != back.Format("2006-01-02") || set.UpdatedBy != "daughter" {
		t.Errorf("settings in the API after setting away: %+v (until %v)", set, set.Settings.AwayUntil)
	}
	b.waitFamily("the away badge on the status", func(v familyView) bool {
		return strings.Contains(b.text("#ext-view .fam-card"), "外出中")
	})
	b.screenshot("family-away-zh-CN")
	b.click("back home", "#fam-away-submit")
	b.waitFamily("back shown", func(v familyView) bool { return v.Away == "false" && strings.Contains(v.Message, "已恢复守望") })
	set = store.HomeConfig{}
	c.getJSON(admin, "api/v1/homes/home-1/settings", &set)
	if set.Settings.Away || set.Settings.AwayUntil != nil || set.Revision != 2 {
		t.Errorf("settings in the API after coming back: %+v", set)
	}

	// 3. The resolved incident: its closed loop, then feedback and 4 stars.
	b.click("open the incident", "#ext-view .fam-inc-link")
	b.waitFamily("the incident page with its feedback form", func(v familyView) bool {
		return v.Hash == "#incident/"+incID && v.Incident == "resolved" && eval[bool](b, `!!document.getElementById('fam-feedback-form')`)
	})
	if tl := b.text("#ext-view .timeline"); !strings.Contains(tl, "接单") || !strings.Contains(tl, "处理完成") || !strings.Contains(tl, "老人平安") {
		t.Errorf("timeline %q, want the worker's steps and the outcome", tl)
	}
	b.do("feedback", chromedp.SendKeys(chromedp.CSS("#fam-feedback-text"), "谢谢李网格员，来得很快"))
	b.click("4 stars", `label[for="rating-4"]`)
	b.fits("the feedback form")
	b.screenshot("family-feedback-zh-CN")
	b.click("send", "#fam-feedback-submit")
	b.waitFamily("thanks", func(v familyView) bool {
		return v.Incident == "evaluated" && strings.Contains(b.text("#ext-view .closed-note"), "谢谢")
	})
	in := c.incident(admin, incID)
	if in.State != store.IncEvaluated || in.Rating == nil || *in.Rating != 4 || in.Feedback != "谢谢李网格员，来得很快" {
		t.Errorf("incident in the API: state %s, rating %v, feedback %q", in.State, in.Rating, in.Feedback)
	}
	actionsBy(t, in, "daughter", "feedback", "evaluate")

	// 4. Notification settings: SMS for incident progress only.
	b.goTo("#notify")
	b.waitFamily("the notification form", func(v familyView) bool { return eval[bool](b, `!!document.getElementById('fam-notify-form')`) })
	if on := eval[[]string](b, `[...document.querySelectorAll('#fam-notify-form input:checked')].map(i => i.value)`); strings.Join(on, ",") != "status,digest,inapp" {
		t.Errorf("default choices ticked: %v, want status, digest, inapp", on)
	}
	b.click("digest off", `label[for="fam-kind-digest"]`)
	b.click("in-app off", `label[for="fam-channel-inapp"]`)
	b.click("SMS on", `label[for="fam-channel-sms"]`)
	b.click("save without a number", "#fam-notify-submit")
	v = b.waitFamily("the missing number refused", func(v familyView) bool { return strings.Contains(v.Message, "请输入 11 位手机号码") })
	if v.Focus != "fam-phone" {
		t.Errorf("focus on %q after the refusal, want the phone field", v.Focus)
	}
	if on := eval[[]string](b, `[...document.querySelectorAll('#fam-notify-form input:checked')].map(i => i.value)`); strings.Join(on, ",") != "status,sms" {
		t.Errorf("after the refusal the form shows %v, want what she ticked (status, sms)", on)
	}
	b.screenshot("family-notify-error-zh-CN")
	b.do("phone number", chromedp.SendKeys(chromedp.CSS("#fam-phone"), "13900000001"))
	b.click("save", "#fam-notify-submit")
	b.waitFamily("saved", func(v familyView) bool { return strings.Contains(v.Message, "已保存") })
	var prefs struct{ Notifications store.NotifyPrefs }
	c.getJSON(family, "api/v1/me/notifications", &prefs)
	if p := prefs.Notifications; p.Default || strings.Join(p.Channels, ",") != "sms" || strings.Join(p.Kinds, ",") != "status" || p.Phone != "13900000001" || p.Lang != "zh-CN" {
		t.Errorf("choices in the API: %+v", p)
	}
	b.fits("the notification settings")
	b.screenshot("family-notify-zh-CN")
	// The next evening's digest skips her (she switched it off): nothing is texted.
	if n, err := c.svc.SendDigest(ctx, time.Now().Add(48*time.Hour)); err != nil || n != 0 {
		t.Errorf("digest after switching it off: sent %d (%v), want 0", n, err)
	}
	if got := sms.texted(); len(got) != 0 {
		t.Errorf("SMS sent to %v although she wants no digest", got)
	}

	// 5. Another resident's home: refused in the page and by the API.
	b.goTo("#home/home-2")
	v = b.waitFamily("the refusal", func(v familyView) bool { return v.Refused != "" })
	if !strings.Contains(v.Refused, "无法查看") || strings.Contains(b.text("#ext-view"), "张建国") {
		t.Errorf("refusal reads %q; page %q", v.Refused, b.text("#ext-view"))
	}
	for _, path := range []string{"/api/v1/homes/home-2/status", "/api/v1/homes/home-2/settings"} {
		if st := b.fetchStatus(path); st != 403 && st != 404 {
			t.Errorf("GET %s of another resident: %d, want 403 or 404", path, st)
		}
	}
	b.fits("the refusal")
	b.screenshot("family-refused-zh-CN")

	// 6. English, and large text.
	b.do("switch to English", chromedp.Click(chromedp.CSS("#lang-toggle")))
	v = b.waitFamily("the refusal in English", func(v familyView) bool { return v.Lang == "en" && strings.Contains(v.Refused, "Not available") })
	b.screenshot("family-refused-en")
	b.goTo("#family")
	v = b.waitFamily("the landing page in English", func(v familyView) bool { return v.Status == "safe" && strings.Contains(v.Word, "Safe") })
	if !strings.HasPrefix(v.Last, "Last activity: ") || !strings.Contains(b.text("#ext-view .fam-notices"), "Daily digest") {
		t.Errorf("English landing: last %q, notices %q", v.Last, b.text("#ext-view .fam-notices"))
	}
	b.fits("the English landing page")
	b.screenshot("family-en")
	b.goTo("#home/home-1")
	b.waitFamily("the home page in English", func(v familyView) bool {
		return v.Away == "false" && strings.Contains(b.text("#fam-away-submit"), "Set away")
	})
	b.do("large text", chromedp.Click(chromedp.CSS("#text-size-toggle")))
	waitJS(b, "large text on", `document.documentElement.classList.contains('large-text')`, func(on bool) bool { return on })
	b.fits("the English home page in large text")
	b.screenshot("family-home-en-large-text")
	b.goTo("#notify")
	b.waitFamily("the notification form in English", func(v familyView) bool { return strings.Contains(b.text("#fam-notify-form"), "Incident progress") })
	b.fits("the English notification settings in large text")
	b.screenshot("family-notify-en-large-text")

	// 7. Her mother keeps her daily status from family: said so, not an error.
	if err := c.svc.Store.SetPrivacy(ctx, "home-1", store.KindTimeline, []string{"worker"}, "resident", time.Now()); err != nil {
		t.Fatal(err)
	}
	b.goTo("#family")
	v = b.waitFamily("the private status", func(v familyView) bool { return v.Status == "private" })
	if got := b.text("#ext-view .fam-card"); !strings.Contains(got, "private") || strings.Contains(got, "Safe") {
		t.Errorf("private status card reads %q", got)
	}

	// 8. The resident herself: her own status and incidents; away is not hers to set.
	r, err := admin.Post(c.svc.URL()+"api/v1/users", "application/json",
		strings.NewReader(`{"username":"xiuying","name":"王秀英","role":"resident","password":"a long resident password","homes":["home-1"]}`))
	if err != nil || r.StatusCode != 201 {
		t.Fatalf("create resident login: %v %v", r.StatusCode, err)
	}
	r.Body.Close()
	b.click("log out", "#logout")
	b.do("login form shown", chromedp.WaitVisible(chromedp.CSS("#username")))
	eval[chromedp.Void](b, `void (document.getElementById('username').value = '')`) // the last user name stays filled in
	b.login("xiuying", "a long resident password")
	b.waitFamily("the resident's own status", func(v familyView) bool { return v.Status == "safe" })
	if tabs := b.text("#role-nav"); strings.Contains(tabs, "Notifications") {
		t.Errorf("resident tabs %q: notification choices are the family's", tabs)
	}
	b.goTo("#home/home-1")
	b.waitFamily("the resident's home page", func(v familyView) bool { return v.Away == "false" && v.Incident == "evaluated" })
	if eval[bool](b, `!!document.getElementById('fam-away-form')`) {
		t.Error("the resident is offered the away form, which her role may not use")
	}
}
