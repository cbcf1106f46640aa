package e2e

// Browser tests: the web page in a real headless Chromium at phone size, against an
// in-process cloud (embedded broker and SQLite) and a simulated edge.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/shouwang-care/shouwang/cloud/store"
	edgeconfig "github.com/shouwang-care/shouwang/edge/config"
)

const (
	chromiumPath = "/usr/bin/chromium"
	// browserWait bounds every wait on the page; CI machines have 2 cores.
	browserWait = 30 * time.Second
	phoneWidth  = 360
	phoneHeight = 740
)

// browser is one tab of a fresh headless Chromium with its own profile.
type browser struct {
	t   *testing.T
	ctx context.Context

	artefacts string // where screenshots go, once chosen

	mu         sync.Mutex
	exceptions []string // uncaught JavaScript exceptions of the page
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if testing.Short() {
			t.Skip("chromium not found: skipped with -short")
		}
		t.Fatal("chromium not found: run scripts/test.sh (make test), which installs it")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox, // tests run as root
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(phoneWidth, phoneHeight),
		// A phone in China: Chinese UI language, and the clock of the homes
		// (the evidence "last water use 06:42" is local time there).
		chromedp.Flag("lang", "zh-CN"),
		chromedp.Flag("accept-lang", "zh-CN,zh"),
		chromedp.Env("LANGUAGE=zh_CN", "TZ="+edgeconfig.Default().Timezone),
	)
	// The whole browser lives at most this long, so a hang fails instead of
	// waiting for the go test timeout.
	root, stop := context.WithTimeout(context.Background(), 2*time.Minute)
	actx, cancelAlloc := chromedp.NewExecAllocator(root, opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	b := &browser{t: t, ctx: ctx}
	done := make(chan struct{}) // closed when the console reader has ended
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
		stop()
		<-done
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, e := range b.exceptions {
			t.Errorf("uncaught JavaScript exception in the page: %s", e)
		}
	})
	if err := chromedp.Do(ctx); err != nil { // start the browser and open the tab
		close(done)
		t.Fatalf("start chromium: %v", err)
	}
	console := chromedp.Console(ctx)
	go func() {
		defer close(done)
		for m, err := range console {
			if err != nil {
				return
			}
			if m.IsException() {
				b.mu.Lock()
				b.exceptions = append(b.exceptions, m.String())
				b.mu.Unlock()
			}
		}
	}()
	// Chromium's window cannot be narrower than 500 px, so the phone's viewport is
	// emulated: 360×740 CSS px at 2× (the PNGs are 720×1480).
	b.do("phone viewport", chromedp.EmulateViewport(phoneWidth, phoneHeight,
		chromedp.EmulatePortrait, chromedp.EmulateMobile, chromedp.EmulateScale(2)))
	return b
}

// stopCloudAfterBrowser stops c before c's own cleanup and fails if the shutdown was
// not clean — an open live stream once held it for the full shutdown timeout.
// Call it before newBrowser (cleanups run last-in first-out).
func stopCloudAfterBrowser(t *testing.T, c *cloud) {
	t.Cleanup(func() {
		if c.cancel == nil {
			return
		}
		c.cancel()
		err := <-c.done
		c.cancel = nil
		if err != nil {
			t.Errorf("cloud stopped with %v (an open live stream must not hold the shutdown)", err)
		}
	})
}

// do runs actions with the browserWait deadline.
func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserWait)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression (a promise is awaited) into T.
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	v, err := evalErr[T](b, expr)
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

func evalErr[T any](b *browser, expr string) (T, error) {
	ctx, cancel := context.WithTimeout(b.ctx, browserWait)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
}

// waitJS evaluates expr until ok accepts its value, for up to browserWait; on a
// timeout it reports the last value seen.
func waitJS[T any](b *browser, what, expr string, ok func(T) bool) T {
	b.t.Helper()
	deadline := time.Now().Add(browserWait)
	for {
		v, err := evalErr[T](b, expr)
		if err == nil && ok(v) {
			return v
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("timed out after %v waiting for %s; last value %+v, error %v", browserWait, what, v, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// fetchStatus is the HTTP status of a GET from inside the page (its cookies).
func (b *browser) fetchStatus(path string) int {
	b.t.Helper()
	return eval[int](b, fmt.Sprintf(`fetch(%q, {credentials: 'same-origin'}).then(r => r.status)`, path))
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	return eval[string](b, fmt.Sprintf(`(document.querySelector(%q) || {}).textContent || ''`, sel))
}

func (b *browser) open(url string) {
	b.t.Helper()
	b.do("open the page", chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS("#login-form")))
}

// login fills in and submits the login form as a person would.
func (b *browser) login(user, password string) {
	b.t.Helper()
	b.do("log in through the form",
		chromedp.WaitVisible(chromedp.CSS("#username")),
		chromedp.SendKeys(chromedp.CSS("#username"), user),
		chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.Click(chromedp.CSS("#login-submit")),
	)
}

// screenshot saves a full-page PNG as a test artefact and logs its path.
func (b *browser) screenshot(name string) string {
	b.t.Helper()
	if b.artefacts == "" {
		b.artefacts = os.Getenv("SHOUWANG_ARTIFACTS")
		if b.artefacts == "" {
			b.artefacts = b.t.TempDir()
		} else if err := os.MkdirAll(b.artefacts, 0o755); err != nil {
			b.t.Fatal(err)
		}
	}
	dir := b.artefacts
	ctx, cancel := context.WithTimeout(b.ctx, browserWait)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(dir, strings.ReplaceAll(b.t.Name(), "/", "_")+"-"+name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot %s: %s", name, path)
	return path
}

// fits checks the page at phone width: a 360 px viewport, no sideways scrolling, and
// no visible element sticking out to the left or right.
func (b *browser) fits(what string) {
	b.t.Helper()
	type fit struct {
		Width, ScrollWidth int
		Outside            []string
	}
	f := eval[fit](b, `(() => {
		const w = document.documentElement.clientWidth;
		const outside = [...document.querySelectorAll('body *')].filter(e => {
			const r = e.getBoundingClientRect();
			return r.width > 0 && r.height > 0 && r.bottom > 0 && (r.left < -0.5 || r.right > w + 0.5);
		}).map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.className ? '.' + String(e.className).replace(/ +/g, '.') : ''));
		return {Width: window.innerWidth, ScrollWidth: document.documentElement.scrollWidth, Outside: outside.slice(0, 8)};
	})()`)
	if f.Width != phoneWidth || f.ScrollWidth > f.Width || len(f.Outside) > 0 {
		b.t.Errorf("%s does not fit the phone: viewport %d px (want %d), content %d px wide, sticking out: %v",
			what, f.Width, phoneWidth, f.ScrollWidth, f.Outside)
	}
}

// durationsWhole checks that no duration in the evidence ("12小时06分钟",
// "12 h 06 min") is broken across two lines: on a narrow phone a worker must read
// how long the home has been quiet at a glance.
func (b *browser) durationsWhole(what string) {
	b.t.Helper()
	broken := eval[[]string](b, `(() => {
		const re = /\d+\s*(?:小时|天|h|d)\s*\d+\s*(?:分钟|小时|min|h)|\d+\s*(?:分钟|min)/g;
		const broken = [];
		let seen = 0;
		document.querySelectorAll('.alert-card .evidence li').forEach(li => {
			const node = li.firstChild;
			if (!node || node.nodeType !== Node.TEXT_NODE) return;
			for (const m of node.data.matchAll(re)) {
				seen++;
				const r = document.createRange();
				r.setStart(node, m.index);
				r.setEnd(node, m.index + m[0].length);
				const tops = new Set([...r.getClientRects()].map(x => Math.round(x.top)));
				if (tops.size > 1) broken.push(m[0] + ' in "' + node.data + '"');
			}
		});
		if (!seen) broken.push('no duration found in the evidence');
		return broken;
	})()`)
	if len(broken) > 0 {
		b.t.Errorf("%s: durations broken across lines: %q", what, broken)
	}
}

// cardView is what the page shows of its no-water alert cards. (Other rules the
// edge may grow can add cards of their own; these tests are about this one.)
type cardView struct {
	N        int    // number of no-water alert cards
	ID       string // data-alert-id of the first
	State    string
	Rule     string
	Resident string
	Evidence string
	Assignee string
	Live     string // #live-status data-live
	Marker   *int   // window.__marker, nil once the page was reloaded
	Lang     string
	Fetches  int    // GET /api/v1/alerts requests the page made
	Announce string // the screen reader announcement (#announcer)
}

const cardJS = `(() => {
	const cards = document.querySelectorAll('.alert-card[data-rule="no_water"]');
	const c = cards[0];
	const q = s => (c && c.querySelector(s) || {}).textContent || '';
	return {
		N: cards.length,
		ID: c ? c.dataset.alertId : '',
		State: c ? c.dataset.state : '',
		Rule: q('.rule-name'),
		Resident: q('.resident'),
		Evidence: q('.evidence'),
		Assignee: q('.assignee-name:not(.unassigned)'),
		Live: document.getElementById('live-status').dataset.live,
		Marker: window.__marker === undefined ? null : window.__marker,
		Lang: document.documentElement.lang,
		Fetches: performance.getEntriesByType('resource').filter(e => e.name.includes('/api/v1/alerts?')).length,
		Announce: document.getElementById('announcer').textContent,
	};
})()`

func (b *browser) waitCard(what string, ok func(cardView) bool) cardView {
	b.t.Helper()
	return waitJS(b, what, cardJS, ok)
}

func dispatchedCard(v cardView) bool {
	return v.N > 0 && v.State == "raised" && strings.Contains(v.Assignee, "李网格员")
}

// apiAlerts lists the alerts through the API with the page's own session.
func (b *browser) apiAlerts() []store.Alert {
	b.t.Helper()
	raw := eval[string](b, `fetch('/api/v1/alerts', {credentials: 'same-origin'}).then(r => {
		if (r.status !== 200) throw new Error('GET /api/v1/alerts: ' + r.status);
		return r.text();
	})`)
	var body struct{ Alerts []store.Alert }
	if err := json.Unmarshal([]byte(raw), &body); err != nil {
		b.t.Fatalf("alerts JSON: %v\n%s", err, raw)
	}
	return body.Alerts
}

// TestBrowserLiveAlert: the grid worker logs in on the phone; the no-water alert
// raised afterwards appears through the live stream, without a reload, dispatched to
// the worker, with the resident and the evidence in Chinese.
func TestBrowserLiveAlert(t *testing.T) {
	c := newCloud(t, nil)
	secret := c.seed("gw-web-0001")
	stopCloudAfterBrowser(t, c)
	b := newBrowser(t)
	b.open(c.svc.URL())
	b.login("admin", c.admin)
	b.do("alert list shown", chromedp.WaitVisible(chromedp.CSS("#alerts-view")))
	eval[chromedp.Void](b, `void (window.__marker = 1)`)

	// Connected to the live stream, and the first fetch found nothing: from here on
	// an alert can only arrive through the stream.
	b.do("live stream connected", chromedp.WaitVisible(chromedp.CSS(`#live-status[data-live="true"]`)))
	b.do("initial (empty) list loaded", chromedp.WaitVisible(chromedp.CSS("#alerts .alerts-empty")))
	if got := b.text("#live-status"); !strings.Contains(got, "实时") {
		t.Errorf("live status reads %q, want 实时", got)
	}
	if n := eval[int](b, `document.querySelectorAll('.alert-card').length`); n != 0 {
		t.Fatalf("%d alert cards before the edge started", n)
	}

	e := newEdge(t, "gw-web-0001", "tcp://"+c.cfg.MQTT.Listen, secret, t.TempDir())
	v := b.waitCard("the live alert card dispatched to 李网格员", dispatchedCard)
	b.do("card visible", chromedp.WaitVisible(chromedp.CSS(`.alert-card[data-rule="no_water"][data-state="raised"]`)))
	if v.Marker == nil || *v.Marker != 1 {
		t.Fatal("the page was reloaded: window.__marker is gone")
	}
	if v.Fetches != 1 {
		t.Errorf("the page fetched the alert list %d times, want once (the alert must come through the stream)", v.Fetches)
	}
	if !strings.Contains(v.Announce, "新告警：长时间未用水，王秀英") {
		t.Errorf("announcement %q, want 新告警：长时间未用水，王秀英…", v.Announce)
	}
	if v.Rule != "长时间未用水" {
		t.Errorf("rule name %q, want 长时间未用水", v.Rule)
	}
	if v.Resident != "王秀英" {
		t.Errorf("resident %q, want 王秀英", v.Resident)
	}
	if want := lastWaterHHMM(t, c); !strings.Contains(v.Evidence, "最后用水") || !strings.Contains(v.Evidence, want) {
		t.Errorf("evidence %q, want the last water use at %s in Chinese", v.Evidence, want)
	}
	if v.Lang != "zh-CN" {
		t.Errorf("<html lang=%q>, want zh-CN", v.Lang)
	}

	// Once the edge's outbox is drained no resend is in flight: the alert must
	// still be there exactly once, on the page and in the API.
	waitFor(t, browserWait, "edge outbox drained", func() bool { return e.d.Pending() == 0 })
	v = b.waitCard("card still dispatched", dispatchedCard)
	if v.N != 1 {
		t.Errorf("%d no-water alert cards, want 1", v.N)
	}
	if v.Marker == nil || v.Live != "true" {
		t.Errorf("after the alert: marker %v, live %q; want the same page, still live", v.Marker, v.Live)
	}
	var noWater []store.Alert
	for _, a := range b.apiAlerts() {
		if a.Rule == "no_water" {
			noWater = append(noWater, a)
		}
	}
	if len(noWater) != 1 {
		t.Fatalf("API lists %d no-water alerts, want 1: %+v", len(noWater), noWater)
	}
	a := noWater[0]
	if a.ID != v.ID || a.Resident != "王秀英" || a.Assignee == nil || a.Assignee.Name != "李网格员" {
		t.Errorf("API alert %+v (assignee %+v); card %s", a, a.Assignee, v.ID)
	}
}

// TestBrowserBadLogin: a wrong password shows an error and opens no session; the
// right one then gets in.
func TestBrowserBadLogin(t *testing.T) {
	c := newCloud(t, nil)
	stopCloudAfterBrowser(t, c)
	b := newBrowser(t)
	b.open(c.svc.URL())
	b.login("admin", "not-the-password")
	b.do("login error shown", chromedp.WaitVisible(chromedp.CSS("#login-error")))
	if got := strings.TrimSpace(b.text("#login-error")); got != "用户名或密码错误" {
		t.Errorf("login error reads %q, want 用户名或密码错误", got)
	}
	if hidden := eval[bool](b, `document.getElementById('alerts-view').hidden`); !hidden {
		t.Error("the alert list is shown after a failed login")
	}
	if st := b.fetchStatus("/api/v1/me"); st != 401 {
		t.Errorf("GET /api/v1/me after a failed login: %d, want 401", st)
	}
	b.fits("the login form with its error")
	b.screenshot("login-error")

	b.do("clear the password", chromedp.Clear(chromedp.CSS("#password")))
	b.login("", c.admin) // the user name is still filled in
	b.do("alert list shown", chromedp.WaitVisible(chromedp.CSS("#alerts-view")))
	if hidden := eval[bool](b, `document.getElementById('login-error').hidden`); !hidden {
		t.Error("the login error is still shown after logging in")
	}
	if st := b.fetchStatus("/api/v1/me"); st != 200 {
		t.Errorf("GET /api/v1/me after logging in: %d, want 200", st)
	}
}

// TestBrowserLanguages: Chinese by default, English after the toggle, on the login
// form and on an alert card (loaded by the first fetch, not live); screenshots of both.
func TestBrowserLanguages(t *testing.T) {
	c := newCloud(t, nil)
	secret := c.seed("gw-web-0002")
	stopCloudAfterBrowser(t, c)
	newEdge(t, "gw-web-0002", "tcp://"+c.cfg.MQTT.Listen, secret, t.TempDir())
	hc := c.client()
	waitFor(t, browserWait, "no-water alert dispatched", func() bool {
		for _, a := range c.alerts(hc) {
			if a.Rule == "no_water" && a.Status == store.StatusDispatched {
				return true
			}
		}
		return false
	})

	b := newBrowser(t)
	b.open(c.svc.URL())
	lang := func() string { return eval[string](b, `document.documentElement.lang`) }
	if l, btn, tog := lang(), b.text("#login-submit"), b.text("#lang-toggle"); l != "zh-CN" || btn != "登录" || tog != "English" {
		t.Errorf("default page: lang %q, login button %q, toggle %q; want zh-CN, 登录, English", l, btn, tog)
	}
	b.do("switch to English", chromedp.Click(chromedp.CSS("#lang-toggle")))
	waitJS(b, "login form in English", `document.getElementById('login-submit').textContent`, func(s string) bool { return s == "Log in" })
	if l, tog := lang(), b.text("#lang-toggle"); l != "en" || tog != "中文" {
		t.Errorf("English login form: lang %q, toggle %q; want en, 中文", l, tog)
	}
	b.do("back to Chinese", chromedp.Click(chromedp.CSS("#lang-toggle")))
	waitJS(b, "login form in Chinese", `document.getElementById('login-submit').textContent`, func(s string) bool { return s == "登录" })

	b.login("admin", c.admin)
	v := b.waitCard("alert card in Chinese", dispatchedCard)
	lastUse := lastWaterHHMM(t, c)
	if v.Lang != "zh-CN" || v.Rule != "长时间未用水" || !strings.Contains(v.Evidence, lastUse) {
		t.Errorf("Chinese card: %+v", v)
	}
	b.fits("the Chinese alert list")
	b.durationsWhole("the Chinese alert list")
	b.screenshot("zh-CN")

	b.do("switch to English", chromedp.Click(chromedp.CSS("#lang-toggle")))
	v = b.waitCard("alert card in English", func(v cardView) bool { return dispatchedCard(v) && v.Lang == "en" })
	if v.Rule != "No water use" {
		t.Errorf("English rule name %q, want No water use", v.Rule)
	}
	if !strings.Contains(v.Evidence, "Last water use") || !strings.Contains(v.Evidence, lastUse) {
		t.Errorf("English evidence %q, want the last water use at %s", v.Evidence, lastUse)
	}
	if got := b.text("#alerts-title"); got != "Alerts" {
		t.Errorf("English list title %q, want Alerts", got)
	}
	b.fits("the English alert list")
	b.durationsWhole("the English alert list")
	b.screenshot("en")

	// Large text, in English (the longer strings): still no sideways scrolling.
	b.do("large text", chromedp.Click(chromedp.CSS("#text-size-toggle")))
	waitJS(b, "large text on", `document.documentElement.classList.contains('large-text')`, func(on bool) bool { return on })
	b.fits("the English alert list in large text")
	b.durationsWhole("the English alert list in large text")
	b.screenshot("en-large-text")
	b.do("back to Chinese", chromedp.Click(chromedp.CSS("#lang-toggle")))
	b.waitCard("alert card in Chinese again", func(v cardView) bool { return dispatchedCard(v) && v.Lang == "zh-CN" })
	b.fits("the Chinese alert list in large text")
	b.durationsWhole("the Chinese alert list in large text")
	b.screenshot("zh-CN-large-text")

	// The choices are remembered across a reload.
	b.do("switch to English", chromedp.Click(chromedp.CSS("#lang-toggle")))
	b.waitCard("alert card in English again", func(v cardView) bool { return dispatchedCard(v) && v.Lang == "en" })
	b.do("reload", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(".alert-card")))
	if l := lang(); l != "en" {
		t.Errorf("after a reload: lang %q, want en (remembered)", l)
	}
	if large := eval[bool](b, `document.documentElement.classList.contains('large-text')`); !large {
		t.Error("after a reload: large text is off, want on (remembered)")
	}
}

// lastWaterHHMM is the last water use of the no-water alert as the API has it, in
// the home's time zone: the page must show the same. (The simulated meters are
// polled, so the use at 06:42 is seen at the first reading after it.)
func lastWaterHHMM(t *testing.T, c *cloud) string {
	t.Helper()
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range c.alerts(c.client()) {
		if a.Rule == "no_water" && len(a.Evidence) > 0 && a.Evidence[0].LastAt != nil {
			return a.Evidence[0].LastAt.In(loc).Format("15:04")
		}
	}
	t.Fatal("no no_water alert with a last water use in the API")
	return ""
}
