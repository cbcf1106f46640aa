package replay

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shouwang-care/shouwang/edge/rules"
	"github.com/shouwang-care/shouwang/firmware-protocol/event"
	"github.com/shouwang-care/shouwang/firmware-protocol/mqttv1"
	"github.com/shouwang-care/shouwang/internal/golden"
)

var update = flag.Bool("update", false, "rewrite the golden outputs")

// TestGolden replays every testdata/*.jsonl with the defaults and 24 h of tail and
// compares with the .golden beside it.
func TestGolden(t *testing.T) {
	logs, _ := filepath.Glob("testdata/*.jsonl")
	if len(logs) == 0 {
		t.Fatal("no golden logs")
	}
	for _, log := range logs {
		t.Run(filepath.Base(log), func(t *testing.T) {
			var out bytes.Buffer
			if err := Command([]string{"--tail", "24h", log}, &out); err != nil {
				t.Fatal(err)
			}
			golden.Check(t, strings.TrimSuffix(log, ".jsonl")+".golden", out.Bytes(), *update)
		})
	}
}

func TestCommandConfig(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "edge.yaml")
	// A pre-alarm of 10 min and a tighter tap rule; no gateway or broker needed.
	if err := os.WriteFile(cfg, []byte("rules:\n  prealarm: 10m\n  water_running_minutes: 20\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := Command([]string{"--config", cfg, "testdata/tap_running.jsonl"}, &out); err != nil {
		t.Fatal(err)
	}
	var first Line
	if err := json.Unmarshal(bytes.SplitN(out.Bytes(), []byte("\n"), 2)[0], &first); err != nil {
		t.Fatal(err)
	}
	// Flow from 08:00:30; 20 min of it at 08:20:30; 10 min of pre-alarm → 08:30.
	if first.Rule != rules.WaterRunning || first.T.Format("15:04") != "08:30" {
		t.Fatalf("%s", out.Bytes())
	}
	if err := os.WriteFile(cfg, []byte("rules:\n  sleep: 25:00-06:00\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Command([]string{"--config", cfg, "testdata/sos.jsonl"}, &out); err == nil || !strings.Contains(err.Error(), "rules.sleep") {
		t.Fatalf("bad config accepted: %v", err)
	}
}

func TestBadInput(t *testing.T) {
	for _, tt := range []struct{ name, in, want string }{
		{"not json", `{"t":"2026-03-01T07:00:00+08:00","sensor":"water","kind":"meter","total_m3":1}` + "\nnot json\n", "line 2: event: invalid"},
		{"unknown kind", `{"t":"2026-03-01T07:00:00+08:00","sensor":"x","kind":"smoke"}`, `line 1: event: field kind: unknown "smoke"`},
		{"no time", `{"sensor":"x","kind":"motion"}`, "line 1: event: field t: missing time"},
		{"unknown field", `{"t":"2026-03-01T07:00:00+08:00","sensor":"x","kind":"motion","extra":1}`, "line 1: event: json: unknown field"},
		{"meter without total", "\n\n" + `{"t":"2026-03-01T07:00:00+08:00","sensor":"w","kind":"meter"}`, "line 3: event: meter event"},
		{"huge line", strings.Repeat("x", 70000), "line 1: longer than"},
		{"trailing data", `{"t":"2026-03-01T07:00:00+08:00","sensor":"x","kind":"motion"} {}`, "line 1: event: data after"},
		{"long line", `{"t":"2026-03-01T07:00:00+08:00","sensor":"x","kind":"fault","detail":"` + strings.Repeat("x", 5000) + `"}`, "line 1: event: 50"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Run(strings.NewReader(tt.in), Options{Settings: rules.Defaults()}, func(mqttv1.Alert) {})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
		})
	}
	if err := Command(nil, &bytes.Buffer{}); err == nil {
		t.Fatal("no file accepted")
	}
	if err := Command([]string{"testdata/nope.jsonl"}, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "nope.jsonl") {
		t.Fatalf("%v", err)
	}
}

// TestTicksSkipOutage: no ticks between the last event and a boot (the gateway was
// off), so nothing is raised "during" an outage nobody could observe.
func TestTicksSkipOutage(t *testing.T) {
	var got []mqttv1.Alert
	p := NewPlayer(rules.Settings{NoMotion: time.Hour}, func(a mqttv1.Alert) { got = append(got, a) })
	t0 := time.Date(2026, 3, 1, 7, 0, 0, 0, time.UTC)
	p.Feed(event.Event{T: t0, Sensor: "pir", Kind: event.Motion})
	p.Feed(event.Event{T: t0.Add(5 * time.Hour), Sensor: "gateway", Kind: event.Boot})
	p.Feed(event.Event{T: t0.Add(5*time.Hour + time.Minute), Sensor: "pir", Kind: event.Motion})
	for _, a := range got {
		if a.Class == mqttv1.ClassResident {
			t.Fatalf("raised during an outage nobody observed: %+v", got)
		}
	}
}

func FuzzReplayLine(f *testing.F) {
	logs, _ := filepath.Glob("testdata/*.jsonl")
	for _, log := range logs {
		b, _ := os.ReadFile(log)
		for _, l := range bytes.Split(b, []byte("\n")) {
			f.Add(l)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := ParseLine(b)
		if err != nil {
			return
		}
		// A line that parses encodes again to one that parses, and the engine takes it.
		enc, err := json.Marshal(ev)
		if err != nil {
			t.Fatalf("encode %+v: %v", ev, err)
		}
		if _, err := ParseLine(enc); err != nil && len(enc) <= event.MaxLine {
			t.Fatalf("re-encoded line rejected: %s: %v", enc, err)
		}
		e := rules.New(rules.Defaults(), rules.State{}, func() string { return "x" })
		e.Observe(ev)
		e.Tick(ev.T.Add(13 * time.Hour))
		e.Observe(ev)
	})
}
