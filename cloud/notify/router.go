package notify

import "strings"

// Channel names. Each provider's channel reports one of these from Name();
// router tables use the medium (the part before "_" for SMS: "sms" matches
// sms_aliyun and sms_tencent).
const (
	NameInApp      = "inapp"
	NameWebPush    = "webpush"
	NameWebhook    = "webhook"
	NameEmail      = "email"
	NameAliyunSMS  = "sms_aliyun"
	NameTencentSMS = "sms_tencent"
	NameWeCom      = "wecom"

	MediumSMS = "sms" // matches the first configured sms_* channel
)

// Route selects a row of the router table.
const (
	RouteUrgent = "urgent" // Message.Urgent, or Kind dispatched/escalated
	RouteStatus = "status" // Kind status, not urgent
	RouteDigest = "digest" // Kind digest, not urgent
)

// DefaultRoutes is the router table used by NewRouter(nil).
//
//	urgent  (dispatched, escalated, or Urgent): SMS + WeCom + in-app + Web Push + webhook
//	status  (progress for families/assignee):    in-app + Web Push + WeCom
//	digest  (periodic summary):                  e-mail + WeCom + in-app
//
// SMS and WeCom are first-class because Web Push (FCM) is unreliable on many
// phones in mainland China; e-mail is only for digests, nobody is paged by
// e-mail.
func DefaultRoutes() map[string][]string {
	return map[string][]string{
		RouteUrgent: {MediumSMS, NameWeCom, NameInApp, NameWebPush, NameWebhook},
		RouteStatus: {NameInApp, NameWebPush, NameWeCom},
		// In-app too: a family member with neither e-mail nor WeCom still sees the
		// evening "平安" in the app.
		RouteDigest: {NameEmail, NameWeCom, NameInApp},
	}
}

// Router picks the channels for a message: the table row for its route, in
// order, keeping the channels that are configured and can reach the
// recipient (Acceptor). For the medium "sms" only the first configured SMS
// provider that accepts the recipient is used: two providers would mean two
// texts for one page.
type Router struct {
	Routes map[string][]string
}

// NewRouter returns a Router over routes (nil: DefaultRoutes()).
func NewRouter(routes map[string][]string) *Router {
	if routes == nil {
		routes = DefaultRoutes()
	}
	return &Router{Routes: routes}
}

// RouteOf maps a message to its table row.
func RouteOf(m Message) string {
	switch {
	case m.Urgent, m.Kind == KindDispatched, m.Kind == KindEscalated:
		return RouteUrgent
	case m.Kind == KindDigest:
		return RouteDigest
	default:
		return RouteStatus
	}
}

// Pick returns the channels (from those available, in registration order for
// ties) that m goes out on. A recipient's own choice of media (Recipient.Channels)
// replaces the table's row, except for urgent pages: whoever is paged must be
// reached however we can.
func (r *Router) Pick(m Message, available []Channel) []Channel {
	var out []Channel
	used := map[string]bool{}
	row := r.Routes[RouteOf(m)]
	if m.Recipient.Channels != nil && RouteOf(m) != RouteUrgent {
		row = m.Recipient.Channels
	}
	for _, entry := range row {
		for _, ch := range available {
			name := ch.Name()
			if used[name] || !matches(entry, name) {
				continue
			}
			if a, ok := ch.(Acceptor); ok && !a.Accepts(m.Recipient) {
				continue
			}
			used[name] = true
			out = append(out, ch)
			if entry == MediumSMS {
				break // one SMS provider only
			}
		}
	}
	return out
}

func matches(entry, name string) bool {
	return entry == name || strings.HasPrefix(name, entry+"_")
}
