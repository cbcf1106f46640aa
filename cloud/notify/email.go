package notify

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"strings"
	"time"
)

// EmailConfig configures the SMTP channel.
type EmailConfig struct {
	Addr     string // host:port of the submission server (587 with STARTTLS, or 25)
	From     string // "守望 <noreply@example.org>"
	Username string // empty: no AUTH
	Password string
	// TLSConfig for STARTTLS (nil: ServerName from Addr). STARTTLS is used
	// whenever the server offers it; RequireTLS refuses to send without it.
	TLSConfig  *tls.Config
	RequireTLS bool
	HelloName  string        // EHLO name (default "localhost")
	Timeout    time.Duration // whole conversation, default 30s (the ctx deadline wins if sooner)
}

// Validate reports missing or unusable settings.
func (c EmailConfig) Validate() error {
	var errs []string
	if c.Addr == "" {
		errs = append(errs, "Addr is empty (host:port)")
	} else if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, fmt.Sprintf("Addr %q is not host:port", c.Addr))
	}
	if c.From == "" {
		errs = append(errs, "From is empty")
	} else if _, err := mail.ParseAddress(c.From); err != nil {
		errs = append(errs, fmt.Sprintf("From %q is not an address: %v", c.From, err))
	}
	if c.Username != "" && c.Password == "" {
		errs = append(errs, "Username set without Password")
	}
	return joinErrs("notify: email: ", errs)
}

// Email sends plain-text UTF-8 mail with net/smtp.
type Email struct {
	cfg  EmailConfig
	from *mail.Address
	now  func() time.Time
}

// NewEmail checks cfg and returns the channel.
func NewEmail(cfg EmailConfig) (*Email, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	from, _ := mail.ParseAddress(cfg.From)
	if cfg.HelloName == "" {
		cfg.HelloName = "localhost"
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	return &Email{cfg: cfg, from: from, now: time.Now}, nil
}

// Name implements Channel.
func (c *Email) Name() string { return NameEmail }

// Accepts implements Acceptor.
func (c *Email) Accepts(r Recipient) bool { return r.Email != "" }

// buildMessage renders the RFC 5322 message: UTF-8 subject as an RFC 2047
// encoded word, base64 text/plain body.
func (c *Email) buildMessage(m Message, to *mail.Address) []byte {
	var b bytes.Buffer
	h := sha256.Sum256([]byte(m.Key + "\x00" + m.Recipient.ID))
	domain := "shouwang.invalid"
	if i := strings.LastIndexByte(c.from.Address, '@'); i >= 0 {
		domain = c.from.Address[i+1:]
	}
	body := m.Body()
	if m.URL != "" {
		body += "\r\n\r\n" + m.URL
	}
	lang := "zh-CN"
	if m.Recipient.English() {
		lang = "en"
	}
	fmt.Fprintf(&b, "From: %s\r\n", c.from.String())
	fmt.Fprintf(&b, "To: %s\r\n", to.String())
	fmt.Fprintf(&b, "Subject: %s\r\n", mime.BEncoding.Encode("UTF-8", m.Title()))
	fmt.Fprintf(&b, "Date: %s\r\n", c.now().Format(time.RFC1123Z))
	// Same Key → same Message-ID: mail clients collapse an accidental resend.
	fmt.Fprintf(&b, "Message-ID: <%s@%s>\r\n", hex.EncodeToString(h[:12]), domain)
	fmt.Fprintf(&b, "Content-Language: %s\r\n", lang)
	b.WriteString("MIME-Version: 1.0\r\n")
	b.WriteString("Content-Type: text/plain; charset=UTF-8\r\n")
	b.WriteString("Content-Transfer-Encoding: base64\r\n")
	if m.IncidentID != "" {
		fmt.Fprintf(&b, "X-Shouwang-Incident: %s\r\n", sanitizeHeader(m.IncidentID))
	}
	b.WriteString("\r\n")
	enc := base64.StdEncoding.EncodeToString([]byte(strings.ReplaceAll(body, "\r\n", "\n")))
	for len(enc) > 76 {
		b.WriteString(enc[:76])
		b.WriteString("\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc)
	b.WriteString("\r\n")
	return b.Bytes()
}

func sanitizeHeader(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return -1
		}
		return r
	}, s)
}

// Send implements Channel.
func (c *Email) Send(ctx context.Context, m Message) error {
	to, err := mail.ParseAddress(m.Recipient.Email)
	if err != nil {
		return Permanent(NameEmail, ReasonInvalid, "", fmt.Errorf("recipient address %q: %w", m.Recipient.Email, err))
	}
	msg := c.buildMessage(m, to)

	// parent decides cancellation; our own Timeout expiring is a transient
	// failure of the server, retried.
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", c.cfg.Addr)
	if err != nil {
		return Transient(NameEmail, "", err)
	}
	// net/smtp has no context: a deadline on the connection bounds it, and
	// closing the connection interrupts it on cancellation.
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	host, _, _ := net.SplitHostPort(c.cfg.Addr)
	cl, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return c.smtpErr(parent, err)
	}
	defer cl.Close()
	if err := cl.Hello(c.cfg.HelloName); err != nil {
		return c.smtpErr(parent, err)
	}
	if ok, _ := cl.Extension("STARTTLS"); ok {
		tc := c.cfg.TLSConfig
		if tc == nil {
			tc = &tls.Config{ServerName: host}
		}
		if err := cl.StartTLS(tc); err != nil {
			return c.smtpErr(parent, err)
		}
	} else if c.cfg.RequireTLS {
		return Permanent(NameEmail, ReasonAuth, "", errors.New("server does not offer STARTTLS and RequireTLS is set"))
	}
	if c.cfg.Username != "" {
		if err := cl.Auth(smtp.PlainAuth("", c.cfg.Username, c.cfg.Password, host)); err != nil {
			var te *textproto.Error
			var ne net.Error
			if !errors.As(err, &te) && !errors.As(err, &ne) && !errors.Is(err, io.EOF) && ctxDone(parent) == nil {
				// net/smtp refused locally (no AUTH offered, or PLAIN over an
				// unencrypted connection to a remote host): a config problem.
				return Permanent(NameEmail, ReasonAuth, "", err)
			}
			return c.smtpErr(parent, err)
		}
	}
	if err := cl.Mail(c.from.Address); err != nil {
		return c.smtpErr(parent, err)
	}
	if err := cl.Rcpt(to.Address); err != nil {
		return c.smtpErr(parent, err)
	}
	w, err := cl.Data()
	if err != nil {
		return c.smtpErr(parent, err)
	}
	if _, err := w.Write(msg); err != nil {
		return c.smtpErr(parent, err)
	}
	if err := w.Close(); err != nil {
		return c.smtpErr(parent, err)
	}
	_ = cl.Quit()
	return nil
}

// smtpErr classifies: 4xx replies are temporary, 5xx permanent (535: auth).
func (c *Email) smtpErr(ctx context.Context, err error) error {
	if cerr := ctxDone(ctx); cerr != nil {
		return errors.Join(cerr, err)
	}
	var te *textproto.Error
	if errors.As(err, &te) {
		code := fmt.Sprintf("SMTP %d", te.Code)
		switch {
		case te.Code >= 400 && te.Code < 500:
			return Transient(NameEmail, code, err)
		case te.Code == 530 || te.Code == 534 || te.Code == 535:
			return Permanent(NameEmail, ReasonAuth, code, err)
		default:
			return Permanent(NameEmail, ReasonRejected, code, err)
		}
	}
	return Transient(NameEmail, "", err)
}

// ctxDone is ctx.Err(), also when the deadline has passed but the context's
// timer has not fired yet (the connection deadline is the same instant and
// may trip first).
func ctxDone(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
		return context.DeadlineExceeded
	}
	return nil
}
