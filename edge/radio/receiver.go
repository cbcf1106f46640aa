package radio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sync/atomic"
	"time"

	"github.com/shouwang-care/shouwang/firmware-protocol/event"
	"github.com/shouwang-care/shouwang/firmware-protocol/sensornode"
)

const (
	// RecoveredPrefix starts the Detail of a Fault event that ends an
	// earlier fault of the same sensor; the rules clear the episode on it.
	RecoveredPrefix = "recovered:"

	// LowBatteryPrefix starts the Detail of a maintenance (low battery) fault.
	LowBatteryPrefix = "low battery:"

	// MaintenancePrefix is put in front of a node's sensor name for its
	// battery faults. A low battery is not a broken sensor: under the node's
	// own name it would share the rules' fault episode with a missed check-in
	// (one's recovery clearing the other), and for a PIR it would make the
	// rules treat the PIR as faulty and silence no-motion alarms for the
	// weeks a low battery still lasts.
	MaintenancePrefix = "battery."

	// PortSensor names the radio port itself in Fault events.
	PortSensor = "radio"

	// SuperviseEvery is how often Run looks for overdue nodes; check-in
	// periods are minutes to hours, so a minute is plenty.
	SuperviseEvery = time.Minute

	maxBackoff = 30 * time.Second
	// stableAfter: a port that served this long before failing is reopened
	// at once and with the backoff reset.
	stableAfter = time.Minute
	// portFaultAfter consecutive failed opens raise a Fault on PortSensor
	// (about 8 s of backoff): without the port no SOS can arrive, which must
	// not wait for every node to miss its check-in.
	portFaultAfter = 5
)

// MaintenanceSensor is the sensor name of a node's battery faults.
func MaintenanceSensor(sensor string) string { return MaintenancePrefix + sensor }

// Receiver owns the radio port: it decodes frames, ACKs enrolled nodes,
// emits their events and supervises them.
type Receiver struct {
	cfg   Config
	open  Opener
	now   func() time.Time
	log   *slog.Logger
	sup   *sensornode.Supervisor
	nodes map[sensornode.NodeID]*node

	// Tunables for tests; New sets the production values.
	superviseEvery time.Duration
	minBackoff     time.Duration
	portFaultAfter int

	running atomic.Bool
	stats   stats

	// State below is touched only by the goroutine in Run.
	portFaulted  bool
	openFailures int // consecutive
}

type node struct {
	cfg     NodeConfig
	id      sensornode.NodeID
	overdue bool // a missed-check-in fault is open
	lowBatt bool // a low-battery fault is open
}

// New checks cfg and enrols its nodes. open nil means OpenSerial; now nil
// means time.Now (it stamps events and drives supervision); log nil discards.
func New(cfg Config, open Opener, now func() time.Time, log *slog.Logger) (*Receiver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Baud == 0 {
		cfg.Baud = DefaultBaud
	}
	if cfg.LowBattery == 0 {
		cfg.LowBattery = sensornode.DefaultLowBattery
	}
	if open == nil {
		open = OpenSerial
	}
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	sup, err := sensornode.NewSupervisor(sensornode.SupervisorConfig{
		CheckIn: DefaultCheckIn, LowBattery: uint8(cfg.LowBattery), Now: now,
	})
	if err != nil {
		return nil, fmt.Errorf("radio: %w", err)
	}
	cfg.Nodes = slices.Clone(cfg.Nodes) // defaults go in our copy, not the caller's
	r := &Receiver{
		cfg: cfg, open: open, now: now, log: log.With("port", cfg.Port), sup: sup,
		nodes:          make(map[sensornode.NodeID]*node, len(cfg.Nodes)),
		superviseEvery: SuperviseEvery, minBackoff: 250 * time.Millisecond, portFaultAfter: portFaultAfter,
	}
	for i := range r.cfg.Nodes {
		nc := &r.cfg.Nodes[i]
		id, _ := ParseNodeID(nc.ID) // Validate checked it
		if nc.CheckIn == 0 {
			nc.CheckIn = DefaultCheckIn
		}
		if err := sup.Enroll(id, nc.CheckIn); err != nil {
			return nil, fmt.Errorf("radio.nodes[%d]: %w", i, err)
		}
		r.nodes[id] = &node{cfg: *nc, id: id}
	}
	return r, nil
}

// Config returns the configuration in use, defaults applied.
func (r *Receiver) Config() Config { return r.cfg }

// Run reads the port until ctx is done and returns nil then; out is never
// closed. It opens the port itself and reopens it with backoff whenever it
// fails, and checks supervision every SuperviseEvery, port or no port. Run
// must not be called again while it is running.
func (r *Receiver) Run(ctx context.Context, out chan<- event.Event) error {
	if !r.running.CompareAndSwap(false, true) {
		return errors.New("radio " + r.cfg.Port + ": already running")
	}
	defer r.running.Store(false)

	tick := time.NewTicker(r.superviseEvery)
	defer tick.Stop()
	var wait time.Duration
	for ctx.Err() == nil {
		p, err := r.open(PortConfig{Path: r.cfg.Port, Baud: r.cfg.Baud, ReadTimeout: DefaultReadTimeout})
		if err != nil {
			if _, serr := os.Stat(r.cfg.Port); errors.Is(serr, os.ErrNotExist) {
				err = fmt.Errorf("%s is gone (USB adapter unplugged?): %w", r.cfg.Port, err)
			}
			r.stats.openFailures.Add(1)
			r.openFailures++
			wait = min(max(2*wait, r.minBackoff), maxBackoff)
			r.log.Warn("cannot open radio port", "err", err, "retry_in", wait)
			if r.openFailures == r.portFaultAfter && !r.portFaulted {
				r.portFaulted = true
				if r.fault(ctx, out, PortSensor, fmt.Sprintf("radio port %s unavailable after %d attempts: %v",
					r.cfg.Port, r.openFailures, err)) != nil {
					return nil
				}
			}
			if r.idle(ctx, wait, tick.C, out) != nil {
				return nil
			}
			continue
		}
		r.stats.opens.Add(1)
		r.log.Info("radio port open", "baud", r.cfg.Baud)
		if r.portFaulted {
			r.portFaulted = false
			if r.fault(ctx, out, PortSensor, fmt.Sprintf("%s radio port %s open again after %d failed attempts",
				RecoveredPrefix, r.cfg.Port, r.openFailures)) != nil {
				p.Close()
				return nil
			}
		}
		r.openFailures = 0
		opened := time.Now()
		err = r.serve(ctx, p, tick.C, out)
		if cerr := p.Close(); cerr != nil {
			r.log.Debug("close radio port", "err", cerr)
		}
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(opened) >= stableAfter {
			wait = 0 // it worked for a while: reopen at once
		} else {
			// A port that opens but fails at once must not make this a busy loop.
			wait = min(max(2*wait, r.minBackoff), maxBackoff)
		}
		r.log.Warn("radio port failed, reopening", "err", err, "retry_in", wait)
		if r.idle(ctx, wait, tick.C, out) != nil {
			return nil
		}
	}
	return nil
}

// idle waits d before the next open attempt, supervising meanwhile: a dead
// port is exactly when silent nodes must still be reported.
func (r *Receiver) idle(ctx context.Context, d time.Duration, tick <-chan time.Time, out chan<- event.Event) error {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			return nil
		case <-tick:
			if err := r.supervise(ctx, out); err != nil {
				return err
			}
		}
	}
}

// A read that ends at once with end-of-file, again and again, is not a quiet line
// (that takes the read timeout): the tty was hung up, as when a USB adapter is
// unplugged or a pty's other end closes, and every read now returns nothing at
// once. Left alone the loop would spin and never reopen the port.
const (
	instantRead = 2 * time.Millisecond
	hungUpAfter = 20 // instant end-of-files in a row
)

var errHungUp = errors.New("the line was hung up (unplugged?): every read ends at once with nothing")

// serve handles frames from an open port until it fails or ctx is done. It
// returns the port error.
func (r *Receiver) serve(ctx context.Context, p Port, tick <-chan time.Time, out chan<- event.Event) error {
	dec := sensornode.NewDecoder(p)
	base := r.stats.skipped.Load() // the count survives reopening
	var ack []byte
	instantEOFs := 0
	for {
		// Next returns at least once per read timeout, so this loop sees
		// both the context and the supervision tick within ~100 ms.
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick:
			if err := r.supervise(ctx, out); err != nil {
				return err
			}
		default:
		}
		began := time.Now() // real time, whatever r.now says: this times the read itself
		f, err := dec.Next()
		at := r.now()
		r.stats.skipped.Store(base + uint64(dec.Skipped()))
		var fe *sensornode.FrameError
		switch {
		case err == nil:
		case errors.As(err, &fe):
			// Noise that looked like a frame; the decoder already skipped it.
			instantEOFs = 0 // bytes arrived: the line is up
			r.stats.rejected.Add(1)
			r.log.Debug("radio frame rejected", "err", err)
			continue
		case errors.Is(err, io.EOF):
			if time.Since(began) >= instantRead {
				instantEOFs = 0
				continue // read timeout: quiet line, nothing lost
			}
			if instantEOFs++; instantEOFs >= hungUpAfter {
				return fmt.Errorf("read radio port: %w", errHungUp)
			}
			continue
		default:
			return fmt.Errorf("read radio port: %w", err)
		}
		instantEOFs = 0
		r.stats.frames.Add(1)
		v := r.sup.Observe(f, at)
		switch v.Status {
		case sensornode.Ignored:
			continue // e.g. a neighbouring gateway's ACK
		case sensornode.Unenrolled:
			r.stats.unenrolled.Add(1)
			r.log.Debug("radio frame from a node not enrolled here (a neighbour's?)", "frame", f.String())
			continue
		}
		var werr error
		if v.Status.Ack() {
			// ACK before anything else: the node is waiting (T_ackdelay ≤ 100 ms)
			// and emitting may block on a slow consumer.
			ack = sensornode.AppendAck(ack[:0], f.Node, f.Seq)
			if _, err := p.Write(ack); err != nil {
				werr = fmt.Errorf("send ACK to node %s seq %d: %w", f.Node, f.Seq, err)
			} else {
				r.stats.acks.Add(1)
			}
		}
		// Act on the frame even if the ACK failed: the Supervisor has
		// recorded it, so its retransmission will count as a duplicate.
		if err := r.handle(ctx, out, f, v, at); err != nil {
			return err
		}
		if werr != nil {
			return werr
		}
	}
}

// handle turns an ACKed frame of an enrolled node into events.
func (r *Receiver) handle(ctx context.Context, out chan<- event.Event, f sensornode.Frame, v sensornode.Verdict, at time.Time) error {
	n := r.nodes[f.Node]
	r.stats.gaps.Add(uint64(v.Gap))
	if v.Restarted {
		r.stats.restarts.Add(1)
	}
	if v.Gap > 0 || v.Restarted {
		r.log.Info("radio node sequence", "node", f.Node, "sensor", n.cfg.Sensor, "lost_frames", v.Gap, "restarted", v.Restarted)
	}
	// Any valid frame proves the node alive, a duplicate included.
	if n.overdue {
		n.overdue = false
		if err := r.fault(ctx, out, n.cfg.Sensor, fmt.Sprintf("%s node %s heard again (%s)", RecoveredPrefix, f.Node, f.Event)); err != nil {
			return err
		}
		r.log.Info("radio node heard again", "node", f.Node, "sensor", n.cfg.Sensor)
	}
	if v.Status == sensornode.Duplicate {
		r.stats.duplicates.Add(1)
		return nil
	}
	if ev, ok := r.event(n, f, at); ok {
		r.stats.delivered.Add(1)
		if err := r.emit(ctx, out, ev); err != nil {
			return err
		}
	}
	return r.battery(ctx, out, n, f, v)
}

// event maps a node event to the rules' event model.
func (r *Receiver) event(n *node, f sensornode.Frame, at time.Time) (event.Event, bool) {
	ev := event.Event{T: at, Sensor: n.cfg.Sensor}
	switch {
	case f.Event == sensornode.EventMotion:
		ev.Kind = event.Motion
	case f.Event == sensornode.EventDoorOpen, f.Event == sensornode.EventDoorClose:
		ev.Kind, ev.Open = event.Door, event.Bool(f.Event == sensornode.EventDoorOpen)
	case f.Event == sensornode.EventImOK:
		ev.Kind, ev.Press = event.Button, event.PressLong
	case f.Event.Alarm():
		// SOS, fall and alarm codes newer than this build (spec §5: deliver
		// by class) all raise the SOS alarm; Detail says which, so the
		// alert's evidence can tell a fall from a press.
		ev.Kind, ev.Press = event.Button, event.PressShort
		if f.Event != sensornode.EventSOS {
			ev.Detail = f.Event.String()
		}
	default:
		// Check-ins (supervision only) and activity codes newer than this
		// build, for which there is no resident event to map to.
		if f.Event&0xF0 != 0x20 {
			r.log.Info("radio event code not understood, not forwarded", "node", f.Node, "sensor", n.cfg.Sensor, "frame", f.String())
		}
		return event.Event{}, false
	}
	return ev, true
}

// battery raises a maintenance fault once per low-battery episode and clears
// it after a battery swap (the Supervisor applies the hysteresis).
func (r *Receiver) battery(ctx context.Context, out chan<- event.Event, n *node, f sensornode.Frame, v sensornode.Verdict) error {
	level := "level unknown"
	if f.BatteryKnown() {
		level = fmt.Sprintf("%d%%", f.Battery)
	}
	if v.BatteryLow && !n.lowBatt {
		n.lowBatt = true
		why := fmt.Sprintf("at or below %d%%", r.cfg.LowBattery)
		if f.Flags&sensornode.FlagLowBattery != 0 {
			why = "node reports under 30 days left"
		}
		r.log.Warn("radio node battery low", "node", f.Node, "sensor", n.cfg.Sensor, "battery", level)
		return r.fault(ctx, out, MaintenanceSensor(n.cfg.Sensor),
			fmt.Sprintf("%s node %s (%s) battery %s, %s: replace it", LowBatteryPrefix, f.Node, n.cfg.Sensor, level, why))
	}
	if n.lowBatt {
		if st, ok := r.sup.Node(f.Node); ok && !st.LowBattery {
			n.lowBatt = false
			return r.fault(ctx, out, MaintenanceSensor(n.cfg.Sensor),
				fmt.Sprintf("%s %s node %s (%s) battery %s", RecoveredPrefix, LowBatteryPrefix, f.Node, n.cfg.Sensor, level))
		}
	}
	return nil
}

// supervise raises a fault for each node that newly missed its check-in.
func (r *Receiver) supervise(ctx context.Context, out chan<- event.Event) error {
	for _, st := range r.sup.Overdue() {
		n := r.nodes[st.ID]
		if n == nil || n.overdue {
			continue
		}
		n.overdue = true
		last := "never heard since enrolment at " + st.Enrolled.Format(time.RFC3339)
		if !st.LastSeen.IsZero() {
			last = "last seen " + st.LastSeen.Format(time.RFC3339)
		}
		r.log.Warn("radio node missed its check-in", "node", st.ID, "sensor", n.cfg.Sensor, "check_in", st.CheckIn, "last_seen", st.LastSeen)
		if err := r.fault(ctx, out, n.cfg.Sensor, fmt.Sprintf("node %s missed its check-in (every %v), %s",
			st.ID, st.CheckIn, last)); err != nil {
			return err
		}
	}
	return nil
}

func (r *Receiver) fault(ctx context.Context, out chan<- event.Event, sensor, detail string) error {
	r.stats.faults.Add(1)
	return r.emit(ctx, out, event.Event{T: r.now(), Sensor: sensor, Kind: event.Fault, Detail: detail})
}

func (r *Receiver) emit(ctx context.Context, out chan<- event.Event, ev event.Event) error {
	select {
	case out <- ev:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stats counts what the receiver saw since New, for metrics.
type Stats struct {
	Frames       uint64 // valid frames decoded, any node
	Rejected     uint64 // frame candidates rejected (bad CRC, unknown version or kind)
	Skipped      uint64 // bytes that were not part of a valid frame
	Delivered    uint64 // resident events emitted
	Duplicates   uint64 // repeats of delivered frames (ACKed again, not acted on)
	Gaps         uint64 // sequence numbers lost on air, summed over nodes
	Restarts     uint64 // node sequence restarts (reboots)
	Unenrolled   uint64 // frames from nodes not enrolled here, not ACKed
	Acks         uint64 // ACK frames sent
	Faults       uint64 // fault and recovery events emitted
	Opens        uint64 // successful port opens
	OpenFailures uint64
}

type stats struct {
	frames, rejected, skipped, delivered, duplicates, gaps, restarts,
	unenrolled, acks, faults, opens, openFailures atomic.Uint64
}

// Stats returns a snapshot; safe to call while Run runs.
func (r *Receiver) Stats() Stats {
	s := &r.stats
	return Stats{
		Frames: s.frames.Load(), Rejected: s.rejected.Load(), Skipped: s.skipped.Load(),
		Delivered: s.delivered.Load(), Duplicates: s.duplicates.Load(), Gaps: s.gaps.Load(),
		Restarts: s.restarts.Load(), Unenrolled: s.unenrolled.Load(), Acks: s.acks.Load(),
		Faults: s.faults.Load(), Opens: s.opens.Load(), OpenFailures: s.openFailures.Load(),
	}
}

// Nodes returns what the supervisor knows about each enrolled node, for
// status pages and metrics (battery, last seen, lost frames).
func (r *Receiver) Nodes() []sensornode.NodeState {
	var out []sensornode.NodeState
	for _, nc := range r.cfg.Nodes {
		id, _ := ParseNodeID(nc.ID)
		if st, ok := r.sup.Node(id); ok {
			out = append(out, st)
		}
	}
	return out
}
