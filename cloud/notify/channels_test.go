package notify

import (
	"bufio"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	webpush "github.com/SherClockHolmes/webpush-go"
)

// ---- webhook ----

func TestWebhookSignedPost(t *testing.T) {
	const secret = "0123456789abcdef-webhook"
	var mu sync.Mutex
	var fails = 2
	var delivered []WebhookPayload
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.URL.Path != "/hooks/shouwang" {
			t.Errorf("%s %s", r.Method, r.URL.Path)
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
			t.Errorf("Content-Type %q", ct)
		}
		ts, err := strconv.ParseInt(r.Header.Get(HeaderTimestamp), 10, 64)
		if err != nil || time.Since(time.Unix(ts, 0)).Abs() > time.Minute {
			t.Errorf("timestamp %q", r.Header.Get(HeaderTimestamp))
		}
		// receiver-side verification, written independently of SignWebhook
		mac := hmac.New(sha256.New, []byte(secret))
		fmt.Fprintf(mac, "%d.%s", ts, body)
		want := "sha256=" + fmt.Sprintf("%x", mac.Sum(nil))
		if !hmac.Equal([]byte(r.Header.Get(HeaderSignature)), []byte(want)) {
			t.Errorf("signature %q, want %q", r.Header.Get(HeaderSignature), want)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if got := r.Header.Get(HeaderIdempotency); got != "k-web/u-1" {
			t.Errorf("idempotency header %q", got)
		}
		mu.Lock()
		defer mu.Unlock()
		if fails > 0 {
			fails--
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		var p WebhookPayload
		if err := json.Unmarshal(body, &p); err != nil {
			t.Error(err)
		}
		if strings.Contains(string(body), "13800000000") {
			t.Error("webhook body carries the phone number")
		}
		delivered = append(delivered, p)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	wh, err := NewWebhook(WebhookConfig{URL: srv.URL + "/hooks/shouwang", Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	log := NewMemLog()
	n := newTestNotifier(t, log, wh)
	if _, err := n.Send(context.Background(), testMsg("k-web")); err != nil {
		t.Fatal(err)
	}
	if len(delivered) != 1 || len(log.Attempts()) != 3 {
		t.Fatalf("delivered %d, attempts %d; want 1 and 3", len(delivered), len(log.Attempts()))
	}
	p := delivered[0]
	if p.Key != "k-web" || p.RecipientID != "u-1" || p.Kind != KindDispatched || !p.Urgent || p.TitleZH == "" || p.URL == "" {
		t.Fatalf("payload %+v", p)
	}
}

func TestWebhookStatusClassification(t *testing.T) {
	for _, tc := range []struct {
		status    int
		reason    string
		retryable bool
	}{
		{400, ReasonRejected, false}, {401, ReasonAuth, false}, {404, ReasonRejected, false},
		{408, ReasonTransient, true}, {429, ReasonRateLimited, true}, {500, ReasonTransient, true}, {503, ReasonTransient, true},
	} {
		t.Run(strconv.Itoa(tc.status), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", "7")
				w.WriteHeader(tc.status)
			}))
			defer srv.Close()
			wh, _ := NewWebhook(WebhookConfig{URL: srv.URL, Secret: "0123456789abcdef"})
			var e *Error
			if err := wh.Send(context.Background(), testMsg("k")); !errors.As(err, &e) {
				t.Fatalf("err %v", err)
			}
			if e.Reason != tc.reason || e.Retryable != tc.retryable {
				t.Fatalf("%+v", e)
			}
			if tc.status == 429 && e.RetryAfter != 7*time.Second {
				t.Fatalf("Retry-After not honoured: %v", e.RetryAfter)
			}
		})
	}
}

func TestWebhookValidate(t *testing.T) {
	err := WebhookConfig{URL: "not a url", Secret: "short"}.Validate()
	for _, want := range []string{`URL "not a url"`, "Secret must be at least 16 bytes"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to mention %q", err, want)
		}
	}
}

// ---- e-mail ----

type smtpMsg struct {
	from, to string
	data     string
}

// fakeSMTP speaks enough SMTP for net/smtp: EHLO/HELO, MAIL, RCPT, DATA,
// RSET, NOOP, QUIT. rcptReply, if set, answers RCPT.
func fakeSMTP(t *testing.T, rcptReply string) (addr string, got func() []smtpMsg) {
	return fakeSMTPWith(t, smtpOpts{rcptReply: rcptReply})
}

type smtpOpts struct {
	rcptReply  string
	tls        *tls.Config // offer STARTTLS with this server config
	user, pass string      // require AUTH PLAIN (after TLS) with these
	stall      bool        // greet, then never answer
}

func fakeSMTPWith(t *testing.T, o smtpOpts) (addr string, got func() []smtpMsg) {
	rcptReply := o.rcptReply
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var msgs []smtpMsg
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer conn.Close()
				conn.SetDeadline(time.Now().Add(10 * time.Second))
				var c net.Conn = conn
				r := bufio.NewReader(c)
				say := func(s string) { fmt.Fprintf(c, "%s\r\n", s) }
				say("220 fake.smtp ESMTP ready")
				if o.stall {
					io.Copy(io.Discard, r)
					return
				}
				var cur smtpMsg
				secure, authed := false, o.user == ""
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					line = strings.TrimRight(line, "\r\n")
					verb := strings.ToUpper(strings.SplitN(line, " ", 2)[0])
					switch verb {
					case "EHLO":
						say("250-fake.smtp greets you")
						if o.tls != nil && !secure {
							say("250-STARTTLS")
						}
						if o.user != "" && secure {
							say("250-AUTH PLAIN")
						}
						say("250-8BITMIME")
						say("250 SIZE 1048576")
					case "STARTTLS":
						say("220 2.0.0 Ready to start TLS")
						tc := tls.Server(conn, o.tls)
						if err := tc.Handshake(); err != nil {
							return // e.g. the client rejected our certificate
						}
						c, r, secure = tc, bufio.NewReader(tc), true
					case "AUTH":
						f := strings.Fields(line)
						want := base64.StdEncoding.EncodeToString([]byte("\x00" + o.user + "\x00" + o.pass))
						if len(f) == 3 && f[1] == "PLAIN" && f[2] == want && secure {
							authed = true
							say("235 2.7.0 Authentication successful")
						} else {
							say("535 5.7.8 Authentication credentials invalid")
						}
					case "HELO", "NOOP", "RSET":
						say("250 OK")
					case "MAIL":
						if !authed {
							say("530 5.7.0 Authentication required")
							continue
						}
						cur = smtpMsg{from: line}
						say("250 OK")
					case "RCPT":
						if rcptReply != "" {
							say(rcptReply)
							continue
						}
						cur.to = line
						say("250 OK")
					case "DATA":
						say("354 End data with <CR><LF>.<CR><LF>")
						var b strings.Builder
						for {
							l, err := r.ReadString('\n')
							if err != nil {
								return
							}
							if l == ".\r\n" {
								break
							}
							b.WriteString(strings.TrimPrefix(l, ".")) // dot-unstuffing
						}
						cur.data = b.String()
						mu.Lock()
						msgs = append(msgs, cur)
						mu.Unlock()
						say("250 OK queued")
					case "QUIT":
						say("221 bye")
						return
					default:
						say("502 command not implemented")
					}
				}
			}()
		}
	}()
	return ln.Addr().String(), func() []smtpMsg {
		mu.Lock()
		defer mu.Unlock()
		return append([]smtpMsg(nil), msgs...)
	}
}

func TestEmailUTF8(t *testing.T) {
	addr, got := fakeSMTP(t, "")
	c, err := NewEmail(EmailConfig{Addr: addr, From: "守望 <noreply@shouwang.example.cn>"})
	if err != nil {
		t.Fatal(err)
	}
	m := testMsg("digest-2026-11-22/u-1")
	m.Kind, m.Urgent = KindDigest, false
	m.Recipient.Email = "wangfang@community.example.cn"
	if err := c.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	msgs := got()
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	if msgs[0].from != "MAIL FROM:<noreply@shouwang.example.cn> BODY=8BITMIME" && msgs[0].from != "MAIL FROM:<noreply@shouwang.example.cn>" {
		t.Errorf("envelope %q", msgs[0].from)
	}
	if msgs[0].to != "RCPT TO:<wangfang@community.example.cn>" {
		t.Errorf("envelope %q", msgs[0].to)
	}
	pm, err := mail.ReadMessage(strings.NewReader(msgs[0].data))
	if err != nil {
		t.Fatal(err)
	}
	subj, err := new(mime.WordDecoder).DecodeHeader(pm.Header.Get("Subject"))
	if err != nil || subj != m.TitleZH {
		t.Errorf("Subject %q (%v), want %q", subj, err, m.TitleZH)
	}
	if ct := pm.Header.Get("Content-Type"); ct != "text/plain; charset=UTF-8" {
		t.Errorf("Content-Type %q", ct)
	}
	raw, _ := io.ReadAll(pm.Body)
	body, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(string(raw), "\r\n", ""))
	if err != nil {
		t.Fatal(err)
	}
	if !utf8.Valid(body) || !strings.Contains(string(body), "请尽快上门查看。") || !strings.Contains(string(body), m.URL) {
		t.Errorf("body %q", body)
	}
	for _, line := range strings.Split(string(raw), "\r\n") {
		if len(line) > 78 {
			t.Errorf("body line of %d characters", len(line))
		}
	}
	if pm.Header.Get("Message-ID") == "" || pm.Header.Get("Date") == "" {
		t.Error("Message-ID or Date missing")
	}
}

func TestEmailClassification(t *testing.T) {
	for _, tc := range []struct {
		reply     string
		reason    string
		retryable bool
	}{
		{"550 5.1.1 no such user", ReasonRejected, false},
		{"451 4.7.1 greylisted, try again", ReasonTransient, true},
	} {
		addr, _ := fakeSMTP(t, tc.reply)
		c, _ := NewEmail(EmailConfig{Addr: addr, From: "noreply@shouwang.example.cn"})
		m := testMsg("k")
		m.Recipient.Email = "x@example.cn"
		var e *Error
		if err := c.Send(context.Background(), m); !errors.As(err, &e) || e.Reason != tc.reason || e.Retryable != tc.retryable {
			t.Errorf("%s: %v", tc.reply, err)
		}
	}
	addr, _ := fakeSMTP(t, "")
	c, _ := NewEmail(EmailConfig{Addr: addr, From: "noreply@shouwang.example.cn", RequireTLS: true})
	m := testMsg("k")
	m.Recipient.Email = "x@example.cn"
	if err := c.Send(context.Background(), m); err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Errorf("RequireTLS without STARTTLS: %v", err)
	}
}

func selfSignedTLS(t *testing.T) (server *tls.Config, roots *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "fake.smtp"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	roots = x509.NewCertPool()
	roots.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, roots
}

// The production path: STARTTLS, then AUTH PLAIN, then the message.
func TestEmailSTARTTLSAndAuth(t *testing.T) {
	srvTLS, roots := selfSignedTLS(t)
	addr, got := fakeSMTPWith(t, smtpOpts{tls: srvTLS, user: "noreply@shouwang.example.cn", pass: "p@ss"})
	cfg := EmailConfig{Addr: addr, From: "noreply@shouwang.example.cn", Username: "noreply@shouwang.example.cn", Password: "p@ss",
		TLSConfig: &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"}, RequireTLS: true}
	c, err := NewEmail(cfg)
	if err != nil {
		t.Fatal(err)
	}
	m := testMsg("k")
	m.Recipient.Email = "x@example.cn"
	if err := c.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if len(got()) != 1 {
		t.Fatal("not delivered")
	}
	cfg.Password = "wrong"
	c, _ = NewEmail(cfg)
	var e *Error
	if err := c.Send(context.Background(), m); !errors.As(err, &e) || e.Reason != ReasonAuth || e.Code != "SMTP 535" {
		t.Fatalf("wrong password: %v", err)
	}
	// an untrusted certificate is not silently accepted
	cfg.Password, cfg.TLSConfig = "p@ss", nil
	c, _ = NewEmail(cfg)
	if err := c.Send(context.Background(), m); err == nil {
		t.Fatal("self-signed certificate accepted without RootCAs")
	}
}

func TestEmailHonoursContext(t *testing.T) {
	addr, _ := fakeSMTPWith(t, smtpOpts{stall: true})
	c, _ := NewEmail(EmailConfig{Addr: addr, From: "noreply@shouwang.example.cn"})
	m := testMsg("k")
	m.Recipient.Email = "x@example.cn"
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := c.Send(ctx, m)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("stalled server held the send")
	}
}

func TestEmailValidate(t *testing.T) {
	err := EmailConfig{Addr: "smtp.example.cn", From: "nobody", Username: "u"}.Validate()
	for _, want := range []string{`Addr "smtp.example.cn" is not host:port`, `From "nobody" is not an address`, "Username set without Password"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to mention %q", err, want)
		}
	}
}

// ---- Web Push ----

type pushSub struct {
	priv *ecdh.PrivateKey
	auth []byte
	json []byte
}

func newPushSub(t *testing.T, endpoint string) pushSub {
	priv, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	auth := make([]byte, 16)
	rand.Read(auth)
	b, _ := json.Marshal(map[string]any{
		"endpoint": endpoint,
		"keys": map[string]string{
			"p256dh": base64.RawURLEncoding.EncodeToString(priv.PublicKey().Bytes()),
			"auth":   base64.RawURLEncoding.EncodeToString(auth),
		},
	})
	return pushSub{priv: priv, auth: auth, json: b}
}

// decryptAES128GCM is the user agent's side of RFC 8291 (single record).
func decryptAES128GCM(t *testing.T, s pushSub, body []byte) []byte {
	t.Helper()
	if len(body) < 21 {
		t.Fatalf("body of %d bytes", len(body))
	}
	salt, idlen := body[:16], int(body[20])
	_ = binary.BigEndian.Uint32(body[16:20]) // record size
	asPub := body[21 : 21+idlen]
	ct := body[21+idlen:]
	pub, err := ecdh.P256().NewPublicKey(asPub)
	if err != nil {
		t.Fatal(err)
	}
	secret, err := s.priv.ECDH(pub)
	if err != nil {
		t.Fatal(err)
	}
	info := append(append([]byte("WebPush: info\x00"), s.priv.PublicKey().Bytes()...), asPub...)
	ikm, err := hkdf.Key(sha256.New, secret, s.auth, string(info), 32)
	if err != nil {
		t.Fatal(err)
	}
	cek, _ := hkdf.Key(sha256.New, ikm, salt, "Content-Encoding: aes128gcm\x00", 16)
	nonce, _ := hkdf.Key(sha256.New, ikm, salt, "Content-Encoding: nonce\x00", 12)
	blk, _ := aes.NewCipher(cek)
	gcm, _ := cipher.NewGCM(blk)
	pt, err := gcm.Open(nil, nonce, ct, nil)
	if err != nil {
		t.Fatalf("decrypt: %v", err)
	}
	i := len(pt) - 1
	for i >= 0 && pt[i] == 0 {
		i--
	}
	if i < 0 || pt[i] != 2 {
		t.Fatal("bad padding delimiter")
	}
	return pt[:i]
}

// verifyVAPID checks "vapid t=<JWT>, k=<key>" (RFC 8292): ES256 signature by
// k, aud = push service origin, sub = the configured contact.
func verifyVAPID(t *testing.T, header, origin, sub, pubKey string) {
	t.Helper()
	if !strings.HasPrefix(header, "vapid t=") {
		t.Fatalf("Authorization %q", header)
	}
	parts := strings.SplitN(strings.TrimPrefix(header, "vapid t="), ", k=", 2)
	if len(parts) != 2 || parts[1] != pubKey {
		t.Fatalf("Authorization k= %q, want the VAPID public key", header)
	}
	seg := strings.Split(parts[0], ".")
	if len(seg) != 3 {
		t.Fatalf("JWT %q", parts[0])
	}
	kb, _ := base64.RawURLEncoding.DecodeString(parts[1])
	pk, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), kb)
	if err != nil {
		t.Fatal(err)
	}
	sig, _ := base64.RawURLEncoding.DecodeString(seg[2])
	h := sha256.Sum256([]byte(seg[0] + "." + seg[1]))
	if len(sig) != 64 || !ecdsa.Verify(pk, h[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		t.Fatal("VAPID JWT signature does not verify")
	}
	var hdr, claims map[string]any
	hb, _ := base64.RawURLEncoding.DecodeString(seg[0])
	cb, _ := base64.RawURLEncoding.DecodeString(seg[1])
	json.Unmarshal(hb, &hdr)
	json.Unmarshal(cb, &claims)
	if hdr["alg"] != "ES256" || claims["aud"] != origin || claims["sub"] != sub {
		t.Fatalf("JWT header %v claims %v", hdr, claims)
	}
	if exp, _ := claims["exp"].(float64); time.Until(time.Unix(int64(exp), 0)) > 24*time.Hour || exp == 0 {
		t.Fatalf("exp %v (RFC 8292: at most 24 h)", claims["exp"])
	}
}

func TestWebPushRequest(t *testing.T) {
	priv, pub, err := webpush.GenerateVAPIDKeys()
	if err != nil {
		t.Fatal(err)
	}
	type seen struct {
		hdr  http.Header
		body []byte
	}
	var mu sync.Mutex
	var reqs []seen
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.URL.Path != "/push/v1/abc" {
			t.Errorf("%s %s", r.Method, r.URL.Path)
		}
		mu.Lock()
		reqs = append(reqs, seen{r.Header.Clone(), b})
		mu.Unlock()
		w.WriteHeader(http.StatusCreated)
	}))
	defer srv.Close()
	wp, err := NewWebPush(WebPushConfig{Subscriber: "mailto:ops@shouwang-care.cn", VAPIDPublicKey: pub, VAPIDPrivateKey: priv})
	if err != nil {
		t.Fatal(err)
	}
	sub := newPushSub(t, srv.URL+"/push/v1/abc")
	cases := []struct {
		name    string
		kind    string
		urgent  bool
		urgency string
	}{
		{"dispatched", KindDispatched, true, "high"},
		{"status", KindStatus, false, "normal"},
		{"digest", KindDigest, false, "low"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := testMsg("k-" + tc.name)
			m.Kind, m.Urgent = tc.kind, tc.urgent
			m.Recipient.WebPush = sub.json
			if err := wp.Send(context.Background(), m); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			r := reqs[i]
			mu.Unlock()
			for k, v := range map[string]string{
				"Content-Encoding": "aes128gcm", "Content-Type": "application/octet-stream",
				"TTL": "14400", "Urgency": tc.urgency,
			} {
				if got := r.hdr.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			verifyVAPID(t, r.hdr.Get("Authorization"), srv.URL, "mailto:ops@shouwang-care.cn", pub)
			var p WebPushPayload
			if err := json.Unmarshal(decryptAES128GCM(t, sub, r.body), &p); err != nil {
				t.Fatal(err)
			}
			if p.Title != m.TitleZH || p.Key != m.Key || p.Kind != tc.kind || p.Tag != "inc-1" {
				t.Errorf("payload %+v", p)
			}
		})
	}
}

func TestWebPushGoneAndErrors(t *testing.T) {
	priv, pub, _ := webpush.GenerateVAPIDKeys()
	for _, tc := range []struct {
		status    int
		reason    string
		retryable bool
	}{
		{410, ReasonGone, false}, {404, ReasonGone, false}, {413, ReasonRejected, false},
		{429, ReasonRateLimited, true}, {502, ReasonTransient, true},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(tc.status) }))
		wp, _ := NewWebPush(WebPushConfig{Subscriber: "https://shouwang-care.cn/contact", VAPIDPublicKey: pub, VAPIDPrivateKey: priv})
		m := testMsg("k")
		m.Recipient.WebPush = newPushSub(t, srv.URL+"/p").json
		var e *Error
		err := wp.Send(context.Background(), m)
		srv.Close()
		if !errors.As(err, &e) || e.Reason != tc.reason || e.Retryable != tc.retryable {
			t.Errorf("%d: %v", tc.status, err)
		}
		if tc.reason == ReasonGone && !errors.Is(err, ErrSubscriptionGone) {
			t.Errorf("%d: not ErrSubscriptionGone", tc.status)
		}
	}
	wp, _ := NewWebPush(WebPushConfig{Subscriber: "mailto:ops@shouwang-care.cn", VAPIDPublicKey: pub, VAPIDPrivateKey: priv})
	m := testMsg("k")
	m.Recipient.WebPush = []byte(`{"endpoint":""}`)
	if err := wp.Send(context.Background(), m); err == nil || !strings.Contains(err.Error(), "lacks endpoint") {
		t.Errorf("bad subscription: %v", err)
	}
}

// Concurrent sends of the same message must not race (run with -race).
func TestWebPushConcurrent(t *testing.T) {
	priv, pub, _ := webpush.GenerateVAPIDKeys()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(201) }))
	defer srv.Close()
	wp, _ := NewWebPush(WebPushConfig{Subscriber: "mailto:ops@shouwang-care.cn", VAPIDPublicKey: pub, VAPIDPrivateKey: priv})
	m := testMsg("k")
	m.Recipient.WebPush = newPushSub(t, srv.URL+"/p").json
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := wp.Send(context.Background(), m); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
}

func TestWebPushValidate(t *testing.T) {
	for sub, want := range map[string]string{
		"":                       "Subscriber is empty",
		"ops@shouwang-care.cn":   "must start with mailto: or https:",
		"mailto:ops@example.com": "placeholder",
		"mailto:ops":             "not a usable mailto:",
		"mailto:admin@localhost": "not a usable mailto:",
	} {
		err := WebPushConfig{Subscriber: sub}.Validate()
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "VAPIDPublicKey is empty") {
			t.Errorf("Subscriber %q: %v, want %q", sub, err, want)
		}
	}
	priv, pub, err := webpush.GenerateVAPIDKeys()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ pub, priv, want string }{
		{pub, priv, ""},
		{pub[:20], priv, "VAPIDPublicKey is not a base64url uncompressed P-256 point"},
		{priv, priv, "VAPIDPublicKey is not a base64url uncompressed P-256 point"},
		{pub, pub, "VAPIDPrivateKey is not a base64url 32-byte P-256 scalar"},
		{pub, "not base64!", "VAPIDPrivateKey is not a base64url 32-byte P-256 scalar"},
	} {
		err := WebPushConfig{Subscriber: "mailto:ops@shouwang-care.cn", VAPIDPublicKey: c.pub, VAPIDPrivateKey: c.priv}.Validate()
		if (c.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("keys %.12s…/%.12s…: %v, want %q", c.pub, c.priv, err, c.want)
		}
	}
}

// ---- in-app ----

type recPublisher struct {
	mu     sync.Mutex
	events []string
	vs     []any
}

func (p *recPublisher) Publish(event string, v any) {
	p.mu.Lock()
	p.events = append(p.events, event)
	p.vs = append(p.vs, v)
	p.mu.Unlock()
}

func TestInApp(t *testing.T) {
	if _, err := NewInApp(InAppConfig{}); err == nil {
		t.Fatal("nil publisher accepted")
	}
	p := &recPublisher{}
	c, err := NewInApp(InAppConfig{Publisher: p})
	if err != nil {
		t.Fatal(err)
	}
	m := testMsg("k")
	m.Recipient.Lang = "en"
	if err := c.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	ev, ok := p.vs[0].(InAppEvent)
	if p.events[0] != EventNotification || !ok || ev.Type != "notification" || ev.RecipientID != "u-1" || ev.Title != m.TitleEN || ev.Body != m.BodyEN || !ev.Urgent {
		t.Fatalf("event %#v", p.vs[0])
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Send(ctx, m); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled ctx: %v", err)
	}
}

// Our own SMTP timeout (not the caller's) is a transient, retryable failure.
func TestEmailOwnTimeoutIsTransient(t *testing.T) {
	addr, _ := fakeSMTPWith(t, smtpOpts{stall: true})
	c, _ := NewEmail(EmailConfig{Addr: addr, From: "noreply@shouwang.example.cn", Timeout: 50 * time.Millisecond})
	m := testMsg("k")
	m.Recipient.Email = "x@example.cn"
	var e *Error
	if err := c.Send(context.Background(), m); !errors.As(err, &e) || !e.Retryable {
		t.Fatalf("err %v", err)
	}
}
