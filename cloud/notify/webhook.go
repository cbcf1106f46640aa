package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// Webhook headers.
const (
	HeaderSignature   = "X-Shouwang-Signature"   // "sha256=" + hex(HMAC-SHA256(secret, timestamp + "." + body))
	HeaderTimestamp   = "X-Shouwang-Timestamp"   // Unix seconds, part of the signed string
	HeaderIdempotency = "X-Shouwang-Idempotency" // Message.Key + "/" + Recipient.ID: receivers dedupe on it
)

// WebhookConfig configures the webhook channel (for a call centre, a
// district platform, or a chat bridge).
type WebhookConfig struct {
	URL        string
	Secret     string // HMAC-SHA256 key, at least 16 bytes
	HTTPClient *http.Client
}

// Validate reports missing or unusable settings.
func (c WebhookConfig) Validate() error {
	var errs []string
	if c.URL == "" {
		errs = append(errs, "URL is empty")
	} else if err := checkBaseURL("URL", c.URL); err != nil {
		errs = append(errs, err.Error())
	}
	if len(c.Secret) < 16 {
		errs = append(errs, "Secret must be at least 16 bytes (it signs every request)")
	}
	return joinErrs("notify: webhook: ", errs)
}

// WebhookPayload is the JSON body. It carries no phone number or e-mail
// address (minimum necessary): the receiver looks the person up by ID.
type WebhookPayload struct {
	Key         string    `json:"key"`
	IncidentID  string    `json:"incident_id,omitempty"`
	Kind        string    `json:"kind"`
	Urgent      bool      `json:"urgent"`
	RecipientID string    `json:"recipient_id"`
	Recipient   string    `json:"recipient_name,omitempty"`
	Lang        string    `json:"lang,omitempty"`
	TitleZH     string    `json:"title_zh,omitempty"`
	TitleEN     string    `json:"title_en,omitempty"`
	BodyZH      string    `json:"body_zh,omitempty"`
	BodyEN      string    `json:"body_en,omitempty"`
	URL         string    `json:"url,omitempty"`
	SentAt      time.Time `json:"sent_at"`
}

// Webhook POSTs signed JSON.
type Webhook struct {
	cfg WebhookConfig
	now func() time.Time
}

// NewWebhook checks cfg and returns the channel.
func NewWebhook(cfg WebhookConfig) (*Webhook, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Webhook{cfg: cfg, now: time.Now}, nil
}

// Name implements Channel.
func (c *Webhook) Name() string { return NameWebhook }

// SignWebhook returns the X-Shouwang-Signature value for body sent at ts
// (Unix seconds). Receivers recompute it, compare with hmac.Equal, and
// reject timestamps more than a few minutes old.
func SignWebhook(secret string, ts int64, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(strconv.FormatInt(ts, 10)))
	mac.Write([]byte("."))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Send implements Channel.
func (c *Webhook) Send(ctx context.Context, m Message) error {
	now := c.now()
	body, err := json.Marshal(WebhookPayload{
		Key: m.Key, IncidentID: m.IncidentID, Kind: m.Kind, Urgent: m.Urgent,
		RecipientID: m.Recipient.ID, Recipient: m.Recipient.Name, Lang: m.Recipient.Lang,
		TitleZH: m.TitleZH, TitleEN: m.TitleEN, BodyZH: m.BodyZH, BodyEN: m.BodyEN,
		URL: m.URL, SentAt: now.UTC(),
	})
	if err != nil {
		return Permanent(NameWebhook, ReasonInvalid, "", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return Permanent(NameWebhook, ReasonInvalid, "", err)
	}
	ts := now.Unix()
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "shouwang-notify/1")
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(HeaderSignature, SignWebhook(c.cfg.Secret, ts, body))
	req.Header.Set(HeaderIdempotency, m.Key+"/"+m.Recipient.ID)
	resp, err := clientOr(c.cfg.HTTPClient).Do(req)
	if err != nil {
		return Transient(NameWebhook, "", err)
	}
	defer resp.Body.Close()
	rb, _ := readBody(resp.Body)
	if resp.StatusCode/100 != 2 {
		return httpStatusError(NameWebhook, resp, rb)
	}
	return nil
}
