// Package metersim simulates DL/T 645 electricity meters and CJ/T 188 water
// meters on a serial line, answering requests with the real codecs' reply
// encoders. The simulated home and the meterbus tests run it on one end of a pty
// pair while the daemon polls the other end, so every byte goes through the same
// code as with real meters. Faults (silence, noise, bad checksums, slow or
// partial answers) can be injected per meter.
package metersim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/shouwang-care/shouwang/firmware-protocol/cjt188"
	"github.com/shouwang-care/shouwang/firmware-protocol/dlt645"
)

// Protocol names, as in the meterbus configuration.
const (
	DLT645 = "dlt645"
	CJT188 = "cjt188"
)

// counterMod is where a XXXXXX.XX display counter wraps, in hundredths.
const counterMod = 100_000_000

// Spec describes one simulated meter.
type Spec struct {
	Protocol string // DLT645 or CJT188
	Address  string // nameplate digits
	// Total is the starting cumulative reading: kWh for DL/T 645, m³ for CJ/T 188.
	Total float64
	// Litres makes a CJ/T 188 meter report in litres (unit 0x29) instead of m³
	// (0x2C); many domestic meters do, which is why the bus converts.
	Litres bool
	// Type is the CJ/T 188 meter type (default cold water, 0x10).
	Type cjt188.MeterType
}

// Faults are injected into a meter's replies. With Times > 0 they apply to the
// next Times requests addressed to the meter and then clear themselves, which
// keeps tests deterministic ("corrupt one reply, then behave").
type Faults struct {
	Silent          bool          // do not answer at all
	NoiseBefore     int           // random bytes sent before the reply
	NoiseAfter      int           // random bytes sent after the reply
	CorruptChecksum bool          // flip the checksum byte
	Delay           time.Duration // wait before answering
	Partial         bool          // send only the first half of the frame
	Times           int           // 0: until changed
}

type simMeter struct {
	spec   Spec
	dlAddr dlt645.Address
	cjAddr cjt188.Address
	// Totals in integer units so repeated additions do not drift: Wh for
	// energy, millilitres for water.
	units  int64
	faults Faults
	reqs   int
}

// Sim is a set of meters sharing one line. Its methods are safe to call while
// Serve runs.
type Sim struct {
	mu     sync.Mutex
	meters []*simMeter
	rng    *rand.Rand
}

// New returns a simulator for the given meters.
func New(specs ...Spec) (*Sim, error) {
	s := &Sim{rng: rand.New(rand.NewPCG(1, 2))}
	for i, sp := range specs {
		m := &simMeter{spec: sp}
		var err error
		switch sp.Protocol {
		case DLT645:
			m.dlAddr, err = dlt645.ParseAddress(sp.Address)
		case CJT188:
			m.cjAddr, err = cjt188.ParseAddress(sp.Address)
			if m.spec.Type == 0 {
				m.spec.Type = cjt188.TypeColdWater
			}
		default:
			err = fmt.Errorf("protocol %q, want %s or %s", sp.Protocol, DLT645, CJT188)
		}
		if err != nil {
			return nil, fmt.Errorf("metersim: meter %d (%s): %w", i, sp.Address, err)
		}
		if sp.Total < 0 {
			return nil, fmt.Errorf("metersim: meter %d (%s): negative total", i, sp.Address)
		}
		m.units = m.toUnits(sp.Total)
		s.meters = append(s.meters, m)
	}
	return s, nil
}

// scale is units per kWh (Wh) or per m³ (mL).
func (m *simMeter) scale() float64 {
	if m.spec.Protocol == DLT645 {
		return 1e3
	}
	return 1e6
}

func (m *simMeter) toUnits(total float64) int64 { return int64(math.Round(total * m.scale())) }

func (s *Sim) find(addr string) (*simMeter, error) {
	for _, m := range s.meters {
		if m.spec.Address == addr {
			return m, nil
		}
		if m.spec.Protocol == DLT645 {
			if x, err := dlt645.ParseAddress(addr); err == nil && x == m.dlAddr {
				return m, nil
			}
		} else if x, err := cjt188.ParseAddress(addr); err == nil && x == m.cjAddr {
			return m, nil
		}
	}
	return nil, fmt.Errorf("metersim: no meter %s", addr)
}

// SetTotal sets a meter's cumulative reading (kWh or m³). Setting a lower value
// simulates a replaced or reset meter; values of 1e6 display units and more
// wrap on the wire as a real counter does.
func (s *Sim) SetTotal(addr string, total float64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.find(addr)
	if err != nil {
		return err
	}
	if total < 0 {
		return fmt.Errorf("metersim: meter %s: negative total %v", addr, total)
	}
	m.units = m.toUnits(total)
	return nil
}

// Total returns a meter's cumulative reading as set and added (before any wrap).
func (s *Sim) Total(addr string) (float64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.find(addr)
	if err != nil {
		return 0, err
	}
	return float64(m.units) / m.scale(), nil
}

// AddWater adds litres to every CJ/T 188 meter (a home has one water meter).
func (s *Sim) AddWater(litres float64) { s.add(CJT188, litres*1000) }

// AddEnergy adds kWh to every DL/T 645 meter.
func (s *Sim) AddEnergy(kwh float64) { s.add(DLT645, kwh*1000) }

func (s *Sim) add(proto string, units float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.meters {
		if m.spec.Protocol == proto {
			m.units += int64(math.Round(units))
		}
	}
}

// SetFaults sets the faults of one meter, or of every meter if addr is "".
func (s *Sim) SetFaults(addr string, f Faults) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if addr == "" {
		for _, m := range s.meters {
			m.faults = f
		}
		return nil
	}
	m, err := s.find(addr)
	if err != nil {
		return err
	}
	m.faults = f
	return nil
}

// Requests returns how many requests addressed to the meter the simulator has seen.
func (s *Sim) Requests(addr string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.find(addr)
	if err != nil {
		return 0
	}
	return m.reqs
}

// Serve answers requests read from port until ctx is done (returning nil) or
// the port fails (returning the error). Cancellation is noticed between reads,
// so port reads must time out — as a meterbus.OpenSerial port does — or the
// caller must close the port to stop Serve.
func (s *Sim) Serve(ctx context.Context, port io.ReadWriter) error {
	buf := make([]byte, 0, 1024)
	chunk := make([]byte, 256)
	for {
		if ctx.Err() != nil {
			return nil
		}
		t0 := time.Now()
		n, err := port.Read(chunk)
		buf = append(buf, chunk[:n]...)
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("metersim: read requests: %w", err)
		}
		if n == 0 && time.Since(t0) < 5*time.Millisecond {
			if sleep(ctx, 10*time.Millisecond) != nil {
				return nil
			}
		}
		for {
			req, rest, ok := nextRequest(buf)
			if !ok {
				buf = rest
				break
			}
			if err := s.answer(ctx, port, req); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
			buf = rest
		}
		if len(buf) > 2048 { // noise without any frame
			buf = append(buf[:0], buf[len(buf)-512:]...)
		}
	}
}

// request is one decoded frame of either protocol.
type request struct {
	dl *dlt645.Frame
	cj *cjt188.Frame
}

// nextRequest finds the earliest frame of either protocol in buf and returns it
// with what follows it. Without a frame it returns the bytes worth keeping.
func nextRequest(buf []byte) (request, []byte, bool) {
	ds, de, dinc := dlt645.Find(buf)
	cs, ce, cinc := cjt188.Find(buf)
	switch {
	case de > ds && (ce <= cs || ds <= cs):
		f := new(dlt645.Frame)
		if _, err := dlt645.Decode(buf[ds:de], f); err == nil {
			return request{dl: f}, buf[de:], true
		}
		return request{}, buf[de:], false
	case ce > cs:
		f := new(cjt188.Frame)
		if _, err := cjt188.Decode(buf[cs:ce], f); err == nil {
			return request{cj: f}, buf[ce:], true
		}
		return request{}, buf[ce:], false
	}
	keep := len(buf)
	if dinc {
		keep = ds
	}
	if cinc && cs < keep {
		keep = cs
	}
	return request{}, buf[keep:], false
}

// reply is what one meter sends back, with the faults to apply to it.
type reply struct {
	frame  []byte
	faults Faults
}

func (s *Sim) answer(ctx context.Context, port io.Writer, req request) error {
	replies := s.replies(req)
	if len(replies) == 0 {
		return nil
	}
	var out []byte
	var faults Faults
	if len(replies) == 1 {
		out, faults = replies[0].frame, replies[0].faults
	} else {
		// Several meters answering a wildcard talk over each other; on a
		// real line the bits collide. Model that as a bitwise OR.
		for _, r := range replies {
			for len(out) < len(r.frame) {
				out = append(out, 0)
			}
			for i, c := range r.frame {
				out[i] |= c
			}
		}
	}
	if faults.Silent {
		return nil
	}
	if faults.CorruptChecksum && len(out) >= 2 {
		out[len(out)-2]++
	}
	if faults.Partial {
		out = out[:len(out)/2]
	}
	s.mu.Lock()
	noise := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(s.rng.UintN(256))
		}
		return b
	}
	out = append(noise(faults.NoiseBefore), out...)
	out = append(out, noise(faults.NoiseAfter)...)
	s.mu.Unlock()
	if err := sleep(ctx, faults.Delay); err != nil {
		return err
	}
	if _, err := port.Write(out); err != nil {
		return fmt.Errorf("metersim: write reply: %w", err)
	}
	return nil
}

// replies builds the answers of every meter the request is for, consuming one
// use of each meter's counted faults.
func (s *Sim) replies(req request) []reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []reply
	for _, m := range s.meters {
		frame := m.reply(req)
		if frame == nil {
			continue
		}
		m.reqs++
		f := m.faults
		if m.faults.Times > 0 {
			m.faults.Times--
			if m.faults.Times == 0 {
				m.faults = Faults{}
			}
		}
		out = append(out, reply{frame: frame, faults: f})
	}
	return out
}

// display returns the counter as the meter's XXXXXX.XX display shows it, in
// hundredths of its unit, wrapped as the real counter wraps.
func (m *simMeter) display() int64 {
	var hundredths int64
	switch {
	case m.spec.Protocol == DLT645:
		hundredths = m.units / 10 // Wh → 0.01 kWh
	case m.spec.Litres:
		hundredths = m.units / 10 // mL → 0.01 L
	default:
		hundredths = m.units / 10_000 // mL → 0.01 m³
	}
	return hundredths % counterMod
}

// reply returns m's reply frame to req, or nil if req is not for m.
func (m *simMeter) reply(req request) []byte {
	switch {
	case req.dl != nil && m.spec.Protocol == DLT645:
		f := req.dl
		if f.IsReply() {
			return nil
		}
		switch f.Function() {
		case dlt645.CtrlReadAddress:
			if f.Address != dlt645.Wildcard {
				return nil
			}
			return dlt645.AppendReadAddressReply(dlt645.AppendWakeUp(nil, 2), m.dlAddr)
		case dlt645.CtrlRead:
			if f.Address != m.dlAddr && f.Address != dlt645.Wildcard {
				return nil
			}
			var r dlt645.Reading
			if err := dlt645.ParseReading(f, &r); err != nil {
				return dlt645.AppendErrorReply(nil, m.dlAddr, dlt645.CtrlRead, dlt645.ErrOther)
			}
			switch r.DI {
			case dlt645.DIForwardActiveTotal, dlt645.DICombinedActiveTotal:
				rep := dlt645.Reading{Kind: dlt645.KindValues, DI: r.DI, Unit: dlt645.UnitKWh, N: 1}
				rep.Values[0] = dlt645.Value{Int: m.display(), Decimals: 2, OK: true}
				b, err := dlt645.AppendReadReply(dlt645.AppendWakeUp(nil, 2), m.dlAddr, &rep)
				if err != nil {
					return dlt645.AppendErrorReply(nil, m.dlAddr, dlt645.CtrlRead, dlt645.ErrOther)
				}
				return b
			default:
				return dlt645.AppendErrorReply(nil, m.dlAddr, dlt645.CtrlRead, dlt645.ErrNoData)
			}
		}
	case req.cj != nil && m.spec.Protocol == CJT188:
		f := req.cj
		if f.IsReply() || (f.Type != m.spec.Type && f.Type != cjt188.TypeWildcard) {
			return nil
		}
		var r cjt188.Reading
		if err := cjt188.ParseReading(f, &r); err != nil {
			return nil
		}
		switch f.Function() {
		case cjt188.CtrlReadAddress:
			if f.Address != cjt188.Wildcard {
				return nil
			}
			return cjt188.AppendAddressReply(nil, m.spec.Type, m.cjAddr, r.SER, r.DIOrder)
		case cjt188.CtrlRead:
			if f.Address != m.cjAddr && f.Address != cjt188.Wildcard {
				return nil
			}
			if r.DI != cjt188.DIMeterData {
				return cjt188.AppendErrorReply(nil, m.spec.Type, m.cjAddr, cjt188.CtrlRead, r.SER, cjt188.Status{OK: true})
			}
			unit := cjt188.UnitM3
			if m.spec.Litres {
				unit = cjt188.UnitLitre
			}
			v := cjt188.Value{Int: m.display(), Decimals: 2, OK: true}
			d := cjt188.MeterData{CurrentFlow: v, SettlementFlow: v, Unit: unit,
				Clock: time.Now().UTC().Add(8 * time.Hour).Truncate(time.Second), HasClock: true,
				Status: cjt188.Status{OK: true}}
			b, err := cjt188.AppendMeterDataReply(nil, m.spec.Type, m.cjAddr, r.SER, r.DIOrder, &d)
			if err != nil {
				return nil
			}
			return b
		}
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
