package meterbus

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// pi lays out the files SerialConsole reads, as on a Raspberry Pi: /dev/serial0 a
// link to the PL011 (ttyAMA0), a USB adapter, the kernel command line and enabled
// units.
func pi(t *testing.T, cmdline string, gettys ...string) string {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{"dev/serial/by-id", "proc", "etc/systemd/system/getty.target.wants"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	for _, f := range []string{"dev/ttyAMA0", "dev/ttyS0", "dev/ttyUSB0"} {
		os.WriteFile(filepath.Join(root, f), nil, 0o644)
	}
	os.Symlink("ttyAMA0", filepath.Join(root, "dev/serial0"))
	os.Symlink("../../ttyUSB0", filepath.Join(root, "dev/serial/by-id/usb-FTDI_RS485-if00-port0"))
	os.WriteFile(filepath.Join(root, "proc/cmdline"), []byte(cmdline+"\n"), 0o644)
	for _, g := range gettys {
		os.Symlink("/usr/lib/systemd/system/serial-getty@.service", filepath.Join(root, "etc/systemd/system/getty.target.wants", "serial-getty@"+g+".service"))
	}
	return root
}

func TestSerialConsole(t *testing.T) {
	const raspbian = "coherent_pool=1M 8250.nr_uarts=1 console=tty1 root=PARTUUID=1234-02 rootfstype=ext4 fsck.repair=yes rootwait"
	for _, tc := range []struct {
		name, cmdline string
		gettys        []string
		port, want    string
	}{
		{"console off", raspbian, nil, "/dev/serial0", ""},
		{"kernel console through the serial0 alias", "console=serial0,115200 " + raspbian, nil, "/dev/serial0", "console=serial0,115200"},
		{"kernel console named by device", "console=ttyAMA0,115200 " + raspbian, nil, "/dev/serial0", "console=ttyAMA0"},
		{"meter named by device, console by alias", "console=serial0,115200 " + raspbian, nil, "/dev/ttyAMA0", "console=serial0"},
		{"console on the other UART", "console=ttyS0,115200 " + raspbian, nil, "/dev/serial0", ""},
		{"login prompt only", raspbian, []string{"ttyAMA0"}, "/dev/serial0", "serial-getty@ttyAMA0.service is enabled"},
		{"login prompt on another UART", raspbian, []string{"ttyS0"}, "/dev/serial0", ""},
		{"login prompt enabled under the alias", raspbian, []string{"serial0"}, "/dev/serial0", "serial-getty@serial0.service is enabled"},
		{"USB adapter is never a console here", "console=serial0,115200 " + raspbian, []string{"ttyAMA0"}, "/dev/serial/by-id/usb-FTDI_RS485-if00-port0", ""},
		{"port not present", "console=serial0,115200", nil, "/dev/ttyACM0", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := SerialConsole(pi(t, tc.cmdline, tc.gettys...), tc.port)
			if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
				t.Errorf("SerialConsole(%s) = %q, want %q", tc.port, got, tc.want)
			}
		})
	}
}

// The installer's scan refuses a port that is still a console, before touching it,
// and says what to do.
func TestScanRefusesConsolePort(t *testing.T) {
	old := consoleRoot
	consoleRoot = pi(t, "console=serial0,115200 console=tty1")
	defer func() { consoleRoot = old }()
	var out strings.Builder
	err := ScanCommand([]string{"--port", "/dev/serial0", "--protocol", "cjt188"}, &out)
	if err == nil || !strings.Contains(err.Error(), "the kernel console (console=serial0,115200") || !strings.Contains(err.Error(), "install guide, step 2") {
		t.Fatalf("error %v", err)
	}
}
