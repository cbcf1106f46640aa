// Package paging turns the dispatcher's pages into notifications: it builds the
// message a grid worker reads (in Chinese and English) and hands it to the notify
// layer with the page's ID as the idempotency key, so a page retried after a crash is
// not sent twice.
package paging

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shouwang-care/shouwang/cloud/config"
	"github.com/shouwang-care/shouwang/cloud/notify"
	"github.com/shouwang-care/shouwang/cloud/store"
)

// Pager implements dispatch.Notifier over a notify.Notifier.
type Pager struct {
	n       *notify.Notifier
	baseURL string
	pushKey string
}

// New builds the channels named in cfg (in-app always) and the notifier.
func New(cfg config.Notify, hub notify.Publisher, log notify.Log, baseURL string) (*Pager, error) {
	p := &Pager{baseURL: strings.TrimSuffix(baseURL, "/")}
	inapp, err := notify.NewInApp(notify.InAppConfig{Publisher: hub})
	if err != nil {
		return nil, err
	}
	chans := []notify.Channel{inapp}
	add := func(ch notify.Channel, err error) error {
		if err != nil {
			return err
		}
		chans = append(chans, ch)
		return nil
	}
	var errs []error
	if c := cfg.Webhook; c != nil {
		errs = append(errs, add(notify.NewWebhook(notify.WebhookConfig{URL: c.URL, Secret: c.Secret})))
	}
	if c := cfg.AliyunSMS; c != nil {
		errs = append(errs, add(notify.NewAliyunSMS(notify.AliyunSMSConfig{AccessKeyID: c.AccessKeyID, AccessKeySecret: c.AccessKeySecret,
			SignName: c.SignName, Templates: c.Templates, Endpoint: c.Endpoint})))
	}
	if c := cfg.TencentSMS; c != nil {
		errs = append(errs, add(notify.NewTencentSMS(notify.TencentSMSConfig{SecretID: c.SecretID, SecretKey: c.SecretKey,
			SmsSdkAppID: c.SmsSdkAppID, SignName: c.SignName, Templates: c.Templates, Endpoint: c.Endpoint})))
	}
	if c := cfg.WeCom; c != nil {
		errs = append(errs, add(notify.NewWeCom(notify.WeComConfig{CorpID: c.CorpID, CorpSecret: c.CorpSecret, AgentID: c.AgentID, BaseURL: c.BaseURL})))
	}
	if c := cfg.WebPush; c != nil {
		errs = append(errs, add(notify.NewWebPush(notify.WebPushConfig{Subscriber: c.Subscriber,
			VAPIDPublicKey: c.VAPIDPublicKey, VAPIDPrivateKey: c.VAPIDPrivateKey})))
		p.pushKey = c.VAPIDPublicKey
	}
	if c := cfg.Email; c != nil {
		errs = append(errs, add(notify.NewEmail(notify.EmailConfig{Addr: c.Addr, From: c.From, Username: c.Username, Password: c.Password})))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("notify config: %w", err)
	}
	n, err := notify.New(notify.Options{Channels: chans, Log: log})
	if err != nil {
		return nil, err
	}
	p.n = n
	return p, nil
}

// PushKey is the VAPID public key a browser subscribes with; "" without Web Push.
func (p *Pager) PushKey() string { return p.pushKey }

// Notifier exposes the notify layer (metrics).
func (p *Pager) Notifier() *notify.Notifier { return p.n }

// Media lists the channels configured here as a family member chooses them
// (the router's media: "sms" for either SMS provider), in-app first.
func (p *Pager) Media() []string {
	var out []string
	for _, name := range p.n.Channels() {
		if m := medium(name); slices.Contains(store.NotifyChannels, m) && !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out
}

func medium(channel string) string {
	if strings.HasPrefix(channel, notify.MediumSMS+"_") {
		return notify.MediumSMS
	}
	return channel
}

// FamilyStore is what messages to family read and write besides homes: each
// member's choices, and the record of what they were sent.
type FamilyStore interface {
	NotifyPrefsOf(ctx context.Context, userID string) (store.NotifyPrefs, error)
	RecordNotice(ctx context.Context, userID string, n store.Notice) error
	ForgetNotice(ctx context.Context, userID, key string) error
}

// toFamily sends m to a family member as they chose: not at all when they
// switched its kind off, otherwise over their channels only (until they choose,
// the router's table decides). What went out is kept for them to read again in
// the app. It reports whether the message went out.
func (p *Pager) toFamily(ctx context.Context, s FamilyStore, f store.FamilyHome, m notify.Message, now time.Time) (bool, error) {
	prefs, err := s.NotifyPrefsOf(ctx, f.UserID)
	if err != nil {
		return false, err
	}
	if !slices.Contains(prefs.Kinds, m.Kind) {
		return false, nil
	}
	m.Recipient = notify.Recipient{ID: f.UserID, Name: f.Name, Lang: prefs.Lang, Phone: prefs.Phone, Email: prefs.Email,
		WeComUserID: prefs.WeComUser}
	if prefs.WebPush != "" {
		m.Recipient.WebPush = []byte(prefs.WebPush)
	}
	if !prefs.Default {
		m.Recipient.Channels = prefs.Channels
	}
	// Kept before it is sent: the in-app copy reaches an open page at once, and
	// the page then reads its list. Which channels carried it is known after.
	n := store.Notice{Key: m.Key, Kind: m.Kind, HomeID: f.HomeID, IncidentID: m.IncidentID, TitleZH: m.TitleZH, TitleEN: m.TitleEN,
		BodyZH: m.BodyZH, BodyEN: m.BodyEN, URL: m.URL, At: now}
	if err := s.RecordNotice(ctx, f.UserID, n); err != nil {
		return false, err
	}
	rep, sendErr := p.n.Send(ctx, m)
	for _, o := range rep.Outcomes {
		if o.Status == notify.StatusSent || o.Status == notify.StatusDuplicate {
			n.Channels = append(n.Channels, medium(o.Channel))
		}
	}
	if len(n.Channels) > 0 {
		err = s.RecordNotice(ctx, f.UserID, n)
	} else {
		err = s.ForgetNotice(ctx, f.UserID, m.Key) // never reached them: not theirs to read
	}
	if err != nil {
		return len(n.Channels) > 0, err
	}
	if sendErr != nil {
		return len(n.Channels) > 0, fmt.Errorf("%s to %s: %w", m.Kind, f.Username, sendErr)
	}
	return true, nil
}

var ruleZH = map[string]string{"no_water": "长时间未用水", "no_motion": "长时间无活动", "no_exit": "多日未出门", "sos": "紧急呼叫",
	"water_running": "持续用水", "power_flat": "长时间无用电", "night_door": "深夜开门", "routine": "日常活动未出现",
	"gateway_offline": "网关离线", "device_fault": "设备故障"}

// Notify implements dispatch.Notifier.
func (p *Pager) Notify(ctx context.Context, pg store.Page, inc store.Incident) error {
	causeZH, causeEN := inc.Class, inc.Class
	if len(inc.Rules) > 0 {
		var zh []string
		for _, r := range inc.Rules {
			if n, ok := ruleZH[r]; ok {
				zh = append(zh, n)
			} else {
				zh = append(zh, r)
			}
		}
		causeZH, causeEN = strings.Join(zh, "、"), strings.Join(inc.Rules, ", ")
	}
	title := "派单"
	if pg.Kind == "escalated" {
		title = "升级"
	}
	m := notify.Message{
		Key: pg.ID, IncidentID: inc.ID, Kind: pg.Kind, Urgent: inc.Severity == "critical",
		Recipient: notify.Recipient{ID: pg.Worker.ID, Name: pg.Worker.Name, Phone: pg.Worker.Phone, Lang: "zh-CN"},
		TitleZH:   fmt.Sprintf("【守望%s】%s：%s", title, inc.Resident, causeZH),
		TitleEN:   fmt.Sprintf("[Shouwang %s] %s: %s", pg.Kind, inc.Resident, causeEN),
		BodyZH:    fmt.Sprintf("%s，%s。请尽快上门查看并在应用中接单。", inc.Address, causeZH),
		BodyEN:    fmt.Sprintf("%s, %s. Please go to the door and accept the case in the app.", inc.Address, causeEN),
		URL:       p.baseURL + "/#incident/" + inc.ID,
	}
	if _, err := p.n.Send(ctx, m); err != nil {
		return fmt.Errorf("page %s to %s: %w", pg.ID, pg.Worker.ID, err)
	}
	return nil
}

// DigestStore is what the daily digest reads.
type DigestStore interface {
	FamilyHomes(ctx context.Context) ([]store.FamilyHome, error)
	HomeStatus(ctx context.Context, homeID string, now time.Time) (store.HomeStatus, error)
	Privacy(ctx context.Context, homeID string) (map[string][]string, error)
	FamilyStore
}

var statusZH = map[string]string{store.StatusSafe: "平安", store.StatusAlert: "有待处理的告警", store.StatusOffline: "网关离线，暂时无法守望", store.StatusQuiet: "一天内无活动记录"}

// Digest sends each family member the day's status of the homes they follow: "平安"
// and the last sign of life, or what is wrong. Keyed by user, home and date, so a
// second run the same day sends nothing new. Whoever switched the digest off, or
// follows a resident who keeps their status from family, is skipped (not counted
// in sent).
func (p *Pager) Digest(ctx context.Context, s DigestStore, now time.Time, loc *time.Location) (sent int, err error) {
	fams, err := s.FamilyHomes(ctx)
	if err != nil {
		return 0, err
	}
	day := now.In(loc).Format("2006-01-02")
	var errs []error
	for _, f := range fams {
		// The digest is the home's status: sent only where the resident lets family
		// see it (as GET /homes/:id/status).
		priv, err := s.Privacy(ctx, f.HomeID)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !slices.Contains(priv[store.KindTimeline], "family") {
			continue
		}
		st, err := s.HomeStatus(ctx, f.HomeID, now)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		last, lastEN := "无记录", "none recorded"
		if st.LastActivity != nil {
			last, lastEN = st.LastActivity.In(loc).Format("15:04"), st.LastActivity.In(loc).Format("15:04")
		}
		m := notify.Message{
			Key: "digest/" + f.UserID + "/" + f.HomeID + "/" + day, Kind: notify.KindDigest,
			TitleZH: fmt.Sprintf("【守望】%s %s", st.Resident, statusZH[st.Status]),
			TitleEN: fmt.Sprintf("[Shouwang] %s: %s", st.Resident, st.Status),
			BodyZH:  fmt.Sprintf("%s：%s。最近一次活动 %s。", day, statusZH[st.Status], last),
			BodyEN:  fmt.Sprintf("%s: %s. Last sign of life %s.", day, st.Status, lastEN),
			URL:     p.baseURL + "/#home/" + f.HomeID,
		}
		went, err := p.toFamily(ctx, s, f, m, now)
		if err != nil {
			errs = append(errs, err)
		}
		if went {
			sent++
		}
	}
	return sent, errors.Join(errs...)
}

// StatusStore is what family status notifications read.
type StatusStore interface {
	FamilyOfHome(ctx context.Context, homeID string) ([]store.FamilyHome, error)
	Privacy(ctx context.Context, homeID string) (map[string][]string, error)
	FamilyStore
}

var stepZH = map[string]string{"accept": "网格员已接单", "arrive": "网格员已到达", "resolve": "已处理完成", "feedback": "已收到反馈", "evaluate": "已评价"}

// IncidentChanged tells the family following the home that a case moved on (accepted,
// arrived, resolved) — if the resident lets family see their alerts, and each as
// they chose (see toFamily).
func (p *Pager) IncidentChanged(ctx context.Context, s StatusStore, inc store.Incident, action string) error {
	if inc.Class != "resident" {
		return nil
	}
	priv, err := s.Privacy(ctx, inc.HomeID)
	if err != nil {
		return err
	}
	if !slices.Contains(priv[store.KindAlerts], "family") {
		return nil
	}
	fams, err := s.FamilyOfHome(ctx, inc.HomeID)
	if err != nil {
		return err
	}
	outcome := ""
	if action == "resolve" && inc.Outcome != "" {
		outcome = "（" + inc.Outcome + "）"
	}
	// Whoever took the step (a daughter giving feedback) knows already.
	actor := ""
	if n := len(inc.Timeline); n > 0 {
		actor = inc.Timeline[n-1].Actor
	}
	var errs []error
	for _, f := range fams {
		if f.Username == actor {
			continue
		}
		m := notify.Message{
			Key: "status/" + inc.ID + "/" + action + "/" + strconv.Itoa(len(inc.Timeline)), IncidentID: inc.ID, Kind: notify.KindStatus,
			TitleZH: fmt.Sprintf("【守望】%s：%s%s", inc.Resident, stepZH[action], outcome),
			TitleEN: fmt.Sprintf("[Shouwang] %s: %s %s", inc.Resident, action, inc.Outcome),
			URL:     p.baseURL + "/#incident/" + inc.ID,
		}
		if _, err := p.toFamily(ctx, s, f, m, time.Now()); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
