package sensornode

import (
	"strings"
	"sync"
	"testing"
	"time"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time          { return c.t }
func (c *fakeClock) Advance(d time.Duration) { c.t = c.t.Add(d) }

var t0 = time.Date(2026, 1, 1, 8, 0, 0, 0, time.UTC)

func newSup(t *testing.T, ids ...NodeID) (*Supervisor, *fakeClock) {
	t.Helper()
	clk := &fakeClock{t: t0}
	s, err := NewSupervisor(SupervisorConfig{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if err := s.Enroll(id, 0); err != nil {
			t.Fatal(err)
		}
	}
	return s, clk
}

const pendant NodeID = 0x0A0B0C0D

// step is one received frame and what the supervisor should make of it.
type step struct {
	after time.Duration // since the previous frame
	seq   uint16
	ev    Event
	flags Flags
	want  Verdict
}

func TestSupervisorSequences(t *testing.T) {
	deliv := Verdict{Status: Delivered}
	dup := Verdict{Status: Duplicate}
	gap := func(n int) Verdict { return Verdict{Status: Delivered, Gap: n} }
	restart := Verdict{Status: Delivered, Restarted: true}
	sec := time.Second

	tests := []struct {
		name   string
		steps  []step
		missed uint64
	}{
		{"in order", []step{
			{0, 10, EventMotion, 0, deliv},
			{sec, 11, EventMotion, 0, deliv},
			{sec, 12, EventDoorOpen, 0, deliv},
		}, 0},
		{"first frame with boot flag", []step{
			{0, 0, EventCheckIn, FlagBoot, restart},
		}, 0},
		{"SOS retransmitted until ACKed", []step{
			{0, 5, EventSOS, 0, deliv},
			{2 * sec, 5, EventSOS, FlagRetransmit, dup},
			{4 * sec, 5, EventSOS, FlagRetransmit, dup},
			{120 * sec, 5, EventSOS, FlagRetransmit, dup},
			{120 * sec, 5, EventSOS, FlagRetransmit, dup}, // window runs from the last frame
		}, 0},
		{"duplicate by radio module, no retransmit flag", []step{
			{0, 5, EventDoorOpen, 0, deliv},
			{0, 5, EventDoorOpen, 0, dup},
		}, 0},
		{"gap counted", []step{
			{0, 10, EventMotion, 0, deliv},
			{sec, 14, EventMotion, 0, gap(3)},
			{sec, 15, EventMotion, 0, deliv},
		}, 3},
		{"late frame fills the gap and is delivered once", []step{
			{0, 10, EventMotion, 0, deliv},
			{sec, 12, EventSOS, 0, gap(1)},
			{sec, 11, EventFall, FlagRetransmit, deliv},
			{sec, 11, EventFall, FlagRetransmit, dup},
		}, 0},
		{"wrap-around", []step{
			{0, 65534, EventMotion, 0, deliv},
			{sec, 65535, EventMotion, 0, deliv},
			{sec, 0, EventMotion, 0, deliv},
			{sec, 0, EventMotion, FlagRetransmit, dup},
			{sec, 2, EventMotion, 0, gap(1)},
		}, 1},
		{"gap across wrap", []step{
			{0, 65533, EventMotion, 0, deliv},
			{sec, 1, EventMotion, 0, gap(3)},
			{sec, 65535, EventMotion, FlagRetransmit, deliv},
		}, 2},
		{"gap larger than the window", []step{
			{0, 100, EventMotion, 0, deliv},
			{sec, 1100, EventMotion, 0, gap(999)},
			{sec, 1100, EventMotion, 0, dup},
			{sec, 100, EventMotion, 0, restart}, // far behind: cannot be a retransmission
		}, 999},
		{"reboot with boot flag is not a duplicate", []step{
			{0, 0, EventCheckIn, 0, deliv},
			{sec, 1, EventMotion, 0, deliv},
			{sec, 2, EventMotion, 0, deliv},
			{sec, 0, EventCheckIn, FlagBoot, restart},
			{sec, 1, EventMotion, FlagBoot, deliv}, // still unACKed since boot
			{sec, 1, EventMotion, FlagBoot | FlagRetransmit, dup},
			{sec, 2, EventMotion, 0, deliv}, // ACK received: boot flag cleared
		}, 0},
		{"boot-flagged retransmission of the boot frame", []step{
			{0, 40, EventMotion, 0, deliv},
			{sec, 0, EventSOS, FlagBoot, restart},
			{2 * sec, 0, EventSOS, FlagBoot | FlagRetransmit, dup},
		}, 0},
		{"second reboot after ACK", []step{
			{0, 0, EventCheckIn, FlagBoot, restart},
			{sec, 1, EventMotion, 0, deliv},
			{sec, 0, EventCheckIn, FlagBoot, restart},
		}, 0},
		{"reboot whose boot frames were lost", []step{
			{0, 3000, EventMotion, 0, deliv},
			{sec, 1, EventMotion, 0, restart},
		}, 0},
		{"same seq, different event: restart, not duplicate", []step{
			{0, 0, EventCheckIn, 0, deliv},
			{sec, 1, EventMotion, 0, deliv},
			{sec, 1, EventSOS, 0, restart},
		}, 0},
		{"same seq after long silence: restart", []step{
			{0, 7, EventDoorOpen, 0, deliv},
			{DefaultDupWindow + sec, 7, EventDoorOpen, 0, restart},
		}, 0},
		{"stale boot epoch: boot frame is a new boot", []step{
			{0, 0, EventSOS, FlagBoot, restart},
			{DefaultDupWindow + sec, 0, EventSOS, FlagBoot, restart},
		}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := newSup(t, pendant)
			at := t0
			delivered, dups, restarts := 0, 0, 0
			for i, st := range tc.steps {
				at = at.Add(st.after)
				f := Frame{Kind: KindEvent, Flags: st.flags, Node: pendant, Seq: st.seq, Event: st.ev, Battery: 80}
				got := s.Observe(f, at)
				if got != st.want {
					t.Errorf("step %d (seq %d %v %v): got %+v, want %+v", i, st.seq, st.ev, st.flags, got, st.want)
				}
				switch got.Status {
				case Delivered:
					delivered++
				case Duplicate:
					dups++
				}
				if got.Restarted {
					restarts++
				}
				if !got.Status.Ack() {
					t.Errorf("step %d: %v frame from an enrolled node must be ACKed", i, got.Status)
				}
			}
			n, _ := s.Node(pendant)
			if n.Missed != tc.missed || n.Delivered != uint64(delivered) ||
				n.Duplicates != uint64(dups) || n.Restarts != uint64(restarts) {
				t.Errorf("state %+v; want missed %d delivered %d duplicates %d restarts %d",
					n, tc.missed, delivered, dups, restarts)
			}
			if !n.LastSeen.Equal(at) {
				t.Errorf("LastSeen %v, want %v", n.LastSeen, at)
			}
		})
	}
}

func TestSupervisorForeignFrames(t *testing.T) {
	s, _ := newSup(t, pendant)
	// The neighbour's pendant on the same channel: ACKing it could stop it
	// retransmitting before the neighbour's own edge heard it.
	v := s.Observe(Frame{Kind: KindEvent, Node: 0xBADBAD, Seq: 1, Event: EventSOS}, t0)
	if v.Status != Unenrolled || v.Status.Ack() {
		t.Fatalf("foreign node: %+v", v)
	}
	// Another edge's ACK heard on air.
	v = s.Observe(Frame{Kind: KindAck, Node: pendant, Seq: 1}, t0)
	if v.Status != Ignored || v.Status.Ack() {
		t.Fatalf("ack frame: %+v", v)
	}
	if n, _ := s.Node(pendant); n.Delivered != 0 || !n.LastSeen.IsZero() {
		t.Fatalf("foreign frames changed state: %+v", n)
	}
	if _, ok := s.Node(0xBADBAD); ok {
		t.Fatal("foreign node became known")
	}
}

func TestSupervisorOverdue(t *testing.T) {
	const pir, door NodeID = 0x00C0FFEE, 0x12345678
	s, clk := newSup(t, pendant, pir)
	if err := s.Enroll(door, 2*time.Hour); err != nil { // configured shorter
		t.Fatal(err)
	}
	ids := func(ns []NodeState) []NodeID {
		var out []NodeID
		for _, n := range ns {
			out = append(out, n.ID)
		}
		return out
	}
	check := func(when string, want ...NodeID) {
		t.Helper()
		got := ids(s.Overdue())
		if len(got) != len(want) {
			t.Fatalf("%s: overdue %v, want %v", when, got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("%s: overdue %v, want %v", when, got, want)
			}
		}
	}
	check("at enrolment")
	clk.Advance(3*time.Hour + time.Second)
	check("door never spoke, 2h+1h grace", door)

	// Any valid frame proves the node alive, not only check-ins.
	s.Observe(Frame{Kind: KindEvent, Node: door, Seq: 1, Event: EventDoorOpen, Battery: 90}, clk.Now())
	s.Observe(Frame{Kind: KindEvent, Node: pir, Seq: 1, Event: EventCheckIn, Battery: 90}, clk.Now())
	check("after frames")

	clk.Advance(21*time.Hour - time.Second) // exactly 24h after enrolment
	check("pendant at exactly 24h, inside grace", door)
	clk.Advance(time.Hour)
	check("pendant at 25h: grace is inclusive", door)
	clk.Advance(time.Second)
	check("pendant past 25h", pendant, door)

	n, _ := s.Node(pendant)
	if want := t0.Add(25 * time.Hour); !n.Due.Equal(want) {
		t.Errorf("Due %v, want %v", n.Due, want)
	}
	s.Remove(door)
	check("door decommissioned", pendant)
}

func TestSupervisorLowBattery(t *testing.T) {
	s, _ := newSup(t, pendant)
	at := t0
	seq := uint16(0)
	feed := func(batt uint8, flags Flags) Verdict {
		at = at.Add(time.Minute)
		seq++
		return s.Observe(Frame{Kind: KindEvent, Node: pendant, Seq: seq, Event: EventCheckIn, Battery: batt, Flags: flags}, at)
	}
	steps := []struct {
		batt   uint8
		flags  Flags
		raise  bool // a maintenance event now
		low    bool // listed by LowBattery afterwards
		reason string
	}{
		{80, 0, false, false, "fresh"},
		{21, 0, false, false, "above threshold"},
		{20, 0, true, true, "at threshold"},
		{19, 0, false, true, "still low: no second event"},
		{25, 0, false, true, "warm afternoon: within hysteresis"},
		{31, 0, false, false, "recovered above threshold+10"},
		{60, FlagLowBattery, true, true, "node's own flag wins over the percentage"},
		{BatteryUnknown, FlagLowBattery, false, true, "flag, unknown level"},
		{BatteryUnknown, 0, false, false, "flag cleared, level unknown: trust the node"},
		{150, 0, false, false, "reserved value means unknown"},
		{5, 0, true, true, "low again"},
		{100, FlagBoot, false, false, "batteries replaced: node rebooted at full charge"},
	}
	for i, st := range steps {
		v := feed(st.batt, st.flags)
		low := len(s.LowBattery()) == 1
		if v.BatteryLow != st.raise || low != st.low {
			t.Errorf("step %d (%s): raise %v low %v, want %v %v", i, st.reason, v.BatteryLow, low, st.raise, st.low)
		}
	}
	if n, _ := s.Node(pendant); n.Battery != 100 {
		t.Errorf("Battery %d, want 100", n.Battery)
	}
	// A duplicate carries no news about the battery.
	v := s.Observe(Frame{Kind: KindEvent, Node: pendant, Seq: seq, Event: EventCheckIn, Battery: 3}, at)
	if v.Status != Duplicate || v.BatteryLow || len(s.LowBattery()) != 0 {
		t.Errorf("duplicate changed battery state: %+v", v)
	}
}

func TestSupervisorConfig(t *testing.T) {
	bad := []SupervisorConfig{
		{CheckIn: 25 * time.Hour},
		{CheckIn: -time.Hour},
		{Grace: -1},
		{DupWindow: -1},
		{LowBattery: 101},
	}
	for _, cfg := range bad {
		if _, err := NewSupervisor(cfg); err == nil {
			t.Errorf("NewSupervisor(%+v) accepted", cfg)
		}
	}
	s, _ := newSup(t)
	err := s.Enroll(pendant, 48*time.Hour)
	if err == nil || !strings.Contains(err.Error(), "enroll node 0A0B0C0D") {
		t.Errorf("Enroll 48h: %v", err)
	}
	if err := s.Enroll(pendant, 10*time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := s.Enroll(pendant, time.Hour); err != nil { // re-enrol changes the period only
		t.Fatal(err)
	}
	if n, _ := s.Node(pendant); n.CheckIn != time.Hour || !n.Enrolled.Equal(t0) {
		t.Errorf("after re-enrol: %+v", n)
	}
	if _, ok := s.Node(1); ok {
		t.Error("Node(1) found")
	}
	if Delivered.String() != "delivered" || Status(9).String() != "status(9)" {
		t.Error("Status.String")
	}
}

func TestSupervisorConcurrent(t *testing.T) {
	s, _ := newSup(t, pendant)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := range 1000 {
			s.Observe(Frame{Kind: KindEvent, Node: pendant, Seq: uint16(i), Event: EventMotion}, t0.Add(time.Duration(i)*time.Second))
		}
	}()
	go func() {
		defer wg.Done()
		for range 1000 {
			s.Overdue()
			s.LowBattery()
		}
	}()
	wg.Wait()
	if n, _ := s.Node(pendant); n.Delivered != 1000 {
		t.Fatalf("delivered %d", n.Delivered)
	}
}
