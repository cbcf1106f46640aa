package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCommands(t *testing.T) {
	dir := t.TempDir()
	pkiDir := filepath.Join(dir, "pki")
	steps := [][]string{
		{"-dir", pkiDir, "init", "-name", "Test CA"},
		{"-dir", pkiDir, "server", "mqtt.example.org", "127.0.0.1"},
		{"-dir", pkiDir, "gateway", "gw-hz-0001"},
		{"keygen", filepath.Join(dir, "release.key"), filepath.Join(dir, "release.pub")},
	}
	for _, s := range steps {
		if err := run(s); err != nil {
			t.Fatalf("%v: %v", s, err)
		}
	}
	for _, p := range []string{"ca.key", "ca.pem", "server.key", "server.pem", "gateways/gw-hz-0001.key", "gateways/gw-hz-0001.pem"} {
		fi, err := os.Stat(filepath.Join(pkiDir, p))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v", p, fi, err)
		}
	}
	if err := run([]string{"-dir", pkiDir, "gateway", "gw-hz-0001"}); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("re-issue: %v", err)
	}
	art := filepath.Join(dir, "shouwang-edge.deb")
	if err := os.WriteFile(art, []byte("deb"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run([]string{"sign", "-key", filepath.Join(dir, "release.key"), "-package", "shouwang-edge", "-version", "1.2.3", art}); err != nil {
		t.Fatal(err)
	}
	pub := filepath.Join(dir, "release.pub")
	if err := run([]string{"verify", "-pub", pub, "-package", "shouwang-edge", "-installed", "1.2.2", art}); err != nil {
		t.Fatal(err)
	}
	if err := run([]string{"verify", "-pub", pub, "-installed", "1.2.3", art}); err == nil {
		t.Error("same version verified")
	}
	if err := os.WriteFile(art, []byte("DEB"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run([]string{"verify", "-pub", pub, art}); err == nil {
		t.Error("tampered artefact verified")
	}
	if err := run([]string{"frobnicate"}); err == nil {
		t.Error("unknown command accepted")
	}
}
