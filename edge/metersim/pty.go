package metersim

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// OpenPTY opens a pseudo-terminal pair without socat, so the simulated home of
// `shouwang-edge --simulate` needs nothing installed: the simulator serves on the
// returned master, the daemon opens slavePath with its real serial code (tarm).
func OpenPTY() (master *os.File, slavePath string, err error) {
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, "", fmt.Errorf("open /dev/ptmx: %w", err)
	}
	fd := int(m.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		return nil, "", fmt.Errorf("unlock pty: %w", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		m.Close()
		return nil, "", fmt.Errorf("pty number: %w", err)
	}
	// Raw from the start: before the daemon configures the line, an echoing,
	// line-buffered pty would bounce requests back to their sender.
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		m.Close()
		return nil, "", fmt.Errorf("pty termios: %w", err)
	}
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, t); err != nil {
		m.Close()
		return nil, "", fmt.Errorf("pty raw mode: %w", err)
	}
	return m, fmt.Sprintf("/dev/pts/%d", n), nil
}
