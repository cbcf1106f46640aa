package sensornode

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Supervision defaults; see the spec's timing section.
const (
	MaxCheckIn        = 24 * time.Hour   // nodes check in at least this often
	DefaultGrace      = time.Hour        // slack before a silent node is a fault
	DefaultDupWindow  = 15 * time.Minute // well above the 120 s longest retransmit gap
	DefaultLowBattery = 20               // percent at or below which a node needs new batteries

	// Battery must climb this far above the threshold before a low node is
	// considered fixed, so a cell that reads 19/21 % between a cold morning
	// and a warm afternoon does not raise a maintenance event every day.
	batteryHysteresis = 10

	window = 64 // sequence numbers remembered per node for duplicate detection
)

// SupervisorConfig tunes a Supervisor. Zero fields take the defaults.
type SupervisorConfig struct {
	CheckIn    time.Duration    // default expected check-in period, at most MaxCheckIn
	Grace      time.Duration    // silence beyond CheckIn before a node is overdue
	DupWindow  time.Duration    // a repeated seq after this much silence is a restart, not a duplicate
	LowBattery uint8            // percent threshold
	Now        func() time.Time // clock for Overdue; time.Now if nil
}

// Status classifies an observed frame.
type Status uint8

const (
	Delivered  Status = iota // new event: act on it and ACK it
	Duplicate                // already delivered: ACK again (our ACK was lost), do not act
	Unenrolled               // not one of ours: do not ACK, or a neighbour's alarm could be silenced
	Ignored                  // not an event frame, e.g. another edge's ACK
)

func (s Status) String() string {
	switch s {
	case Delivered:
		return "delivered"
	case Duplicate:
		return "duplicate"
	case Unenrolled:
		return "unenrolled"
	case Ignored:
		return "ignored"
	}
	return fmt.Sprintf("status(%d)", uint8(s))
}

// Ack reports whether the edge should send an ACK for the frame.
func (s Status) Ack() bool { return s == Delivered || s == Duplicate }

// Verdict is the Supervisor's judgement of one frame.
type Verdict struct {
	Status Status
	// Gap is how many sequence numbers are missing right before this frame.
	Gap int
	// Restarted: the node's sequence started over (boot flag, or a jump
	// back that cannot be a retransmission). Not a duplicate.
	Restarted bool
	// BatteryLow: this frame put the node into the low-battery state.
	// It is set once per episode, so it can raise one maintenance event.
	BatteryLow bool
}

// NodeState is a snapshot of what the Supervisor knows about a node.
type NodeState struct {
	ID         NodeID
	CheckIn    time.Duration // expected check-in period
	Enrolled   time.Time
	LastSeen   time.Time // receive time of the latest frame; zero if none yet
	Due        time.Time // overdue after this instant
	LastSeq    uint16    // highest sequence number of the current boot
	Battery    uint8     // last reported, BatteryUnknown if never
	LowBattery bool

	Delivered  uint64 // frames delivered
	Duplicates uint64 // frames recognised as repeats
	Missed     uint64 // sequence numbers skipped and not filled in later
	Restarts   uint64
}

// Supervisor tracks enrolled nodes: it de-duplicates their frames, counts
// sequence gaps, and reports nodes that have gone silent or need batteries.
// It is safe for concurrent use: typically the serial reader calls Observe
// while a ticker calls Overdue.
type Supervisor struct {
	mu    sync.Mutex
	cfg   SupervisorConfig
	nodes map[NodeID]*nodeState
}

type nodeState struct {
	NodeState
	has       bool      // a frame has been received since enrolment
	bootEpoch bool      // sequence was last restarted by a boot-flagged frame still unACKed
	seen      uint64    // bit i set: seq LastSeq-i received
	events    [64]Event // event of each remembered seq, indexed seq%64
}

// NewSupervisor returns a Supervisor with no enrolled nodes.
func NewSupervisor(cfg SupervisorConfig) (*Supervisor, error) {
	if cfg.CheckIn == 0 {
		cfg.CheckIn = MaxCheckIn
	}
	if cfg.Grace == 0 {
		cfg.Grace = DefaultGrace
	}
	if cfg.DupWindow == 0 {
		cfg.DupWindow = DefaultDupWindow
	}
	if cfg.LowBattery == 0 {
		cfg.LowBattery = DefaultLowBattery
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if err := checkInterval(cfg.CheckIn); err != nil {
		return nil, err
	}
	if cfg.Grace < 0 || cfg.DupWindow < 0 {
		return nil, errors.New("sensornode: supervisor: negative Grace or DupWindow")
	}
	if cfg.LowBattery > 100 {
		return nil, fmt.Errorf("sensornode: supervisor: LowBattery %d%% above 100", cfg.LowBattery)
	}
	return &Supervisor{cfg: cfg, nodes: make(map[NodeID]*nodeState)}, nil
}

func checkInterval(d time.Duration) error {
	if d <= 0 || d > MaxCheckIn {
		return fmt.Errorf("sensornode: supervisor: check-in period %v outside (0, %v]", d, MaxCheckIn)
	}
	return nil
}

// Enroll adds a node (or changes an enrolled node's period) with the given
// check-in period; 0 means the configured default. A node that never
// speaks becomes overdue one period plus grace after enrolment.
func (s *Supervisor) Enroll(id NodeID, checkIn time.Duration) error {
	if checkIn == 0 {
		checkIn = s.cfg.CheckIn
	}
	if err := checkInterval(checkIn); err != nil {
		return fmt.Errorf("enroll node %s: %w", id, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if n, ok := s.nodes[id]; ok {
		n.CheckIn = checkIn
		return nil
	}
	s.nodes[id] = &nodeState{NodeState: NodeState{
		ID: id, CheckIn: checkIn, Enrolled: s.cfg.Now(), Battery: BatteryUnknown,
	}}
	return nil
}

// Remove forgets a decommissioned node so it is not reported overdue.
func (s *Supervisor) Remove(id NodeID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.nodes, id)
}

// Observe judges a decoded frame received at the given time. The receive
// time comes from the caller, who stamps frames as they come off the port.
func (s *Supervisor) Observe(f Frame, at time.Time) Verdict {
	if f.Kind != KindEvent {
		return Verdict{Status: Ignored}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.nodes[f.Node]
	if !ok {
		return Verdict{Status: Unenrolled}
	}
	v := Verdict{Status: Delivered}
	boot := f.Flags&FlagBoot != 0
	stale := at.Sub(n.LastSeen) > s.cfg.DupWindow
	switch d := int16(f.Seq - n.LastSeq); {
	case !n.has:
		n.restart(f)
		v.Restarted = boot
	case boot && (!n.bootEpoch || stale):
		// A new boot. Boot frames of the current, still unACKed boot
		// fall through to the sequence checks so their retransmissions
		// are recognised.
		n.restart(f)
		v.Restarted = true
	case d > 0:
		v.Gap = int(d) - 1
		n.Missed += uint64(v.Gap)
		if d >= window {
			n.seen = 0
		} else {
			n.seen <<= uint(d)
		}
		n.mark(f)
	case d > -window && n.seen&(1<<uint(-d)) != 0:
		// Retransmissions are byte-identical, so a different event under a
		// seen seq means the node restarted without saying so.
		if stale || n.events[f.Seq%window] != f.Event {
			n.restart(f)
			v.Restarted = true
		} else {
			v.Status = Duplicate
		}
	case d > -window:
		// A late frame, e.g. a retransmitted fall overtaken by a newer
		// SOS: new to us, so deliver it.
		n.seen |= 1 << uint(-d)
		n.events[f.Seq%window] = f.Event
		if n.Missed > 0 {
			n.Missed--
		}
	default:
		// Too far back to be a retransmission: the node restarted and its
		// boot frames were lost.
		n.restart(f)
		v.Restarted = true
	}
	if !boot {
		n.bootEpoch = false // the node got an ACK since booting
	}
	if v.Restarted {
		n.Restarts++
	}
	if v.Status == Duplicate {
		n.Duplicates++
	} else {
		n.Delivered++
	}
	if !at.Before(n.LastSeen) {
		n.LastSeen = at
		if v.Status == Delivered {
			v.BatteryLow = s.battery(n, f)
		}
	}
	return v
}

// restart begins a new sequence at f.
func (n *nodeState) restart(f Frame) {
	n.has = true
	n.bootEpoch = f.Flags&FlagBoot != 0
	n.seen = 0
	n.mark(f)
}

// mark records f as the newest frame.
func (n *nodeState) mark(f Frame) {
	n.LastSeq = f.Seq
	n.seen |= 1
	n.events[f.Seq%window] = f.Event
}

// battery updates the node's battery state and reports a transition to low.
func (s *Supervisor) battery(n *nodeState, f Frame) bool {
	n.Battery = f.Battery
	if !f.BatteryKnown() {
		n.Battery = BatteryUnknown
	}
	flag := f.Flags&FlagLowBattery != 0
	known := f.BatteryKnown()
	if !n.LowBattery {
		n.LowBattery = flag || known && f.Battery <= s.cfg.LowBattery
		return n.LowBattery
	}
	if !flag && (!known || int(f.Battery) > int(s.cfg.LowBattery)+batteryHysteresis) {
		n.LowBattery = false
	}
	return false
}

// Overdue returns the nodes, by ID, that have been silent for longer than
// their check-in period plus grace: each is a device fault (dead battery,
// out of range, removed, broken).
func (s *Supervisor) Overdue() []NodeState {
	now := s.cfg.Now()
	return s.collect(func(n *nodeState) bool { return now.After(n.Due) })
}

// LowBattery returns the nodes, by ID, that need new batteries.
func (s *Supervisor) LowBattery() []NodeState {
	return s.collect(func(n *nodeState) bool { return n.LowBattery })
}

// Node returns the state of one enrolled node.
func (s *Supervisor) Node(id NodeID) (NodeState, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.nodes[id]
	if !ok {
		return NodeState{}, false
	}
	return s.snapshot(n), true
}

func (s *Supervisor) collect(keep func(*nodeState) bool) []NodeState {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []NodeState
	for _, n := range s.nodes {
		n.Due = s.due(n)
		if keep(n) {
			out = append(out, n.NodeState)
		}
	}
	slices.SortFunc(out, func(a, b NodeState) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

func (s *Supervisor) snapshot(n *nodeState) NodeState {
	n.Due = s.due(n)
	return n.NodeState
}

func (s *Supervisor) due(n *nodeState) time.Time {
	base := n.Enrolled
	if n.LastSeen.After(base) {
		base = n.LastSeen
	}
	return base.Add(n.CheckIn + s.cfg.Grace)
}
