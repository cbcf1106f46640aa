// Package meterbus polls smart water and electricity meters on RS-485 / M-Bus
// lines (DL/T 645-2007, CJ/T 188-2004) and turns their counters into the
// cumulative Meter events the rules consume, plus Fault events when a meter
// stops answering, goes backwards or leaps. One goroutine owns each line,
// because the bus is half-duplex: a second master would talk over the first.
// See firmware-protocol/docs/meterbus.md for wiring, timing and failure handling.
package meterbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/shouwang-care/shouwang/firmware-protocol/cjt188"
	"github.com/shouwang-care/shouwang/firmware-protocol/dlt645"
	"github.com/shouwang-care/shouwang/firmware-protocol/event"
)

// RecoveredPrefix starts the Detail of the Fault event sent when a meter that
// was reported as not answering answers again.
const RecoveredPrefix = "recovered:"

// Bus polls the meters of one serial line. Create it with NewBus; Run owns the
// port for its whole life.
type Bus struct {
	cfg  BusConfig
	open Opener
	log  *slog.Logger
	// Clock stamps events and measures use rates; nil is time.Now. The simulated
	// home sets its fast clock here (polling itself always runs on real time).
	Clock func() time.Time

	running atomic.Bool
	stats   stats

	// Owned by the goroutine in Run.
	port     Port
	rd       *frameReader
	openAt   time.Time // earliest next open attempt while port is nil
	openWait time.Duration
	openErr  error
	lastIO   time.Time
	failRun  int // failed polls in a row, any meter
	meters   []*meter
	req      []byte
}

type meter struct {
	cfg     MeterConfig
	id      meterID
	addr    string // nameplate digits, for logs and events
	next    time.Time
	failed  int // polls in a row without a usable reply
	faulted bool
	tot     totalizer
	ser     uint8
}

// meterError: the meter answered, but not with a usable reading (an abnormal
// reply, an unexpected unit). Retrying will not help and the line is fine.
type meterError struct{ msg string }

func (e *meterError) Error() string { return e.msg }

// NewBus validates cfg and applies defaults. A nil open means OpenSerial; a nil
// log means slog.Default().
func NewBus(cfg BusConfig, open Opener, log *slog.Logger) (*Bus, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("meter bus config: %w", err)
	}
	cfg = cfg.WithDefaults()
	if open == nil {
		open = OpenSerial
	}
	if log == nil {
		log = slog.Default()
	}
	b := &Bus{cfg: cfg, open: open, log: log.With("port", cfg.Port)}
	for _, mc := range cfg.Meters {
		id, err := mc.resolve()
		if err != nil { // Validate already resolved it
			return nil, fmt.Errorf("meter bus config: %w", err)
		}
		b.meters = append(b.meters, &meter{
			cfg: mc, id: id, addr: id.addrString(),
			tot: totalizer{maxPerHour: mc.MaxPerHour},
		})
	}
	return b, nil
}

// Config returns the configuration in use, defaults applied.
func (b *Bus) Config() BusConfig { return b.cfg }

// Run polls until ctx is done, sending Meter and Fault events to out, and
// returns nil then. It opens the port itself and reopens it, with exponential
// backoff, whenever it fails. out is never closed by Run. Run must not be
// called again while it is running.
func (b *Bus) Run(ctx context.Context, out chan<- event.Event) error {
	if !b.running.CompareAndSwap(false, true) {
		return errors.New("meter bus " + b.cfg.Port + ": already running")
	}
	defer b.running.Store(false)
	defer b.closePort("stopping")

	now := time.Now()
	for _, m := range b.meters {
		m.next = now
	}
	b.openAt = now
	for {
		m := b.meters[0]
		for _, o := range b.meters[1:] {
			if o.next.Before(m.next) {
				m = o
			}
		}
		wake := m.next
		if b.port == nil && b.openAt.Before(wake) {
			wake = b.openAt
		}
		if sleepCtx(ctx, time.Until(wake)) != nil {
			return nil
		}
		if b.port == nil && !time.Now().Before(b.openAt) {
			b.tryOpen()
		}
		if time.Now().Before(m.next) {
			continue
		}
		if b.poll(ctx, m, out) != nil {
			return nil
		}
		// Skip slots missed while the line was busy rather than catch up in a burst.
		m.next = m.next.Add(m.cfg.Interval)
		if now := time.Now(); m.next.Before(now) {
			m.next = now
		}
	}
}

// poll reads one meter and emits what follows from it; it only fails when ctx is done.
func (b *Bus) poll(ctx context.Context, m *meter, out chan<- event.Event) error {
	b.stats.polls.Add(1)
	raw, wrap, err := b.read(ctx, m)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	now := time.Now()
	if b.Clock != nil {
		now = b.Clock()
	}
	if err != nil {
		b.stats.failures.Add(1)
		m.failed++
		var me *meterError
		if !errors.As(err, &me) {
			b.failRun++
		}
		b.log.Warn("meter poll failed", "meter", m.addr, "sensor", m.cfg.Sensor,
			"protocol", m.id.protocol, "failed_polls", m.failed, "err", err)
		if m.failed == b.cfg.FaultAfter && !m.faulted {
			m.faulted = true
			b.stats.faults.Add(1)
			verb := "not answering"
			if me != nil {
				verb = "failing"
			}
			if err := b.emit(ctx, out, event.Event{T: now, Sensor: m.cfg.Sensor, Kind: event.Fault,
				Detail: fmt.Sprintf("meter %s %s after %d polls (last: %v)", m.addr, verb, m.failed, err)}); err != nil {
				return err
			}
		}
		if b.port != nil && b.failRun >= b.cfg.ReopenAfter {
			// A USB adapter that was unplugged and replugged can leave an fd
			// that neither errors nor delivers: start over from the path.
			b.closePort(fmt.Sprintf("%d polls in a row failed", b.failRun))
			b.openAt = time.Now()
		}
		return nil
	}
	b.failRun = 0
	if m.faulted {
		if err := b.emit(ctx, out, event.Event{T: now, Sensor: m.cfg.Sensor, Kind: event.Fault,
			Detail: fmt.Sprintf("%s meter %s answering again after %d failed polls", RecoveredPrefix, m.addr, m.failed)}); err != nil {
			return err
		}
		b.log.Info("meter answering again", "meter", m.addr, "sensor", m.cfg.Sensor, "failed_polls", m.failed)
	}
	m.failed, m.faulted = 0, false

	total, an, detail := m.tot.update(raw, wrap, now)
	switch an {
	case anomalyWrapped:
		b.stats.wraps.Add(1)
		b.log.Info("meter counter wrapped", "meter", m.addr, "sensor", m.cfg.Sensor, "detail", detail)
	case anomalyBackwards, anomalyJump:
		if an == anomalyBackwards {
			b.stats.backwards.Add(1)
		} else {
			b.stats.jumps.Add(1)
		}
		b.log.Warn("meter reading rejected as use", "meter", m.addr, "sensor", m.cfg.Sensor, "detail", detail)
		if err := b.emit(ctx, out, event.Event{T: now, Sensor: m.cfg.Sensor, Kind: event.Fault,
			Detail: fmt.Sprintf("meter %s: %s", m.addr, detail)}); err != nil {
			return err
		}
	}
	ev := event.Event{T: now, Sensor: m.cfg.Sensor, Kind: event.Meter}
	if m.id.protocol == DLT645 {
		ev.TotalKWh = event.Float(total)
	} else {
		ev.TotalM3 = event.Float(total)
	}
	return b.emit(ctx, out, ev)
}

func (b *Bus) emit(ctx context.Context, out chan<- event.Event, ev event.Event) error {
	select {
	case out <- ev:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// read polls m with retries and returns its raw counter (kWh or m³) and the
// value at which that counter wraps.
func (b *Bus) read(ctx context.Context, m *meter) (float64, float64, error) {
	var err error
	for attempt := 0; attempt <= b.cfg.Retries; attempt++ {
		if attempt > 0 {
			b.stats.retries.Add(1)
			if err := sleepCtx(ctx, b.cfg.RetryBackoff<<(attempt-1)); err != nil {
				return 0, 0, err
			}
		}
		if b.port == nil {
			return 0, 0, fmt.Errorf("read meter %s: port unavailable: %w", m.addr, b.openErr)
		}
		var raw, wrap float64
		raw, wrap, err = b.exchange(ctx, m)
		if err == nil {
			return raw, wrap, nil
		}
		err = fmt.Errorf("read meter %s: %w", m.addr, err)
		var (
			pe *portError
			me *meterError
		)
		switch {
		case ctx.Err() != nil:
			return 0, 0, ctx.Err()
		case errors.As(err, &pe):
			b.closePort(pe.Error())
			b.openAt = time.Now()
			return 0, 0, err
		case errors.As(err, &me):
			b.stats.meterErrors.Add(1)
			return 0, 0, err
		case errors.Is(err, errGarbled):
			b.stats.garbled.Add(1)
		case errors.Is(err, errNoAnswer):
			b.stats.noAnswer.Add(1)
		}
		b.log.Debug("meter attempt failed", "meter", m.addr, "attempt", attempt+1, "err", err)
	}
	return 0, 0, err
}

// exchange sends one request and waits for the matching reply.
func (b *Bus) exchange(ctx context.Context, m *meter) (float64, float64, error) {
	// Half-duplex: the meter (or the adapter's driver-enable) needs the line
	// quiet before it can listen again.
	if err := sleepCtx(ctx, time.Until(b.lastIO.Add(b.cfg.InterFrameGap))); err != nil {
		return 0, 0, err
	}
	defer func() { b.lastIO = time.Now() }()
	if err := b.port.Flush(); err != nil {
		return 0, 0, &portError{op: "flush", err: err}
	}
	b.req = b.req[:0]
	switch m.id.protocol {
	case DLT645:
		b.req = dlt645.AppendWakeUp(b.req, b.cfg.WakeUp)
		b.req = dlt645.AppendReadRequest(b.req, m.id.dlAddr, m.id.dlDI)
	case CJT188:
		m.ser++
		b.req = cjt188.AppendWakeUp(b.req, b.cfg.WakeUp)
		b.req = cjt188.AppendReadRequest(b.req, m.id.cjType, m.id.cjAddr, cjt188.DIMeterData, m.ser, m.id.cjOrder)
	}
	if _, err := b.port.Write(b.req); err != nil {
		return 0, 0, &portError{op: "write", err: err}
	}
	if b.rd == nil || b.rd.port != b.port || b.rd.proto != m.id.protocol {
		b.rd = newFrameReader(b.port, m.id.protocol)
	}
	b.rd.reset()
	deadline := time.Now().Add(b.cfg.ResponseTimeout)
	for {
		frame, err := b.rd.next(ctx, deadline)
		if err != nil {
			return 0, 0, err
		}
		raw, wrap, ok, err := m.interpret(frame)
		if ok || err != nil {
			return raw, wrap, err
		}
		// An echo of our request, or another meter's late reply: keep listening.
	}
}

// interpret checks whether frame is m's reply to a read and extracts the
// counter. ok=false means "not for us".
func (m *meter) interpret(frame []byte) (raw, wrap float64, ok bool, err error) {
	switch m.id.protocol {
	case DLT645:
		var f dlt645.Frame
		if _, err := dlt645.Decode(frame, &f); err != nil {
			return 0, 0, false, nil
		}
		if !f.IsReply() || f.Address != m.id.dlAddr || f.Function() != dlt645.CtrlRead&dlt645.CtrlFuncMask {
			return 0, 0, false, nil
		}
		var r dlt645.Reading
		if err := dlt645.ParseReading(&f, &r); err != nil {
			return 0, 0, true, fmt.Errorf("%w: %v", errGarbled, err)
		}
		if r.Kind == dlt645.KindError {
			return 0, 0, true, &meterError{fmt.Sprintf("meter replied with error: %v", r.Error)}
		}
		if r.DI != m.id.dlDI {
			return 0, 0, false, nil // a stale reply to another request
		}
		if r.Kind != dlt645.KindValues || r.Unit != dlt645.UnitKWh {
			return 0, 0, true, &meterError{fmt.Sprintf("DI %s is not an energy total (unit %v)", r.DI, r.Unit)}
		}
		v := r.Value()
		if !v.OK {
			return 0, 0, true, &meterError{fmt.Sprintf("meter has no value for DI %s", r.DI)}
		}
		if v.Int < 0 {
			return 0, 0, true, &meterError{fmt.Sprintf("negative energy total %v", v)}
		}
		wrap = m.cfg.Rollover
		if wrap == 0 {
			wrap = 1e6
		}
		return fixed(v.Int, int(v.Decimals)), wrap, true, nil
	case CJT188:
		var f cjt188.Frame
		if _, err := cjt188.Decode(frame, &f); err != nil {
			return 0, 0, false, nil
		}
		if !f.IsReply() || f.Address != m.id.cjAddr || f.Function() != cjt188.CtrlRead&cjt188.CtrlFuncMask {
			return 0, 0, false, nil
		}
		var r cjt188.Reading
		if err := cjt188.ParseReading(&f, &r); err != nil {
			return 0, 0, true, fmt.Errorf("%w: %v", errGarbled, err)
		}
		switch r.Kind {
		case cjt188.KindError:
			return 0, 0, true, &meterError{fmt.Sprintf("meter replied with error: ST1=%02X ST2=%02X", r.Status.ST1, r.Status.ST2)}
		case cjt188.KindMeterData:
		default:
			return 0, 0, false, nil
		}
		v := r.CurrentFlow
		if !v.OK {
			return 0, 0, true, &meterError{"meter sent no current flow"}
		}
		var exp int // decimal exponent from the meter's unit to m³
		switch r.CurrentUnit {
		case cjt188.UnitM3:
		case cjt188.UnitLitre:
			exp = 3
		default:
			return 0, 0, true, &meterError{fmt.Sprintf("current flow in %v, not a volume: is this a water meter?", r.CurrentUnit)}
		}
		if v.Int < 0 {
			return 0, 0, true, &meterError{fmt.Sprintf("negative volume %v", v)}
		}
		wrap = m.cfg.Rollover
		if wrap == 0 {
			wrap = 1e6 / math.Pow10(exp)
		}
		return fixed(v.Int, int(v.Decimals)+exp), wrap, true, nil
	}
	return 0, 0, false, nil
}

// fixed converts Int/10^dec with one rounding, so 12345 L at exp 3 is exactly
// the float nearest 12.345 m³.
func fixed(i int64, dec int) float64 { return float64(i) / math.Pow10(dec) }

// tryOpen opens the port; on failure it schedules the next attempt with
// exponential backoff.
func (b *Bus) tryOpen() {
	p, err := b.open(PortConfig{Path: b.cfg.Port, Baud: b.cfg.Baud, ReadTimeout: DefaultReadTimeout})
	if err != nil {
		b.stats.openFailures.Add(1)
		// Re-stat to tell "adapter unplugged" from "present but unusable"
		// (permissions, wrong baud): the fixes differ.
		if _, serr := os.Stat(b.cfg.Port); errors.Is(serr, os.ErrNotExist) {
			err = fmt.Errorf("%s is gone (USB adapter unplugged?): %w", b.cfg.Port, err)
		}
		b.openErr = err
		switch {
		case b.openWait == 0:
			b.openWait = 250 * time.Millisecond
		default:
			b.openWait = min(2*b.openWait, b.cfg.ReopenMax)
		}
		b.openAt = time.Now().Add(b.openWait)
		b.log.Warn("cannot open meter port", "err", err, "retry_in", b.openWait)
		return
	}
	b.port, b.openErr, b.openWait, b.failRun = p, nil, 0, 0
	dev, _ := filepath.EvalSymlinks(b.cfg.Port)
	b.log.Info("meter port open", "device", dev, "baud", b.cfg.Baud)
}

func (b *Bus) closePort(why string) {
	if b.port == nil {
		return
	}
	b.stats.reopens.Add(1)
	if err := b.port.Close(); err != nil {
		b.log.Debug("close meter port", "err", err)
	}
	b.port, b.rd = nil, nil
	b.openErr = errors.New(why)
	b.log.Warn("meter port closed", "reason", why)
}

// Stats counts what happened on a bus since NewBus, for metrics.
type Stats struct {
	Polls        uint64 // polls started
	Failures     uint64 // polls that ended without a reading
	Retries      uint64 // extra attempts
	NoAnswer     uint64 // attempts that timed out
	Garbled      uint64 // attempts that got a corrupt reply
	MeterErrors  uint64 // abnormal or unusable replies
	Closes       uint64 // times the port was closed to be reopened (or at stop)
	OpenFailures uint64
	Faults       uint64 // "not answering" fault events
	Wraps        uint64 // counter rollovers absorbed
	Backwards    uint64 // readings lower than before (meter replaced/reset)
	Jumps        uint64 // implausible leaps not counted as use
}

type stats struct {
	polls, failures, retries, noAnswer, garbled, meterErrors, reopens,
	openFailures, faults, wraps, backwards, jumps atomic.Uint64
}

// Stats returns a snapshot; safe to call while Run runs.
func (b *Bus) Stats() Stats {
	s := &b.stats
	return Stats{
		Polls: s.polls.Load(), Failures: s.failures.Load(), Retries: s.retries.Load(),
		NoAnswer: s.noAnswer.Load(), Garbled: s.garbled.Load(), MeterErrors: s.meterErrors.Load(),
		Closes: s.reopens.Load(), OpenFailures: s.openFailures.Load(), Faults: s.faults.Load(),
		Wraps: s.wraps.Load(), Backwards: s.backwards.Load(), Jumps: s.jumps.Load(),
	}
}
