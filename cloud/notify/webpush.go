package notify

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	webpush "github.com/SherClockHolmes/webpush-go"
)

// WebPushConfig configures Web Push with VAPID (RFC 8030/8291/8292).
type WebPushConfig struct {
	// Subscriber is the VAPID "sub": a real mailto: or https: contact.
	// Apple's push service rejects anything else (example.com, localhost).
	Subscriber      string
	VAPIDPublicKey  string // base64url, uncompressed P-256 point
	VAPIDPrivateKey string // base64url
	// TTL in seconds the push service keeps an undelivered message
	// (default 4h; urgent pages are resent by escalation anyway).
	TTL        int
	HTTPClient *http.Client
}

// Validate reports missing or unusable settings.
func (c WebPushConfig) Validate() error {
	var errs []string
	switch {
	case c.Subscriber == "":
		errs = append(errs, "Subscriber is empty (a mailto: or https: contact)")
	case strings.HasPrefix(c.Subscriber, "mailto:"):
		addr := strings.TrimPrefix(c.Subscriber, "mailto:")
		at := strings.LastIndexByte(addr, '@')
		if at <= 0 || !strings.Contains(addr[at+1:], ".") {
			errs = append(errs, fmt.Sprintf("Subscriber %q is not a usable mailto: address", c.Subscriber))
		} else if d := strings.ToLower(addr[at+1:]); d == "localhost" || d == "example.com" || d == "example.org" || strings.HasSuffix(d, ".local") {
			errs = append(errs, fmt.Sprintf("Subscriber %q: Apple rejects placeholder domains; use a real contact", c.Subscriber))
		}
	case strings.HasPrefix(c.Subscriber, "https:"):
		u, err := url.Parse(c.Subscriber)
		if err != nil || u.Host == "" {
			errs = append(errs, fmt.Sprintf("Subscriber %q is not an https: URL", c.Subscriber))
		}
	default:
		errs = append(errs, fmt.Sprintf("Subscriber %q must start with mailto: or https:", c.Subscriber))
	}
	if c.VAPIDPublicKey == "" {
		errs = append(errs, "VAPIDPublicKey is empty (webpush.GenerateVAPIDKeys makes a pair)")
	} else if b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(c.VAPIDPublicKey, "=")); err != nil || len(b) != 65 || b[0] != 4 {
		errs = append(errs, "VAPIDPublicKey is not a base64url uncompressed P-256 point (65 bytes starting 0x04)")
	}
	if c.VAPIDPrivateKey == "" {
		errs = append(errs, "VAPIDPrivateKey is empty")
	} else if b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(c.VAPIDPrivateKey, "=")); err != nil || len(b) != 32 {
		errs = append(errs, "VAPIDPrivateKey is not a base64url 32-byte P-256 scalar")
	}
	if c.TTL < 0 {
		errs = append(errs, "TTL is negative")
	}
	return joinErrs("notify: webpush: ", errs)
}

// WebPushPayload is the JSON the service worker receives (encrypted).
type WebPushPayload struct {
	Title      string `json:"title"`
	Body       string `json:"body,omitempty"`
	URL        string `json:"url,omitempty"`
	Tag        string `json:"tag,omitempty"` // the incident: the page replaces its older notification
	Key        string `json:"key"`
	Kind       string `json:"kind"`
	Urgent     bool   `json:"urgent,omitempty"`
	IncidentID string `json:"incident_id,omitempty"`
}

// WebPush sends through the subscription's push service (FCM, Mozilla,
// Apple…). Unreliable on many phones in mainland China: never the only
// channel of an urgent route.
type WebPush struct {
	cfg WebPushConfig
}

// NewWebPush checks cfg and returns the channel.
func NewWebPush(cfg WebPushConfig) (*WebPush, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.TTL == 0 {
		cfg.TTL = int((4 * time.Hour).Seconds())
	}
	return &WebPush{cfg: cfg}, nil
}

// Name implements Channel.
func (c *WebPush) Name() string { return NameWebPush }

// Accepts implements Acceptor.
func (c *WebPush) Accepts(r Recipient) bool { return len(r.WebPush) > 0 }

// ErrSubscriptionGone is matched when the push service answered 404 or 410:
// the store should delete the subscription.
var ErrSubscriptionGone = errors.New("push subscription expired or unsubscribed")

// Send implements Channel.
func (c *WebPush) Send(ctx context.Context, m Message) error {
	var sub webpush.Subscription
	if err := json.Unmarshal(m.Recipient.WebPush, &sub); err != nil {
		return Permanent(NameWebPush, ReasonInvalid, "", fmt.Errorf("subscription JSON: %w", err))
	}
	if sub.Endpoint == "" || sub.Keys.Auth == "" || sub.Keys.P256dh == "" {
		return Permanent(NameWebPush, ReasonInvalid, "", errors.New("subscription lacks endpoint or keys"))
	}
	// A fresh payload slice per call: webpush-go v1.4.0 wraps the message in
	// bytes.NewBuffer and appends its padding into the slice's spare
	// capacity, so a slice shared between goroutines is a data race.
	payload, err := json.Marshal(WebPushPayload{
		Title: m.Title(), Body: m.Body(), URL: m.URL, Tag: m.IncidentID, Key: m.Key,
		Kind: m.Kind, Urgent: m.Urgent, IncidentID: m.IncidentID,
	})
	if err != nil {
		return Permanent(NameWebPush, ReasonInvalid, "", err)
	}
	urgency := webpush.UrgencyNormal
	switch {
	case m.Urgent || m.Kind == KindDispatched || m.Kind == KindEscalated:
		urgency = webpush.UrgencyHigh
	case m.Kind == KindDigest:
		urgency = webpush.UrgencyLow
	}
	opts := &webpush.Options{
		// webpush-go v1.4.0 prefixes "mailto:" to anything not starting with
		// "https:", so it gets the bare address (else the JWT says
		// "mailto:mailto:…", which Apple's push service rejects).
		Subscriber:      strings.TrimPrefix(c.cfg.Subscriber, "mailto:"),
		VAPIDPublicKey:  c.cfg.VAPIDPublicKey,
		VAPIDPrivateKey: c.cfg.VAPIDPrivateKey,
		TTL:             c.cfg.TTL,
		Urgency:         urgency,
	}
	if c.cfg.HTTPClient != nil {
		opts.HTTPClient = c.cfg.HTTPClient
	} else {
		opts.HTTPClient = defaultHTTPClient
	}
	resp, err := webpush.SendNotificationWithContext(ctx, payload, &sub, opts)
	if err != nil {
		if resp == nil && ctx.Err() == nil && !isNetErr(err) {
			// key decoding / encryption failed before any request
			return Permanent(NameWebPush, ReasonInvalid, "", err)
		}
		return Transient(NameWebPush, "", err)
	}
	defer resp.Body.Close()
	body, _ := readBody(resp.Body)
	switch {
	case resp.StatusCode/100 == 2:
		return nil
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		return Permanent(NameWebPush, ReasonGone, fmt.Sprintf("HTTP %d", resp.StatusCode), ErrSubscriptionGone)
	default:
		return httpStatusError(NameWebPush, resp, body)
	}
}

func isNetErr(err error) bool {
	var ue *url.Error
	return errors.As(err, &ue)
}
