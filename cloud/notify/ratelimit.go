package notify

import (
	"sync"
	"time"
)

// Limit is a token bucket: Burst tokens, refilled at Rate tokens per Per.
// A zero Limit means unlimited.
type Limit struct {
	Rate  int           // tokens per Per
	Per   time.Duration // refill period
	Burst int           // bucket size; 0 means Rate
}

func (l Limit) unlimited() bool { return l.Rate <= 0 || l.Per <= 0 }

// PerMinute is a Limit of n per minute with a burst of n.
func PerMinute(n int) Limit { return Limit{Rate: n, Per: time.Minute, Burst: n} }

// ChannelLimits are the buckets for one channel: one shared by all
// recipients (the provider's account/API limit) and one per recipient
// (WeCom: 30 application messages per member per minute).
type ChannelLimits struct {
	Channel      Limit
	PerRecipient Limit
}

// DefaultLimits holds the limits applied when Options.Limits has no entry for
// a channel name. WeCom's documented limit is 30 application messages per
// member per minute. SMS providers throttle per number (Aliyun answers
// isv.BUSINESS_LIMIT_CONTROL past 50 notifications a day per number, sign and
// template; Tencent LimitExceeded.PhoneNumber*), so we keep a modest
// per-number budget: a burst of 5, then 20 an hour.
func DefaultLimits() map[string]ChannelLimits {
	return map[string]ChannelLimits{
		NameWeCom:      {Channel: PerMinute(600), PerRecipient: PerMinute(30)},
		NameAliyunSMS:  {Channel: PerMinute(300), PerRecipient: Limit{Rate: 20, Per: time.Hour, Burst: 5}},
		NameTencentSMS: {Channel: PerMinute(300), PerRecipient: Limit{Rate: 20, Per: time.Hour, Burst: 5}},
		MediumSMS:      {Channel: PerMinute(300), PerRecipient: Limit{Rate: 20, Per: time.Hour, Burst: 5}}, // a Failover named "sms"
		NameEmail:      {Channel: PerMinute(120), PerRecipient: PerMinute(10)},
		NameWebPush:    {PerRecipient: PerMinute(30)},
		NameWebhook:    {Channel: PerMinute(600)},
		NameInApp:      {},
	}
}

type bucket struct {
	tokens float64
	last   time.Time
}

// limiter keeps token buckets by key. Reservations are taken immediately
// (tokens may go negative): the caller then waits until its token is due, so
// waiters are served in order.
type limiter struct {
	mu      sync.Mutex
	buckets map[string]*bucket
}

func newLimiter() *limiter { return &limiter{buckets: map[string]*bucket{}} }

// reserve takes one token from each (key, limit) pair. If every token is
// available within maxWait it commits and returns how long to wait; otherwise
// it takes nothing and returns ok=false with the wait that would be needed and
// the index of the limiting pair.
func (l *limiter) reserve(now time.Time, maxWait time.Duration, keys []string, limits []Limit) (wait time.Duration, ok bool, which int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	type st struct {
		b      *bucket
		tokens float64
	}
	states := make([]st, len(keys))
	for i, k := range keys {
		lim := limits[i]
		if lim.unlimited() {
			continue
		}
		burst := float64(lim.Burst)
		if burst <= 0 {
			burst = float64(lim.Rate)
		}
		b := l.buckets[k]
		if b == nil {
			b = &bucket{tokens: burst, last: now}
			l.buckets[k] = b
		}
		rate := float64(lim.Rate) / float64(lim.Per) // tokens per ns
		tokens := b.tokens
		if el := now.Sub(b.last); el > 0 {
			tokens += float64(el) * rate
			if tokens > burst {
				tokens = burst
			}
		}
		tokens--
		states[i] = st{b: b, tokens: tokens}
		if tokens < 0 {
			w := time.Duration(-tokens / rate)
			if w > wait {
				wait, which = w, i
			}
		}
	}
	if wait > maxWait {
		return wait, false, which
	}
	for _, s := range states {
		if s.b != nil {
			s.b.tokens, s.b.last = s.tokens, now
		}
	}
	return wait, true, 0
}
