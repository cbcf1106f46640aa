package radio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shouwang-care/shouwang/edge/metersim"
	"github.com/shouwang-care/shouwang/firmware-protocol/event"
	"github.com/shouwang-care/shouwang/firmware-protocol/sensornode"
)

// waitFor bounds every wait in these tests; nothing asserts how fast
// anything happens, only that it happens.
const waitFor = 10 * time.Second

const (
	pendant  = sensornode.NodeID(0x0A0B0C0D)
	door     = sensornode.NodeID(0x12345678)
	pir      = sensornode.NodeID(0x00C0FFEE)
	bed      = sensornode.NodeID(0x00B0B0B0) // sends the end-of-case marker
	stranger = sensornode.NodeID(0xDEADBEEF)
)

var start = time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)

func benchConfig() Config {
	return Config{Nodes: []NodeConfig{
		{ID: "0A0B0C0D", Sensor: "pendant", CheckIn: time.Hour},
		{ID: "12345678", Sensor: "door.front"},
		{ID: "00C0FFEE", Sensor: "pir.bathroom"},
		{ID: "00B0B0B0", Sensor: "button.bed"},
	}}
}

// clock is the injected time; the test moves it, Run reads it.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// run starts r.Run and stops it at the end of the test.
func run(t *testing.T, r *Receiver) chan event.Event {
	t.Helper()
	events := make(chan event.Event, 64)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, events) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run() = %v, want nil after cancel", err)
			}
		case <-time.After(waitFor):
			t.Errorf("Run did not return after cancel")
		}
	})
	return events
}

// describe renders an event for comparison: want strings are prefixes.
func describe(e event.Event) string {
	s := e.Sensor + " " + string(e.Kind)
	if e.Open != nil {
		s += fmt.Sprintf(" open=%v", *e.Open)
	}
	if e.Press != "" {
		s += " press=" + string(e.Press)
	}
	if e.Detail != "" {
		s += " " + e.Detail
	}
	return s
}

func nextEvent(t *testing.T, events <-chan event.Event, what string) event.Event {
	t.Helper()
	select {
	case e := <-events:
		if err := e.Validate(); err != nil {
			t.Errorf("invalid event %s: %v", describe(e), err)
		}
		return e
	case <-time.After(waitFor):
		t.Fatalf("no event while waiting for %s", what)
		return event.Event{}
	}
}

// readAcks decodes what the receiver sends back to the nodes.
func readAcks(r io.Reader) <-chan sensornode.Frame {
	acks := make(chan sensornode.Frame, 64)
	go func() {
		dec := sensornode.NewDecoder(r)
		for {
			f, err := dec.Next()
			var fe *sensornode.FrameError
			switch {
			case err == nil:
				acks <- f
			case errors.As(err, &fe), errors.Is(err, io.EOF):
			case errors.Is(err, os.ErrClosed):
				return
			default:
				// EIO while the slave is between opens: try again.
				time.Sleep(5 * time.Millisecond)
			}
		}
	}()
	return acks
}

func ackName(f sensornode.Frame) string { return fmt.Sprintf("%s/%d", f.Node, f.Seq) }

func ev(node sensornode.NodeID, seq uint16, e sensornode.Event, battery uint8, flags sensornode.Flags) []byte {
	return sensornode.AppendEvent(nil, node, seq, e, battery, flags)
}

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

type step struct {
	advance time.Duration // move the injected clock first
	send    []byte        // then write this on the master, as the nodes' radio
	ack     string        // then wait for this ACK (node/seq): the frame was handled
	await   string        // then wait for an event starting with this (supervision)
}

// TestReceiverPTY runs the receiver on a real pseudo-terminal, opened with
// the real tarm/serial 8N1 opener; the master side plays the radio module.
// Each case ends with a marker frame from the bedside button: everything the
// receiver emits and ACKs before the marker's event and ACK is what the case
// caused, so "no event" and "no ACK" are checked without waiting for silence.
func TestReceiverPTY(t *testing.T) {
	sos1 := ev(pendant, 1, sensornode.EventSOS, 87, 0)
	badCRC := ev(pendant, 5, sensornode.EventSOS, 87, 0)
	badCRC[len(badCRC)-1] ^= 0x01
	noise := []byte{0x00, 0xFF, 0x5A, 0x55, 0xA5, 0xA5, 0x01, 0x3F}
	preamble := []byte{0x55, 0x55, 0x55, 0x55}

	tests := []struct {
		name  string
		steps []step
		want  []string // events before the marker's, as prefixes of describe()
		acks  []string // ACKs before the marker's
		stats func(Stats) string
	}{
		{
			name:  "SOS delivered once and ACKed",
			steps: []step{{send: sos1}},
			want:  []string{"pendant button press=short"},
			acks:  []string{"0A0B0C0D/1"},
		},
		{
			name: "retransmitted SOS ACKed again, delivered once",
			steps: []step{
				{send: sos1},
				{send: ev(pendant, 1, sensornode.EventSOS, 87, sensornode.FlagRetransmit)},
				{send: ev(pendant, 1, sensornode.EventSOS, 87, sensornode.FlagRetransmit)},
			},
			want: []string{"pendant button press=short"},
			acks: []string{"0A0B0C0D/1", "0A0B0C0D/1", "0A0B0C0D/1"},
			stats: func(s Stats) string {
				if s.Duplicates != 2 || s.Delivered != 2 { // + marker
					return fmt.Sprintf("duplicates %d delivered %d, want 2 2", s.Duplicates, s.Delivered)
				}
				return ""
			},
		},
		{
			name: "every event code mapped",
			steps: []step{
				{send: ev(pir, 7, sensornode.EventMotion, 100, 0)},
				{send: ev(door, 0, sensornode.EventDoorOpen, 95, sensornode.FlagBoot)},
				{send: ev(door, 1, sensornode.EventDoorClose, 95, 0)},
				{send: ev(pendant, 1, sensornode.EventCheckIn, 90, 0)},
				{send: ev(pendant, 2, sensornode.EventFall, 90, 0)},
				{send: ev(pendant, 3, sensornode.EventImOK, 90, 0)},
				{send: ev(pendant, 4, 0x12, 90, 0)}, // an alarm code newer than this build
				{send: ev(pendant, 5, 0x05, 90, 0)}, // an activity code newer than this build
			},
			want: []string{
				"pir.bathroom motion",
				"door.front door open=true",
				"door.front door open=false",
				"pendant button press=short fall",
				"pendant button press=long",
				"pendant button press=short event(0x12)",
			},
			acks: []string{"00C0FFEE/7", "12345678/0", "12345678/1", "0A0B0C0D/1", "0A0B0C0D/2", "0A0B0C0D/3", "0A0B0C0D/4", "0A0B0C0D/5"},
		},
		{
			name: "noise and preambles between frames",
			steps: []step{
				{send: cat(noise, preamble, sos1, noise)},
				{send: cat(preamble, ev(door, 4, sensornode.EventDoorOpen, 95, 0), noise[:2])},
			},
			want: []string{"pendant button press=short", "door.front door open=true"},
			acks: []string{"0A0B0C0D/1", "12345678/4"},
			stats: func(s Stats) string {
				if want := uint64(2*len(noise) + 2 + 2*len(preamble)); s.Skipped != want {
					return fmt.Sprintf("skipped %d bytes, want %d", s.Skipped, want)
				}
				return ""
			},
		},
		{
			name:  "bad CRC ignored",
			steps: []step{{send: badCRC}},
			stats: func(s Stats) string {
				if s.Rejected != 1 || s.Skipped != uint64(len(badCRC)) {
					return fmt.Sprintf("rejected %d skipped %d, want 1 %d", s.Rejected, s.Skipped, len(badCRC))
				}
				return ""
			},
		},
		{
			name:  "unenrolled node ignored and not ACKed",
			steps: []step{{send: ev(stranger, 1, sensornode.EventSOS, 50, 0)}, {send: sensornode.AppendAck(nil, stranger, 1)}},
			stats: func(s Stats) string {
				if s.Unenrolled != 1 || s.Frames != 3 {
					return fmt.Sprintf("unenrolled %d frames %d, want 1 3 (SOS, its ACK, marker)", s.Unenrolled, s.Frames)
				}
				return ""
			},
		},
		{
			name: "missed check-in, then recovery when heard",
			steps: []step{
				{send: ev(pendant, 1, sensornode.EventCheckIn, 90, 0), ack: "0A0B0C0D/1"},
				{advance: 2*time.Hour + time.Minute, await: "pendant fault node 0A0B0C0D missed"},
				{send: ev(pendant, 2, sensornode.EventCheckIn, 90, sensornode.FlagRetransmit)},
			},
			want: []string{
				"pendant fault node 0A0B0C0D missed its check-in (every 1h0m0s), last seen 2026-03-01T08:00:00Z",
				"pendant fault recovered: node 0A0B0C0D heard again",
			},
			acks: []string{"0A0B0C0D/1", "0A0B0C0D/2"},
		},
		{
			name: "low battery: one maintenance fault, cleared after the swap",
			steps: []step{
				{send: ev(door, 1, sensornode.EventDoorOpen, 15, 0)},
				{send: ev(door, 2, sensornode.EventDoorClose, 14, 0)},
				{send: ev(door, 3, sensornode.EventCheckIn, 60, sensornode.FlagLowBattery)},
				{send: ev(door, 0, sensornode.EventCheckIn, 100, sensornode.FlagBoot)},
			},
			want: []string{
				"door.front door open=true",
				"battery.door.front fault low battery: node 12345678 (door.front) battery 15%, at or below 20%",
				"door.front door open=false",
				"battery.door.front fault recovered: low battery: node 12345678 (door.front) battery 100%",
			},
			acks: []string{"12345678/1", "12345678/2", "12345678/3", "12345678/0"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			master, slave, err := metersim.OpenPTY()
			if err != nil {
				t.Skipf("no pseudo-terminal: %v", err)
			}
			defer master.Close()
			cfg := benchConfig()
			cfg.Port = slave
			clk := &clock{t: start}
			r, err := New(cfg, nil, clk.Now, testLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			r.superviseEvery = 5 * time.Millisecond
			events := run(t, r)
			waitOpen(t, r)
			acks := readAcks(master)

			var got, gotAcks []string
			nextAck := func(what string) sensornode.Frame {
				select {
				case f := <-acks:
					if f.Kind != sensornode.KindAck {
						t.Fatalf("receiver sent %s, want only ACKs", f)
					}
					return f
				case <-time.After(waitFor):
					t.Fatalf("no ACK while waiting for %s; ACKs so far %v", what, gotAcks)
					return sensornode.Frame{}
				}
			}
			for _, s := range tc.steps {
				clk.Advance(s.advance)
				if _, err := master.Write(s.send); err != nil {
					t.Fatalf("write to radio: %v", err)
				}
				for s.ack != "" {
					a := ackName(nextAck(s.ack))
					gotAcks = append(gotAcks, a)
					if a == s.ack {
						break
					}
				}
				if s.await != "" {
					for {
						d := describe(nextEvent(t, events, s.await))
						got = append(got, d)
						if strings.HasPrefix(d, s.await) {
							break
						}
					}
				}
			}
			if _, err := master.Write(ev(bed, 1000, sensornode.EventImOK, 80, 0)); err != nil {
				t.Fatal(err)
			}
			for {
				d := describe(nextEvent(t, events, "the marker"))
				if d == "button.bed button press=long" {
					break
				}
				got = append(got, d)
			}
			for {
				f := nextAck("the marker")
				if f.Node == bed && f.Seq == 1000 {
					break
				}
				gotAcks = append(gotAcks, ackName(f))
			}
			if !matchPrefixes(got, tc.want) {
				t.Errorf("events:\n got  %q\n want %q", got, tc.want)
			}
			if strings.Join(gotAcks, " ") != strings.Join(tc.acks, " ") {
				t.Errorf("ACKs: got %v, want %v", gotAcks, tc.acks)
			}
			if tc.stats != nil {
				if msg := tc.stats(r.Stats()); msg != "" {
					t.Errorf("stats %+v: %s", r.Stats(), msg)
				}
			}
		})
	}
}

func matchPrefixes(got, want []string) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if !strings.HasPrefix(got[i], want[i]) {
			return false
		}
	}
	return true
}

func waitOpen(t *testing.T, r *Receiver) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for r.Stats().Opens == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("port not opened: %+v", r.Stats())
		}
		time.Sleep(time.Millisecond)
	}
}

// TestReceiverPTYGone closes the radio's side of the pty under a running
// receiver: Run must notice and try to open the port again.
func TestReceiverPTYGone(t *testing.T) {
	master, slave, err := metersim.OpenPTY()
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	cfg := benchConfig()
	cfg.Port = slave
	r, err := New(cfg, nil, nil, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	r.minBackoff = time.Millisecond
	run(t, r)
	waitOpen(t, r)
	master.Close()
	deadline := time.Now().Add(waitFor)
	for s := r.Stats(); s.Opens+s.OpenFailures < 2; s = r.Stats() {
		if time.Now().After(deadline) {
			t.Fatalf("no reopen attempt after the port went away: %+v", s)
		}
		time.Sleep(time.Millisecond)
	}
}

// fakePort is an in-memory radio module whose Read times out like tarm's.
type fakePort struct {
	in     chan []byte // node → receiver
	out    chan []byte // receiver → node
	gone   chan struct{}
	closed atomic.Bool
}

func newFakePort() *fakePort {
	return &fakePort{in: make(chan []byte, 16), out: make(chan []byte, 16), gone: make(chan struct{})}
}

var errGone = errors.New("read /dev/ttyUSB0: input/output error")

func (p *fakePort) Read(b []byte) (int, error) {
	select {
	case d := <-p.in:
		return copy(b, d), nil // frames are far shorter than the decoder's buffer
	case <-p.gone:
		return 0, errGone
	case <-time.After(10 * time.Millisecond):
		return 0, io.EOF // tarm's timeout
	}
}

func (p *fakePort) Write(b []byte) (int, error) {
	select {
	case <-p.gone:
		return 0, errGone
	case p.out <- append([]byte(nil), b...):
		return len(b), nil
	}
}

func (p *fakePort) Close() error { p.closed.Store(true); return nil }

// TestReceiverReopen: the port cannot be opened twice (a fault, then its
// recovery), works, vanishes, and is reopened; SOS gets through both times.
func TestReceiverReopen(t *testing.T) {
	p1, p2 := newFakePort(), newFakePort()
	var mu sync.Mutex
	var calls int
	open := func(cfg PortConfig) (Port, error) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		switch calls {
		case 1, 2:
			return nil, fmt.Errorf("open radio port %s: no such file or directory", cfg.Path)
		case 3:
			return p1, nil
		case 4:
			return p2, nil
		}
		return nil, errors.New("no more ports")
	}
	cfg := benchConfig()
	cfg.Port = "/dev/nonexistent-radio"
	r, err := New(cfg, open, nil, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	r.minBackoff, r.portFaultAfter = time.Millisecond, 2
	events := run(t, r)

	for _, want := range []string{
		"radio fault radio port /dev/nonexistent-radio unavailable after 2 attempts",
		"radio fault recovered: radio port /dev/nonexistent-radio open again",
	} {
		if d := describe(nextEvent(t, events, want)); !strings.HasPrefix(d, want) {
			t.Fatalf("event %q, want %q", d, want)
		}
	}
	for i, p := range []*fakePort{p1, p2} {
		seq := uint16(i + 1)
		p.in <- ev(pendant, seq, sensornode.EventSOS, 80, 0)
		if d := describe(nextEvent(t, events, "SOS")); d != "pendant button press=short" {
			t.Fatalf("port %d: event %q, want the SOS", i+1, d)
		}
		select {
		case b := <-p.out:
			f, _, err := sensornode.Decode(b)
			if err != nil || f.Kind != sensornode.KindAck || f.Node != pendant || f.Seq != seq {
				t.Fatalf("port %d: sent %X (%v, %v), want ACK of %s/%d", i+1, b, f, err, pendant, seq)
			}
		case <-time.After(waitFor):
			t.Fatalf("port %d: no ACK", i+1)
		}
		if i == 0 {
			close(p1.gone)
		}
	}
	if !p1.closed.Load() {
		t.Error("the vanished port was not closed")
	}
	if s := r.Stats(); s.Opens != 2 || s.OpenFailures != 2 || s.Acks != 2 {
		t.Errorf("stats %+v, want 2 opens, 2 open failures, 2 ACKs", s)
	}
}

// TestRunTwice: one goroutine owns the port.
func TestRunTwice(t *testing.T) {
	cfg := benchConfig()
	cfg.Port = "/dev/nonexistent-radio"
	r, err := New(cfg, func(PortConfig) (Port, error) { return newFakePort(), nil }, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	run(t, r)
	waitOpen(t, r)
	if err := r.Run(context.Background(), make(chan event.Event)); err == nil {
		t.Fatal("second Run succeeded")
	}
}

// hungUpPort is a tty whose line was hung up: every read ends at once with
// end-of-file, as on Linux after a USB adapter is unplugged or a pty's master closes.
type hungUpPort struct{ closed atomic.Bool }

func (p *hungUpPort) Read([]byte) (int, error)    { return 0, io.EOF }
func (p *hungUpPort) Write(b []byte) (int, error) { return 0, errGone }
func (p *hungUpPort) Close() error                { p.closed.Store(true); return nil }

// TestReceiverHungUp: a port whose reads return nothing at once, for ever, is
// closed and reopened rather than spun on as a quiet line. (A quiet line's reads
// take the read timeout; fakePort's take 10 ms and are never mistaken for it.)
func TestReceiverHungUp(t *testing.T) {
	hung := &hungUpPort{}
	var opens atomic.Int32
	open := func(PortConfig) (Port, error) {
		if opens.Add(1) == 1 {
			return hung, nil
		}
		return newFakePort(), nil
	}
	cfg := benchConfig()
	cfg.Port = "/dev/ttyUSB0"
	r, err := New(cfg, open, nil, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	r.minBackoff = time.Millisecond
	run(t, r)
	deadline := time.Now().Add(waitFor)
	for opens.Load() < 2 || !hung.closed.Load() {
		if time.Now().After(deadline) {
			t.Fatalf("the hung-up port was not closed and reopened: %d opens, closed %v", opens.Load(), hung.closed.Load())
		}
		time.Sleep(time.Millisecond)
	}
}

// A quiet line (reads that time out) is not taken for a hung-up one.
func TestReceiverQuietLineStaysOpen(t *testing.T) {
	var opens atomic.Int32
	cfg := benchConfig()
	cfg.Port = "/dev/ttyUSB0"
	r, err := New(cfg, func(PortConfig) (Port, error) { opens.Add(1); return newFakePort(), nil }, nil, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	run(t, r)
	time.Sleep(hungUpAfter * 10 * time.Millisecond * 3) // three times the reads a false alarm would need
	if n := opens.Load(); n != 1 {
		t.Fatalf("%d opens of a quiet but healthy line, want 1", n)
	}
}
