package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

type wecomFake struct {
	t          *testing.T
	mu         sync.Mutex
	tokenCalls int
	valid      map[string]bool
	sendReply  []string // queued replies for message/send (after token check)
	bodies     []map[string]any
	rawBodies  [][]byte
	expiresIn  int
}

func (f *wecomFake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t := f.t
	f.mu.Lock()
	defer f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	switch r.URL.Path {
	case "/cgi-bin/gettoken":
		if r.Method != http.MethodGet {
			t.Errorf("gettoken with %s", r.Method)
		}
		q := r.URL.Query()
		if q.Get("corpid") != "ww0123456789abcdef" || q.Get("corpsecret") != "app-secret" {
			fmt.Fprint(w, `{"errcode":40001,"errmsg":"invalid credential"}`)
			return
		}
		f.tokenCalls++
		tok := fmt.Sprintf("TOKEN-%d", f.tokenCalls)
		f.valid[tok] = true
		fmt.Fprintf(w, `{"errcode":0,"errmsg":"ok","access_token":%q,"expires_in":%d}`, tok, f.expiresIn)
	case "/cgi-bin/message/send":
		if r.Method != http.MethodPost {
			t.Errorf("message/send with %s", r.Method)
		}
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("Content-Type %q", ct)
		}
		tok := r.URL.Query().Get("access_token")
		if !f.valid[tok] {
			fmt.Fprint(w, `{"errcode":42001,"errmsg":"access_token expired"}`)
			return
		}
		body, _ := io.ReadAll(r.Body)
		var b map[string]any
		if err := json.Unmarshal(body, &b); err != nil {
			t.Errorf("body %q: %v", body, err)
		}
		if len(f.sendReply) > 0 {
			reply := f.sendReply[0]
			f.sendReply = f.sendReply[1:]
			fmt.Fprint(w, reply)
			return
		}
		f.bodies = append(f.bodies, b)
		f.rawBodies = append(f.rawBodies, body)
		fmt.Fprint(w, `{"errcode":0,"errmsg":"ok","invaliduser":"","invalidparty":"","invalidtag":"","unlicenseduser":"","msgid":"xx","response_code":"xyzxyz"}`)
	default:
		t.Errorf("unexpected %s %s", r.Method, r.URL.Path)
		http.NotFound(w, r)
	}
}

func newWeCom(t *testing.T) (*WeCom, *wecomFake) {
	f := &wecomFake{t: t, valid: map[string]bool{}, expiresIn: 7200}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	c, err := NewWeCom(WeComConfig{CorpID: "ww0123456789abcdef", CorpSecret: "app-secret", AgentID: 1000002, BaseURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	return c, f
}

func TestWeComTextCardAndTokenCache(t *testing.T) {
	c, f := newWeCom(t)
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if err := c.Send(ctx, testMsg(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	if f.tokenCalls != 1 {
		t.Fatalf("gettoken called %d times, want 1 (cached)", f.tokenCalls)
	}
	want := `{"touser":"wangfang","msgtype":"textcard","agentid":1000002,"textcard":{"title":"【紧急】独居老人 12 小时无用水","description":"请尽快上门查看。","url":"https://shouwang.example.cn/i/inc-1","btntxt":"查看详情"},"safe":0}`
	if got := string(f.rawBodies[0]); got != want {
		t.Fatalf("body\n got %s\nwant %s", got, want)
	}
	// text message when there is no URL; English for an English reader
	m := testMsg("x")
	m.URL, m.Urgent, m.Kind = "", false, KindStatus
	m.Recipient.Lang = "en"
	if err := c.Send(ctx, m); err != nil {
		t.Fatal(err)
	}
	want = `{"touser":"wangfang","msgtype":"text","agentid":1000002,"text":{"content":"No water use for 12 h\nPlease visit as soon as possible."},"safe":0}`
	if got := string(f.rawBodies[3]); got != want {
		t.Fatalf("body\n got %s\nwant %s", got, want)
	}
}

func TestWeComTokenExpiryRefresh(t *testing.T) {
	c, f := newWeCom(t)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c.now = func() time.Time { return now }
	ctx := context.Background()
	if err := c.Send(ctx, testMsg("a")); err != nil {
		t.Fatal(err)
	}
	now = now.Add(7200*time.Second - 4*time.Minute) // within the 5-minute margin
	if err := c.Send(ctx, testMsg("b")); err != nil {
		t.Fatal(err)
	}
	if f.tokenCalls != 2 {
		t.Fatalf("gettoken calls %d, want 2 (refreshed before expiry)", f.tokenCalls)
	}
}

// The server revokes the token (42001): one refresh and an immediate resend.
func TestWeComRefreshOn42001(t *testing.T) {
	for _, code := range []string{"42001", "40014"} {
		t.Run(code, func(t *testing.T) {
			c, f := newWeCom(t)
			ctx := context.Background()
			if err := c.Send(ctx, testMsg("a")); err != nil {
				t.Fatal(err)
			}
			f.mu.Lock()
			f.valid = map[string]bool{} // every token now invalid
			f.sendReply = nil
			f.mu.Unlock()
			if code == "40014" {
				f.mu.Lock()
				f.sendReply = []string{`{"errcode":40014,"errmsg":"invalid access_token"}`}
				f.valid["TOKEN-1"] = true
				f.mu.Unlock()
			}
			if err := c.Send(ctx, testMsg("b")); err != nil {
				t.Fatal(err)
			}
			if f.tokenCalls != 2 || len(f.bodies) != 2 {
				t.Fatalf("token calls %d, deliveries %d", f.tokenCalls, len(f.bodies))
			}
		})
	}
}

func TestWeComErrors(t *testing.T) {
	cases := []struct {
		reply, code, reason string
		retryable           bool
	}{
		{`{"errcode":45009,"errmsg":"api freq out of limit"}`, "45009", ReasonRateLimited, true},
		{`{"errcode":-1,"errmsg":"system busy"}`, "-1", ReasonTransient, true},
		{`{"errcode":60020,"errmsg":"not allow to access from your ip"}`, "60020", ReasonAuth, false},
		{`{"errcode":81013,"errmsg":"user & party & tag all invalid"}`, "81013", ReasonRejected, false},
		{`{"errcode":0,"errmsg":"ok","invaliduser":"wangfang"}`, "invaliduser", ReasonRejected, false},
	}
	for _, tc := range cases {
		t.Run(tc.code, func(t *testing.T) {
			c, f := newWeCom(t)
			f.sendReply = []string{tc.reply}
			var e *Error
			if err := c.Send(context.Background(), testMsg("k")); !errors.As(err, &e) {
				t.Fatalf("err %v", err)
			}
			if e.Code != tc.code || e.Reason != tc.reason || e.Retryable != tc.retryable {
				t.Fatalf("got %+v", e)
			}
		})
	}
	c, _ := newWeCom(t)
	c.cfg.CorpSecret = "wrong"
	var e *Error
	if err := c.Send(context.Background(), testMsg("k")); !errors.As(err, &e) || e.Reason != ReasonAuth || e.Code != "40001" {
		t.Fatalf("bad secret: %v", err)
	}
}

// 30 per member per minute through the Notifier's default WeCom limits.
func TestWeComDefaultMemberLimit(t *testing.T) {
	c, f := newWeCom(t)
	n, err := New(Options{Channels: []Channel{c}, MaxRateWait: -1})
	if err != nil {
		t.Fatal(err)
	}
	var limited int
	for i := 0; i < 31; i++ {
		_, err := n.SendOn(context.Background(), testMsg(fmt.Sprint(i)), NameWeCom)
		if errors.Is(err, ErrRateLimited) {
			limited++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if len(f.bodies) != 30 || limited != 1 {
		t.Fatalf("delivered %d, limited %d; want 30 and 1", len(f.bodies), limited)
	}
}

func TestWeComValidate(t *testing.T) {
	err := WeComConfig{BaseURL: "qyapi"}.Validate()
	for _, want := range []string{"CorpID is empty", "CorpSecret is empty", "AgentID must be", `BaseURL "qyapi"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to mention %q", err, want)
		}
	}
}
