// Package notify tells people about incidents: the community grid worker
// (网格员) who is dispatched, the backup and supervisor when nobody
// acknowledges, and families who follow along.
//
// Everything sits behind one interface, Channel, one implementation per
// medium (in-app/SSE, Web Push, webhook, e-mail, Aliyun SMS, Tencent Cloud
// SMS, WeCom application messages). A Notifier fans a Message out over the
// channels a Router picks for it, with idempotency (dedupe by Key), bounded
// retries, token-bucket rate limits, a delivery log and Prometheus metrics.
// See README.md for the request shapes and limits.
package notify

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Message kinds.
const (
	KindDispatched = "dispatched" // a worker is assigned to an incident
	KindEscalated  = "escalated"  // nobody acknowledged: backup/supervisor
	KindStatus     = "status"     // progress for families and the assignee
	KindDigest     = "digest"     // periodic summary
)

// Message is what a person is told. Key makes sending idempotent: the same
// Key to the same recipient on the same channel is sent once (within the
// Notifier's dedupe window), because escalation timers and retries must never
// double-page (and Aliyun SendSms is not idempotent).
type Message struct {
	Key        string
	IncidentID string
	Kind       string // dispatched|escalated|status|digest
	Recipient  Recipient
	TitleZH    string
	TitleEN    string
	BodyZH     string
	BodyEN     string
	URL        string
	Urgent     bool
}

// Recipient is a person and the addresses we hold for them. Empty addresses
// simply mean that channel is not used for them.
type Recipient struct {
	ID          string
	Name        string
	Phone       string // mainland numbers as 11 digits or +86…
	Email       string
	WeComUserID string
	Lang        string // zh-CN|en (anything else: zh-CN)
	WebPush     []byte // PushSubscription JSON {"endpoint","keys":{"p256dh","auth"}}
	// Channels, when not nil, are the media the recipient chose (router names:
	// inapp, webpush, sms, wecom, email); they replace the router table's row
	// for status and digest messages. Urgent pages ignore it.
	Channels []string
}

// Channel delivers over one medium.
type Channel interface {
	Name() string
	Send(ctx context.Context, m Message) error
}

// Acceptor is implemented by channels that can only reach some recipients
// (SMS needs a phone number…). The Router skips a channel whose Accepts
// returns false.
type Acceptor interface {
	Accepts(r Recipient) bool
}

// Validate checks the fields every channel relies on.
func (m Message) Validate() error {
	var errs []string
	if strings.TrimSpace(m.Key) == "" {
		errs = append(errs, "Key is empty (it makes sending idempotent)")
	}
	if strings.TrimSpace(m.Recipient.ID) == "" {
		errs = append(errs, "Recipient.ID is empty")
	}
	switch m.Kind {
	case KindDispatched, KindEscalated, KindStatus, KindDigest:
	default:
		errs = append(errs, fmt.Sprintf("Kind %q is not one of dispatched|escalated|status|digest", m.Kind))
	}
	if m.TitleZH == "" && m.TitleEN == "" {
		errs = append(errs, "no title (TitleZH or TitleEN)")
	}
	if len(errs) > 0 {
		return fmt.Errorf("notify: invalid message: %s", strings.Join(errs, "; "))
	}
	return nil
}

// English reports whether the recipient reads English rather than Chinese.
func (r Recipient) English() bool {
	return strings.HasPrefix(strings.ToLower(r.Lang), "en")
}

// Title is the title in the recipient's language, falling back to the other.
func (m Message) Title() string { return pick(m.Recipient.English(), m.TitleEN, m.TitleZH) }

// Body is the body in the recipient's language, falling back to the other.
func (m Message) Body() string { return pick(m.Recipient.English(), m.BodyEN, m.BodyZH) }

func pick(en bool, enText, zhText string) string {
	if en {
		if enText != "" {
			return enText
		}
		return zhText
	}
	if zhText != "" {
		return zhText
	}
	return enText
}

// Failure reasons used in errors, the delivery log and the
// shouwang_notify_failed_total{reason} label. Kept to a small fixed set so the
// metric stays low-cardinality.
const (
	ReasonTransient   = "transient"    // network error, 5xx, provider busy: retried
	ReasonRateLimited = "rate_limited" // our bucket or the provider's flow control
	ReasonRejected    = "rejected"     // the provider refused the request (bad number, template…)
	ReasonAuth        = "auth"         // credentials or signature refused
	ReasonGone        = "gone"         // the address no longer exists (push subscription 404/410)
	ReasonInvalid     = "invalid"      // the message or recipient cannot be sent on this channel
	ReasonCanceled    = "canceled"     // the caller's context ended
)

// Error is a classified delivery failure. Channels return it so the Notifier
// knows whether trying again can help.
type Error struct {
	Channel    string
	Reason     string        // one of the Reason* constants
	Code       string        // provider code ("isv.BUSINESS_LIMIT_CONTROL", "42001", "HTTP 503"…)
	Retryable  bool          // trying again (soon) may succeed
	RetryAfter time.Duration // a provider hint, 0 if none
	Err        error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("notify: ")
	if e.Channel != "" {
		b.WriteString(e.Channel)
		b.WriteString(": ")
	}
	b.WriteString(e.Reason)
	if e.Code != "" {
		b.WriteString(" (")
		b.WriteString(e.Code)
		b.WriteString(")")
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Permanent wraps err as a failure that retrying will not fix.
func Permanent(channel, reason, code string, err error) *Error {
	return &Error{Channel: channel, Reason: reason, Code: code, Err: err}
}

// Transient wraps err as a failure worth retrying.
func Transient(channel, code string, err error) *Error {
	return &Error{Channel: channel, Reason: ReasonTransient, Code: code, Retryable: true, Err: err}
}

// ErrRateLimited is matched (errors.Is) by every rate-limit rejection.
var ErrRateLimited = errors.New("rate limited")

// RateLimitError is returned, without sending, when a token bucket is empty
// and the next token would come later than Options.MaxRateWait. Nothing was
// sent, the Key is not marked delivered: submit the message again after
// RetryAfter (or rely on the other channels of the fan-out).
type RateLimitError struct {
	Channel    string
	Recipient  string // empty when the channel-wide bucket is empty
	RetryAfter time.Duration
}

func (e *RateLimitError) Error() string {
	who := "channel-wide"
	if e.Recipient != "" {
		who = "recipient " + e.Recipient
	}
	return fmt.Sprintf("notify: %s: rate limited (%s bucket empty), retry after %s", e.Channel, who, e.RetryAfter.Round(time.Millisecond))
}

func (e *RateLimitError) Is(target error) bool { return target == ErrRateLimited }

// classify turns any error into (reason, retryable, retryAfter).
func classify(err error) (reason string, retryable bool, after time.Duration) {
	var ce *Error
	var rl *RateLimitError
	switch {
	case err == nil:
		return "", false, 0
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return ReasonCanceled, false, 0
	case errors.As(err, &rl):
		return ReasonRateLimited, false, rl.RetryAfter
	case errors.As(err, &ce):
		r := ce.Reason
		if r == "" {
			r = ReasonTransient
		}
		return r, ce.Retryable, ce.RetryAfter
	default:
		// Unclassified errors (a dropped connection…) are assumed transient:
		// for paging, a possible duplicate beats a missed alert.
		return ReasonTransient, true, 0
	}
}
