package notify

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// Retry bounds the attempts on one channel.
type Retry struct {
	Attempts int           // total attempts including the first; default 3
	Base     time.Duration // wait before the 2nd attempt; doubles each time; default 1s
	Max      time.Duration // cap on one wait; default 30s
}

// backoff is Base·2^(attempt-1) with ±20 % jitter (so pages failed by one
// outage do not retry in lockstep), at least the provider's Retry-After hint,
// at most Max.
func (r Retry) backoff(attempt int, hint time.Duration) time.Duration {
	d := r.Base
	for i := 1; i < attempt && d < r.Max; i++ {
		d *= 2
	}
	d = time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
	if hint > d {
		d = hint // the provider asked for longer (Retry-After)
	}
	if d > r.Max {
		d = r.Max
	}
	return d
}

// Options configure a Notifier. Zero values get the documented defaults.
type Options struct {
	Channels []Channel
	Router   *Router // nil: NewRouter(nil)
	Log      Log     // nil: NewMemLog()
	Retry    Retry
	// Limits by channel name; channels without an entry use DefaultLimits().
	Limits map[string]ChannelLimits
	// MaxRateWait is how long a send may wait for a token. Longer than that
	// and the channel is skipped with a *RateLimitError (default 2s).
	MaxRateWait time.Duration
	// DedupeWindow is how long a Key counts as delivered (default 24h).
	DedupeWindow time.Duration
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// Notifier fans messages out over channels. It is safe for concurrent use.
type Notifier struct {
	opt      Options
	channels map[string]Channel
	order    []Channel
	lim      *limiter
	m        *metrics

	mu       sync.Mutex
	inflight map[string]bool      // dedupe key being sent right now
	sent     map[string]time.Time // dedupe key → when delivered (cache over Log)
}

// New checks opts and returns a Notifier.
func New(opts Options) (*Notifier, error) {
	if opts.Router == nil {
		opts.Router = NewRouter(nil)
	}
	if opts.Log == nil {
		opts.Log = NewMemLog()
	}
	if opts.Retry.Attempts <= 0 {
		opts.Retry.Attempts = 3
	}
	if opts.Retry.Base <= 0 {
		opts.Retry.Base = time.Second
	}
	if opts.Retry.Max <= 0 {
		opts.Retry.Max = 30 * time.Second
	}
	if opts.Retry.Max < opts.Retry.Base {
		opts.Retry.Max = opts.Retry.Base
	}
	if opts.MaxRateWait < 0 {
		opts.MaxRateWait = 0
	} else if opts.MaxRateWait == 0 {
		opts.MaxRateWait = 2 * time.Second
	}
	if opts.DedupeWindow <= 0 {
		opts.DedupeWindow = 24 * time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	n := &Notifier{
		opt:      opts,
		channels: map[string]Channel{},
		lim:      newLimiter(),
		m:        newMetrics(),
		inflight: map[string]bool{},
		sent:     map[string]time.Time{},
	}
	for _, ch := range opts.Channels {
		if ch == nil {
			return nil, errors.New("notify: nil channel")
		}
		name := ch.Name()
		if _, dup := n.channels[name]; dup {
			return nil, fmt.Errorf("notify: two channels named %q", name)
		}
		n.channels[name] = ch
		n.order = append(n.order, ch)
	}
	return n, nil
}

// Channels names the configured channels, in registration order.
func (n *Notifier) Channels() []string {
	out := make([]string, len(n.order))
	for i, ch := range n.order {
		out[i] = ch.Name()
	}
	return out
}

// Outcome is what happened on one channel.
type Outcome struct {
	Channel  string
	Status   string // sent|duplicate|rate_limited|failed
	Attempts int    // provider calls made
	Err      error  // nil when sent or duplicate
}

// Report is the result of Send.
type Report struct {
	Outcomes []Outcome
}

// Delivered reports whether at least one channel has the message: sent now
// or earlier (duplicate).
func (r Report) Delivered() bool {
	for _, o := range r.Outcomes {
		if o.Status == StatusSent || o.Status == StatusDuplicate {
			return true
		}
	}
	return false
}

// ErrNotDelivered is matched by Send's error when no channel delivered.
var ErrNotDelivered = errors.New("notify: not delivered on any channel")

// ErrNoChannel is matched when the router found no channel for the recipient.
var ErrNoChannel = errors.New("notify: no channel can reach the recipient")

// Send delivers m on every channel the Router picks, concurrently, and
// returns when each channel has succeeded, been deduplicated, been
// rate-limited, or failed for good (retries exhausted, non-retryable error,
// or ctx done). The error is nil when at least one channel delivered;
// otherwise it wraps ErrNotDelivered (or ErrNoChannel) and the per-channel
// errors. The Report always lists every picked channel.
func (n *Notifier) Send(ctx context.Context, m Message) (Report, error) {
	if err := m.Validate(); err != nil {
		return Report{}, err
	}
	chans := n.opt.Router.Pick(m, n.order)
	if len(chans) == 0 {
		return Report{}, fmt.Errorf("%w (recipient %s, route %s)", ErrNoChannel, m.Recipient.ID, RouteOf(m))
	}
	return n.fanout(ctx, m, chans)
}

// SendOn delivers m on the named channels only (bypassing the Router), with
// the same dedupe, limits, retries and logging.
func (n *Notifier) SendOn(ctx context.Context, m Message, names ...string) (Report, error) {
	if err := m.Validate(); err != nil {
		return Report{}, err
	}
	var chans []Channel
	for _, name := range names {
		ch, ok := n.channels[name]
		if !ok {
			return Report{}, fmt.Errorf("notify: no channel named %q", name)
		}
		chans = append(chans, ch)
	}
	if len(chans) == 0 {
		return Report{}, ErrNoChannel
	}
	return n.fanout(ctx, m, chans)
}

func (n *Notifier) fanout(ctx context.Context, m Message, chans []Channel) (Report, error) {
	rep := Report{Outcomes: make([]Outcome, len(chans))}
	var wg sync.WaitGroup
	for i, ch := range chans {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rep.Outcomes[i] = n.sendOne(ctx, m, ch)
		}()
	}
	wg.Wait()
	if rep.Delivered() {
		return rep, nil
	}
	errs := []error{ErrNotDelivered}
	for _, o := range rep.Outcomes {
		if o.Err != nil {
			errs = append(errs, o.Err)
		}
	}
	return rep, errors.Join(errs...)
}

func dedupeKey(channel string, m Message) string {
	return channel + "\x00" + m.Recipient.ID + "\x00" + m.Key
}

// claim marks the key in flight unless it is already delivered (within the
// window) or in flight. It consults the Log so dedupe survives restarts.
func (n *Notifier) claim(ctx context.Context, channel string, m Message) (bool, error) {
	k := dedupeKey(channel, m)
	now := n.opt.Now()
	since := now.Add(-n.opt.DedupeWindow)
	n.mu.Lock()
	if n.inflight[k] {
		n.mu.Unlock()
		return false, nil
	}
	if t, ok := n.sent[k]; ok {
		if !t.Before(since) {
			n.mu.Unlock()
			return false, nil
		}
		delete(n.sent, k)
	}
	n.inflight[k] = true
	n.mu.Unlock()

	done, err := n.opt.Log.Delivered(ctx, channel, m.Recipient.ID, m.Key, since)
	if err != nil {
		// The log is unreachable: this process has not sent the key (checked
		// above), another might have. A possible duplicate beats a missed
		// page, so go ahead and report the error alongside.
		return true, err
	}
	if done {
		n.release(k, true, now)
		return false, nil
	}
	return true, nil
}

func (n *Notifier) release(k string, delivered bool, at time.Time) {
	n.mu.Lock()
	delete(n.inflight, k)
	if delivered {
		n.sent[k] = at
		// keep the cache bounded: drop entries past the window
		if len(n.sent) > 10000 {
			cut := n.opt.Now().Add(-n.opt.DedupeWindow)
			for kk, t := range n.sent {
				if t.Before(cut) {
					delete(n.sent, kk)
				}
			}
		}
	}
	n.mu.Unlock()
}

func (n *Notifier) record(ctx context.Context, a Attempt) {
	// The log must not block delivery, and a cancelled ctx must not lose the
	// record of what was (not) sent.
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = n.opt.Log.Record(lctx, a)
}

func (n *Notifier) sendOne(ctx context.Context, m Message, ch Channel) Outcome {
	name := ch.Name()
	base := Attempt{Channel: name, RecipientID: m.Recipient.ID, Key: m.Key, IncidentID: m.IncidentID, Kind: m.Kind}
	out := Outcome{Channel: name}

	ok, err := n.claim(ctx, name, m)
	if err != nil {
		a := base
		a.At, a.Status, a.Reason, a.Error = n.opt.Now(), StatusFailed, ReasonTransient, "dedupe check (sending anyway): "+err.Error()
		n.record(ctx, a)
	}
	if !ok {
		a := base
		a.At, a.Status = n.opt.Now(), StatusDuplicate
		n.record(ctx, a)
		out.Status = StatusDuplicate
		return out
	}
	k := dedupeKey(name, m)
	delivered := false
	defer func() { n.release(k, delivered, n.opt.Now()) }()

	if err := n.waitToken(ctx, name, m.Recipient.ID); err != nil {
		reason, _, _ := classify(err)
		a := base
		a.At, a.Status, a.Reason, a.Error = n.opt.Now(), StatusRateLimited, reason, err.Error()
		if reason == ReasonCanceled {
			a.Status = StatusFailed
		}
		n.record(ctx, a)
		n.m.failed.WithLabelValues(name, reason).Inc()
		out.Status, out.Err = a.Status, err
		return out
	}

	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			out.Status, out.Err = StatusFailed, err
			n.m.failed.WithLabelValues(name, ReasonCanceled).Inc()
			a := base
			a.At, a.Attempt, a.Status, a.Reason, a.Error = n.opt.Now(), attempt, StatusFailed, ReasonCanceled, err.Error()
			n.record(ctx, a)
			return out
		}
		start := time.Now()
		err := ch.Send(ctx, m)
		lat := time.Since(start)
		n.m.latency.WithLabelValues(name).Observe(lat.Seconds())
		out.Attempts = attempt
		a := base
		a.At, a.Attempt, a.Latency = n.opt.Now(), attempt, lat
		if err == nil {
			a.Status = StatusSent
			n.record(ctx, a)
			n.m.sent.WithLabelValues(name).Inc()
			delivered = true
			out.Status, out.Err = StatusSent, nil
			return out
		}
		reason, retryable, hint := classify(err)
		if ctx.Err() != nil {
			reason, retryable = ReasonCanceled, false
		}
		a.Status, a.Reason, a.Error = StatusFailed, reason, err.Error()
		n.record(ctx, a)
		n.m.failed.WithLabelValues(name, reason).Inc()
		out.Status, out.Err = StatusFailed, err
		if !retryable || attempt >= n.opt.Retry.Attempts {
			return out
		}
		t := time.NewTimer(n.opt.Retry.backoff(attempt, hint))
		select {
		case <-ctx.Done():
			t.Stop()
			out.Err = errors.Join(err, ctx.Err())
			return out
		case <-t.C:
		}
	}
}

// waitToken takes a token from the channel-wide and the per-recipient bucket,
// waiting up to MaxRateWait.
func (n *Notifier) waitToken(ctx context.Context, channel, recipient string) error {
	lims, ok := n.opt.Limits[channel]
	if !ok {
		lims = DefaultLimits()[channel]
	}
	if lims.Channel.unlimited() && lims.PerRecipient.unlimited() {
		return nil
	}
	keys := []string{channel, channel + "\x00" + recipient}
	wait, ok, which := n.lim.reserve(n.opt.Now(), n.opt.MaxRateWait, keys, []Limit{lims.Channel, lims.PerRecipient})
	if !ok {
		e := &RateLimitError{Channel: channel, RetryAfter: wait}
		if which == 1 {
			e.Recipient = recipient
		}
		return e
	}
	if wait <= 0 {
		return nil
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
