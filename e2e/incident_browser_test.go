package e2e

// Browser tests of the grid worker's incident screens: the live incident list, the
// incident page and its closed-loop steps, the offline queue, and the service
// worker's app shell. Same phone-sized headless Chromium as browser_test.go.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/shouwang-care/shouwang/cloud/store"
)

// setOffline cuts the page off the network (every request fails, navigator.onLine
// is false and the offline event fires), or puts it back.
func (b *browser) setOffline(off bool) {
	b.t.Helper()
	cond := &network.Conditions{Offline: off, DownloadThroughput: -1, UploadThroughput: -1}
	swOff := off
	b.do(fmt.Sprintf("network offline=%v", off), func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		if _, err := cdp.Call(ctx, t, network.Enable, network.EnableParams{}); err != nil {
			return chromedp.Void{}, err
		}
		if _, err := cdp.Call(ctx, t, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{
			EmulateOfflineServiceWorker: &swOff,
			MatchedNetworkConditions:    []*network.Conditions{cond},
		}); err != nil {
			return chromedp.Void{}, err
		}
		_, err := cdp.Call(ctx, t, network.OverrideNetworkState, network.OverrideNetworkStateParams{
			Offline: off, DownloadThroughput: -1, UploadThroughput: -1,
		})
		return chromedp.Void{}, err
	})
	want := "true"
	if off {
		want = "false"
	}
	waitJS(b, "navigator.onLine = "+want, `String(navigator.onLine)`, func(s string) bool { return s == want })
}

// incidentCardView is what the list shows of the incident cards.
type incidentCardView struct {
	N         int
	ID        string
	State     string
	Severity  string
	SevText   string
	Causes    string
	Resident  string
	Address   string
	Since     string
	Assignee  string
	Announce  string
	Marker    *int
	Live      string
	ListShown bool
}

const incidentCardJS = `(() => {
	const cards = document.querySelectorAll('.incident-card[data-incident-id]');
	const c = cards[0];
	const q = s => (c && c.querySelector(s) || {}).textContent || '';
	return {
		N: cards.length,
		ID: c ? c.dataset.incidentId : '',
		State: c ? c.dataset.state : '',
		Severity: c ? c.dataset.severity : '',
		SevText: q('.severity'),
		Causes: q('.incident-link'),
		Resident: q('.resident'),
		Address: q('.address'),
		Since: q('.since'),
		Assignee: q('.assignee-name:not(.unassigned)'),
		Announce: document.getElementById('incident-announcer').textContent,
		Marker: window.__marker === undefined ? null : window.__marker,
		Live: document.getElementById('live-status').dataset.live,
		ListShown: !document.getElementById('incidents-view').closest('[hidden]'),
	};
})()`

// incidentPageView is what the incident page shows.
type incidentPageView struct {
	Shown    bool
	ID       string
	Title    string
	Step     string   // data-step of the step form (the projected state)
	Buttons  []string // data-action of the step buttons
	Evidence string
	Tel      []string
	Timeline []string // data-action of the timeline entries
	Queue    []string // "action:status" of the queued entries
	QStatus  string   // #queue-status text, "" when hidden
	Message  string   // #incident-message text, "" when hidden
	Lang     string
}

const incidentPageJS = `(() => {
	const v = document.getElementById('incident-view');
	const all = (s, f) => [...v.querySelectorAll(s)].map(f);
	const shown = id => { const e = document.getElementById(id); return e && !e.hidden ? e.textContent : ''; };
	const form = document.getElementById('step-form');
	return {
		Shown: !v.hidden,
		ID: v.dataset.incidentId || '',
		Title: (document.getElementById('incident-title') || {}).textContent || '',
		Step: form ? form.dataset.step : '',
		Buttons: all('.step-btn', e => e.dataset.action),
		Evidence: all('.inc-evidence', e => e.textContent).join(' '),
		Tel: all('a[href^="tel:"]', e => e.getAttribute('href')),
		Timeline: all('.timeline li', e => e.dataset.action),
		Queue: all('#incident-queue li', e => e.dataset.action + ':' + e.dataset.status),
		QStatus: shown('queue-status'),
		Message: shown('incident-message'),
		Lang: document.documentElement.lang,
	};
})()`

func (b *browser) waitPage(what string, ok func(incidentPageView) bool) incidentPageView {
	b.t.Helper()
	return waitJS(b, what, incidentPageJS, ok)
}

func (b *browser) click(what, sel string) {
	b.t.Helper()
	// A live update may redraw the view between finding the element and clicking it
	// (CDP then reports the node gone); a person's tap lands on the redrawn one, so
	// look it up again.
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(b.ctx, browserWait)
		err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(sel)), chromedp.WaitEnabled(chromedp.CSS(sel)), chromedp.Click(chromedp.CSS(sel)))
		cancel()
		if err == nil {
			return
		}
		if attempt == 5 || !strings.Contains(err.Error(), "Could not find node") {
			b.t.Fatalf("%s: %v", what, err)
		}
	}
}

func hasAll(have []string, want ...string) bool {
	for _, w := range want {
		found := false
		for _, h := range have {
			found = found || h == w
		}
		if !found {
			return false
		}
	}
	return true
}

// apiIncident reads the incident through the API with the test's own session.
func apiIncident(t *testing.T, c *cloud, hc *http.Client, id string) store.Incident {
	t.Helper()
	return c.incident(hc, id)
}

// postAction takes a closed-loop step through the API (another device of the
// same worker, say) and returns the status.
func postAction(t *testing.T, c *cloud, hc *http.Client, id, action, body string) int {
	t.Helper()
	r, err := hc.Post(c.svc.URL()+"api/v1/incidents/"+id+"/"+action, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	io.Copy(io.Discard, r.Body)
	return r.StatusCode
}

// actionsBy returns the times of the timeline's human steps, by action, and
// checks each was taken by user.
func actionsBy(t *testing.T, in store.Incident, user string, actions ...string) []time.Time {
	t.Helper()
	var at []time.Time
	for _, a := range actions {
		var found *store.IncidentEvent
		for i := range in.Timeline {
			if in.Timeline[i].Action == a {
				found = &in.Timeline[i]
			}
		}
		if found == nil {
			t.Fatalf("timeline has no %s: %+v", a, in.Timeline)
		}
		if found.Actor != user {
			t.Errorf("%s by %q, want %q", a, found.Actor, user)
		}
		if found.At.IsZero() {
			t.Errorf("%s has no time", a)
		}
		at = append(at, found.At)
	}
	return at
}

// TestIncidentClosedLoopInBrowser: the worker logs in on the phone; the incident of
// a simulated collapse appears live in "my open incidents"; they open it, accept,
// mark arrived while offline (the step waits in the queue and is sent once back
// online), resolve with outcome "safe" and a note, and give feedback; a rating
// queued offline that the server refuses (409: someone rated meanwhile) is shown and
// not retried. The API then has the whole loop, by that user, in order.
func TestIncidentClosedLoopInBrowser(t *testing.T) {
	c := newCloud(t, nil)
	secret := c.seed("gw-inc-0001")
	// Whom to call: the resident and her daughter, shown on the incident page.
	if _, err := c.svc.Store.ImportRegistry(context.Background(), store.Registry{Residents: []store.Resident{{
		ID: "r-1", HomeID: "home-1", Name: "王秀英", Phone: "13700000001",
		Contacts: []store.EmergencyContact{{Name: "张丽", Relation: "女儿", Phone: "13900000002"}},
	}}}); err != nil {
		t.Fatal(err)
	}
	stopCloudAfterBrowser(t, c)
	hc := c.client()
	b := newBrowser(t)
	b.open(c.svc.URL())
	b.login("admin", c.admin)
	b.do("incident list shown", chromedp.WaitVisible(chromedp.CSS("#incidents-view")))
	eval[chromedp.Void](b, `void (window.__marker = 1)`)
	b.do("live stream connected", chromedp.WaitVisible(chromedp.CSS(`#live-status[data-live="true"]`)))
	b.do("initial (empty) incident list loaded", chromedp.WaitVisible(chromedp.CSS("#incidents .incidents-empty")))
	// The alert list is still there, below, as the second section.
	b.do("alert list still shown", chromedp.WaitVisible(chromedp.CSS("#alerts-view")))

	// The incident comes through the live stream: the collapse raises no_motion,
	// then no_water, all one incident, paged to the on-duty worker.
	e := newEdge(t, "gw-inc-0001", "tcp://"+c.cfg.MQTT.Listen, secret, t.TempDir())
	v := waitJS(b, "the live incident, dispatched to 李网格员, with no_water among its causes", incidentCardJS, func(v incidentCardView) bool {
		return v.N == 1 && v.State == "dispatched" && strings.Contains(v.Assignee, "李网格员") && strings.Contains(v.Causes, "长时间未用水")
	})
	// The simulation runs days per second: stopped here, so no later raise reopens
	// the incident once it is resolved (the gateway budget outlasts the test).
	e.stop()
	if v.Marker == nil || *v.Marker != 1 {
		t.Fatal("the page was reloaded: window.__marker is gone")
	}
	if v.Resident != "王秀英" || v.Address != "3-2-301" || !strings.Contains(v.Causes, "长时间无活动") {
		t.Errorf("incident card: %+v", v)
	}
	if v.SevText == "" || !strings.Contains(v.Since, "发现") {
		t.Errorf("incident card lacks severity text or time since opened: %+v", v)
	}
	if !strings.Contains(v.Announce, "新事件") || !strings.Contains(v.Announce, "王秀英") {
		t.Errorf("incident announcement %q, want 新事件…王秀英", v.Announce)
	}
	id := v.ID
	b.fits("the incident list")
	b.screenshot("incident-list-zh-CN")

	// Open it, as from the link in the SMS.
	b.click("open the incident", `.incident-card[data-incident-id="`+id+`"] .incident-link`)
	lastUse := lastWaterHHMM(t, c)
	p := b.waitPage("incident page with its evidence and the accept button", func(p incidentPageView) bool {
		return p.Shown && p.ID == id && hasAll(p.Buttons, "accept") && strings.Contains(p.Evidence, "最后用水") &&
			hasAll(p.Timeline, "discovered", "dispatched") && hasAll(p.Tel, "tel:13900000002")
	})
	if h := eval[string](b, `location.hash`); h != "#incident/"+id {
		t.Errorf("location.hash %q, want #incident/%s", h, id)
	}
	if !strings.Contains(p.Evidence, lastUse) {
		t.Errorf("evidence %q, want the last water use at %s", p.Evidence, lastUse)
	}
	if !hasAll(p.Tel, "tel:13800000000", "tel:120", "tel:13700000001", "tel:13900000002") {
		t.Errorf("call links %v, want the worker's, 120, the resident's and her daughter's", p.Tel)
	}
	if len(p.Buttons) != 1 {
		t.Errorf("step buttons %v, want only the next step (accept)", p.Buttons)
	}
	b.fits("the incident page in Chinese")
	b.screenshot("incident-zh-CN")

	b.do("switch to English", chromedp.Click(chromedp.CSS("#lang-toggle")))
	p = b.waitPage("incident page in English", func(p incidentPageView) bool {
		return p.Lang == "en" && strings.Contains(p.Evidence, "Last water use") && strings.Contains(p.Title, "No water use")
	})
	if got := b.text(`.step-btn[data-action="accept"]`); got != "Accept" {
		t.Errorf("English accept button %q", got)
	}
	b.fits("the incident page in English")
	b.screenshot("incident-en")
	b.do("large text", chromedp.Click(chromedp.CSS("#text-size-toggle")))
	waitJS(b, "large text on", `document.documentElement.classList.contains('large-text')`, func(on bool) bool { return on })
	b.fits("the English incident page in large text")
	b.do("normal text", chromedp.Click(chromedp.CSS("#text-size-toggle")))
	waitJS(b, "large text off", `document.documentElement.classList.contains('large-text')`, func(on bool) bool { return !on })
	b.do("back to Chinese", chromedp.Click(chromedp.CSS("#lang-toggle")))
	b.waitPage("incident page in Chinese again", func(p incidentPageView) bool { return p.Lang == "zh-CN" })

	// Accept.
	b.click("accept", `.step-btn[data-action="accept"]`)
	b.waitPage("accepted: the next step is arrive", func(p incidentPageView) bool {
		return p.Step == "accepted" && hasAll(p.Buttons, "arrive") && hasAll(p.Timeline, "accept") && len(p.Queue) == 0
	})
	if in := apiIncident(t, c, hc, id); in.State != store.IncAccepted {
		t.Fatalf("after accept the API has state %s", in.State)
	}

	// Arrive without network: queued, shown as such; the server has not got it.
	b.setOffline(true)
	b.click("arrive (offline)", `.step-btn[data-action="arrive"]`)
	p = b.waitPage("arrive queued", func(p incidentPageView) bool {
		return hasAll(p.Queue, "arrive:queued") && p.QStatus != ""
	})
	if live := eval[string](b, `document.getElementById('live-status').dataset.live`); live != "false" {
		t.Errorf("offline, the live status says data-live=%q", live)
	}
	if !strings.Contains(b.text("#incident-queue"), "待发送") || !strings.Contains(p.QStatus, "待发送") {
		t.Errorf("queued step reads %q / %q, want 待发送", b.text("#incident-queue"), p.QStatus)
	}
	if p.Step != "on_site" || !hasAll(p.Buttons, "resolve") {
		t.Errorf("while arrive is queued the page offers %v (step %s), want resolve", p.Buttons, p.Step)
	}
	if in := apiIncident(t, c, hc, id); in.State != store.IncAccepted {
		t.Fatalf("while offline the API has state %s, want still accepted", in.State)
	}
	queued := eval[int](b, `JSON.parse(localStorage.getItem('shouwang.queue') || '[]').length`)
	if queued != 1 {
		t.Errorf("%d steps in the stored queue, want 1", queued)
	}
	b.fits("the incident page with a queued step")
	b.screenshot("incident-queued-zh-CN")

	// Back online: sent, and in the timeline.
	b.setOffline(false)
	b.waitPage("arrive sent after reconnecting", func(p incidentPageView) bool {
		return len(p.Queue) == 0 && p.QStatus == "" && hasAll(p.Timeline, "arrive") && p.Step == "on_site"
	})
	waitFor(t, browserWait, "API state on_site", func() bool { return apiIncident(t, c, hc, id).State == store.IncOnSite })
	// The server stamps the time it got the step: the page says it was done
	// offline earlier, and when it was sent.
	if late := b.text(`.timeline li[data-action="arrive"] .sent-late`); !strings.Contains(late, "离线操作") || !strings.Contains(late, "送达") {
		t.Errorf("the arrive sent late reads %q, want when it was tapped offline and when it was sent", late)
	}
	waitJS(b, "live again", `document.getElementById('live-status').dataset.live`, func(s string) bool { return s == "true" })

	// Resolve: outcome safe, with a note.
	const note = "老人在卫生间摔倒，已扶起，无外伤"
	b.click("choose safe", `label[for="outcome-safe"]`)
	b.do("type the note", chromedp.SendKeys(chromedp.CSS("#resolve-notes"), note))
	b.click("resolve", `.step-btn[data-action="resolve"]`)
	b.waitPage("resolved: feedback and rating offered", func(p incidentPageView) bool {
		return p.Step == "resolved" && hasAll(p.Buttons, "feedback") && hasAll(p.Timeline, "resolve") && len(p.Queue) == 0
	})
	in := apiIncident(t, c, hc, id)
	if in.State != store.IncResolved || in.Outcome != "safe" || in.Notes != note {
		t.Errorf("after resolve the API has state %s, outcome %q, notes %q", in.State, in.Outcome, in.Notes)
	}
	at := actionsBy(t, in, "admin", "accept", "arrive", "resolve")
	for i := 1; i < len(at); i++ {
		if at[i].Before(at[i-1]) {
			t.Errorf("timeline out of order: %v", at)
		}
	}
	var acceptIdx, arriveIdx, resolveIdx int
	for i, ev := range in.Timeline {
		switch ev.Action {
		case "accept":
			acceptIdx = i
		case "arrive":
			arriveIdx = i
		case "resolve":
			resolveIdx = i
		}
	}
	if !(acceptIdx < arriveIdx && arriveIdx < resolveIdx) {
		t.Errorf("timeline order %+v", in.Timeline)
	}
	if !strings.Contains(b.text(".outcome-summary"), "老人平安") {
		t.Errorf("outcome summary %q, want 老人平安", b.text(".outcome-summary"))
	}

	// Feedback from the family.
	const fb = "女儿已电话确认，谢谢"
	b.do("type feedback", chromedp.SendKeys(chromedp.CSS("#feedback-text"), fb))
	b.click("send feedback", `.step-btn[data-action="feedback"]`)
	b.waitPage("feedback given: rating offered", func(p incidentPageView) bool {
		return p.Step == "feedback" && hasAll(p.Buttons, "evaluate") && hasAll(p.Timeline, "feedback") && len(p.Queue) == 0
	})
	if in := apiIncident(t, c, hc, id); in.State != store.IncFeedback || in.Feedback != fb {
		t.Errorf("after feedback the API has state %s, feedback %q", in.State, in.Feedback)
	}

	// A rating queued offline, while another device rated: the server refuses it
	// (409), the page says so, shows the latest state and does not retry.
	b.setOffline(true)
	b.click("4 stars", `label[for="rating-4"]`)
	b.click("send rating (offline)", `.step-btn[data-action="evaluate"]`)
	b.waitPage("rating queued", func(p incidentPageView) bool { return hasAll(p.Queue, "evaluate:queued") })
	if st := postAction(t, c, hc, id, "evaluate", `{"rating":5}`); st != 200 {
		t.Fatalf("rating from the other device: %d", st)
	}
	b.setOffline(false)
	p = b.waitPage("the refused rating shown, and the incident refreshed", func(p incidentPageView) bool {
		return hasAll(p.Queue, "evaluate:conflict") && p.Message != "" && p.Step == "evaluated"
	})
	if !strings.Contains(p.Message, "已刷新") {
		t.Errorf("conflict message %q", p.Message)
	}
	type stored struct {
		Status string
		Tries  int
	}
	// Tried while offline (failed), then sent and refused: 1 or 2 tries. Being
	// back online again must not send it again (a send would start at once).
	q := eval[[]stored](b, `JSON.parse(localStorage.getItem('shouwang.queue') || '[]')`)
	if len(q) != 1 || q[0].Status != "conflict" || q[0].Tries < 1 || q[0].Tries > 2 {
		t.Fatalf("stored queue after the conflict %+v, want one refused entry", q)
	}
	again := eval[[]stored](b, `window.dispatchEvent(new Event('online')), JSON.parse(localStorage.getItem('shouwang.queue') || '[]')`)
	if len(again) != 1 || again[0] != q[0] {
		t.Errorf("after another online event the stored queue is %+v, want %+v (not retried)", again, q)
	}
	if in := apiIncident(t, c, hc, id); in.State != store.IncEvaluated || in.Rating == nil || *in.Rating != 5 {
		t.Errorf("after the conflict the API has state %s, rating %v; want evaluated, 5 (the other device's)", in.State, in.Rating)
	}
	b.fits("the incident page with a refused step")
	b.screenshot("incident-conflict-zh-CN")
	b.click("dismiss the refused step", `#incident-queue [data-dismiss]`)
	b.waitPage("nothing queued", func(p incidentPageView) bool { return len(p.Queue) == 0 && p.Message == "" })

	// Back to the list: the incident is closed, so no longer open.
	b.click("back to the list", `#incident-view .back-link`)
	b.do("incident list shown", chromedp.WaitVisible(chromedp.CSS("#incidents .incidents-empty")))
	if m := eval[*int](b, `window.__marker === undefined ? null : window.__marker`); m == nil {
		t.Error("the page was reloaded during the loop")
	}
}

// TestIncidentAppShellOffline: the service worker caches the app shell (never an API
// answer), so the app starts without network: the login form comes up with the
// network error. A link to an incident opened offline lands on the same shell.
func TestIncidentAppShellOffline(t *testing.T) {
	c := newCloud(t, nil)
	stopCloudAfterBrowser(t, c)
	b := newBrowser(t)
	b.open(c.svc.URL())
	b.login("admin", c.admin)
	b.do("app shown", chromedp.WaitVisible(chromedp.CSS("#incidents-view")))
	waitJS(b, "service worker controls the page", `navigator.serviceWorker.ready.then(() => !!navigator.serviceWorker.controller)`,
		func(ok bool) bool { return ok })
	keys := waitJS(b, "shell cached", `caches.keys().then(ks => Promise.all(ks.map(k => caches.open(k).then(c => c.keys()).then(rs => k + '=' + rs.map(r => new URL(r.url).pathname).join(',')))))`,
		func(s []string) bool { return len(s) == 1 && strings.Contains(s[0], "/app.js") })
	if !strings.HasPrefix(keys[0], "shouwang-shell-") || strings.Contains(keys[0], "/api/") {
		t.Errorf("caches %v: want one versioned shell cache without API answers", keys)
	}
	for _, f := range []string{"/index.html", "/app.js", "/app.css", "/icon.svg", "/manifest.webmanifest"} {
		if !strings.Contains(keys[0], f) {
			t.Errorf("shell cache %s lacks %s", keys[0], f)
		}
	}

	// The server goes away entirely (no emulation: a real failed connection).
	c.cancel()
	if err := <-c.done; err != nil {
		t.Errorf("cloud stopped with %v", err)
	}
	c.cancel = nil
	b.do("open an incident link with the server gone",
		chromedp.Navigate("about:blank"),
		chromedp.Navigate(c.svc.URL()+"#incident/whatever"),
		chromedp.WaitVisible(chromedp.CSS("#login-error")))
	if got := b.text("#login-error"); !strings.Contains(got, "无法连接服务器") {
		t.Errorf("offline start shows %q, want the network error", got)
	}
	b.fits("the offline start")
	b.screenshot("offline-start")
}
