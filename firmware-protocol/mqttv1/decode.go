package mqttv1

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"
)

// Reason classifies a rejected payload; it is the label of the rejection counters.
type Reason string

const (
	ReasonTooLarge  Reason = "too_large"
	ReasonVersion   Reason = "version"
	ReasonMalformed Reason = "malformed"
	ReasonInvalid   Reason = "invalid"
)

// Error says why a payload was rejected and where.
type Error struct {
	Channel Channel
	Reason  Reason
	Field   string // JSON field, when one is to blame
	Msg     string
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s payload: field %s: %s", e.Channel, e.Field, e.Msg)
	}
	return fmt.Sprintf("%s payload: %s", e.Channel, e.Msg)
}

// ReasonOf returns the Reason of a rejection error, or "" for other errors.
func ReasonOf(err error) Reason {
	var pe *Error
	if errors.As(err, &pe) {
		return pe.Reason
	}
	return ""
}

// Limits that keep one gateway from filling the cloud's memory or database.
const (
	MaxEvidence = 16
	MaxReadings = 2000
	MaxActivity = 2000
	MaxAckItems = 500
	maxText     = 512
)

// Payload is any v1 payload.
type Payload interface {
	Alert | Telemetry | Status | Heartbeat | Config | Ack
}

func channelOf(p any) Channel {
	switch p.(type) {
	case *Alert:
		return ChAlert
	case *Telemetry:
		return ChTelemetry
	case *Status:
		return ChStatus
	case *Heartbeat:
		return ChHeartbeat
	case *Config:
		return ChConfig
	default:
		return ChAck
	}
}

// Decode parses and validates a payload of type T: size first (before any parsing),
// then the schema version, then JSON, then field rules.
//
// The payload is parsed once, straight into T; only when that fails or the version
// is not this build's is it probed for "v" alone, so that a payload of another
// version is reported as such rather than as whatever of it T cannot hold. (A probe
// before every decode was 9 % of the cloud's ingest CPU.)
func Decode[T Payload](b []byte) (T, error) {
	var p T
	ch := channelOf(&p)
	if max := Specs[ch].MaxBytes; len(b) > max {
		return p, &Error{Channel: ch, Reason: ReasonTooLarge, Msg: fmt.Sprintf("%d bytes, at most %d", len(b), max)}
	}
	// Unknown fields are accepted: v1 may gain optional fields without a version bump.
	err := json.Unmarshal(b, &p)
	if err == nil {
		// validate checks "v" first, for every payload type.
		field, msg := validate(&p)
		if msg == "" {
			return p, nil
		}
		if field != "v" {
			return p, &Error{Channel: ch, Reason: ReasonInvalid, Field: field, Msg: msg}
		}
	}
	var head struct {
		V *int `json:"v"`
	}
	if perr := json.Unmarshal(b, &head); perr != nil {
		return p, &Error{Channel: ch, Reason: ReasonMalformed, Msg: jsonMsg(perr)}
	}
	if head.V == nil {
		return p, &Error{Channel: ch, Reason: ReasonVersion, Field: "v", Msg: "missing schema version"}
	}
	if *head.V != Version {
		return p, &Error{Channel: ch, Reason: ReasonVersion, Field: "v", Msg: fmt.Sprintf("schema version %d, this build speaks %d", *head.V, Version)}
	}
	if err == nil { // unreachable: the probe and T read "v" alike
		err = errors.New("schema version unreadable")
	}
	return p, &Error{Channel: ch, Reason: ReasonMalformed, Msg: jsonMsg(err)}
}

// Encode validates p and marshals it, so a bug on one side cannot put an invalid
// payload on the wire.
func Encode[T Payload](p T) ([]byte, error) {
	ch := channelOf(&p)
	if field, msg := validate(&p); msg != "" {
		return nil, &Error{Channel: ch, Reason: ReasonInvalid, Field: field, Msg: msg}
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encode %s payload: %w", ch, err)
	}
	if max := Specs[ch].MaxBytes; len(b) > max {
		return nil, &Error{Channel: ch, Reason: ReasonTooLarge, Msg: fmt.Sprintf("%d bytes, at most %d", len(b), max)}
	}
	return b, nil
}

func jsonMsg(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("invalid JSON at byte %d: %v", se.Offset, err)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("field %s: %s where %s was expected (byte %d)", te.Field, te.Value, te.Type, te.Offset)
	}
	return err.Error()
}

func validate(p any) (field, msg string) {
	switch v := p.(type) {
	case *Alert:
		return validateAlert(v)
	case *Telemetry:
		return validateTelemetry(v)
	case *Status:
		if f, m := checkGateway(v.V, v.Gateway); m != "" {
			return f, m
		}
		if v.State != "online" && v.State != "offline" {
			return "state", fmt.Sprintf("%q, want online or offline", v.State)
		}
		return checkTime("at", v.At)
	case *Heartbeat:
		if f, m := checkGateway(v.V, v.Gateway); m != "" {
			return f, m
		}
		if v.UptimeS < 0 || v.OutboxPending < 0 {
			return "uptime_s", "negative counter"
		}
		if v.ConfigRevision < 0 {
			return "config_revision", fmt.Sprintf("%d, want ≥ 0", v.ConfigRevision)
		}
		if v.TelemetryDropped < 0 {
			return "telemetry_dropped", fmt.Sprintf("%d, want ≥ 0", v.TelemetryDropped)
		}
		return checkTime("at", v.At)
	case *Config:
		if f, m := checkGateway(v.V, v.Gateway); m != "" {
			return f, m
		}
		if v.Revision < 1 {
			return "revision", fmt.Sprintf("%d, want ≥ 1", v.Revision)
		}
		if v.NoWaterHours != 0 && (v.NoWaterHours < 1 || v.NoWaterHours > 72 || math.IsNaN(v.NoWaterHours)) {
			return "no_water_hours", fmt.Sprintf("%v, want 1–72", v.NoWaterHours)
		}
		if v.NoMotionHours != 0 && (v.NoMotionHours < 1 || v.NoMotionHours > 24 || math.IsNaN(v.NoMotionHours)) {
			return "no_motion_hours", fmt.Sprintf("%v, want 1–24", v.NoMotionHours)
		}
		if (v.SleepStart == "") != (v.SleepEnd == "") {
			return "sleep_start", "sleep_start and sleep_end go together"
		}
		for _, f := range [][2]string{{"sleep_start", v.SleepStart}, {"sleep_end", v.SleepEnd}} {
			if _, err := ClockTime(f[1]); f[1] != "" && err != nil {
				return f[0], err.Error()
			}
		}
		if v.PreAlarmS != nil && (*v.PreAlarmS < 0 || *v.PreAlarmS > 3600) {
			return "prealarm_s", fmt.Sprintf("%d, want 0–3600", *v.PreAlarmS)
		}
		if v.AwayUntil != nil {
			if f, m := checkTime("away_until", *v.AwayUntil); m != "" {
				return f, m
			}
		}
	case *Ack:
		if v.V != Version {
			return "v", fmt.Sprintf("%d, want %d", v.V, Version)
		}
		if len(v.Alerts) == 0 || len(v.Alerts) > MaxAckItems {
			return "alerts", fmt.Sprintf("%d items, want 1–%d", len(v.Alerts), MaxAckItems)
		}
		for i, it := range v.Alerts {
			if it.ID == "" || len(it.ID) > 64 {
				return fmt.Sprintf("alerts[%d].id", i), "empty or longer than 64"
			}
			if it.State != Raised && it.State != Cleared {
				return fmt.Sprintf("alerts[%d].state", i), fmt.Sprintf("%q, want raised or cleared", it.State)
			}
		}
	}
	return "", ""
}

func validateAlert(a *Alert) (string, string) {
	if f, m := checkGateway(a.V, a.Gateway); m != "" {
		return f, m
	}
	if a.ID == "" || len(a.ID) > 64 {
		return "id", "empty or longer than 64"
	}
	if a.Rule == "" || len(a.Rule) > 64 {
		return "rule", "empty or longer than 64"
	}
	if a.State != Raised && a.State != Cleared {
		return "state", fmt.Sprintf("%q, want raised or cleared", a.State)
	}
	switch a.Severity {
	case Info, Warning, Critical:
	default:
		return "severity", fmt.Sprintf("%q, want info, warning or critical", a.Severity)
	}
	switch a.Class {
	case ClassResident, ClassDevice, ClassGateway:
	default:
		return "class", fmt.Sprintf("%q, want resident, device or gateway", a.Class)
	}
	if f, m := checkTime("at", a.At); m != "" {
		return f, m
	}
	if f, m := checkTime("raised_at", a.RaisedAt); m != "" {
		return f, m
	}
	if a.At.Before(a.RaisedAt) {
		return "at", "before raised_at"
	}
	if len(a.Evidence) > MaxEvidence {
		return "evidence", fmt.Sprintf("%d items, at most %d", len(a.Evidence), MaxEvidence)
	}
	for i, e := range a.Evidence {
		if e.Signal == "" || len(e.Signal) > 64 {
			return fmt.Sprintf("evidence[%d].signal", i), "empty or longer than 64"
		}
		if e.QuietSecs < 0 || e.Threshold < 0 {
			return fmt.Sprintf("evidence[%d].quiet_s", i), "negative duration"
		}
		if len(e.Note) > maxText {
			return fmt.Sprintf("evidence[%d].note", i), fmt.Sprintf("longer than %d bytes", maxText)
		}
	}
	return "", ""
}

func validateTelemetry(t *Telemetry) (string, string) {
	if f, m := checkGateway(t.V, t.Gateway); m != "" {
		return f, m
	}
	if len(t.Readings) > MaxReadings {
		return "readings", fmt.Sprintf("%d items, at most %d", len(t.Readings), MaxReadings)
	}
	if len(t.Activity) > MaxActivity {
		return "activity", fmt.Sprintf("%d items, at most %d", len(t.Activity), MaxActivity)
	}
	for i, r := range t.Readings {
		f := fmt.Sprintf("readings[%d]", i)
		if m := checkSensor(r.Sensor); m != "" {
			return f + ".sensor", m
		}
		if _, m := checkTime("t", r.T); m != "" {
			return f + ".t", m
		}
		if (r.TotalM3 == nil) == (r.TotalKWh == nil) {
			return f, "exactly one of total_m3 and total_kwh must be set"
		}
		for _, v := range []*float64{r.TotalM3, r.TotalKWh} {
			if v != nil && (math.IsNaN(*v) || math.IsInf(*v, 0) || *v < 0 || *v > 1e9) {
				return f, fmt.Sprintf("meter total %v out of range 0–1e9", *v)
			}
		}
	}
	for i, a := range t.Activity {
		f := fmt.Sprintf("activity[%d]", i)
		if m := checkSensor(a.Sensor); m != "" {
			return f + ".sensor", m
		}
		if _, m := checkTime("t", a.T); m != "" {
			return f + ".t", m
		}
		if a.PeriodS < 1 || a.PeriodS > 86400 {
			return f + ".period_s", fmt.Sprintf("%d, want 1–86400", a.PeriodS)
		}
		if a.Count < 0 || a.Count > 1_000_000 {
			return f + ".count", fmt.Sprintf("%d, want 0–1000000", a.Count)
		}
	}
	return "", ""
}

func checkGateway(v int, gw string) (string, string) {
	if v != Version {
		return "v", fmt.Sprintf("%d, want %d", v, Version)
	}
	if err := ValidGatewayID(gw); err != nil {
		return "gateway", err.Error()
	}
	return "", ""
}

func checkSensor(s string) string {
	if s == "" || len(s) > 64 {
		return "empty or longer than 64"
	}
	return ""
}

// A gateway without a real-time clock may boot in 1970; its timestamps are still
// accepted (the cloud also records when it received them) but not absurd ones.
var minTime = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)

func checkTime(field string, t time.Time) (string, string) {
	if t.IsZero() {
		return field, "missing time"
	}
	if t.Before(minTime) || t.Year() > 2200 {
		return field, fmt.Sprintf("%s out of range", t.Format(time.RFC3339))
	}
	return "", ""
}
