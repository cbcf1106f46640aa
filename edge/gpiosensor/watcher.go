// Package gpiosensor turns the GPIO inputs of a gateway — PIR motion sensors,
// door contacts, the SOS button and pulse-output water meters — into sensor
// events (firmware-protocol/event), and drives local indicators (buzzer, LED).
//
// Every sensor is debounced here, in software, by waiting for a quiet period
// after an edge and then reading the level; periph's gpioutil.Debounce ignores
// its debounce argument and the edge itself does not say which way it went.
// firmware-protocol/docs/gpio.md is the installer's and firmware author's view.
package gpiosensor

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shouwang-care/shouwang/firmware-protocol/event"
)

// DefaultPoll bounds every WaitForEdge: how late a lost edge is noticed, and
// how quickly Run sees its context end.
const DefaultPoll = time.Second

// Options are the dependencies of a Watcher; the zero value is production.
type Options struct {
	Resolve Resolver                                   // nil: HostResolver
	Now     func() time.Time                           // nil: time.Now
	Sleep   func(context.Context, time.Duration) error // nil: a timer that ends early with ctx
	Poll    time.Duration                              // 0: DefaultPoll

	// Totals are the last TotalM3 reported per pulse_water sensor (e.g. read back
	// from the event log at start), so that a restart does not lose the pulses
	// counted since base_total_m3. A total below base_total_m3 is ignored.
	Totals map[string]float64
}

// Watcher reads the configured sensors and owns the indicators.
type Watcher struct {
	sensors    []*sensor
	indicators map[string]*Indicator
	sup        *supervisor
	now        func() time.Time
	running    atomic.Bool
}

// Open validates cfg, finds every pin, switches the indicators off and returns
// a Watcher ready to Run (which sets the inputs up). All missing pins are
// reported at once, with the lines the host has.
func Open(cfg Config, opts Options) (*Watcher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("gpio config: %w", err)
	}
	if opts.Resolve == nil {
		r, err := HostResolver()
		if err != nil {
			return nil, err
		}
		opts.Resolve = r
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Sleep == nil {
		opts.Sleep = sleepCtx
	}
	if opts.Poll <= 0 {
		opts.Poll = DefaultPoll
	}
	w := &Watcher{sup: newSupervisor(), now: opts.Now, indicators: map[string]*Indicator{}}

	var errs []error
	for i, sc := range cfg.Sensors {
		p, err := opts.Resolve(sc.Pin)
		if err != nil {
			errs = append(errs, fmt.Errorf("sensors[%d] (%s): %w", i, sc.Name, err))
			continue
		}
		sc = sc.WithDefaults()
		s := &sensor{cfg: sc, pin: p, now: opts.Now, sleep: opts.Sleep, poll: opts.Poll, sup: w.sup, base: sc.BaseTotalM3}
		if t, ok := opts.Totals[sc.Name]; ok && t > s.base {
			s.base = t
		}
		if sc.Type == TypePIR {
			w.sup.addPIR(sc.Name, sc.SilentAfter)
		}
		w.sensors = append(w.sensors, s)
	}
	for i, ic := range cfg.Indicators {
		p, err := opts.Resolve(ic.Pin)
		if err != nil {
			errs = append(errs, fmt.Errorf("indicators[%d] (%s): %w", i, ic.Name, err))
			continue
		}
		in := NewIndicator(p, ic.ActiveLow)
		in.sleep = opts.Sleep
		// Off now: a line left high by a previous run would sound the buzzer.
		if err := in.Off(); err != nil {
			errs = append(errs, fmt.Errorf("indicators[%d] (%s): %w", i, ic.Name, err))
			continue
		}
		w.indicators[ic.Name] = in
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("gpio: %w", err)
	}
	return w, nil
}

// Indicator returns the configured indicator called name.
func (w *Watcher) Indicator(name string) (*Indicator, bool) {
	in, ok := w.indicators[name]
	return in, ok
}

// Activity tells PIR supervision that something happened in the home at t
// (water flowed, a radio sensor reported): a PIR that stays silent while the
// home is active is faulty. Events from this Watcher's own sensors count
// without being fed back. Safe for concurrent use.
func (w *Watcher) Activity(t time.Time) {
	w.sup.activity("", t)
}

// Run watches every sensor, one goroutine each, sending events to out (a slow
// reader delays them; edges queue in the kernel meanwhile). It returns nil
// when ctx ends, or the first sensor error, after every goroutine has stopped.
// A Watcher runs once.
func (w *Watcher) Run(ctx context.Context, out chan<- event.Event) error {
	if !w.running.CompareAndSwap(false, true) {
		return errors.New("gpiosensor: Watcher.Run called twice")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	emit := func(e event.Event) bool {
		select {
		case out <- e:
			return true
		case <-ctx.Done():
			return false
		}
	}

	var (
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	for _, s := range w.sensors {
		wg.Go(func() {
			if err := s.run(ctx, emit); err != nil {
				errOnce.Do(func() { firstErr = err })
				cancel()
			}
		})
	}
	<-ctx.Done()
	wg.Wait()
	return firstErr
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
