package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Aliyun's published examples for RPC signature v1 (HMAC-SHA1).
func TestAliyunSignKnownVectors(t *testing.T) {
	cases := []struct {
		name   string
		secret string
		params map[string]string
		sts    string // expected StringToSign, when published
		want   string
	}{
		{
			// "Signature mechanism" (RPC) worked example: DescribeRegions, testid/testsecret.
			name:   "DescribeRegions",
			secret: "testsecret",
			params: map[string]string{
				"Timestamp": "2016-02-23T12:46:24Z", "Format": "XML", "AccessKeyId": "testid",
				"Action": "DescribeRegions", "SignatureMethod": "HMAC-SHA1",
				"SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf", "Version": "2014-05-26", "SignatureVersion": "1.0",
			},
			sts:  "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf%26SignatureVersion%3D1.0%26Timestamp%3D2016-02-23T12%253A46%253A24Z%26Version%3D2014-05-26",
			want: "OLeaidS1JvxuMvnyHOwuJ+uX5qY=",
		},
		{
			// dysmsapi SendSms signing example: testId/testSecret, Chinese SignName, JSON TemplateParam.
			name:   "SendSms",
			secret: "testSecret",
			params: map[string]string{
				"AccessKeyId": "testId", "Action": "SendSms", "Format": "XML", "OutId": "123",
				"PhoneNumbers": "15300000001", "RegionId": "cn-hangzhou", "SignName": "阿里云短信测试专用",
				"SignatureMethod": "HMAC-SHA1", "SignatureNonce": "45e25e9b-0a6f-4070-8c85-2956eda1b466",
				"SignatureVersion": "1.0", "TemplateCode": "SMS_71390007", "TemplateParam": `{"customer":"test"}`,
				"Timestamp": "2017-07-12T02:42:19Z", "Version": "2017-05-25",
			},
			sts:  "GET&%2F&AccessKeyId%3DtestId%26Action%3DSendSms%26Format%3DXML%26OutId%3D123%26PhoneNumbers%3D15300000001%26RegionId%3Dcn-hangzhou%26SignName%3D%25E9%2598%25BF%25E9%2587%258C%25E4%25BA%2591%25E7%259F%25AD%25E4%25BF%25A1%25E6%25B5%258B%25E8%25AF%2595%25E4%25B8%2593%25E7%2594%25A8%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D45e25e9b-0a6f-4070-8c85-2956eda1b466%26SignatureVersion%3D1.0%26TemplateCode%3DSMS_71390007%26TemplateParam%3D%257B%2522customer%2522%253A%2522test%2522%257D%26Timestamp%3D2017-07-12T02%253A42%253A19Z%26Version%3D2017-05-25",
			want: "zJDF+Lrzhj/ThnlvIToysFRq6t4=",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sts := "GET&%2F&" + AliyunPercentEncode(AliyunCanonicalQuery(tc.params))
			if sts != tc.sts {
				t.Errorf("StringToSign\n got %s\nwant %s", sts, tc.sts)
			}
			if got := AliyunSign("GET", tc.params, tc.secret); got != tc.want {
				t.Errorf("signature %s, want %s", got, tc.want)
			}
		})
	}
}

func TestAliyunPercentEncode(t *testing.T) {
	for in, want := range map[string]string{
		"a b": "a%20b", "a*b": "a%2Ab", "a~b": "a~b", "/": "%2F", "+": "%2B",
		"2016-02-23T12:46:24Z": "2016-02-23T12%3A46%3A24Z", "守": "%E5%AE%88",
	} {
		if got := AliyunPercentEncode(in); got != want {
			t.Errorf("%q → %q, want %q", in, got, want)
		}
	}
}

// aliyunFake verifies every request like dysmsapi would, then answers with
// the next reply.
type aliyunFake struct {
	t       *testing.T
	secret  string
	mu      sync.Mutex
	replies []string
	got     []map[string]string
	nonces  map[string]bool
}

func (f *aliyunFake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t := f.t
	if r.Method != http.MethodGet || r.URL.Path != "/" {
		t.Errorf("%s %s, want GET /", r.Method, r.URL.Path)
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		t.Error(err)
	}
	p := map[string]string{}
	for k, v := range q {
		if len(v) != 1 {
			t.Errorf("param %s repeated", k)
		}
		p[k] = v[0]
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	// server-side verification: recompute over everything but Signature
	if want := AliyunSign("GET", p, f.secret); p["Signature"] != want {
		w.WriteHeader(400)
		fmt.Fprintf(w, `{"RequestId":"R","Message":"Specified signature is not matched with our calculation.","Recommend":"","HostId":"dysmsapi.aliyuncs.com","Code":"SignatureDoesNotMatch"}`)
		return
	}
	if f.nonces[p["SignatureNonce"]] {
		w.WriteHeader(400)
		fmt.Fprint(w, `{"RequestId":"R","Message":"nonce used","Code":"SignatureNonceUsed"}`)
		return
	}
	f.nonces[p["SignatureNonce"]] = true
	f.got = append(f.got, p)
	reply := `{"Message":"OK","RequestId":"F655A8D5-B967-440B-8683-DAD6FF8DE990","Code":"OK","BizId":"900619746936498440^0"}`
	if len(f.replies) > 0 {
		reply, f.replies = f.replies[0], f.replies[1:]
	}
	fmt.Fprint(w, reply)
}

func newAliyun(t *testing.T, replies ...string) (*AliyunSMS, *aliyunFake) {
	f := &aliyunFake{t: t, secret: "s3cr3t", replies: replies, nonces: map[string]bool{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	c, err := NewAliyunSMS(AliyunSMSConfig{
		AccessKeyID: "LTAI-test", AccessKeySecret: "s3cr3t", SignName: "守望",
		Templates: map[string]string{KindDispatched: "SMS_1001", "": "SMS_1000"},
		Endpoint:  srv.URL + "/",
	})
	if err != nil {
		t.Fatal(err)
	}
	c.now = func() time.Time { return time.Date(2026, 11, 22, 12, 30, 5, 0, time.FixedZone("CST", 8*3600)) }
	return c, f
}

func TestAliyunSendRequestShape(t *testing.T) {
	c, f := newAliyun(t)
	m := testMsg("inc-1/dispatched/u-1")
	m.Recipient.Phone = "+86 138-0000-0000"
	if err := c.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	p := f.got[0]
	var tp map[string]string
	if err := json.Unmarshal([]byte(p["TemplateParam"]), &tp); err != nil {
		t.Fatalf("TemplateParam %q: %v", p["TemplateParam"], err)
	}
	want := map[string]string{
		"AccessKeyId": "LTAI-test", "Action": "SendSms", "Format": "JSON", "PhoneNumbers": "13800000000",
		"SignName": "守望", "TemplateCode": "SMS_1001", "SignatureMethod": "HMAC-SHA1", "SignatureVersion": "1.0",
		"Timestamp": "2026-11-22T04:30:05Z", "Version": "2017-05-25", "OutId": "inc-1/dispatched/u-1", "RegionId": "cn-hangzhou",
	}
	for k, v := range want {
		if p[k] != v {
			t.Errorf("%s = %q, want %q", k, p[k], v)
		}
	}
	if p["SignatureNonce"] == "" || p["Signature"] == "" {
		t.Error("nonce or signature missing")
	}
	if tp["name"] != "王芳" || tp["title"] != truncRunes(m.TitleZH, 20) || tp["incident"] != "inc-1" {
		t.Errorf("TemplateParam %v", tp)
	}
	// fallback template for a kind without its own
	m.Kind, m.Key = KindStatus, "k2"
	if err := c.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if f.got[1]["TemplateCode"] != "SMS_1000" {
		t.Errorf("fallback template %q", f.got[1]["TemplateCode"])
	}
}

func TestAliyunErrors(t *testing.T) {
	cases := []struct {
		reply     string
		reason    string
		retryable bool
	}{
		{`{"Code":"isv.BUSINESS_LIMIT_CONTROL","Message":"触发分钟级流控Permits:1","RequestId":"R"}`, ReasonRateLimited, false},
		{`{"Code":"isv.MOBILE_NUMBER_ILLEGAL","Message":"非法手机号","RequestId":"R"}`, ReasonRejected, false},
		{`{"Code":"isv.AMOUNT_NOT_ENOUGH","Message":"账户余额不足","RequestId":"R"}`, ReasonRejected, false},
		{`{"Code":"isp.RAM_PERMISSION_DENY","Message":"RAM权限DENY","RequestId":"R"}`, ReasonAuth, false},
		{`{"Code":"isp.SYSTEM_ERROR","Message":"系统错误","RequestId":"R"}`, ReasonTransient, true},
		{`{"Code":"Throttling.User","Message":"Request was denied due to user flow control.","RequestId":"R"}`, ReasonTransient, true},
	}
	for _, tc := range cases {
		var code struct{ Code string }
		_ = json.Unmarshal([]byte(tc.reply), &code)
		t.Run(code.Code, func(t *testing.T) {
			c, _ := newAliyun(t, tc.reply)
			err := c.Send(context.Background(), testMsg("k"))
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err %v", err)
			}
			if e.Reason != tc.reason || e.Retryable != tc.retryable || e.Code != code.Code {
				t.Fatalf("got %+v, want reason %s retryable %v", e, tc.reason, tc.retryable)
			}
		})
	}
}

func TestAliyunWrongSecretIsAuthError(t *testing.T) {
	c, _ := newAliyun(t)
	c.cfg.AccessKeySecret = "wrong"
	err := c.Send(context.Background(), testMsg("k"))
	var e *Error
	if !errors.As(err, &e) || e.Reason != ReasonAuth || e.Code != "SignatureDoesNotMatch" || e.Retryable {
		t.Fatalf("err %v", err)
	}
}

// Through the Notifier: the fake fails twice (system error) then accepts →
// one text, three attempts logged, each with a fresh SignatureNonce.
func TestAliyunRetryThroughNotifier(t *testing.T) {
	busy := `{"Code":"isp.SYSTEM_ERROR","Message":"系统错误","RequestId":"R"}`
	c, f := newAliyun(t, busy, busy)
	log := NewMemLog()
	n := newTestNotifier(t, log, c)
	if _, err := n.Send(context.Background(), testMsg("inc-1/dispatched/u-1")); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Send(context.Background(), testMsg("inc-1/dispatched/u-1")); err != nil {
		t.Fatal(err)
	}
	if len(f.got) != 3 {
		t.Fatalf("%d requests, want 3 (2 failures + 1 success, then deduped)", len(f.got))
	}
	as := attemptsFor(log, NameAliyunSMS)
	if len(as) != 4 || as[2].Status != StatusSent || as[3].Status != StatusDuplicate {
		t.Fatalf("log %+v", as)
	}
}

func TestAliyunValidate(t *testing.T) {
	err := AliyunSMSConfig{Templates: map[string]string{"dispatched": "1234"}, Endpoint: "ftp://x"}.Validate()
	for _, want := range []string{"AccessKeyID is empty", "AccessKeySecret is empty", "SignName is empty", `Templates["dispatched"] = "1234"`, "must be an http(s) URL"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to mention %q", err, want)
		}
	}
}

// Tencent Cloud's published TC3-HMAC-SHA256 example (CVM DescribeInstances,
// timestamp 1551113065, documentation placeholder credentials).
func TestTC3SignKnownVector(t *testing.T) {
	payload := `{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}`
	got := TC3Sign("AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******", "Gu5t9xGARNpq86cd98joQYCN3*******", "cvm",
		"cvm.tencentcloudapi.com", "application/json; charset=utf-8", []byte(payload), 1551113065)
	want := "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******/2019-02-25/cvm/tc3_request, SignedHeaders=content-type;host, Signature=2230eefd229f582d8b1b891af7107b91597240707d778ab3738f756258d7652c"
	if got != want {
		t.Fatalf("\n got %s\nwant %s", got, want)
	}
}

type tencentFake struct {
	t       *testing.T
	secret  string
	mu      sync.Mutex
	replies []string
	bodies  []map[string]any
}

func (f *tencentFake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t := f.t
	body, _ := io.ReadAll(r.Body)
	w.Header().Set("Content-Type", "application/json")
	hdr := map[string]string{
		"Content-Type": "application/json; charset=utf-8", "X-TC-Action": "SendSms",
		"X-TC-Version": "2021-01-11", "X-TC-Region": "ap-guangzhou",
	}
	if r.Method != http.MethodPost || r.URL.Path != "/" {
		t.Errorf("%s %s, want POST /", r.Method, r.URL.Path)
	}
	for k, v := range hdr {
		if got := r.Header.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	ts, err := strconv.ParseInt(r.Header.Get("X-TC-Timestamp"), 10, 64)
	if err != nil {
		t.Errorf("X-TC-Timestamp: %v", err)
	}
	id := strings.TrimPrefix(strings.SplitN(r.Header.Get("Authorization"), "/", 2)[0], "TC3-HMAC-SHA256 Credential=")
	if want := TC3Sign(id, f.secret, "sms", r.Host, r.Header.Get("Content-Type"), body, ts); r.Header.Get("Authorization") != want {
		fmt.Fprint(w, `{"Response":{"Error":{"Code":"AuthFailure.SignatureFailure","Message":"The provided credentials could not be validated."},"RequestId":"R"}}`)
		return
	}
	var b map[string]any
	if err := json.Unmarshal(body, &b); err != nil {
		t.Errorf("body %q: %v", body, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.bodies = append(f.bodies, b)
	reply := `{"Response":{"SendStatusSet":[{"SerialNo":"5000:1045710669157053657849499619","PhoneNumber":"+8613800000000","Fee":1,"SessionContext":"","Code":"Ok","Message":"send success","IsoCode":"CN"}],"RequestId":"a0aabda6-cf91-4f3e-a81f-9198114a2279"}}`
	if len(f.replies) > 0 {
		reply, f.replies = f.replies[0], f.replies[1:]
	}
	fmt.Fprint(w, reply)
}

func newTencent(t *testing.T, replies ...string) (*TencentSMS, *tencentFake) {
	f := &tencentFake{t: t, secret: "tc-secret", replies: replies}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	c, err := NewTencentSMS(TencentSMSConfig{
		SecretID: "AKIDtest", SecretKey: "tc-secret", SmsSdkAppID: "1400006666", SignName: "守望",
		Templates: map[string]string{"": "449739"}, Endpoint: srv.URL + "/",
	})
	if err != nil {
		t.Fatal(err)
	}
	return c, f
}

func TestTencentSendRequestShape(t *testing.T) {
	c, f := newTencent(t)
	if err := c.Send(context.Background(), testMsg("inc-1/dispatched/u-1")); err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(f.bodies[0])
	want := `{"PhoneNumberSet":["+8613800000000"],"SessionContext":"inc-1/dispatched/u-1","SignName":"守望","SmsSdkAppId":"1400006666","TemplateId":"449739","TemplateParamSet":["王芳","独居老人 12 小时无用水","inc-1"]}`
	if string(got) != want {
		t.Fatalf("body\n got %s\nwant %s", got, want)
	}
}

func TestTencentErrors(t *testing.T) {
	cases := []struct {
		name, reply, code, reason string
		retryable                 bool
	}{
		{"per-number limit", `{"Response":{"SendStatusSet":[{"PhoneNumber":"+8613800000000","Code":"LimitExceeded.PhoneNumberThirtySecondLimit","Message":"30s limit"}],"RequestId":"R"}}`, "LimitExceeded.PhoneNumberThirtySecondLimit", ReasonRateLimited, false},
		{"bad number", `{"Response":{"SendStatusSet":[{"PhoneNumber":"+86138","Code":"InvalidParameterValue.IncorrectPhoneNumber","Message":"bad"}],"RequestId":"R"}}`, "InvalidParameterValue.IncorrectPhoneNumber", ReasonRejected, false},
		{"api error", `{"Response":{"Error":{"Code":"FailedOperation.TemplateIncorrectOrUnapproved","Message":"template"},"RequestId":"R"}}`, "FailedOperation.TemplateIncorrectOrUnapproved", ReasonRejected, false},
		{"internal", `{"Response":{"Error":{"Code":"InternalError.Timeout","Message":"timeout"},"RequestId":"R"}}`, "InternalError.Timeout", ReasonTransient, true},
		{"sig", `{"Response":{"Error":{"Code":"InternalError.SigVerificationFail","Message":"sig"},"RequestId":"R"}}`, "InternalError.SigVerificationFail", ReasonAuth, false},
		{"api rate", `{"Response":{"Error":{"Code":"RequestLimitExceeded","Message":"too fast"},"RequestId":"R"}}`, "RequestLimitExceeded", ReasonTransient, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := newTencent(t, tc.reply)
			var e *Error
			if err := c.Send(context.Background(), testMsg("k")); !errors.As(err, &e) {
				t.Fatalf("err %v", err)
			}
			if e.Code != tc.code || e.Reason != tc.reason || e.Retryable != tc.retryable {
				t.Fatalf("got %+v", e)
			}
		})
	}
	c, _ := newTencent(t)
	c.cfg.SecretKey = "wrong"
	var e *Error
	if err := c.Send(context.Background(), testMsg("k")); !errors.As(err, &e) || e.Reason != ReasonAuth || e.Code != "AuthFailure.SignatureFailure" {
		t.Fatalf("wrong key: %v", err)
	}
}

func TestTencentValidate(t *testing.T) {
	err := TencentSMSConfig{SmsSdkAppID: "abc", Templates: map[string]string{"": "SMS_1"}}.Validate()
	for _, want := range []string{"SecretID is empty", "SecretKey is empty", `SmsSdkAppID "abc" is not numeric`, "SignName is empty", `Templates[""] = "SMS_1" is not a numeric TemplateId`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to mention %q", err, want)
		}
	}
}

func TestPhoneFormats(t *testing.T) {
	for _, tc := range []struct{ in, aliyun, tencent string }{
		{"13800000000", "13800000000", "+8613800000000"},
		{"+86 138 0000 0000", "13800000000", "+8613800000000"},
		{"+85291234567", "0085291234567", "+85291234567"},
		{"", "", ""},
	} {
		if got := aliyunPhone(tc.in); got != tc.aliyun {
			t.Errorf("aliyunPhone(%q) = %q, want %q", tc.in, got, tc.aliyun)
		}
		if got := tencentPhone(tc.in); got != tc.tencent {
			t.Errorf("tencentPhone(%q) = %q, want %q", tc.in, got, tc.tencent)
		}
	}
}

func TestFailover(t *testing.T) {
	refused := Permanent(NameAliyunSMS, ReasonRejected, "isv.OUT_OF_SERVICE", errors.New("业务停机"))
	busy := Transient(NameAliyunSMS, "isp.SYSTEM_ERROR", errors.New("系统错误"))
	cases := []struct {
		name          string
		primary       []error
		wantPrimary   int
		wantSecondary int
		wantErr       bool
		wantRetryable bool
	}{
		{"primary ok", nil, 1, 0, false, false},
		{"primary refuses → secondary", []error{refused}, 1, 1, false, false},
		{"primary busy → no failover (ambiguous)", []error{busy}, 1, 0, true, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := &fakeChannel{name: NameAliyunSMS, errs: tc.primary}
			b := &fakeChannel{name: NameTencentSMS}
			f, err := NewFailover(MediumSMS, a, b)
			if err != nil {
				t.Fatal(err)
			}
			err = f.Send(context.Background(), testMsg("k"))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v", err)
			}
			if _, r, _ := classify(err); err != nil && r != tc.wantRetryable {
				t.Fatalf("retryable %v", r)
			}
			ca, _ := a.count()
			cb, _ := b.count()
			if ca != tc.wantPrimary || cb != tc.wantSecondary {
				t.Fatalf("calls %d/%d", ca, cb)
			}
		})
	}
	// both refuse: a non-retryable error carrying both
	a := &fakeChannel{name: NameAliyunSMS, errs: []error{refused}}
	b := &fakeChannel{name: NameTencentSMS, errs: []error{Permanent(NameTencentSMS, ReasonRateLimited, "LimitExceeded.DeliveryFrequencyLimit", errors.New("freq"))}}
	f, _ := NewFailover(MediumSMS, a, b)
	n := newTestNotifier(t, NewMemLog(), f)
	rep, err := n.Send(context.Background(), testMsg("k"))
	if err == nil || rep.Outcomes[0].Channel != MediumSMS || rep.Outcomes[0].Attempts != 1 || !errors.Is(err, refused) {
		t.Fatalf("err %v rep %+v", err, rep)
	}
	// routed as the "sms" medium
	if got := NewRouter(nil).Pick(testMsg("k"), []Channel{f}); len(got) != 1 {
		t.Fatal("failover not picked for sms")
	}
}
