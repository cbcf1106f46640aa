package e2e

import (
	"context"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/shouwang-care/shouwang/cloud/credential"
	"github.com/shouwang-care/shouwang/cloud/store"
)

// TestWorkerShiftInBrowser: 李网格员 logs in on her phone, sees she is on duty, ends
// her shift with one tap (the registry says so: the escalation chain now pages the
// backup first), and starts it again; in English the switch speaks English.
func TestWorkerShiftInBrowser(t *testing.T) {
	c := newCloud(t, nil)
	c.seedHome()
	const pw = "worker password 1"
	hash, err := credential.HashPassword(pw)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.svc.Store.CreateUser(context.Background(), store.User{ID: "u-li", Username: "li", Name: "李网格员", Role: "worker", WorkerID: "w-1", PasswordHash: hash}); err != nil {
		t.Fatal(err)
	}
	stopCloudAfterBrowser(t, c)
	b := newBrowser(t)
	b.open(c.svc.URL())
	b.login("li", pw)

	type duty struct {
		Text, Pressed, Label string
		Hidden               bool
	}
	const dutyJS = `(() => { const d = document.getElementById('duty-toggle');
		return {Text: d.textContent, Pressed: d.getAttribute('aria-pressed'), Label: d.getAttribute('aria-label') || '', Hidden: d.hidden}; })()`
	onDuty := func(want bool) {
		t.Helper()
		w, err := c.svc.Store.Worker(context.Background(), "w-1")
		if err != nil || w.OnDuty != want {
			t.Errorf("registry: w-1 on duty %v (%v), want %v", w.OnDuty, err, want)
		}
	}
	waitJS(b, "on duty shown", dutyJS, func(d duty) bool { return !d.Hidden && d.Text == "在岗" && d.Pressed == "true" })
	b.fits("the list with the shift switch")
	b.click("end the shift", "#duty-toggle")
	d := waitJS(b, "off duty shown", dutyJS, func(d duty) bool { return d.Text == "已下班" && d.Pressed == "false" })
	if d.Label == "" {
		t.Error("the switch has no spoken label")
	}
	onDuty(false)
	b.screenshot("worker-off-duty-zh-CN")

	b.do("switch to English", chromedp.Click(chromedp.CSS("#lang-toggle")))
	waitJS(b, "off duty in English", dutyJS, func(d duty) bool { return d.Text == "Off duty" })
	b.click("start the shift", "#duty-toggle")
	waitJS(b, "on duty in English", dutyJS, func(d duty) bool { return d.Text == "On duty" && d.Pressed == "true" })
	onDuty(true)
	b.screenshot("worker-on-duty-en")

	// An admin has no shift: no switch.
	b2 := newBrowser(t)
	b2.open(c.svc.URL())
	b2.login("admin", c.admin)
	b2.do("incident list shown", chromedp.WaitVisible(chromedp.CSS("#incidents-view")))
	if d := eval[duty](b2, dutyJS); !d.Hidden {
		t.Errorf("admin sees a shift switch: %+v", d)
	}
}
