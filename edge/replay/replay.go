// Package replay runs the rule engine over a recorded or simulated event log on
// virtual time: the same engine as the daemon, ticked every virtual minute between
// events, so a log reproduces exactly the alerts the gateway would have sent.
package replay

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/shouwang-care/shouwang/edge/config"
	"github.com/shouwang-care/shouwang/edge/rules"
	"github.com/shouwang-care/shouwang/firmware-protocol/event"
	"github.com/shouwang-care/shouwang/firmware-protocol/mqttv1"
)

// Options control a replay.
type Options struct {
	Settings rules.Settings
	Tail     time.Duration // keep ticking this long after the last event (a log ending in a collapse)
}

// maxLine bounds a line the reader will hold; ParseLine rejects anything above event.MaxLine.
const maxLine = 64 << 10

// Player drives an engine over events on virtual time, as the daemon drives it on
// real time: ticks every virtual minute, none across a gateway outage.
type Player struct {
	Engine *rules.Engine
	emit   func(mqttv1.Alert)
	last   time.Time
}

// NewPlayer starts a new home's engine; IDs are r1, r2, … so output is reproducible.
func NewPlayer(set rules.Settings, emit func(mqttv1.Alert)) *Player {
	n := 0
	return &Player{Engine: rules.New(set, rules.State{}, func() string { n++; return "r" + strconv.Itoa(n) }), emit: emit}
}

// Feed ticks up to ev and observes it.
func (p *Player) Feed(ev event.Event) {
	// The gateway was off before a boot: no ticks in the gap.
	if ev.Kind != event.Boot {
		p.TickTo(ev.T)
	}
	p.send(p.Engine.Observe(ev))
	if ev.T.After(p.last) {
		p.last = ev.T
	}
}

// TickTo ticks at every whole virtual minute after the last time and before to.
func (p *Player) TickTo(to time.Time) {
	if p.last.IsZero() || !to.After(p.last) || to.Sub(p.last) > 400*24*time.Hour {
		// Nothing to tick, or a clock jump in the log: the engine absorbs it; do not tick a year.
		return
	}
	for t := p.last.Truncate(time.Minute).Add(time.Minute); t.Before(to); t = t.Add(time.Minute) {
		p.send(p.Engine.Tick(t))
	}
	p.last = to.Add(-time.Nanosecond)
}

// Last is the latest time fed.
func (p *Player) Last() time.Time { return p.last }

func (p *Player) send(as []mqttv1.Alert) {
	for _, a := range as {
		p.emit(a)
	}
}

// Run feeds the events read from r to a new engine and passes every transition to
// emit. A bad line stops the replay with an error naming its line number.
func Run(r io.Reader, opt Options, emit func(mqttv1.Alert)) (*rules.Engine, error) {
	p := NewPlayer(opt.Settings, emit)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	line := 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if len(trimSpace(b)) == 0 {
			continue
		}
		ev, err := ParseLine(b)
		if err != nil {
			return p.Engine, fmt.Errorf("line %d: %w", line, err)
		}
		p.Feed(ev)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return p.Engine, fmt.Errorf("line %d: longer than %d bytes", line+1, maxLine)
		}
		return p.Engine, fmt.Errorf("read events after line %d: %w", line, err)
	}
	if opt.Tail > 0 && !p.last.IsZero() {
		p.TickTo(p.last.Add(opt.Tail).Add(time.Nanosecond))
	}
	return p.Engine, nil
}

// ParseLine decodes one event line (the event.Event JSON), and nothing after it.
func ParseLine(b []byte) (event.Event, error) {
	b = trimSpace(b)
	ev, err := event.ParseLine(b)
	if err == nil && !json.Valid(b) {
		return event.Event{}, errors.New("event: data after the JSON object")
	}
	return ev, err
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\r') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

// Line is one output line: a transition, as JSON.
type Line struct {
	T        time.Time         `json:"t"`
	Rule     string            `json:"rule"`
	State    mqttv1.AlertState `json:"state"`
	Severity mqttv1.Severity   `json:"severity"`
	Class    mqttv1.Class      `json:"class,omitempty"` // only when not resident
}

// LineOf is the output form of a transition.
func LineOf(a mqttv1.Alert) Line {
	l := Line{T: a.At, Rule: a.Rule, State: a.State, Severity: a.Severity}
	if a.Class != mqttv1.ClassResident {
		l.Class = a.Class
	}
	return l
}

// Command is `shouwang-edge replay [--config FILE] [--tail DURATION] EVENTS.jsonl`
// ("-" reads standard input).
func Command(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	path := fs.String("config", "", "edge config file: its rules section and timezone (default: built-in defaults, no pre-alarm)")
	tail := fs.Duration("tail", 0, "keep ticking this long after the last event")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("replay: %w (usage: replay [--config FILE] [--tail 24h] EVENTS.jsonl)", err)
	}
	if fs.NArg() != 1 {
		return errors.New("replay: want one events file (usage: replay [--config FILE] [--tail 24h] EVENTS.jsonl)")
	}
	set := rules.Defaults()
	set.PreAlarm = 0 // replay has no one to press the button unless configured
	if *path != "" {
		c, err := config.LoadRules(*path)
		if err != nil {
			return fmt.Errorf("replay: %w", err)
		}
		set = c.RuleSettings()
	}
	var in io.Reader = os.Stdin
	if name := fs.Arg(0); name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return fmt.Errorf("replay: %w", err)
		}
		defer f.Close()
		in = f
	}
	w := bufio.NewWriter(stdout)
	enc := json.NewEncoder(w)
	var werr error
	_, err := Run(in, Options{Settings: set, Tail: *tail}, func(a mqttv1.Alert) {
		if werr == nil {
			werr = enc.Encode(LineOf(a))
		}
	})
	if ferr := w.Flush(); werr == nil {
		werr = ferr
	}
	if err != nil {
		return fmt.Errorf("replay %s: %w", fs.Arg(0), err)
	}
	if werr != nil {
		return fmt.Errorf("replay: write alerts: %w", werr)
	}
	return nil
}
