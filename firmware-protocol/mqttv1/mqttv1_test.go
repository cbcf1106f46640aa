package mqttv1

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func readGolden(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// roundTrip decodes a golden payload, re-encodes it and decodes again: the contract
// must survive both directions unchanged.
func roundTrip[T Payload](t *testing.T, name string) T {
	t.Helper()
	p, err := Decode[T](readGolden(t, name))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	b, err := Encode(p)
	if err != nil {
		t.Fatalf("%s: encode: %v", name, err)
	}
	q, err := Decode[T](b)
	if err != nil {
		t.Fatalf("%s: decode re-encoded: %v", name, err)
	}
	if !reflect.DeepEqual(p, q) {
		t.Fatalf("%s: round trip changed payload:\n%+v\n%+v", name, p, q)
	}
	return p
}

func TestGoldenPayloads(t *testing.T) {
	a := roundTrip[Alert](t, "alert_raised.json")
	if a.Rule != "no_water" || a.State != Raised || a.Severity != Critical || a.Class != ClassResident {
		t.Errorf("alert_raised: %+v", a)
	}
	if len(a.Evidence) != 2 || a.Evidence[0].QuietSecs != 43380 || a.Evidence[0].LastAt.Hour() != 6 {
		t.Errorf("alert_raised evidence: %+v", a.Evidence)
	}
	c := roundTrip[Alert](t, "alert_cleared.json")
	if c.Key() != (AckItem{ID: a.ID, State: Cleared}) {
		t.Errorf("cleared key %+v", c.Key())
	}
	tm := roundTrip[Telemetry](t, "telemetry.json")
	if len(tm.Readings) != 2 || *tm.Readings[0].TotalM3 != 123.4567 || *tm.Readings[1].TotalKWh != 5012.31 || tm.Activity[0].Count != 3 {
		t.Errorf("telemetry: %+v", tm)
	}
	if s := roundTrip[Status](t, "status_online.json"); s.State != "online" {
		t.Errorf("status: %+v", s)
	}
	if s := roundTrip[Status](t, "status_offline.json"); s.State != "offline" {
		t.Errorf("status: %+v", s)
	}
	if h := roundTrip[Heartbeat](t, "heartbeat.json"); h.OutboxPending != 2 || h.ConfigRevision != 7 || h.TelemetryDropped != 0 {
		t.Errorf("heartbeat: %+v", h)
	}
	if cf := roundTrip[Config](t, "config.json"); cf.Revision != 7 || cf.NoWaterHours != 12 || cf.SleepStart != "21:30" || cf.AwayUntil == nil || *cf.PreAlarmS != 600 {
		t.Errorf("config: %+v", cf)
	}
	if ak := roundTrip[Ack](t, "ack.json"); len(ak.Alerts) != 1 || ak.Alerts[0].ID != a.ID {
		t.Errorf("ack: %+v", ak)
	}
}

// mutate returns the golden alert with one JSON field replaced (or removed when v is nil).
func mutate(t *testing.T, field string, v any) []byte {
	var m map[string]any
	if err := json.Unmarshal(readGolden(t, "alert_raised.json"), &m); err != nil {
		t.Fatal(err)
	}
	if v == nil {
		delete(m, field)
	} else {
		m[field] = v
	}
	b, _ := json.Marshal(m)
	return b
}

func TestAlertRejections(t *testing.T) {
	tests := []struct {
		name   string
		in     []byte
		reason Reason
		want   string
	}{
		{"not json", []byte(`{"v":1,`), ReasonMalformed, "alert payload: invalid JSON"},
		{"no version", mutate(t, "v", nil), ReasonVersion, "field v: missing schema version"},
		{"future version", mutate(t, "v", 2), ReasonVersion, "schema version 2, this build speaks 1"},
		{"wrong type", mutate(t, "rule", 5), ReasonMalformed, "field rule: number where string was expected"},
		{"bad severity", mutate(t, "severity", "panic"), ReasonInvalid, `field severity: "panic", want info, warning or critical`},
		{"bad state", mutate(t, "state", "open"), ReasonInvalid, "field state"},
		{"bad gateway", mutate(t, "gateway", "gw/+/x"), ReasonInvalid, "field gateway"},
		{"no id", mutate(t, "id", ""), ReasonInvalid, "field id"},
		{"no time", mutate(t, "at", nil), ReasonInvalid, "field at: missing time"},
		{"at before raised", mutate(t, "at", "2026-03-01T00:00:00+08:00"), ReasonInvalid, "field at: before raised_at"},
		{"too large", bytes.Repeat([]byte(" "), Specs[ChAlert].MaxBytes+1), ReasonTooLarge, "16385 bytes, at most 16384"},
		{"bad evidence", mutate(t, "evidence", []any{map[string]any{"signal": ""}}), ReasonInvalid, "field evidence[0].signal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode[Alert](tt.in)
			if err == nil {
				t.Fatal("accepted")
			}
			if ReasonOf(err) != tt.reason || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %q (%s), want %q (%s)", err, ReasonOf(err), tt.want, tt.reason)
			}
		})
	}
}

func TestTelemetryRejections(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"v":1,"gateway":"gw-1a","seq":1,"readings":[{"t":"2026-03-01T07:00:00Z","sensor":"water"}]}`, "readings[0]: exactly one of total_m3 and total_kwh"},
		{`{"v":1,"gateway":"gw-1a","seq":1,"readings":[{"t":"2026-03-01T07:00:00Z","sensor":"water","total_m3":-1}]}`, "out of range"},
		{`{"v":1,"gateway":"gw-1a","seq":1,"activity":[{"t":"2026-03-01T07:00:00Z","sensor":"pir","period_s":0,"count":1}]}`, "activity[0].period_s"},
		{`{"v":1,"gateway":"gw-1a","seq":-1}`, "field seq: number -1 where uint64 was expected"},
	}
	for _, tt := range tests {
		if _, err := Decode[Telemetry]([]byte(tt.in)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want %q", tt.in, err, tt.want)
		}
	}
}

func TestEncodeRefusesInvalid(t *testing.T) {
	if _, err := Encode(Alert{V: 1, Gateway: "gw-1a"}); err == nil || !strings.Contains(err.Error(), "field id") {
		t.Fatalf("got %v", err)
	}
}

func TestTopics(t *testing.T) {
	for ch := range Specs {
		gw, got, err := ParseTopic(Topic("gw-hz-0001", ch))
		if err != nil || gw != "gw-hz-0001" || got != ch {
			t.Errorf("%s: %q %q %v", ch, gw, got, err)
		}
	}
	for _, bad := range []string{"other/v1/gw/gw-1a/alert", "shouwang/v1/gw/gw-1a/alert/x", "shouwang/v1/gw/GW/alert", "shouwang/v1/gw/gw-1a/bogus", "shouwang/v1/gw/+/alert"} {
		if _, _, err := ParseTopic(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if got := SharedFilter("cloud", ChAlert); got != "$share/cloud/shouwang/v1/gw/+/alert" {
		t.Errorf("shared filter %q", got)
	}
}

// TestSpecTable keeps the prose spec and the code's table in step.
func TestSpecTable(t *testing.T) {
	doc, err := os.ReadFile("../docs/mqtt-v1.md")
	if err != nil {
		t.Fatal(err)
	}
	for ch, s := range Specs {
		retain := "no"
		if s.Retained {
			retain = "yes"
		}
		row := "| `" + string(ch) + "` | "
		i := bytes.Index(doc, []byte(row))
		if i < 0 {
			t.Errorf("spec has no row for %s", ch)
			continue
		}
		line := string(doc[i : i+bytes.IndexByte(doc[i:], '\n')])
		for _, want := range []string{"| " + string('0'+s.QoS) + " |", "| " + retain + " |", "| " + sizeText(s.MaxBytes) + " |"} {
			if !strings.Contains(line, want) {
				t.Errorf("spec row %q lacks %q", line, want)
			}
		}
	}
}

func sizeText(n int) string { return strconv.Itoa(n>>10) + " KiB" }

func FuzzDecode(f *testing.F) {
	for _, name := range []string{"alert_raised.json", "alert_cleared.json", "telemetry.json", "status_online.json", "heartbeat.json", "config.json", "ack.json"} {
		f.Add(readGolden(f, name))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		// Whatever the bytes, decoding returns a value or a classified error, and a
		// decoded value encodes again.
		check := func(err error) {
			if err != nil && ReasonOf(err) == "" {
				t.Fatalf("unclassified error %v", err)
			}
		}
		if a, err := Decode[Alert](b); err == nil {
			if _, err := Encode(a); err != nil {
				t.Fatalf("decoded alert does not encode: %v", err)
			}
		} else {
			check(err)
		}
		if tm, err := Decode[Telemetry](b); err == nil {
			if _, err := Encode(tm); err != nil {
				t.Fatalf("decoded telemetry does not encode: %v", err)
			}
		} else {
			check(err)
		}
		_, err := Decode[Config](b)
		check(err)
		_, err = Decode[Ack](b)
		check(err)
		_, err = Decode[Status](b)
		check(err)
	})
}

func BenchmarkDecodeAlert(b *testing.B) {
	p := readGolden(b, "alert_raised.json")
	b.ReportAllocs()
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		if _, err := Decode[Alert](p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeTelemetry(b *testing.B) {
	p := readGolden(b, "telemetry.json")
	b.ReportAllocs()
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		if _, err := Decode[Telemetry](p); err != nil {
			b.Fatal(err)
		}
	}
}

// gatewayIDSpec is the rule ValidGatewayID implements by hand, as the spec
// (docs/mqtt-v1.md) words it.
var gatewayIDSpec = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{2,62}$`)

func TestValidGatewayID(t *testing.T) {
	for id, ok := range map[string]bool{
		"gw-0001": true, "abc": true, "0ab": true, "a--": true, strings.Repeat("a", 63): true,
		"": false, "ab": false, "-ab": false, "Gw-1": false, "gw_1": false, "gw/1": false, "gw+1": false,
		"gw#1": false, "gw 1": false, "网关01": false, strings.Repeat("a", 64): false,
	} {
		if err := ValidGatewayID(id); (err == nil) != ok || gatewayIDSpec.MatchString(id) != ok {
			t.Errorf("ValidGatewayID(%q) = %v, spec regexp %v, want valid=%v", id, err, gatewayIDSpec.MatchString(id), ok)
		}
	}
}

func FuzzValidGatewayID(f *testing.F) {
	for _, s := range []string{"gw-0001", "ab", "-ab", "A00", "a\x00b", strings.Repeat("z", 63)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		if got, want := ValidGatewayID(id) == nil, gatewayIDSpec.MatchString(id); got != want {
			t.Fatalf("ValidGatewayID(%q) valid=%v, spec regexp says %v", id, got, want)
		}
	})
}
