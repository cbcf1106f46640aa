package e2e

// Browser tests of the console of supervisors and admins (console.js), at phone
// size like the worker's screens, against an in-process cloud and a simulated edge.

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/shouwang-care/shouwang/cloud/credential"
	"github.com/shouwang-care/shouwang/cloud/store"
	"github.com/shouwang-care/shouwang/firmware-protocol/mqttv1"
)

// consoleView is what the console shows, whatever its section.
type consoleView struct {
	Section   string
	Lang      string
	Incidents []string // "state|age" of the incident rows
	Counts    []string // "state=n" of the open-state buttons
	Bars      int      // chart bars drawn wider than zero
	Labels    string   // chart labels
	Gateways  []string // "id|online" of the gateway rows
	Badges    string   // gateway badge texts
	Errors    []string // line numbers of the import error report
	Report    string   // the import report's result and text
	Homes     []string // data-home-id of the registry's home rows
	Verified  string   // data-verified of the audit chain note
	Verify    string   // its text
	AuditRows int
	Tabs      string // the section tabs' text
}

const consoleJS = `(() => {
	const c = document.querySelector('#ext-view:not([hidden]) .console');
	const all = (s, f) => c ? [...c.querySelectorAll(s)].map(f) : [];
	const rep = c && c.querySelector('.c-import-report');
	const ver = c && c.querySelector('.c-verify');
	return {
		Section: c ? c.dataset.section : '',
		Lang: document.documentElement.lang,
		Incidents: all('.c-inc', e => e.dataset.state + '|' + e.querySelector('.c-age').textContent),
		Counts: all('.c-count', e => e.dataset.state + '=' + e.querySelector('.c-count-n').textContent),
		Bars: all('svg.c-chart rect.c-bar', e => +e.getAttribute('width')).filter(w => w > 0).length,
		Labels: all('svg.c-chart text.c-chart-label', e => e.textContent).join(','),
		Gateways: all('.c-gw', e => e.dataset.gatewayId + '|' + e.dataset.online),
		Badges: all('.c-gw .badge', e => e.textContent).join(','),
		Errors: all('.c-import-report[data-result="error"] li[data-line]', e => e.dataset.line),
		Report: rep ? rep.dataset.result + ': ' + rep.textContent : '',
		Homes: all('.c-reg-row[data-home-id]', e => e.dataset.homeId),
		Verified: ver ? ver.dataset.verified : '',
		Verify: ver ? ver.textContent : '',
		AuditRows: all('.c-audit-row', e => e).length,
		Tabs: all('.c-tab', e => e.textContent).join(','),
	};
})()`

func (b *browser) waitConsole(what string, ok func(consoleView) bool) consoleView {
	b.t.Helper()
	return waitJS(b, what, consoleJS, ok)
}

// TestConsoleSupervisorInBrowser: the supervisor of 近江社区 logs in on a phone and
// lands on the console; the incident of a simulated collapse, dispatched to the
// grid worker, appears in the by-state list with its age; the KPI chart draws it;
// the gateway list shows the home's gateway online and not the gateway of another
// community, which the API refuses too. Chinese, then English; screenshots.
func TestConsoleSupervisorInBrowser(t *testing.T) {
	c := newCloud(t, nil)
	secret := c.seed("gw-con-0001")
	ctx := context.Background()
	s := c.svc.Store
	const pw = "supervisor password 1"
	hash, err := credential.HashPassword(pw)
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{
		s.PutGrid(ctx, store.Grid{ID: "grid-1", Name: "望江 3", Community: "近江社区"}),
		s.PutGrid(ctx, store.Grid{ID: "grid-9", Name: "远方 1", Community: "远方社区"}),
		s.PutHome(ctx, store.Home{ID: "home-9", GridID: "grid-9", Address: "远方 9-9-909", ResidentName: "赵大爷"}),
		s.PutGateway(ctx, "gw-con-0009", "home-9", "x"),
		s.PutWorker(ctx, store.Worker{ID: "w-9", GridID: "grid-9", Name: "远方网格员", OnDuty: true}),
		s.CreateUser(ctx, store.User{ID: "u-sup", Username: "sup", Name: "孙主任", Role: "supervisor", Community: "近江社区", PasswordHash: hash}),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	stopCloudAfterBrowser(t, c)
	b := newBrowser(t)
	b.open(c.svc.URL())
	b.login("sup", pw)
	v := b.waitConsole("the supervisor lands on the console overview", func(v consoleView) bool { return v.Section == "overview" })
	if v.Tabs != "事件,指标,网关,值班" {
		t.Errorf("supervisor's console tabs %q, want 事件,指标,网关,值班 (no registry, no audit)", v.Tabs)
	}
	b.do("live stream connected", chromedp.WaitVisible(chromedp.CSS(`#live-status[data-live="true"]`)))

	newEdge(t, "gw-con-0001", "tcp://"+c.cfg.MQTT.Listen, secret, t.TempDir())
	v = b.waitConsole("the collapse's incident, dispatched, with its age", func(v consoleView) bool {
		return len(v.Incidents) == 1 && strings.HasPrefix(v.Incidents[0], "dispatched|已 ")
	})
	if !hasAll(v.Counts, "discovered=0", "dispatched=1", "accepted=0", "on_site=0") {
		t.Errorf("open incidents by state %v, want one dispatched", v.Counts)
	}
	if who := b.text(".c-inc .c-who"); !strings.Contains(who, "王秀英") || !strings.Contains(who, "3-2-301") {
		t.Errorf("incident row names %q, want 王秀英 at 3-2-301", who)
	}
	if as := b.text(".c-inc .c-assignee"); as != "李网格员" {
		t.Errorf("incident row assignee %q, want 李网格员", as)
	}
	b.fits("the console overview")
	b.screenshot("overview-zh-CN")

	b.click("KPIs", `.c-tab[data-section="kpis"]`)
	v = b.waitConsole("the KPI charts drawn", func(v consoleView) bool { return v.Section == "kpis" && v.Bars > 0 })
	if !strings.Contains(v.Labels, "望江 3") || strings.Contains(v.Labels, "远方") {
		t.Errorf("KPI chart labels %q, want 望江 3 and nothing of 远方社区", v.Labels)
	}
	b.fits("the KPI charts")
	b.screenshot("kpis-zh-CN")

	b.click("gateways", `.c-tab[data-section="gateways"]`)
	v = b.waitConsole("the home's gateway online", func(v consoleView) bool {
		return v.Section == "gateways" && hasAll(v.Gateways, "gw-con-0001|true")
	})
	if len(v.Gateways) != 1 || !strings.Contains(v.Badges, "在线") {
		t.Errorf("gateways %v (badges %q), want only 近江社区's, online", v.Gateways, v.Badges)
	}
	b.fits("the gateway list")
	b.screenshot("gateways-zh-CN")
	for _, path := range []string{"/api/v1/homes/home-9/privacy", "/api/v1/homes/home-9/telemetry", "/api/v1/homes/home-9/status"} {
		if st := b.fetchStatus(path); st != 404 {
			t.Errorf("the supervisor of 近江社区 reads %s: %d, want 404", path, st)
		}
	}

	// Duty: her community's workers only, each with a shift switch that works.
	b.click("duty", `.c-tab[data-section="duty"]`)
	const dutyJS = `[...document.querySelectorAll('.c-reg-row[data-id]')].map(e => e.dataset.id + '|' + e.querySelector('.c-duty').getAttribute('aria-pressed'))`
	waitJS(b, "the community's workers", dutyJS, func(rows []string) bool { return slices.Equal(rows, []string{"w-1|true"}) })
	b.click("end 李网格员's shift", `.c-reg-row[data-id="w-1"] .c-duty`)
	waitJS(b, "李网格员 off duty", dutyJS, func(rows []string) bool { return slices.Equal(rows, []string{"w-1|false"}) })
	if w, err := s.Worker(ctx, "w-1"); err != nil || w.OnDuty {
		t.Errorf("w-1 after the supervisor ended the shift: on duty %v (%v)", w.OnDuty, err)
	}
	b.fits("the duty list")
	b.screenshot("duty-zh-CN")
	b.click("start 李网格员's shift", `.c-reg-row[data-id="w-1"] .c-duty`)
	waitJS(b, "李网格员 on duty", dutyJS, func(rows []string) bool { return slices.Equal(rows, []string{"w-1|true"}) })
	b.click("gateways", `.c-tab[data-section="gateways"]`)
	b.waitConsole("back on the gateways", func(v consoleView) bool { return v.Section == "gateways" && len(v.Gateways) == 1 })

	b.do("switch to English", chromedp.Click(chromedp.CSS("#lang-toggle")))
	v = b.waitConsole("gateways in English", func(v consoleView) bool { return v.Lang == "en" && strings.Contains(v.Badges, "Online") })
	if v.Tabs != "Incidents,KPIs,Gateways,Duty" {
		t.Errorf("English tabs %q", v.Tabs)
	}
	b.fits("the English gateway list")
	b.screenshot("gateways-en")
	b.do("large text", chromedp.Click(chromedp.CSS("#text-size-toggle")))
	waitJS(b, "large text on", `document.documentElement.classList.contains('large-text')`, func(on bool) bool { return on })
	b.fits("the English gateway list in large text")
	b.do("normal text", chromedp.Click(chromedp.CSS("#text-size-toggle")))
	b.click("incidents", `.c-tab[data-section="overview"]`)
	b.waitConsole("the overview in English", func(v consoleView) bool {
		return len(v.Incidents) == 1 && strings.HasPrefix(v.Incidents[0], "dispatched|open ")
	})
	b.fits("the English overview")
	b.screenshot("overview-en")
	b.click("KPIs", `.c-tab[data-section="kpis"]`)
	b.waitConsole("the KPI charts in English", func(v consoleView) bool { return v.Section == "kpis" && v.Bars > 0 && v.Lang == "en" })
	b.fits("the English KPI charts")
	b.screenshot("kpis-en")

	// A desktop screen: the console widens and lays the charts out side by side.
	b.do("desktop viewport", chromedp.EmulateViewport(1280, 900))
	b.waitConsole("the KPI charts on a desktop", func(v consoleView) bool { return v.Bars > 0 })
	b.screenshot("kpis-en-desktop")
}

// TestConsoleAdminInBrowser: the admin imports a registry CSV with an error and
// sees the report by line number (nothing imported), then a correct one and sees
// the new home in the registry; opens a home's charts and privacy choices; and the
// audit log lists entries with the note that the hash chain verifies.
func TestConsoleAdminInBrowser(t *testing.T) {
	c := newCloud(t, nil)
	c.seed("gw-con-0002")
	stopCloudAfterBrowser(t, c)
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.csv")
	good := filepath.Join(dir, "good.csv")
	const head = "kind,id,grid_id,name,community,address\n"
	for path, body := range map[string]string{
		bad:  head + "grid,g-new,,新苑 1 网格,新苑社区,\nhome,h-new,g-missing,,,新苑 1 幢 101\n",
		good: head + "grid,g-new,,新苑 1 网格,新苑社区,\nhome,h-new,g-new,,,新苑 1 幢 101\n",
	} {
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b := newBrowser(t)
	b.open(c.svc.URL())
	b.login("admin", c.admin)
	b.do("the admin lands on the incident list", chromedp.WaitVisible(chromedp.CSS("#incidents-view")))
	b.click("the console tab", `#role-nav a[href="#console"]`)
	v := b.waitConsole("the console overview", func(v consoleView) bool { return v.Section == "overview" })
	if v.Tabs != "事件,指标,网关,登记,审计" {
		t.Errorf("admin's console tabs %q", v.Tabs)
	}

	b.click("registry", `.c-tab[data-section="registry"]`)
	b.waitConsole("the registry's homes", func(v consoleView) bool { return hasAll(v.Homes, "home-1") })
	b.do("choose the CSV with an error", chromedp.SetUploadFiles(chromedp.CSS("#c-import-file"), []string{bad}))
	b.click("import", "#c-import-submit")
	v = b.waitConsole("the error report by line", func(v consoleView) bool { return len(v.Errors) > 0 })
	if len(v.Errors) != 1 || v.Errors[0] != "3" || !strings.Contains(v.Report, "第 3 行") || !strings.Contains(v.Report, "bad.csv") || !strings.Contains(v.Report, "g-missing") {
		t.Errorf("error report lines %v: %q, want line 3 naming g-missing", v.Errors, v.Report)
	}
	if st := b.fetchStatus("/api/v1/grids/g-new"); st != 404 {
		t.Errorf("after the refused import grid g-new answers %d, want 404 (nothing imported)", st)
	}
	b.fits("the import error report")
	b.screenshot("import-error-zh-CN")
	b.do("switch to English", chromedp.Click(chromedp.CSS("#lang-toggle")))
	v = b.waitConsole("the error report in English", func(v consoleView) bool { return v.Lang == "en" && strings.Contains(v.Report, "Line 3") })
	b.fits("the English import error report")
	b.screenshot("import-error-en")
	b.do("back to Chinese", chromedp.Click(chromedp.CSS("#lang-toggle")))
	b.waitConsole("the registry in Chinese", func(v consoleView) bool { return v.Lang == "zh-CN" })

	b.do("choose the correct CSV", chromedp.SetUploadFiles(chromedp.CSS("#c-import-file"), []string{good}))
	b.click("import", "#c-import-submit")
	v = b.waitConsole("the new home listed", func(v consoleView) bool {
		return strings.HasPrefix(v.Report, "ok") && hasAll(v.Homes, "h-new", "home-1")
	})
	if !strings.Contains(v.Report, "住户 1") || len(v.Errors) != 0 {
		t.Errorf("import report %q, want one home imported", v.Report)
	}
	if st := b.fetchStatus("/api/v1/homes/h-new"); st != 200 {
		t.Errorf("the imported home answers %d", st)
	}
	b.fits("the registry after the import")
	b.screenshot("import-ok-zh-CN")

	// Worker duty: off, and the API agrees.
	b.click("workers", `.c-reg-kind[data-kind="workers"]`)
	b.click("take 李网格员 off duty", `.c-reg-row[data-id="w-1"] .c-duty[aria-pressed="true"]`)
	b.do("off duty shown", chromedp.WaitVisible(chromedp.CSS(`.c-reg-row[data-id="w-1"] .c-duty[aria-pressed="false"]`)))
	if w, err := c.svc.Store.Worker(context.Background(), "w-1"); err != nil || w.OnDuty {
		t.Errorf("after the toggle worker w-1 is %+v (%v), want off duty", w, err)
	}

	// A home's page: charts of the meter readings of the last hours (an audited
	// read) and the privacy choices.
	now := time.Now()
	var readings []mqttv1.Reading
	for i := 10; i >= 0; i-- {
		m3, kwh := 10+float64(10-i)*0.05, 100+float64(10-i)*0.4
		readings = append(readings, mqttv1.Reading{T: now.Add(-time.Duration(i) * time.Hour), Sensor: "water", TotalM3: &m3},
			mqttv1.Reading{T: now.Add(-time.Duration(i) * time.Hour), Sensor: "power", TotalKWh: &kwh})
	}
	if err := c.svc.Telemetry.Write(context.Background(), mqttv1.Telemetry{V: 1, Gateway: "gw-con-0002", Seq: 1, Readings: readings}); err != nil {
		t.Fatal(err)
	}
	b.click("homes", `.c-reg-kind[data-kind="homes"]`)
	b.click("open home-1", `.c-reg-row[data-home-id="home-1"] .c-home-link`)
	b.do("home-1's privacy choices", chromedp.WaitVisible(chromedp.CSS(`.c-privacy-kind[data-kind="medical"]`)))
	for _, sensor := range []string{"water", "power"} {
		bars := waitJS(b, sensor+" use drawn", `[...document.querySelectorAll('.c-telemetry[data-sensor="`+sensor+`"] rect.c-bar')].filter(r => +r.getAttribute('height') > 0).length`,
			func(n int) bool { return n > 0 })
		if bars < 9 {
			t.Errorf("%s chart: %d bars, want one per hour of the 10 hours of readings", sensor, bars)
		}
	}
	if got := b.text(`.c-telemetry[data-sensor="water"] figcaption`); got != "用水量（升）" {
		t.Errorf("water chart caption %q", got)
	}
	if on := eval[bool](b, `document.getElementById('c-pv-medical-worker').checked && !document.getElementById('c-pv-medical-admin').checked`); !on {
		t.Error("medical notes: want the default, grid worker yes and admin no")
	}
	b.fits("a home's page")
	b.screenshot("home-zh-CN")
	// The admin lets the supervisor see the charts: stored as the resident's choice.
	b.click("tick supervisor for charts", "#c-pv-charts-supervisor")
	b.click("save the charts choice", `.c-privacy-kind[data-kind="charts"] .c-save`)
	waitJS(b, "saved", `document.querySelector('.c-privacy-kind[data-kind="charts"] .c-save-msg').textContent`, func(s string) bool { return s == "已保存" })
	if p, err := c.svc.Store.Privacy(context.Background(), "home-1"); err != nil || !hasAll(p[store.KindCharts], "supervisor", "admin", "worker", "family", "resident") {
		t.Errorf("charts privacy after saving %v (%v), want supervisor added", p[store.KindCharts], err)
	}

	b.click("audit", `.c-tab[data-section="audit"]`)
	v = b.waitConsole("the audit log, chain verified", func(v consoleView) bool { return v.Verified == "true" && v.AuditRows > 0 })
	if !strings.Contains(v.Verify, "校验通过") {
		t.Errorf("chain note %q, want 校验通过", v.Verify)
	}
	b.fits("the audit log")
	b.screenshot("audit-zh-CN")
	b.do("switch to English", chromedp.Click(chromedp.CSS("#lang-toggle")))
	v = b.waitConsole("the audit log in English", func(v consoleView) bool { return v.Lang == "en" && v.Verified == "true" })
	if !strings.Contains(v.Verify, "chain verified") {
		t.Errorf("English chain note %q, want …chain verified…", v.Verify)
	}
	b.fits("the English audit log")
	b.screenshot("audit-en")
}
