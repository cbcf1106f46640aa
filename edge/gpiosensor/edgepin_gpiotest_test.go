//go:build periph_gpiotest

// Built with -tags periph_gpiotest, the channel-fed tests run against periph's
// own gpiotest.Pin. It needs github.com/jonboulle/clockwork in go.sum (run
// `go get periph.io/x/conn/v3/gpio/gpiotest@v3.7.2` first).

package gpiosensor

import (
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

func newEdgePin(name string, l gpio.Level) (gpio.PinIO, chan<- gpio.Level) {
	p := &gpiotest.Pin{N: name, L: l, EdgesChan: make(chan gpio.Level)}
	return p, p.EdgesChan
}
