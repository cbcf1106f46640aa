package update

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func keys(t *testing.T, dir, name string) (priv, pub string) {
	t.Helper()
	priv, pub = filepath.Join(dir, name+".key"), filepath.Join(dir, name+".pub")
	if err := GenerateKey(priv, pub); err != nil {
		t.Fatal(err)
	}
	return priv, pub
}

func TestSignVerify(t *testing.T) {
	dir := t.TempDir()
	privPath, pubPath := keys(t, dir, "release")
	if fi, _ := os.Stat(privPath); fi.Mode().Perm() != 0o600 {
		t.Errorf("private key mode %v", fi.Mode())
	}
	if err := GenerateKey(privPath, pubPath); err == nil {
		t.Error("GenerateKey overwrote a key")
	}
	_, otherPub := keys(t, dir, "other")
	priv, err := ReadPrivateKey(privPath)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ReadPublicKey(pubPath)
	if err != nil {
		t.Fatal(err)
	}
	wrongPub, err := ReadPublicKey(otherPub)
	if err != nil {
		t.Fatal(err)
	}

	art := filepath.Join(dir, "shouwang-edge_1.4.0_arm64.deb")
	if err := os.WriteFile(art, []byte(strings.Repeat("package bytes ", 1000)), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := Sign(priv, art, "shouwang-edge", "1.4.0")
	if err != nil {
		t.Fatal(err)
	}
	if m.Size != 14000 || len(m.SHA256) != 64 {
		t.Fatalf("manifest %+v", m)
	}

	ok := func(c Check) {
		t.Helper()
		if _, err := Verify(pub, art, c); err != nil {
			t.Errorf("Verify(%+v): %v", c, err)
		}
	}
	refuse := func(what string, key []byte, c Check, want error) {
		t.Helper()
		k := pub
		if key != nil {
			k = key
		}
		_, err := Verify(k, art, c)
		if !errors.Is(err, want) {
			t.Errorf("%s: got %v, want %v", what, err, want)
		}
	}
	ok(Check{})
	ok(Check{Package: "shouwang-edge", Installed: "1.3.9"})
	ok(Check{Package: "shouwang-edge", Installed: "1.4.0-rc1"})
	refuse("same version", nil, Check{Installed: "1.4.0"}, ErrDowngrade)
	refuse("older artefact", nil, Check{Installed: "1.10.0"}, ErrDowngrade)
	refuse("other package", nil, Check{Package: "shouwang-cloud"}, ErrPackage)
	refuse("other key", wrongPub, Check{}, ErrSignature)

	// Tampered artefact: one byte changed, same size.
	orig, _ := os.ReadFile(art)
	bad := append([]byte(nil), orig...)
	bad[100] ^= 1
	must(t, os.WriteFile(art, bad, 0o644))
	refuse("tampered artefact", nil, Check{}, ErrTampered)
	must(t, os.WriteFile(art, append(orig, 'x'), 0o644))
	refuse("appended artefact", nil, Check{}, ErrTampered)
	must(t, os.WriteFile(art, orig, 0o644))
	ok(Check{})

	// Tampered manifest: the version bumped to pass the downgrade check.
	mf := art + ManifestSuffix
	body, _ := os.ReadFile(mf)
	must(t, os.WriteFile(mf, []byte(strings.Replace(string(body), `"1.4.0"`, `"9.9.9"`, 1)), 0o644))
	refuse("tampered manifest", nil, Check{Installed: "1.5.0"}, ErrSignature)
	must(t, os.WriteFile(mf, body, 0o644))

	// A validly signed but older release (replay of an old artefact).
	old := filepath.Join(dir, "shouwang-edge_1.2.0_arm64.deb")
	must(t, os.WriteFile(old, []byte("old"), 0o644))
	if _, err := Sign(priv, old, "shouwang-edge", "1.2.0"); err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(pub, old, Check{Installed: "1.4.0"}); !errors.Is(err, ErrDowngrade) {
		t.Errorf("older release: %v", err)
	}

	// Garbage signature.
	must(t, os.WriteFile(art+SignatureSuffix, []byte("AAAA\n"), 0o644))
	refuse("garbage signature", nil, Check{}, ErrSignature)
	must(t, os.Remove(art+SignatureSuffix))
	if _, err := Verify(pub, art, Check{}); err == nil {
		t.Error("missing signature accepted")
	}
}

func TestNewer(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"1.0.1", "1.0.0", true}, {"1.0.0", "1.0.1", false}, {"1.10.0", "1.9.9", true},
		{"v2.0.0", "1.99.99", true}, {"1.0.0", "1.0.0", false}, {"1.0.0", "1.0.0-rc1", true},
		{"1.0.0-rc2", "1.0.0-rc1", true}, {"1.0.0-rc1", "1.0.0", false}, {"1.0.0+build5", "1.0.0", false},
	} {
		got, err := Newer(c.a, c.b)
		if err != nil || got != c.want {
			t.Errorf("Newer(%s, %s) = %v, %v", c.a, c.b, got, err)
		}
	}
	for _, bad := range []string{"1.0", "x.y.z", "", "1.0.0.0"} {
		if _, err := Newer(bad, "1.0.0"); err == nil {
			t.Errorf("version %q accepted", bad)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
