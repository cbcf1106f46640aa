package radio

import (
	"fmt"
	"io"
	"time"

	"github.com/tarm/serial"
)

// Port is the serial line to the radio module. Read must give up on its own
// after about PortConfig.ReadTimeout, returning 0 bytes and nil or io.EOF
// (tarm/serial reports a timeout as io.EOF on Linux): both mean "quiet", and
// the quiet is what lets the decoder release a frame held behind a false sync
// and lets Run look at its context. Any other error means the port is gone.
type Port interface {
	io.ReadWriteCloser
}

// PortConfig says which line to open and how.
type PortConfig struct {
	Path        string
	Baud        int
	ReadTimeout time.Duration
}

// Opener opens the port; tests substitute ptys or in-memory fakes.
type Opener func(PortConfig) (Port, error)

// DefaultReadTimeout is short enough that an ACK is never held up by a read
// and a stop request is seen promptly; tarm rounds it to tenths of a second.
const DefaultReadTimeout = 100 * time.Millisecond

// OpenSerial opens the radio module's UART as 8N1 (sensornode spec §2), unlike
// meterbus.OpenSerial, which is 8E1 for the meters.
func OpenSerial(cfg PortConfig) (Port, error) {
	rt := max(cfg.ReadTimeout, DefaultReadTimeout) // 0 would block in read(2) until a byte arrives
	baud := cfg.Baud
	if baud == 0 {
		baud = DefaultBaud
	}
	p, err := serial.OpenPort(&serial.Config{
		Name:        cfg.Path,
		Baud:        baud,
		ReadTimeout: rt,
		Size:        8,
		Parity:      serial.ParityNone,
		StopBits:    serial.Stop1,
	})
	if err != nil {
		return nil, fmt.Errorf("open radio port %s at %d baud 8N1: %w", cfg.Path, baud, err)
	}
	return p, nil
}
