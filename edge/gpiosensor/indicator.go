package gpiosensor

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"
)

// Pattern alternates on and off durations, starting with on; Blink repeats it.
type Pattern []time.Duration

// PreAlarm is the pre-alarm signal: a short beep or flash every second —
// noticeable from the next room, not alarming. The resident answers it with a
// long press ("I'm OK").
var PreAlarm = Pattern{150 * time.Millisecond, 850 * time.Millisecond}

// Indicator is a buzzer or LED on an output line. Its methods are safe for
// concurrent use, but a Blink in progress overrides On and Off until its
// context ends.
type Indicator struct {
	pin       OutPin
	activeLow bool
	sleep     func(context.Context, time.Duration) error
	mu        sync.Mutex
}

// NewIndicator drives pin; activeLow for a buzzer or LED switched to ground.
func NewIndicator(pin OutPin, activeLow bool) *Indicator {
	return &Indicator{pin: pin, activeLow: activeLow, sleep: sleepCtx}
}

// On switches the indicator on.
func (i *Indicator) On() error { return i.set(true) }

// Off switches the indicator off.
func (i *Indicator) Off() error { return i.set(false) }

func (i *Indicator) set(on bool) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if err := i.pin.Out(gpio.Level(on != i.activeLow)); err != nil {
		return fmt.Errorf("indicator %s: %w", i.pin.Name(), err)
	}
	return nil
}

// Blink plays p over and over until ctx ends, then leaves the indicator off and
// returns nil. An error driving the line ends it early.
func (i *Indicator) Blink(ctx context.Context, p Pattern) error {
	if len(p) == 0 || len(p)%2 != 0 {
		return fmt.Errorf("indicator %s: pattern needs on/off pairs, got %d durations", i.pin.Name(), len(p))
	}
	for _, d := range p {
		if d <= 0 {
			return fmt.Errorf("indicator %s: pattern duration %v, want > 0", i.pin.Name(), d)
		}
	}
	defer i.Off() //nolint:errcheck // best effort; an Out error was already returned below
	for {
		for k, d := range p {
			if err := i.set(k%2 == 0); err != nil {
				return err
			}
			if err := i.sleep(ctx, d); err != nil {
				if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
					return nil
				}
				return err
			}
		}
	}
}
