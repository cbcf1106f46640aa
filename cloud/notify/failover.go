package notify

import (
	"context"
	"errors"
	"fmt"
)

// Failover is a Channel that sends through the first of its channels that
// accepts the message — typically Aliyun SMS then Tencent SMS under the name
// "sms", so a suspended account or an unapproved template at one provider
// does not silence the page.
//
// It moves on only after a definitive refusal (a non-retryable error: the
// provider certainly did not send). A retryable error (timeout, 5xx) is
// ambiguous — the text may have gone out — so it is returned as is and the
// Notifier retries, starting again with the first channel; moving on would
// risk two texts for one page.
type Failover struct {
	name  string
	chans []Channel
}

// NewFailover returns a Failover called name over chans, in order.
func NewFailover(name string, chans ...Channel) (*Failover, error) {
	if name == "" {
		return nil, errors.New("notify: failover: empty name")
	}
	if len(chans) == 0 {
		return nil, fmt.Errorf("notify: failover %q: no channels", name)
	}
	for i, c := range chans {
		if c == nil {
			return nil, fmt.Errorf("notify: failover %q: channel %d is nil", name, i)
		}
	}
	return &Failover{name: name, chans: chans}, nil
}

// Name implements Channel.
func (f *Failover) Name() string { return f.name }

// Accepts implements Acceptor: any of the channels can reach r.
func (f *Failover) Accepts(r Recipient) bool {
	for _, c := range f.chans {
		if a, ok := c.(Acceptor); !ok || a.Accepts(r) {
			return true
		}
	}
	return false
}

// Send implements Channel.
func (f *Failover) Send(ctx context.Context, m Message) error {
	var errs []error
	for _, c := range f.chans {
		if a, ok := c.(Acceptor); ok && !a.Accepts(m.Recipient) {
			continue
		}
		err := c.Send(ctx, m)
		if err == nil {
			return nil
		}
		if _, retryable, _ := classify(err); retryable || ctx.Err() != nil {
			return errors.Join(append(errs, err)...)
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return Permanent(f.name, ReasonInvalid, "", fmt.Errorf("no channel of %q can reach recipient %s", f.name, m.Recipient.ID))
	}
	// every provider refused: report the last refusal's class
	last := errs[len(errs)-1]
	reason, _, _ := classify(last)
	return &Error{Channel: f.name, Reason: reason, Err: errors.Join(errs...)}
}
