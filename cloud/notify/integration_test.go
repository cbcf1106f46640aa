package notify

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync/atomic"
	"testing"

	webpush "github.com/SherClockHolmes/webpush-go"
)

// One urgent page through every real channel against local fakes, twice:
// each provider is called once, the second Send is all duplicates.
func TestUrgentPageAllChannels(t *testing.T) {
	aliyun, af := newAliyun(t)
	wecom, wf := newWeCom(t)
	pub := &recPublisher{}
	inapp, _ := NewInApp(InAppConfig{Publisher: pub})
	var hooks, pushes atomic.Int32
	hookSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hooks.Add(1) }))
	defer hookSrv.Close()
	webhook, _ := NewWebhook(WebhookConfig{URL: hookSrv.URL, Secret: "0123456789abcdef"})
	pushSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { pushes.Add(1); w.WriteHeader(201) }))
	defer pushSrv.Close()
	priv, pubKey, _ := webpush.GenerateVAPIDKeys()
	wp, _ := NewWebPush(WebPushConfig{Subscriber: "mailto:ops@shouwang-care.cn", VAPIDPublicKey: pubKey, VAPIDPrivateKey: priv})
	email, _ := NewEmail(EmailConfig{Addr: "127.0.0.1:1", From: "noreply@shouwang.example.cn"}) // not on the urgent route

	log := NewMemLog()
	n, err := New(Options{Channels: []Channel{inapp, wp, webhook, email, aliyun, wecom}, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	m := testMsg("inc-1/dispatched/u-1")
	m.Recipient.Email = "wangfang@example.cn"
	m.Recipient.WebPush = newPushSub(t, pushSrv.URL+"/p").json
	for round, want := range []string{StatusSent, StatusDuplicate} {
		rep, err := n.Send(context.Background(), m)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, o := range rep.Outcomes {
			names = append(names, o.Channel)
			if o.Status != want {
				t.Errorf("round %d: %s %s (%v), want %s", round, o.Channel, o.Status, o.Err, want)
			}
		}
		sort.Strings(names)
		if got := len(names); got != 5 {
			t.Fatalf("channels %v", names)
		}
	}
	if len(af.got) != 1 || len(wf.bodies) != 1 || hooks.Load() != 1 || pushes.Load() != 1 || len(pub.vs) != 1 {
		t.Fatalf("calls: sms %d wecom %d webhook %d push %d inapp %d", len(af.got), len(wf.bodies), hooks.Load(), pushes.Load(), len(pub.vs))
	}
	if len(log.Attempts()) != 10 {
		t.Fatalf("%d log rows, want 5 sent + 5 duplicate", len(log.Attempts()))
	}
}
