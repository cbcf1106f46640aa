package notify

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// fakeChannel fails with errs[i] on call i (nil = success), then succeeds.
type fakeChannel struct {
	name   string
	accept func(Recipient) bool
	mu     sync.Mutex
	errs   []error
	calls  int
	sent   []Message
	block  chan struct{} // if set, Send waits on it (or ctx)
}

func (f *fakeChannel) Name() string { return f.name }
func (f *fakeChannel) Accepts(r Recipient) bool {
	if f.accept == nil {
		return true
	}
	return f.accept(r)
}
func (f *fakeChannel) Send(ctx context.Context, m Message) error {
	if f.block != nil {
		select {
		case <-f.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	i := f.calls
	f.calls++
	if i < len(f.errs) && f.errs[i] != nil {
		return f.errs[i]
	}
	f.sent = append(f.sent, m)
	return nil
}
func (f *fakeChannel) count() (calls, sent int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls, len(f.sent)
}

func testMsg(key string) Message {
	return Message{
		Key: key, IncidentID: "inc-1", Kind: KindDispatched,
		Recipient: Recipient{ID: "u-1", Name: "王芳", Phone: "13800000000", WeComUserID: "wangfang", Lang: "zh-CN"},
		TitleZH:   "独居老人 12 小时无用水", TitleEN: "No water use for 12 h",
		BodyZH: "请尽快上门查看。", BodyEN: "Please visit as soon as possible.", URL: "https://shouwang.example.cn/i/inc-1", Urgent: true,
	}
}

func newTestNotifier(t *testing.T, log Log, chans ...Channel) *Notifier {
	t.Helper()
	n, err := New(Options{
		Channels: chans, Log: log,
		Retry:  Retry{Attempts: 3, Base: time.Millisecond, Max: 5 * time.Millisecond},
		Limits: map[string]ChannelLimits{}, // unlimited unless a test sets one
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range chans {
		n.opt.Limits[c.Name()] = ChannelLimits{} // unlimited
	}
	return n
}

func attemptsFor(log *MemLog, channel string) []Attempt {
	var out []Attempt
	for _, a := range log.Attempts() {
		if a.Channel == channel {
			out = append(out, a)
		}
	}
	return out
}

func TestRetriesThenSuccess(t *testing.T) {
	flaky := &fakeChannel{name: "webhook", errs: []error{
		Transient("webhook", "HTTP 503", errors.New("busy")),
		errors.New("connection reset"), // unclassified: transient
	}}
	log := NewMemLog()
	n := newTestNotifier(t, log, flaky)
	rep, err := n.Send(context.Background(), testMsg("k1"))
	if err != nil {
		t.Fatal(err)
	}
	if calls, sent := flaky.count(); calls != 3 || sent != 1 {
		t.Fatalf("calls=%d sent=%d, want 3 calls and 1 delivery", calls, sent)
	}
	if o := rep.Outcomes[0]; o.Status != StatusSent || o.Attempts != 3 {
		t.Fatalf("outcome %+v", o)
	}
	as := attemptsFor(log, "webhook")
	if len(as) != 3 {
		t.Fatalf("%d attempts logged, want 3: %+v", len(as), as)
	}
	for i, want := range []string{StatusFailed, StatusFailed, StatusSent} {
		if as[i].Attempt != i+1 || as[i].Status != want || as[i].Key != "k1" || as[i].RecipientID != "u-1" {
			t.Errorf("attempt %d: %+v", i, as[i])
		}
	}
	if as[0].Reason != ReasonTransient || !strings.Contains(as[0].Error, "busy") {
		t.Errorf("first attempt reason/error: %+v", as[0])
	}
	if got := testutil.ToFloat64(n.m.sent.WithLabelValues("webhook")); got != 1 {
		t.Errorf("sent_total = %v", got)
	}
	if got := testutil.ToFloat64(n.m.failed.WithLabelValues("webhook", ReasonTransient)); got != 2 {
		t.Errorf("failed_total{transient} = %v", got)
	}
}

func TestRetryBudgetExhausted(t *testing.T) {
	e := Transient("webhook", "HTTP 500", errors.New("down"))
	ch := &fakeChannel{name: "webhook", errs: []error{e, e, e, e}}
	log := NewMemLog()
	n := newTestNotifier(t, log, ch)
	rep, err := n.Send(context.Background(), testMsg("k"))
	if !errors.Is(err, ErrNotDelivered) {
		t.Fatalf("err = %v", err)
	}
	if calls, _ := ch.count(); calls != 3 {
		t.Fatalf("calls = %d, want 3 (bounded)", calls)
	}
	if rep.Outcomes[0].Status != StatusFailed || rep.Delivered() {
		t.Fatalf("%+v", rep)
	}
}

func TestNonRetryableNotRetried(t *testing.T) {
	cases := []struct {
		name   string
		err    error
		reason string
	}{
		{"rejected", Permanent("webhook", ReasonRejected, "isv.MOBILE_NUMBER_ILLEGAL", errors.New("bad number")), ReasonRejected},
		{"auth", Permanent("webhook", ReasonAuth, "SignatureDoesNotMatch", errors.New("sig")), ReasonAuth},
		{"provider flow control", Permanent("webhook", ReasonRateLimited, "isv.BUSINESS_LIMIT_CONTROL", errors.New("limit")), ReasonRateLimited},
		{"gone", Permanent("webhook", ReasonGone, "HTTP 410", ErrSubscriptionGone), ReasonGone},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ch := &fakeChannel{name: "webhook", errs: []error{tc.err, nil}}
			log := NewMemLog()
			n := newTestNotifier(t, log, ch)
			_, err := n.Send(context.Background(), testMsg("k"))
			if !errors.Is(err, ErrNotDelivered) || !errors.Is(err, tc.err) {
				t.Fatalf("err = %v", err)
			}
			if calls, _ := ch.count(); calls != 1 {
				t.Fatalf("calls = %d, want 1", calls)
			}
			as := log.Attempts()
			if len(as) != 1 || as[0].Reason != tc.reason {
				t.Fatalf("log %+v", as)
			}
			if got := testutil.ToFloat64(n.m.failed.WithLabelValues("webhook", tc.reason)); got != 1 {
				t.Errorf("failed_total{%s} = %v", tc.reason, got)
			}
		})
	}
}

func TestDedupe(t *testing.T) {
	ch := &fakeChannel{name: "webhook"}
	log := NewMemLog()
	n := newTestNotifier(t, log, ch)
	ctx := context.Background()
	m := testMsg("inc-1/dispatched/u-1")
	for i := 0; i < 2; i++ {
		rep, err := n.Send(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		want := StatusSent
		if i == 1 {
			want = StatusDuplicate
		}
		if rep.Outcomes[0].Status != want {
			t.Fatalf("send %d: %+v", i, rep.Outcomes[0])
		}
	}
	if _, sent := ch.count(); sent != 1 {
		t.Fatalf("sent %d times, want once", sent)
	}
	// another recipient with the same key is a different delivery
	m2 := m
	m2.Recipient.ID = "u-2"
	if _, err := n.Send(ctx, m2); err != nil {
		t.Fatal(err)
	}
	if _, sent := ch.count(); sent != 2 {
		t.Fatalf("sent %d, want 2", sent)
	}
}

func TestDedupeConcurrent(t *testing.T) {
	ch := &fakeChannel{name: "webhook", block: make(chan struct{})}
	n := newTestNotifier(t, NewMemLog(), ch)
	var wg sync.WaitGroup
	var dups atomic.Int32
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rep, err := n.Send(context.Background(), testMsg("same"))
			if err != nil {
				t.Error(err)
				return
			}
			if rep.Outcomes[0].Status == StatusDuplicate {
				dups.Add(1)
			}
		}()
	}
	time.Sleep(20 * time.Millisecond)
	close(ch.block)
	wg.Wait()
	if _, sent := ch.count(); sent != 1 || dups.Load() != 7 {
		t.Fatalf("sent %d, duplicates %d; want 1 and 7", sent, dups.Load())
	}
}

// Dedupe survives a restart: a new Notifier over the same Log does not resend.
func TestDedupeAcrossRestartViaLog(t *testing.T) {
	log := NewMemLog()
	ch1 := &fakeChannel{name: "webhook"}
	if _, err := newTestNotifier(t, log, ch1).Send(context.Background(), testMsg("k")); err != nil {
		t.Fatal(err)
	}
	ch2 := &fakeChannel{name: "webhook"}
	rep, err := newTestNotifier(t, log, ch2).Send(context.Background(), testMsg("k"))
	if err != nil {
		t.Fatal(err)
	}
	if calls, _ := ch2.count(); calls != 0 || rep.Outcomes[0].Status != StatusDuplicate {
		t.Fatalf("calls %d outcome %+v", calls, rep.Outcomes[0])
	}
}

// A failed key is not marked delivered: the escalation timer may try again.
func TestFailedKeyCanBeRetriedLater(t *testing.T) {
	p := Permanent("webhook", ReasonRejected, "x", errors.New("no"))
	ch := &fakeChannel{name: "webhook", errs: []error{p}}
	n := newTestNotifier(t, NewMemLog(), ch)
	if _, err := n.Send(context.Background(), testMsg("k")); err == nil {
		t.Fatal("want error")
	}
	if _, err := n.Send(context.Background(), testMsg("k")); err != nil {
		t.Fatal(err)
	}
	if calls, sent := ch.count(); calls != 2 || sent != 1 {
		t.Fatalf("calls %d sent %d", calls, sent)
	}
}

func TestDedupeWindowExpires(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	ch := &fakeChannel{name: "webhook"}
	n, err := New(Options{Channels: []Channel{ch}, Now: clock, DedupeWindow: time.Hour, Limits: map[string]ChannelLimits{"webhook": {}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []time.Duration{0, 30 * time.Minute, 31 * time.Minute} {
		mu.Lock()
		now = now.Add(step)
		mu.Unlock()
		if _, err := n.Send(context.Background(), testMsg("k")); err != nil {
			t.Fatal(err)
		}
	}
	if _, sent := ch.count(); sent != 2 {
		t.Fatalf("sent %d, want 2 (second within window deduped, third after)", sent)
	}
}

// Rate limits: beyond the bucket (and MaxRateWait) the send is rejected,
// without calling the provider, with a *RateLimitError carrying RetryAfter.
func TestRateLimitPerRecipient(t *testing.T) {
	ch := &fakeChannel{name: NameWeCom}
	log := NewMemLog()
	n, err := New(Options{
		Channels: []Channel{ch}, Log: log, MaxRateWait: -1, // never wait
		Limits: map[string]ChannelLimits{NameWeCom: {PerRecipient: PerMinute(30)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var limited int
	for i := 0; i < 35; i++ {
		_, err := n.SendOn(ctx, testMsg(fmt.Sprintf("k%d", i)), NameWeCom)
		if err != nil {
			var rl *RateLimitError
			if !errors.Is(err, ErrRateLimited) || !errors.As(err, &rl) {
				t.Fatalf("send %d: %v", i, err)
			}
			if rl.Recipient != "u-1" || rl.RetryAfter <= 0 || rl.RetryAfter > 2*time.Second+time.Second {
				t.Fatalf("rate limit error %+v", rl)
			}
			limited++
		}
	}
	if calls, _ := ch.count(); calls != 30 || limited != 5 {
		t.Fatalf("calls %d limited %d; want 30 and 5", calls, limited)
	}
	// another member has its own bucket
	m := testMsg("other")
	m.Recipient.ID = "u-2"
	if _, err := n.SendOn(ctx, m, NameWeCom); err != nil {
		t.Fatal(err)
	}
	var rl int
	for _, a := range log.Attempts() {
		if a.Status == StatusRateLimited {
			rl++
		}
	}
	if rl != 5 {
		t.Fatalf("%d rate_limited rows logged, want 5", rl)
	}
	if got := testutil.ToFloat64(n.m.failed.WithLabelValues(NameWeCom, ReasonRateLimited)); got != 5 {
		t.Fatalf("failed_total{rate_limited} = %v", got)
	}
	// a rate-limited key was not marked delivered: resubmitting later works
	if ok, _ := log.Delivered(ctx, NameWeCom, "u-1", "k34", time.Time{}); ok {
		t.Fatal("rate-limited key marked delivered")
	}
}

// Within MaxRateWait the send is deferred, not rejected.
func TestRateLimitDefersWithinMaxWait(t *testing.T) {
	ch := &fakeChannel{name: "webhook"}
	n, err := New(Options{
		Channels: []Channel{ch}, MaxRateWait: time.Second,
		Limits: map[string]ChannelLimits{"webhook": {Channel: Limit{Rate: 1, Per: 50 * time.Millisecond, Burst: 1}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for i := 0; i < 3; i++ {
		if _, err := n.Send(context.Background(), testMsg(fmt.Sprintf("k%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	if el := time.Since(start); el < 90*time.Millisecond {
		t.Fatalf("3 sends at 1/50ms took %v; want ≥ 100ms of deferral", el)
	}
	if _, sent := ch.count(); sent != 3 {
		t.Fatalf("sent %d", sent)
	}
}

func TestContextCancelStopsRetries(t *testing.T) {
	e := Transient("webhook", "HTTP 503", errors.New("busy"))
	ch := &fakeChannel{name: "webhook", errs: []error{e, e, e, e, e}}
	n, err := New(Options{Channels: []Channel{ch}, Retry: Retry{Attempts: 5, Base: time.Hour}, Limits: map[string]ChannelLimits{"webhook": {}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(30 * time.Millisecond); cancel() }()
	start := time.Now()
	_, err = n.Send(ctx, testMsg("k"))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("cancel did not interrupt the backoff")
	}
	if calls, _ := ch.count(); calls != 1 {
		t.Fatalf("calls %d, want 1", calls)
	}
}

func TestContextCancelDuringSend(t *testing.T) {
	ch := &fakeChannel{name: "webhook", block: make(chan struct{})}
	log := NewMemLog()
	n := newTestNotifier(t, log, ch)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	_, err := n.Send(ctx, testMsg("k"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
	as := log.Attempts()
	if len(as) != 1 || as[0].Reason != ReasonCanceled {
		t.Fatalf("log %+v", as)
	}
	// the key is free again
	close(ch.block)
	if _, err := n.Send(context.Background(), testMsg("k")); err != nil {
		t.Fatal(err)
	}
}

func TestFanOutOneChannelFailingOthersDeliver(t *testing.T) {
	sms := &fakeChannel{name: NameAliyunSMS, errs: []error{Permanent(NameAliyunSMS, ReasonRateLimited, "isv.BUSINESS_LIMIT_CONTROL", errors.New("x"))}}
	wecom := &fakeChannel{name: NameWeCom}
	inapp := &fakeChannel{name: NameInApp}
	n := newTestNotifier(t, NewMemLog(), sms, wecom, inapp)
	rep, err := n.Send(context.Background(), testMsg("k"))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, o := range rep.Outcomes {
		got[o.Channel] = o.Status
	}
	want := map[string]string{NameAliyunSMS: StatusFailed, NameWeCom: StatusSent, NameInApp: StatusSent}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("outcomes %v, want %v", got, want)
	}
}

func TestInvalidMessage(t *testing.T) {
	n := newTestNotifier(t, NewMemLog(), &fakeChannel{name: "webhook"})
	for _, m := range []Message{{}, {Key: "k", Kind: "x", Recipient: Recipient{ID: "u"}, TitleZH: "t"}} {
		if _, err := n.Send(context.Background(), m); err == nil || !strings.Contains(err.Error(), "invalid message") {
			t.Fatalf("err = %v", err)
		}
	}
	if _, err := New(Options{Channels: []Channel{&fakeChannel{name: "a"}, &fakeChannel{name: "a"}}}); err == nil {
		t.Fatal("duplicate channel names accepted")
	}
}

func TestNoChannel(t *testing.T) {
	n := newTestNotifier(t, NewMemLog(), &fakeChannel{name: NameEmail})
	_, err := n.Send(context.Background(), testMsg("k")) // urgent: e-mail is not on the urgent route
	if !errors.Is(err, ErrNoChannel) {
		t.Fatalf("err = %v", err)
	}
}

func TestCollectorsRegister(t *testing.T) {
	n := newTestNotifier(t, NewMemLog(), &fakeChannel{name: "webhook"})
	reg := prometheus.NewPedanticRegistry()
	for _, c := range n.Collectors() {
		if err := reg.Register(c); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := n.Send(context.Background(), testMsg("k")); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	for _, want := range []string{"shouwang_notify_sent_total", "shouwang_notify_latency_seconds"} {
		if !names[want] {
			t.Errorf("missing %s in %v", want, names)
		}
	}
}

func TestBackoff(t *testing.T) {
	r := Retry{Attempts: 5, Base: time.Second, Max: 5 * time.Second}
	for i, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second} {
		for range 50 {
			got := r.backoff(i+1, 0)
			lo, hi := min(want*8/10, r.Max), min(want*12/10, r.Max)
			if got < lo || got > hi {
				t.Fatalf("backoff(%d) = %v, want %v–%v", i+1, got, lo, hi)
			}
		}
	}
	if got := r.backoff(1, 3*time.Second); got != 3*time.Second {
		t.Errorf("Retry-After hint ignored: %v", got)
	}
	if got := r.backoff(1, time.Minute); got != r.Max {
		t.Errorf("hint beyond Max: %v", got)
	}
}

// Every channel name, and the "sms" failover, has default limits: a channel
// missing here would be unlimited.
func TestDefaultLimitsCoverEveryChannel(t *testing.T) {
	d := DefaultLimits()
	for _, name := range []string{NameInApp, NameWebPush, NameWebhook, NameEmail, NameAliyunSMS, NameTencentSMS, NameWeCom, MediumSMS} {
		if _, ok := d[name]; !ok {
			t.Errorf("no default limits for %q", name)
		}
	}
	if d[NameWeCom].PerRecipient != PerMinute(30) {
		t.Errorf("WeCom per-member limit %+v, want 30/min", d[NameWeCom].PerRecipient)
	}
}
