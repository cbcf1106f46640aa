package meterbus

import (
	"fmt"
	"io"
	"time"

	"github.com/tarm/serial"
)

// Port is one serial line. The bus needs reads that give up on their own: Read
// must return within about PortConfig.ReadTimeout, with 0 bytes and either nil or
// io.EOF when nothing arrived (tarm/serial reports a VTIME timeout as io.EOF on
// Linux). Both mean "silence", never "closed": a vanished port shows up as a
// write or read error, or as a missing device path at the next reopen.
type Port interface {
	io.ReadWriteCloser
	// Flush drops bytes received but not yet read, so a late answer to the
	// previous request cannot be taken for the answer to the next one.
	Flush() error
}

// PortConfig says which line to open and how.
type PortConfig struct {
	// Path should be a stable name such as /dev/serial/by-id/usb-FTDI_…-if00-port0
	// or /dev/serial/by-path/…: /dev/ttyUSB0 is renumbered when an adapter is
	// unplugged and plugged back while the old node is still held open.
	Path string
	Baud int
	// ReadTimeout bounds one Read; it is how often a waiting bus looks at its
	// context and deadline. tarm/serial rounds it to tenths of a second.
	ReadTimeout time.Duration
}

// Opener opens a port; tests substitute ptys or in-memory fakes.
type Opener func(cfg PortConfig) (Port, error)

// DefaultReadTimeout is the Read granularity when PortConfig.ReadTimeout is 0.
const DefaultReadTimeout = 100 * time.Millisecond

// OpenSerial opens a real serial line in 8E1 (the framing of both DL/T 645 and
// CJ/T 188) through github.com/tarm/serial.
func OpenSerial(cfg PortConfig) (Port, error) {
	rt := cfg.ReadTimeout
	// Zero would make tarm block in read(2) until a byte arrives (VMIN=1), and
	// nothing could stop the bus goroutine on a silent line.
	if rt < DefaultReadTimeout {
		rt = DefaultReadTimeout
	}
	baud := cfg.Baud
	if baud == 0 {
		baud = DefaultBaud
	}
	p, err := serial.OpenPort(&serial.Config{
		Name:        cfg.Path,
		Baud:        baud,
		ReadTimeout: rt,
		Size:        8,
		Parity:      serial.ParityEven,
		StopBits:    serial.Stop1,
	})
	if err != nil {
		return nil, fmt.Errorf("open serial port %s at %d baud: %w", cfg.Path, baud, err)
	}
	return p, nil
}
