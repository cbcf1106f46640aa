package deploy

import (
	"bufio"
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestEdgePackage builds the amd64 shouwang-edge .deb with
// deploy/packages/build.sh (nfpm via go run), installs, upgrades, removes and
// purges it in a throwaway root with dpkg --root (maintainer scripts run
// chrootless and honour $DPKG_ROOT), and checks files, modes, the user and
// its groups, and that the host was not touched.
func TestEdgePackage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a .deb with nfpm (go run, needs the Go module proxy or cache) and runs dpkg: skipped with -short")
	}
	for _, tool := range []string{"dpkg", "dpkg-deb", "useradd", "groupadd", "usermod"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: %v", tool, err)
		}
	}
	hostPasswd, _ := os.ReadFile("/etc/passwd")
	hostGroup, _ := os.ReadFile("/etc/group")
	out := t.TempDir()

	build := func(version string) string {
		t.Helper()
		start := time.Now()
		cmd := exec.Command("sh", "packages/build.sh", version, out, "edge-amd64")
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("build.sh: %v\n%s", err, b)
		}
		deb := filepath.Join(out, "shouwang-edge_"+version+"_amd64.deb")
		fi, err := os.Stat(deb)
		if err != nil {
			t.Fatalf("%v\n%s", err, b)
		}
		t.Logf("built %s (%d KiB) in %v", filepath.Base(deb), fi.Size()>>10, time.Since(start).Round(time.Millisecond))
		return deb
	}
	deb1 := build("1.0.0")

	root, dpkg := throwawayRoot(t)
	dpkg("-i", deb1)
	users := readColon(t, filepath.Join(root, "etc/passwd"))
	groups := readColon(t, filepath.Join(root, "etc/group"))
	u, ok := users["shouwang"]
	if !ok {
		t.Fatalf("no user shouwang in %v", users)
	}
	if uid, _ := strconv.Atoi(u[2]); uid == 0 || uid >= 1000 || u[6] != "/usr/sbin/nologin" {
		t.Errorf("user shouwang: %v; want a system uid and nologin", u)
	}
	gid, _ := strconv.Atoi(groups["shouwang"][2])
	if u[3] != groups["shouwang"][2] {
		t.Errorf("shouwang primary group %s, group shouwang is %d", u[3], gid)
	}
	for _, g := range []string{"dialout", "gpio"} {
		if !strings.Contains(","+groups[g][3]+",", ",shouwang,") {
			t.Errorf("group %s: %v, want member shouwang", g, groups[g])
		}
	}
	if groups["dialout"][2] != "20" {
		t.Errorf("existing dialout group changed: %v", groups["dialout"])
	}

	checkFile := func(path string, mode os.FileMode, uid, gid int) {
		t.Helper()
		fi, err := os.Lstat(filepath.Join(root, path))
		if err != nil {
			t.Error(err)
			return
		}
		st := fi.Sys().(*syscall.Stat_t)
		if fi.Mode().Perm() != mode || int(st.Uid) != uid || int(st.Gid) != gid {
			t.Errorf("%s: %v %d:%d, want %v %d:%d", path, fi.Mode().Perm(), st.Uid, st.Gid, mode, uid, gid)
		}
	}
	checkFile("usr/bin/shouwang-edge", 0o755, 0, 0)
	checkFile("usr/bin/shouwang-pki", 0o755, 0, 0)
	checkFile("usr/sbin/shouwang-update", 0o755, 0, 0)
	checkFile("etc/shouwang", 0o750, 0, gid)
	checkFile("etc/shouwang/edge.yaml", 0o640, 0, gid)
	checkFile("usr/lib/systemd/system/shouwang-edge.service", 0o644, 0, 0)
	checkFile("usr/lib/systemd/journald.conf.d/50-shouwang-edge.conf", 0o644, 0, 0)
	// journald finds the drop-in where the package put it, and its last word on
	// storage is RAM: nothing of the journal is written to the SD card.
	if out, err := exec.Command("systemd-analyze", "--root="+root, "cat-config", "systemd/journald.conf").CombinedOutput(); err != nil {
		t.Errorf("systemd-analyze cat-config journald.conf: %v\n%s", err, out)
	} else if storage := regexp.MustCompile(`(?m)^Storage=(\S+)`).FindAllStringSubmatch(string(out), -1); len(storage) == 0 || storage[len(storage)-1][1] != "volatile" {
		t.Errorf("journald storage %v, want volatile:\n%s", storage, out)
	}
	status := dpkg("-s", "shouwang-edge")
	if !strings.Contains(status, "Status: install ok installed") || !strings.Contains(status, "/etc/shouwang/edge.yaml") {
		t.Errorf("dpkg -s:\n%s", status)
	}

	// The binary in the package runs.
	if b, err := exec.Command(filepath.Join(root, "usr/bin/shouwang-edge"), "--help").CombinedOutput(); err != nil && !bytes.Contains(b, []byte("config")) {
		t.Errorf("shouwang-edge --help: %v\n%s", err, b)
	}

	// The unit files: systemd-analyze verify must have nothing to say.
	verifyUnits(t, root)

	// Upgrade: an edited config survives, the upgrade does not prompt.
	edited := "# edited by the installer\n" + readFile(t, filepath.Join(root, "etc/shouwang/edge.yaml"))
	write(t, root, "etc/shouwang/edge.yaml", edited, 0o640)
	mkdir(t, filepath.Join(root, "var/lib/shouwang-edge"))
	write(t, root, "var/lib/shouwang-edge/outbox.db", "state", 0o600)
	deb2 := build("1.0.1")
	signedUpdate(t, root, deb1, deb2)
	if got := readFile(t, filepath.Join(root, "etc/shouwang/edge.yaml")); got != edited {
		t.Errorf("upgrade replaced the edited config:\n%s", got)
	}
	if s := dpkg("-s", "shouwang-edge"); !strings.Contains(s, "Version: 1.0.1") {
		t.Errorf("after upgrade:\n%s", s)
	}
	checkFile("etc/shouwang/edge.yaml", 0o640, 0, gid)
	if n := strings.Count(readFile(t, filepath.Join(root, "etc/passwd")), "\nshouwang:"); n != 1 {
		t.Errorf("%d shouwang users after upgrade", n)
	}

	// Remove: the binary goes, config and state stay.
	dpkg("-r", "shouwang-edge")
	gone(t, root, "usr/bin/shouwang-edge", "usr/lib/systemd/system/shouwang-edge.service")
	exists(t, root, "etc/shouwang/edge.yaml", "var/lib/shouwang-edge/outbox.db")
	// Purge: config and state go, the user stays.
	dpkg("-P", "shouwang-edge")
	gone(t, root, "etc/shouwang/edge.yaml", "etc/shouwang", "var/lib/shouwang-edge")
	if _, ok := readColon(t, filepath.Join(root, "etc/passwd"))["shouwang"]; !ok {
		t.Error("purge removed the user")
	}

	// Nothing leaked onto the host.
	if p, _ := os.ReadFile("/etc/passwd"); !bytes.Equal(p, hostPasswd) {
		t.Error("the host's /etc/passwd changed")
	}
	if g, _ := os.ReadFile("/etc/group"); !bytes.Equal(g, hostGroup) {
		t.Error("the host's /etc/group changed")
	}
}

// signedUpdate upgrades root from deb1 (installed) to deb2 with the packaged
// shouwang-update and shouwang-pki: a tampered artefact, an artefact signed by
// another key, and a re-install of the installed version are refused and
// leave 1.0.0 installed; the genuine 1.0.1 is installed.
func signedUpdate(t *testing.T, root, deb1, deb2 string) {
	t.Helper()
	keys := t.TempDir()
	pki := filepath.Join(root, "usr/bin/shouwang-pki") // the binary the package ships
	run := func(args ...string) (string, error) {
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Env = append(os.Environ(), "PATH="+filepath.Join(root, "usr/bin")+":"+os.Getenv("PATH"),
			"DPKG_ROOT="+root, "SHOUWANG_RELEASE_PUB="+filepath.Join(keys, "release.pub"))
		b, err := cmd.CombinedOutput()
		return string(b), err
	}
	mustRun := func(args ...string) {
		t.Helper()
		if out, err := run(args...); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	mustRun(pki, "keygen", filepath.Join(keys, "release.key"), filepath.Join(keys, "release.pub"))
	mustRun(pki, "keygen", filepath.Join(keys, "other.key"), filepath.Join(keys, "other.pub"))
	dir := t.TempDir()
	cp := func(src, name string) string {
		t.Helper()
		dst := filepath.Join(dir, name)
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return dst
	}
	sign := func(key, deb, version string) {
		t.Helper()
		mustRun(pki, "sign", "-key", filepath.Join(keys, key), "-package", "shouwang-edge", "-version", version, deb)
	}
	update := "packages/edge/shouwang-update"
	installed := func() string {
		t.Helper()
		out, err := exec.Command("dpkg-query", "--root="+root, "-W", "-f=${Version}", "shouwang-edge").CombinedOutput()
		if err != nil {
			t.Fatalf("dpkg-query: %v %s", err, out)
		}
		return string(out)
	}
	refused := func(what, deb string) {
		t.Helper()
		out, err := run("sh", update, deb)
		if err == nil {
			t.Errorf("%s: shouwang-update installed it:\n%s", what, out)
		} else {
			t.Logf("%s refused: %s", what, strings.TrimSpace(out))
		}
		if v := installed(); v != "1.0.0" {
			t.Fatalf("%s: installed version now %s", what, v)
		}
	}

	// Tampered: signed, then one byte of the .deb changed.
	tampered := cp(deb2, "shouwang-edge_1.0.1_amd64.deb")
	sign("release.key", tampered, "1.0.1")
	b, _ := os.ReadFile(tampered)
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(tampered, b, 0o644); err != nil {
		t.Fatal(err)
	}
	refused("tampered artefact", tampered)
	os.Remove(tampered)

	// Signed with a key that is not the release key.
	other := cp(deb2, "shouwang-edge_1.0.1_amd64.deb")
	sign("other.key", other, "1.0.1")
	refused("foreign signature", other)

	// The installed version again (a replay; the same check refuses older ones).
	same := cp(deb1, "shouwang-edge_1.0.0_amd64.deb")
	sign("release.key", same, "1.0.0")
	refused("same version", same)

	// Genuine.
	good := cp(deb2, "shouwang-edge_1.0.1_amd64.deb")
	sign("release.key", good, "1.0.1")
	if out, err := run("sh", update, good); err != nil {
		t.Fatalf("genuine update refused: %v\n%s", err, out)
	}
	if v := installed(); v != "1.0.1" {
		t.Fatalf("after the genuine update: version %s", v)
	}
}

// throwawayRoot makes an empty Debian-like root: the passwd/group files of a
// minimal Debian (dialout but no gpio, as on Debian proper) and a dpkg
// database that knows passwd (the packages' only dependency). The returned
// function runs dpkg on it with maintainer scripts run chrootless.
func throwawayRoot(t *testing.T) (string, func(args ...string) string) {
	t.Helper()
	root := filepath.Join(t.TempDir(), "root")
	for _, d := range []string{"etc", "var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers", "usr/sbin", "var/log"} {
		mkdir(t, filepath.Join(root, d))
	}
	write(t, root, "etc/passwd", "root:x:0:0:root:/root:/bin/bash\n", 0o644)
	write(t, root, "etc/group", "root:x:0:\ndialout:x:20:\n", 0o644)
	write(t, root, "etc/shadow", "root:*:19000:0:99999:7:::\n", 0o640)
	write(t, root, "etc/gshadow", "root:*::\ndialout:*::\n", 0o640)
	write(t, root, "var/lib/dpkg/status", "Package: passwd\nStatus: install ok installed\nPriority: required\nSection: admin\nMaintainer: x\nArchitecture: amd64\nVersion: 1:4.13+dfsg1-1\nDescription: fake\n\n", 0o644)
	write(t, root, "var/lib/dpkg/available", "", 0o644)
	return root, func(args ...string) string {
		t.Helper()
		start := time.Now()
		all := append([]string{"--root=" + root, "--force-script-chrootless", "--log=" + filepath.Join(root, "var/log/dpkg.log")}, args...)
		cmd := exec.Command("dpkg", all...)
		cmd.Stdin = nil // a conffile prompt would fail instead of hang
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("dpkg %s: %v\n%s", strings.Join(args, " "), err, b)
		}
		t.Logf("dpkg %s: %v", strings.Join(args, " "), time.Since(start).Round(time.Millisecond))
		return string(b)
	}
}

// TestCloudPackage builds the amd64 shouwang-cloud .deb and installs it in a
// throwaway root: user without the edge's device groups, config 0640, the
// TestPiPackages builds the packages a Raspberry Pi installs, arm64 (Pi 3/4/5 on a
// 64-bit OS) and armhf (every Pi on 32-bit Raspberry Pi OS, built for ARMv6 so the
// Pi Zero and 1 run it), and checks each declares its architecture, holds the same
// files as the amd64 package tested above, and carries a static binary for that CPU.
func TestPiPackages(t *testing.T) {
	if testing.Short() {
		t.Skip("builds .debs with nfpm (go run): skipped with -short")
	}
	out := t.TempDir()
	if b, err := exec.Command("sh", "packages/build.sh", "1.0.0", out, "edge-arm64", "edge-armhf").CombinedOutput(); err != nil {
		t.Fatalf("build.sh: %v\n%s", err, b)
	}
	for _, tc := range []struct {
		arch    string
		machine elf.Machine
		class   elf.Class
	}{
		{"arm64", elf.EM_AARCH64, elf.ELFCLASS64},
		{"armhf", elf.EM_ARM, elf.ELFCLASS32},
	} {
		t.Run(tc.arch, func(t *testing.T) {
			deb := filepath.Join(out, "shouwang-edge_1.0.0_"+tc.arch+".deb")
			if a, err := exec.Command("dpkg-deb", "-f", deb, "Architecture").Output(); err != nil || strings.TrimSpace(string(a)) != tc.arch {
				t.Fatalf("Architecture %q (%v), want %s", a, err, tc.arch)
			}
			dir := t.TempDir()
			if b, err := exec.Command("dpkg-deb", "-x", deb, dir).CombinedOutput(); err != nil {
				t.Fatalf("dpkg-deb -x: %v\n%s", err, b)
			}
			for _, f := range []string{"usr/bin/shouwang-edge", "usr/bin/shouwang-pki", "usr/sbin/shouwang-update",
				"etc/shouwang/edge.yaml", "usr/lib/systemd/system/shouwang-edge.service", "usr/lib/systemd/journald.conf.d/50-shouwang-edge.conf"} {
				if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
					t.Error(err)
				}
			}
			for _, bin := range []string{"usr/bin/shouwang-edge", "usr/bin/shouwang-pki"} {
				f, err := elf.Open(filepath.Join(dir, bin))
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				if f.Machine != tc.machine || f.Class != tc.class {
					t.Errorf("%s: %v %v, want %v %v", bin, f.Machine, f.Class, tc.machine, tc.class)
				}
				for _, p := range f.Progs {
					if p.Type == elf.PT_INTERP {
						t.Errorf("%s is dynamically linked; the Pi gets a static binary (CGO off)", bin)
					}
				}
			}
		})
	}
}

// operator's scripts shipped, the unit in place.
func TestCloudPackage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a .deb with nfpm (go run) and runs dpkg: skipped with -short")
	}
	out := t.TempDir()
	start := time.Now()
	if b, err := exec.Command("sh", "packages/build.sh", "2.0.0", out, "cloud-amd64").CombinedOutput(); err != nil {
		t.Fatalf("build.sh: %v\n%s", err, b)
	}
	t.Logf("built shouwang-cloud_2.0.0_amd64.deb in %v", time.Since(start).Round(time.Millisecond))
	root, dpkg := throwawayRoot(t)
	dpkg("-i", filepath.Join(out, "shouwang-cloud_2.0.0_amd64.deb"))
	groups := readColon(t, filepath.Join(root, "etc/group"))
	if _, ok := groups["gpio"]; ok {
		t.Error("the cloud package created the gpio group")
	}
	if strings.Contains(groups["dialout"][3], "shouwang") {
		t.Error("the cloud user is in dialout")
	}
	gid := groups["shouwang"][2]
	for path, want := range map[string]string{
		"usr/bin/shouwang-cloud":                               "-rwxr-xr-x 0:0",
		"etc/shouwang":                                         "drwxr-x--- 0:" + gid,
		"etc/shouwang/cloud.yaml":                              "-rw-r----- 0:" + gid,
		"usr/lib/systemd/system/shouwang-cloud.service":        "-rw-r--r-- 0:0",
		"usr/share/shouwang-cloud/postgres/roles.sql":          "-rw-r--r-- 0:0",
		"usr/share/shouwang-cloud/postgres/replica.sql":        "-rw-r--r-- 0:0",
		"usr/share/shouwang-cloud/postgres/backup.sh":          "-rwxr-xr-x 0:0",
		"usr/share/shouwang-cloud/postgres/restore.sh":         "-rwxr-xr-x 0:0",
		"usr/lib/systemd/system/shouwang-backup.timer":         "-rw-r--r-- 0:0",
		"usr/share/shouwang-cloud/mosquitto/shouwang.acl":      "-rw-r--r-- 0:0",
		"usr/share/shouwang-cloud/influxdb/retention.influxql": "-rw-r--r-- 0:0",
		"usr/share/shouwang-cloud/influxdb/users.influxql":     "-rw-r--r-- 0:0",
	} {
		fi, err := os.Lstat(filepath.Join(root, path))
		if err != nil {
			t.Error(err)
			continue
		}
		st := fi.Sys().(*syscall.Stat_t)
		if got := fi.Mode().String() + " " + strconv.Itoa(int(st.Uid)) + ":" + strconv.Itoa(int(st.Gid)); got != want {
			t.Errorf("%s: %s, want %s", path, got, want)
		}
	}
	if b, err := exec.Command(filepath.Join(root, "usr/bin/shouwang-cloud"), "--help").CombinedOutput(); err != nil && !bytes.Contains(b, []byte("config")) {
		t.Errorf("shouwang-cloud --help: %v\n%s", err, b)
	}
	dpkg("-P", "shouwang-cloud")
	gone(t, root, "usr/bin/shouwang-cloud", "etc/shouwang")
}

// verifyUnits runs systemd-analyze verify on the units as installed (edge)
// and as shipped (cloud), with ExecStart pointed at an existing binary.
func verifyUnits(t *testing.T, root string) {
	t.Helper()
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatalf("systemd-analyze not found (Debian package systemd): %v", err)
	}
	dir := t.TempDir()
	units := map[string]string{
		"shouwang-edge.service":  readFile(t, filepath.Join(root, "usr/lib/systemd/system/shouwang-edge.service")),
		"shouwang-cloud.service": readFile(t, "cloud/shouwang-cloud.service"),
	}
	edgeBin := filepath.Join(root, "usr/bin/shouwang-edge")
	for name, text := range units {
		for _, want := range []string{"User=shouwang", "NoNewPrivileges=yes", "ProtectSystem=strict", "MemoryMax=", "StateDirectory="} {
			if !strings.Contains(text, want) {
				t.Errorf("%s: no %s", name, want)
			}
		}
		if name == "shouwang-edge.service" {
			// Watchdog and readiness from the daemon; the outbox's mount (USB) before start.
			for _, want := range []string{"Type=notify", "WatchdogSec=", "RequiresMountsFor=/var/lib/shouwang-edge"} {
				if !strings.Contains(text, want) {
					t.Errorf("%s: no %s", name, want)
				}
			}
		}
		if regexp.MustCompile(`(?m)^(StandardOutput|StandardError)=(file|append|truncate):`).MatchString(text) {
			t.Errorf("%s logs to a file; journald only", name)
		}
		text = strings.ReplaceAll(text, "/usr/bin/shouwang-edge", edgeBin)
		text = strings.ReplaceAll(text, "/usr/bin/shouwang-cloud", edgeBin)
		write(t, dir, name, text, 0o644)
	}
	// The backup units as shipped, with the script pointed at the repository's copy.
	for _, name := range []string{"shouwang-backup.service", "shouwang-backup.timer"} {
		text := readFile(t, filepath.Join("postgres", name))
		abs, _ := filepath.Abs("postgres/backup.sh")
		write(t, dir, name, strings.ReplaceAll(text, "/usr/share/shouwang-cloud/postgres/backup.sh", abs), 0o644)
	}
	cmd := exec.Command(sa, "verify", "shouwang-edge.service", "shouwang-cloud.service", "shouwang-backup.service", "shouwang-backup.timer")
	cmd.Dir = dir
	b, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(b)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, b)
	}
	for name := range units {
		cmd := exec.Command(sa, "security", "--offline=yes", name)
		cmd.Dir = dir
		b, _ := cmd.CombinedOutput()
		if m := regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+) (\S+)`).FindSubmatch(b); m != nil {
			t.Logf("systemd-analyze security %s: %s %s", name, m[1], m[2])
		}
	}
}

func readColon(t *testing.T, path string) map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Split(sc.Text(), ":")
		m[fs[0]] = fs
	}
	return m
}

func mkdir(t *testing.T, p string) {
	t.Helper()
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
}

func write(t *testing.T, dir, name, text string, mode os.FileMode) {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func gone(t *testing.T, root string, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if _, err := os.Lstat(filepath.Join(root, p)); err == nil {
			t.Errorf("%s still there", p)
		}
	}
}

func exists(t *testing.T, root string, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if _, err := os.Lstat(filepath.Join(root, p)); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
}
