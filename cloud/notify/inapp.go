package notify

import (
	"context"
	"errors"
	"time"
)

// Publisher is what the in-app channel needs of the live hub: cloud/live.Hub
// satisfies it (the same shape as dispatch.Publisher).
type Publisher interface {
	Publish(event string, v any)
}

// PublisherFunc adapts a function (e.g. a one-argument publisher) to Publisher.
type PublisherFunc func(event string, v any)

// Publish implements Publisher.
func (f PublisherFunc) Publish(event string, v any) { f(event, v) }

// EventNotification is the SSE event name of in-app notifications.
const EventNotification = "notification"

// InAppEvent is what the in-app channel publishes. Browsers filter on
// RecipientID (the hub broadcasts to every subscriber of the operator UI).
type InAppEvent struct {
	Type        string    `json:"type"` // always "notification"
	Key         string    `json:"key"`
	IncidentID  string    `json:"incident_id,omitempty"`
	Kind        string    `json:"kind"`
	RecipientID string    `json:"recipient_id"`
	Title       string    `json:"title"`
	Body        string    `json:"body,omitempty"`
	URL         string    `json:"url,omitempty"`
	Urgent      bool      `json:"urgent,omitempty"`
	At          time.Time `json:"at"`
}

// InAppConfig configures the in-app (SSE) channel.
type InAppConfig struct {
	Publisher Publisher
}

// Validate reports missing settings.
func (c InAppConfig) Validate() error {
	if c.Publisher == nil {
		return errors.New("notify: inapp: Publisher is nil (pass the cloud/live.Hub)")
	}
	return nil
}

// InApp publishes notifications to the browsers connected over SSE. Delivery
// is best effort: the hub drops messages for slow subscribers and nobody may
// be connected, so it never pages alone.
type InApp struct {
	pub Publisher
	now func() time.Time
}

// NewInApp checks cfg and returns the channel.
func NewInApp(cfg InAppConfig) (*InApp, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &InApp{pub: cfg.Publisher, now: time.Now}, nil
}

// Name implements Channel.
func (c *InApp) Name() string { return NameInApp }

// Accepts implements Acceptor: every recipient with an ID.
func (c *InApp) Accepts(r Recipient) bool { return r.ID != "" }

// Send implements Channel.
func (c *InApp) Send(ctx context.Context, m Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.pub.Publish(EventNotification, InAppEvent{
		Type: "notification", Key: m.Key, IncidentID: m.IncidentID, Kind: m.Kind,
		RecipientID: m.Recipient.ID, Title: m.Title(), Body: m.Body(), URL: m.URL,
		Urgent: m.Urgent, At: c.now().UTC(),
	})
	return nil
}

// AccessScope tells the live stream who may receive the event: its recipient only.
func (e InAppEvent) AccessScope() (home, class, recipient string) { return "", "", e.RecipientID }
