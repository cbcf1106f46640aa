package notify

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/shouwang-care/shouwang/internal/testinfra"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"
)

func TestMain(m *testing.M) { testinfra.Main(m) }

func TestRouter(t *testing.T) {
	hasPhone := func(r Recipient) bool { return r.Phone != "" }
	chans := []Channel{
		&fakeChannel{name: NameInApp},
		&fakeChannel{name: NameWebPush, accept: func(r Recipient) bool { return len(r.WebPush) > 0 }},
		&fakeChannel{name: NameAliyunSMS, accept: hasPhone},
		&fakeChannel{name: NameTencentSMS, accept: hasPhone},
		&fakeChannel{name: NameWeCom, accept: func(r Recipient) bool { return r.WeComUserID != "" }},
		&fakeChannel{name: NameEmail, accept: func(r Recipient) bool { return r.Email != "" }},
		&fakeChannel{name: NameWebhook},
	}
	full := Recipient{ID: "u", Phone: "13800000000", WeComUserID: "w", Email: "a@b.cn", WebPush: []byte(`{}`)}
	cases := []struct {
		name   string
		kind   string
		urgent bool
		rcpt   Recipient
		want   []string
	}{
		{"dispatched", KindDispatched, false, full, []string{NameAliyunSMS, NameWeCom, NameInApp, NameWebPush, NameWebhook}},
		{"escalated", KindEscalated, false, full, []string{NameAliyunSMS, NameWeCom, NameInApp, NameWebPush, NameWebhook}},
		{"urgent status", KindStatus, true, full, []string{NameAliyunSMS, NameWeCom, NameInApp, NameWebPush, NameWebhook}},
		{"status", KindStatus, false, full, []string{NameInApp, NameWebPush, NameWeCom}},
		{"digest", KindDigest, false, full, []string{NameEmail, NameWeCom, NameInApp}},
		{"dispatched, phone only", KindDispatched, false, Recipient{ID: "u", Phone: "13800000000"}, []string{NameAliyunSMS, NameInApp, NameWebhook}},
		{"status, no push", KindStatus, false, Recipient{ID: "u", WeComUserID: "w"}, []string{NameInApp, NameWeCom}},
		{"digest, app only", KindDigest, false, Recipient{ID: "u"}, []string{NameInApp}},
		// The recipient's own choice replaces the row, in their order, still only
		// over channels that reach them; it does not hold back an urgent page.
		{"status, chosen SMS", KindStatus, false, withChannels(full, MediumSMS), []string{NameAliyunSMS}},
		{"digest, chosen SMS and e-mail", KindDigest, false, withChannels(full, MediumSMS, NameEmail), []string{NameAliyunSMS, NameEmail}},
		{"digest, chosen WeCom without an ID", KindDigest, false, withChannels(Recipient{ID: "u"}, NameWeCom), nil},
		{"status, chose nothing", KindStatus, false, withChannels(full), nil},
		{"dispatched ignores the choice", KindDispatched, false, withChannels(full, NameEmail), []string{NameAliyunSMS, NameWeCom, NameInApp, NameWebPush, NameWebhook}},
	}
	r := NewRouter(nil)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, ch := range r.Pick(Message{Kind: tc.kind, Urgent: tc.urgent, Recipient: tc.rcpt}, chans) {
				got = append(got, ch.Name())
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
	// a custom table; Tencent first when configured first
	custom := NewRouter(map[string][]string{RouteUrgent: {MediumSMS}})
	got := custom.Pick(Message{Kind: KindDispatched, Recipient: full}, []Channel{chans[3], chans[2]})
	if len(got) != 1 || got[0].Name() != NameTencentSMS {
		t.Fatalf("custom: %v", got)
	}
}

func withChannels(r Recipient, chans ...string) Recipient {
	r.Channels = append([]string{}, chans...)
	return r
}

func openSQLite(t *testing.T) *sql.DB {
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "n.db")+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func openPostgres(t *testing.T) *sql.DB {
	db, err := sql.Open("pgx", testinfra.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestSQLLog(t *testing.T) {
	for name, open := range map[string]func(*testing.T) *sql.DB{"sqlite": openSQLite, "postgres": openPostgres} {
		t.Run(name, func(t *testing.T) {
			db := open(t)
			l, err := NewSQLLog(db)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := NewSQLLog(db); err != nil { // idempotent schema
				t.Fatal(err)
			}
			ctx := context.Background()
			t0 := time.Date(2026, 11, 22, 4, 0, 0, 0, time.UTC)
			rows := []Attempt{
				{At: t0, Channel: NameAliyunSMS, RecipientID: "u-1", Key: "k", IncidentID: "inc-1", Kind: KindDispatched, Attempt: 1, Status: StatusFailed, Reason: ReasonTransient, Error: "isp.SYSTEM_ERROR 系统错误", Latency: 120 * time.Millisecond},
				{At: t0.Add(time.Second), Channel: NameAliyunSMS, RecipientID: "u-1", Key: "k", IncidentID: "inc-1", Kind: KindDispatched, Attempt: 2, Status: StatusSent, Latency: 80 * time.Millisecond},
			}
			for _, a := range rows {
				if err := l.Record(ctx, a); err != nil {
					t.Fatal(err)
				}
			}
			got, err := l.Attempts(ctx, "k")
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 2 {
				t.Fatalf("%d rows", len(got))
			}
			for i := range rows {
				if !got[i].At.Equal(rows[i].At) || got[i].Error != rows[i].Error || got[i].Latency != rows[i].Latency || got[i].Status != rows[i].Status || got[i].Attempt != rows[i].Attempt {
					t.Errorf("row %d: got %+v, want %+v", i, got[i], rows[i])
				}
			}
			for _, tc := range []struct {
				channel, rcpt, key string
				since              time.Time
				want               bool
			}{
				{NameAliyunSMS, "u-1", "k", t0, true},
				{NameAliyunSMS, "u-1", "k", t0.Add(2 * time.Second), false}, // outside the window
				{NameWeCom, "u-1", "k", t0, false},
				{NameAliyunSMS, "u-2", "k", t0, false},
				{NameAliyunSMS, "u-1", "other", t0, false},
			} {
				ok, err := l.Delivered(ctx, tc.channel, tc.rcpt, tc.key, tc.since)
				if err != nil || ok != tc.want {
					t.Errorf("Delivered(%s,%s,%s,%v) = %v, %v; want %v", tc.channel, tc.rcpt, tc.key, tc.since, ok, err, tc.want)
				}
			}
			// Through a Notifier: fails twice then succeeds; a restarted
			// Notifier on the same table deduplicates.
			e := Transient("webhook", "HTTP 503", errors.New("busy"))
			ch := &fakeChannel{name: "webhook", errs: []error{e, e}}
			if _, err := newTestNotifier(t, l, ch).Send(ctx, testMsg("k2")); err != nil {
				t.Fatal(err)
			}
			ch2 := &fakeChannel{name: "webhook"}
			if _, err := newTestNotifier(t, l, ch2).Send(ctx, testMsg("k2")); err != nil {
				t.Fatal(err)
			}
			got, _ = l.Attempts(ctx, "k2")
			var statuses []string
			for _, a := range got {
				statuses = append(statuses, a.Status)
			}
			if want := []string{StatusFailed, StatusFailed, StatusSent, StatusDuplicate}; !reflect.DeepEqual(statuses, want) {
				t.Fatalf("statuses %v, want %v", statuses, want)
			}
			if calls, _ := ch2.count(); calls != 0 {
				t.Fatal("restarted notifier resent")
			}
		})
	}
}

// A broken log must not stop a page: the send goes ahead and the failure is
// reported in the log attempt (if it can be written) and metrics.
type brokenLog struct{ MemLog }

func (b *brokenLog) Delivered(context.Context, string, string, string, time.Time) (bool, error) {
	return false, errors.New("database is locked")
}

func TestBrokenLogStillSends(t *testing.T) {
	ch := &fakeChannel{name: "webhook"}
	bl := &brokenLog{}
	if _, err := newTestNotifier(t, bl, ch).Send(context.Background(), testMsg("k")); err != nil {
		t.Fatal(err)
	}
	if _, sent := ch.count(); sent != 1 {
		t.Fatal("not sent")
	}
}
