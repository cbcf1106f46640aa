package notify_test

import (
	"context"
	"fmt"
	"time"

	"github.com/shouwang-care/shouwang/cloud/live"
	"github.com/shouwang-care/shouwang/cloud/notify"
)

// How the dispatcher wires the layer: channels from config, one Notifier,
// metrics registered once, then Send per recipient with a Key that is stable
// across escalation timers and retries.
func Example() {
	hub := live.NewHub()
	inapp, err := notify.NewInApp(notify.InAppConfig{Publisher: hub})
	if err != nil {
		panic(err)
	}
	// In production also: NewAliyunSMS or NewTencentSMS, NewWeCom,
	// NewWebPush, NewWebhook, NewEmail — each with a Validate()d config.
	n, err := notify.New(notify.Options{
		Channels: []notify.Channel{inapp},
		Log:      notify.NewMemLog(), // production: notify.NewSQLLog(db)
		Retry:    notify.Retry{Attempts: 3, Base: time.Second, Max: 30 * time.Second},
	})
	if err != nil {
		panic(err)
	}
	// prometheus.MustRegister(n.Collectors()...)

	m := notify.Message{
		Key:        "inc-42/dispatched/worker-7", // incident / step / person
		IncidentID: "inc-42",
		Kind:       notify.KindDispatched,
		Recipient:  notify.Recipient{ID: "worker-7", Name: "王芳", Lang: "zh-CN"},
		TitleZH:    "李阿姨家 12 小时无用水",
		BodyZH:     "请尽快上门查看，并在系统中确认。",
		Urgent:     true,
	}
	rep, err := n.Send(context.Background(), m)
	fmt.Println(err, rep.Outcomes[0].Channel, rep.Outcomes[0].Status)
	rep, _ = n.Send(context.Background(), m) // the escalation timer fires again
	fmt.Println(rep.Outcomes[0].Status)
	// Output:
	// <nil> inapp sent
	// duplicate
}

// The in-app channel on the real hub: browsers receive an SSE event named
// "notification" and filter on recipient_id.
func ExampleNewInApp() {
	hub := live.NewHub()
	msgs, leave := hub.Subscribe()
	defer leave()
	inapp, _ := notify.NewInApp(notify.InAppConfig{Publisher: hub})
	_ = inapp.Send(context.Background(), notify.Message{
		Key: "k", Kind: notify.KindStatus, TitleZH: "已有人接单",
		Recipient: notify.Recipient{ID: "family-3"},
	})
	m := <-msgs
	fmt.Println(m.Event)
	// Output: notification
}
