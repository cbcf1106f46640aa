package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The maintainer scripts as dpkg runs them on a gateway with systemd, in a private
// mount namespace: /run/systemd/system exists there (so the scripts talk to
// systemd), /etc is a throwaway copy (postinst creates the user), /var/lib and
// /var/log are empty tmpfs (nothing the scripts write lands on the host), and
// systemctl only records what it is asked. During an upgrade the edge is not stopped, so its
// rules keep watching while the new files are unpacked; postinst then restarts it
// once, and only if it was running. Removal stops and disables it.
func TestMaintainerScriptsServiceCalls(t *testing.T) {
	if testing.Short() {
		t.Skip("needs unshare and mount (root): skipped with -short")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root for a private mount namespace (scripts/test.sh runs as root on CI)")
	}
	bin := t.TempDir()
	write(t, bin, "systemctl", "#!/bin/sh\necho \"$*\" >> \"$SYSTEMCTL_LOG\"\n", 0o755)
	scripts, _ := filepath.Abs("packages/scripts")
	run := func(script string, args ...string) string {
		t.Helper()
		etc := filepath.Join(t.TempDir(), "etc")
		if out, err := exec.Command("cp", "-a", "/etc", etc).CombinedOutput(); err != nil {
			t.Fatalf("copy /etc: %v\n%s", err, out)
		}
		os.MkdirAll(filepath.Join(etc, "shouwang"), 0o755)
		log := filepath.Join(t.TempDir(), "systemctl.log")
		os.WriteFile(log, nil, 0o644)
		cmd := exec.Command("unshare", append([]string{"-m", "--propagation", "private", "sh", "-c",
			`set -e; mount --bind "$ETC" /etc; for d in /run /var/lib /var/log; do mount -t tmpfs tmpfs "$d"; done
			mkdir -p /run/systemd/system; exec sh "$0" "$@"`,
			filepath.Join(scripts, script)}, args...)...)
		cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "SYSTEMCTL_LOG="+log, "ETC="+etc,
			"DPKG_MAINTSCRIPT_PACKAGE=shouwang-edge", "DPKG_ROOT=")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v\n%s", script, args, err, out)
		}
		b, _ := os.ReadFile(log)
		return strings.TrimSpace(string(b))
	}
	for _, tc := range []struct {
		name, script string
		args         []string
		want         string
	}{
		// dpkg's order for an upgrade from 1.0.0 to 1.1.0: old prerm, unpack, new postinst.
		{"upgrade: old prerm leaves it running", "prerm", []string{"upgrade", "1.1.0"}, ""},
		{"upgrade: new postinst restarts it once, if it ran", "postinst", []string{"configure", "1.0.0"}, "daemon-reload\ntry-restart shouwang-edge.service"},
		{"first install: enabled, not started before the claim", "postinst", []string{"configure"}, "daemon-reload\nenable shouwang-edge.service"},
		{"remove: stopped and disabled", "prerm", []string{"remove"}, "disable --now shouwang-edge.service"},
		{"after remove: units reloaded", "postrm", []string{"remove"}, "daemon-reload"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := run(tc.script, tc.args...); got != tc.want {
				t.Errorf("systemctl calls:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}
