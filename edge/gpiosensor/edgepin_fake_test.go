//go:build !periph_gpiotest

package gpiosensor

import "periph.io/x/conn/v3/gpio"

// newEdgePin returns a line fed through its edges channel (see chanPin).
func newEdgePin(name string, l gpio.Level) (gpio.PinIO, chan<- gpio.Level) {
	p := &chanPin{N: name, L: l, EdgesChan: make(chan gpio.Level)}
	return p, p.EdgesChan
}
