package mqttv1

import (
	"fmt"
	"time"
)

// Version is the schema version every v1 payload carries in "v".
const Version = 1

// Severity orders how urgently a person must act.
type Severity string

const (
	Info     Severity = "info"
	Warning  Severity = "warning"
	Critical Severity = "critical"
)

// Class keeps device and gateway trouble apart from resident alerts: a dead PIR sends
// a technician, not a grid worker, and never counts as a false alarm about a person.
type Class string

const (
	ClassResident Class = "resident"
	ClassDevice   Class = "device"
	ClassGateway  Class = "gateway"
)

// AlertState is the transition an alert message reports.
type AlertState string

const (
	Raised  AlertState = "raised"
	Cleared AlertState = "cleared"
)

// Alert is one transition of one alert episode. ID is generated on the edge (UUIDv7)
// and is the same for the raise and the clear of an episode; (ID, State) is the
// idempotency key the cloud commits on and acknowledges.
type Alert struct {
	V        int        `json:"v"`
	ID       string     `json:"id"`
	Gateway  string     `json:"gateway"`
	Rule     string     `json:"rule"`
	State    AlertState `json:"state"`
	Severity Severity   `json:"severity"`
	Class    Class      `json:"class"`
	At       time.Time  `json:"at"`        // when this transition happened (gateway clock)
	RaisedAt time.Time  `json:"raised_at"` // when the episode began
	Evidence []Evidence `json:"evidence"`
}

// Evidence is one fact that made the rule fire, structured so the app can say it in
// the reader's language ("最后用水 06:42，12小时03分钟前").
type Evidence struct {
	Signal    string     `json:"signal"`            // water, power, motion, door, button, …
	LastAt    *time.Time `json:"last_at,omitempty"` // last time the signal showed life
	QuietSecs int64      `json:"quiet_s,omitempty"` // how long it has been quiet
	Threshold int64      `json:"threshold_s,omitempty"`
	Note      string     `json:"note,omitempty"` // free text for what the fields cannot say
}

// Key is the idempotency key of an alert message.
func (a Alert) Key() AckItem { return AckItem{ID: a.ID, State: a.State} }

// Telemetry is a batch of meter readings and activity counts. Counts, not raw events:
// collection is the minimum the rules and charts need.
type Telemetry struct {
	V        int        `json:"v"`
	Gateway  string     `json:"gateway"`
	Seq      uint64     `json:"seq"`
	Readings []Reading  `json:"readings,omitempty"`
	Activity []Activity `json:"activity,omitempty"`
}

// Reading is a cumulative meter total at a time.
type Reading struct {
	T        time.Time `json:"t"`
	Sensor   string    `json:"sensor"`
	TotalM3  *float64  `json:"total_m3,omitempty"`
	TotalKWh *float64  `json:"total_kwh,omitempty"`
}

// Activity counts events of one sensor in [T, T+PeriodS).
type Activity struct {
	T       time.Time `json:"t"`
	PeriodS int       `json:"period_s"`
	Sensor  string    `json:"sensor"`
	Count   int       `json:"count"`
}

// Status is the retained presence of a gateway: the birth message says online, the
// last will (registered at connect) says offline.
type Status struct {
	V        int       `json:"v"`
	Gateway  string    `json:"gateway"`
	State    string    `json:"state"` // online | offline
	At       time.Time `json:"at"`
	Software string    `json:"software,omitempty"`
}

// Heartbeat tells the cloud the gateway and its outbox are alive.
type Heartbeat struct {
	V             int       `json:"v"`
	Gateway       string    `json:"gateway"`
	At            time.Time `json:"at"`
	UptimeS       int64     `json:"uptime_s"`
	OutboxPending int       `json:"outbox_pending"`
	// ConfigRevision is the cloud config revision the gateway has applied and
	// persisted (0 or absent: none yet): the cloud's confirmation that a retained
	// config took effect. Optional, added in v1.
	ConfigRevision int64 `json:"config_revision,omitempty"`
	// TelemetryDropped counts readings and activity counts the gateway dropped over its
	// life because its telemetry backlog outgrew its limit. Optional, added in v1.
	TelemetryDropped int64 `json:"telemetry_dropped,omitempty"`
	// LastActivity is the latest sign of life in the home (motion, a door, water or
	// electricity used): what the family's "平安" status and daily digest show.
	// Optional, added in v1.
	LastActivity *time.Time `json:"last_activity,omitempty"`
}

// Config is the retained cloud→edge configuration. Revision only grows; the edge
// applies a higher revision and ignores an older one.
type Config struct {
	V            int     `json:"v"`
	Gateway      string  `json:"gateway"`
	Revision     int64   `json:"revision"`
	NoWaterHours float64 `json:"no_water_hours,omitempty"`
	Away         bool    `json:"away,omitempty"` // resident travelling / in hospital: no-activity rules pause

	// Additive since the rules engine of issue 4; all optional, absent means the edge's own setting.
	AwayUntil     *time.Time `json:"away_until,omitempty"`      // away ends by itself then (with or without away)
	SleepStart    string     `json:"sleep_start,omitempty"`     // "HH:MM" local; with sleep_end
	SleepEnd      string     `json:"sleep_end,omitempty"`       // "HH:MM" local
	NoMotionHours float64    `json:"no_motion_hours,omitempty"` // 1–24
	PreAlarmS     *int       `json:"prealarm_s,omitempty"`      // 0–3600; 0 sends at once

	// EraseBefore asks the gateway to delete what it holds about the resident from
	// before this time (learned routine, rule history, unsent telemetry and alerts):
	// the edge's part of erasing a resident. Applied once per value.
	EraseBefore *time.Time `json:"erase_before,omitempty"`
}

// ClockTime parses "HH:MM" as the offset from local midnight.
func ClockTime(s string) (time.Duration, error) {
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, fmt.Errorf("%q, want HH:MM", s)
	}
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute, nil
}

// Ack acknowledges alert messages the cloud has committed; the edge then drops them
// from its outbox.
type Ack struct {
	V      int       `json:"v"`
	Alerts []AckItem `json:"alerts"`
}

// AckItem names one committed alert message.
type AckItem struct {
	ID    string     `json:"id"`
	State AlertState `json:"state"`
}
