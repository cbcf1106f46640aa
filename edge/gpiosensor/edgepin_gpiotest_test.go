// The channel-fed tests run against periph's own fake pin, gpiotest.Pin.

package gpiosensor

import (
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

func newEdgePin(name string, l gpio.Level) (gpio.PinIO, chan<- gpio.Level) {
	p := &gpiotest.Pin{N: name, L: l, EdgesChan: make(chan gpio.Level)}
	return p, p.EdgesChan
}
