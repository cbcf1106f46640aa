package gpiosensor

import (
	"fmt"
	"strings"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/host/v3"
)

// Pin is the input side of a GPIO line, as the sensors use it.
// periph's gpio.PinIO satisfies it.
type Pin interface {
	In(pull gpio.Pull, edge gpio.Edge) error
	Read() gpio.Level
	// WaitForEdge is only ever called with a timeout of at least 1 ms: periph's
	// gpioioctl driver returns at once for -1 (host#78) and never returns for 0.
	WaitForEdge(timeout time.Duration) bool
	Name() string
}

// OutPin is the output side of a GPIO line, for an Indicator.
// periph's gpio.PinIO satisfies it.
type OutPin interface {
	Out(l gpio.Level) error
	Name() string
}

var (
	_ Pin    = gpio.PinIO(nil)
	_ OutPin = gpio.PinIO(nil)
)

// Resolver finds a GPIO line by name. RegistryResolver is the production one;
// tests pass fakes.
type Resolver func(name string) (gpio.PinIO, error)

// HostResolver loads periph's host drivers (on a Pi: the gpiochip character
// device driver, and bcm283x on a Pi 4) and returns RegistryResolver.
func HostResolver() (Resolver, error) {
	if _, err := host.Init(); err != nil {
		return nil, fmt.Errorf("gpio: load host drivers: %w", err)
	}
	return RegistryResolver, nil
}

// RegistryResolver looks name up in periph's gpioreg. A missing line is a
// *PinNotFoundError that lists the lines this host has.
func RegistryResolver(name string) (gpio.PinIO, error) {
	if p := gpioreg.ByName(name); p != nil {
		return p, nil
	}
	all := gpioreg.All()
	names := make([]string, 0, len(all))
	for _, p := range all {
		names = append(names, p.Name())
	}
	return nil, &PinNotFoundError{Pin: name, Available: names}
}

// PinNotFoundError is a configured pin that this host does not have.
type PinNotFoundError struct {
	Pin       string
	Available []string // in periph's natural order
}

func (e *PinNotFoundError) Error() string {
	if len(e.Available) == 0 {
		return fmt.Sprintf("gpio line %q not found: this host has no GPIO lines (not a Raspberry Pi, or /dev/gpiochip* not readable by this user: add it to the gpio group)", e.Pin)
	}
	return fmt.Sprintf("gpio line %q not found; available: %s", e.Pin, strings.Join(e.Available, ", "))
}
