package meterbus

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// consoleRoot is where ScanCommand looks; tests point it at a fixture.
var consoleRoot = "/"

// SerialConsole says whether Linux uses the UART behind port as a console: the
// kernel's (console= on its command line) or a login prompt (serial-getty enabled).
// Either way boot messages and a login shell land on the meter bus, which corrupts
// frames and offers a shell to anyone on the wire (EN 303 645 5.6-4). It returns
// what it found, or "" when the port is free or is not a device here. root is "/" on
// a gateway; tests pass a directory laid out like one.
func SerialConsole(root, port string) string {
	dev, err := filepath.EvalSymlinks(filepath.Join(root, port))
	if err != nil || !strings.HasPrefix(dev, filepath.Join(root, "dev")+string(filepath.Separator)) {
		return ""
	}
	name := filepath.Base(dev)
	// The names this device goes by: ttyAMA0, and serial0 when port is that alias.
	names := []string{name}
	if alias := filepath.Base(port); alias != name {
		names = append(names, alias)
	}
	cmdline, _ := os.ReadFile(filepath.Join(root, "proc/cmdline"))
	for _, f := range strings.Fields(string(cmdline)) {
		c, ok := strings.CutPrefix(f, "console=")
		if !ok {
			continue
		}
		c, _, _ = strings.Cut(c, ",") // console=ttyAMA0,115200
		if target, err := filepath.EvalSymlinks(filepath.Join(root, "dev", c)); err == nil {
			c = filepath.Base(target)
		}
		if slices.Contains(names, c) {
			return "the kernel console (" + f + " in /proc/cmdline)"
		}
	}
	for _, n := range names {
		unit := "serial-getty@" + n + ".service"
		for _, wants := range []string{"getty.target.wants", "multi-user.target.wants"} {
			if _, err := os.Lstat(filepath.Join(root, "etc/systemd/system", wants, unit)); err == nil {
				return "a login prompt (" + unit + " is enabled)"
			}
		}
	}
	return ""
}
