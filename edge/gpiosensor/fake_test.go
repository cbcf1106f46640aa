package gpiosensor

import (
	"context"
	"errors"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"
)

// t0 is when every simulation starts.
var t0 = time.Date(2026, 3, 1, 8, 0, 0, 0, time.FixedZone("CST", 8*3600))

// simClock is virtual time, advanced only by the sensor goroutine under test
// (through simPin.WaitForEdge and Sleep), so a run is deterministic and 48 h
// pass in milliseconds.
type simClock struct {
	mu sync.Mutex
	t  time.Time
}

func newSimClock() *simClock { return &simClock{t: t0} }

func (c *simClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *simClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.t) {
		c.t = t
	}
}

func (c *simClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.set(c.Now().Add(d))
	return nil
}

// simEdge is a level change at an offset from t0.
type simEdge struct {
	at    time.Duration
	level gpio.Level
}

// simHook runs once virtual time reaches at (e.g. feeding Watcher.Activity).
type simHook struct {
	at time.Duration
	fn func(t time.Time)
}

// simPin is a scripted input line on virtual time. WaitForEdge jumps the clock
// to the next scripted edge if it falls within the timeout, else to the
// timeout; when the clock passes end it calls stop, which ends the Run.
type simPin struct {
	name  string
	clock *simClock

	mu       sync.Mutex
	level    gpio.Level
	edges    []simEdge // ascending at
	hooks    []simHook // ascending at
	end      time.Duration
	stop     func()
	waits    int
	badWaits []time.Duration // timeouts ≤ 0
	pull     gpio.Pull
	edgeMode gpio.Edge
	outs     []gpio.Level
	inErr    error
}

var _ gpio.PinIO = (*simPin)(nil)

func (p *simPin) String() string   { return p.name }
func (p *simPin) Halt() error      { return nil }
func (p *simPin) Name() string     { return p.name }
func (p *simPin) Number() int      { return -1 }
func (p *simPin) Function() string { return "In" }
func (p *simPin) Pull() gpio.Pull  { return p.pull }
func (p *simPin) DefaultPull() gpio.Pull {
	return gpio.Float
}
func (p *simPin) PWM(gpio.Duty, physic.Frequency) error { return errors.New("no PWM") }

func (p *simPin) In(pull gpio.Pull, edge gpio.Edge) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pull, p.edgeMode = pull, edge
	return p.inErr
}

func (p *simPin) Read() gpio.Level {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.level
}

func (p *simPin) Out(l gpio.Level) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.level = l
	p.outs = append(p.outs, l)
	return nil
}

func (p *simPin) WaitForEdge(timeout time.Duration) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.waits++
	if timeout <= 0 {
		// What gpioioctl does with -1; with 0 it would block for ever.
		p.badWaits = append(p.badWaits, timeout)
		return false
	}
	now := p.clock.Now()
	deadline := now.Add(timeout)
	if len(p.edges) > 0 {
		if at := t0.Add(p.edges[0].at); !at.After(deadline) {
			p.clock.set(at)
			p.level = p.edges[0].level
			p.edges = p.edges[1:]
			p.fire(at)
			return true
		}
	}
	p.clock.set(deadline)
	p.fire(deadline)
	if p.stop != nil && !deadline.Before(t0.Add(p.end)) {
		p.stop()
	}
	return false
}

func (p *simPin) fire(upTo time.Time) {
	for len(p.hooks) > 0 && !t0.Add(p.hooks[0].at).After(upTo) {
		h := p.hooks[0]
		p.hooks = p.hooks[1:]
		h.fn(t0.Add(h.at))
	}
}

// bounce is a contact settling to level at `at`: n edges 0.75 ms apart
// (5 edges span 3 ms), alternating so that the last one is level.
func bounce(at time.Duration, level gpio.Level, n int) []simEdge {
	out := make([]simEdge, n)
	for i := range n {
		l := level
		if (n-1-i)%2 == 1 {
			l = !level
		}
		out[i] = simEdge{at: at + time.Duration(i)*750*time.Microsecond, level: l}
	}
	return out
}

func script(parts ...[]simEdge) []simEdge {
	var out []simEdge
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// wrapPin notices when the sensor has configured its line, so a test feeding
// edges through a channel does not race the flush in gpiotest.Pin.In.
type wrapPin struct {
	gpio.PinIO
	configured chan struct{}
	once       sync.Once
}

func (w *wrapPin) In(pull gpio.Pull, edge gpio.Edge) error {
	err := w.PinIO.In(pull, edge)
	w.once.Do(func() { close(w.configured) })
	return err
}

type host78Pin struct {
	gpio.PinIO // nil: only the methods below are used
	mu         sync.Mutex
	level      gpio.Level
	waits      int
}

func (p *host78Pin) In(gpio.Pull, gpio.Edge) error { return nil }
func (p *host78Pin) Name() string                  { return "GPIO78" }
func (p *host78Pin) Read() gpio.Level {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.level
}
func (p *host78Pin) set(l gpio.Level) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.level = l
}
func (p *host78Pin) WaitForEdge(time.Duration) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.waits++
	return false
}
func (p *host78Pin) calls() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.waits
}
