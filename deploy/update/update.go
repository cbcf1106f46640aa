// Package update signs release artefacts (a .deb, a binary) and verifies them
// before installation. A release is the artefact plus a manifest
//
//	{"name":"shouwang-edge_1.4.0_arm64.deb","package":"shouwang-edge","version":"1.4.0","sha256":"…","size":123}
//
// stored as <artefact>.manifest.json, and an ed25519 signature over the
// manifest's exact bytes, base64, in <artefact>.manifest.sig. The installer
// holds only the public key (/etc/shouwang/release.pub) and installs an
// artefact only when the signature verifies, the size and SHA-256 match, the
// package is the expected one and the version is newer than the installed one
// (no downgrade to a version with known holes).
package update

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Manifest describes one signed artefact.
type Manifest struct {
	Name    string `json:"name"`    // file name of the artefact
	Package string `json:"package"` // e.g. shouwang-edge
	Version string `json:"version"` // semantic version, e.g. 1.4.0
	SHA256  string `json:"sha256"`  // hex
	Size    int64  `json:"size"`
}

// Suffixes of the files next to an artefact.
const (
	ManifestSuffix  = ".manifest.json"
	SignatureSuffix = ".manifest.sig"
)

// Errors a caller may want to tell apart.
var (
	ErrSignature = errors.New("signature does not verify")
	ErrTampered  = errors.New("artefact does not match its manifest")
	ErrDowngrade = errors.New("not newer than the installed version")
	ErrPackage   = errors.New("manifest is for another package")
)

// GenerateKey writes a new ed25519 key pair: priv (PKCS#8 PEM, 0600) and pub
// (PKIX PEM, 0644). Neither file may exist.
func GenerateKey(privPath, pubPath string) error {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	pder, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return err
	}
	uder, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return err
	}
	if err := writeExcl(privPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pder}), 0o600); err != nil {
		return err
	}
	return writeExcl(pubPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: uder}), 0o644)
}

// ReadPrivateKey reads an ed25519 PKCS#8 PEM private key.
func ReadPrivateKey(path string) (ed25519.PrivateKey, error) {
	der, err := readPEM(path, "PRIVATE KEY")
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: not an ed25519 key", path)
	}
	return priv, nil
}

// ReadPublicKey reads an ed25519 PKIX PEM public key.
func ReadPublicKey(path string) (ed25519.PublicKey, error) {
	der, err := readPEM(path, "PUBLIC KEY")
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%s: not an ed25519 key", path)
	}
	return pub, nil
}

// Sign hashes the artefact, writes <artefact>.manifest.json and
// <artefact>.manifest.sig, and returns the manifest.
func Sign(priv ed25519.PrivateKey, artefact, pkg, version string) (Manifest, error) {
	if _, err := parseVersion(version); err != nil {
		return Manifest{}, err
	}
	sum, size, err := hashFile(artefact)
	if err != nil {
		return Manifest{}, err
	}
	m := Manifest{Name: filepath.Base(artefact), Package: pkg, Version: version, SHA256: sum, Size: size}
	body, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return Manifest{}, err
	}
	body = append(body, '\n')
	sig := base64.StdEncoding.EncodeToString(ed25519.Sign(priv, body)) + "\n"
	if err := os.WriteFile(artefact+ManifestSuffix, body, 0o644); err != nil {
		return Manifest{}, err
	}
	if err := os.WriteFile(artefact+SignatureSuffix, []byte(sig), 0o644); err != nil {
		return Manifest{}, err
	}
	return m, nil
}

// Check is what Verify requires besides a valid signature.
type Check struct {
	Package   string // required package name ("" = any)
	Installed string // installed version ("" = nothing installed, any version)
}

// Verify checks, in this order, the signature over the manifest, the
// package name, that the version is newer than c.Installed, and the
// artefact's size and SHA-256. Only a nil error allows installation.
func Verify(pub ed25519.PublicKey, artefact string, c Check) (Manifest, error) {
	body, err := os.ReadFile(artefact + ManifestSuffix)
	if err != nil {
		return Manifest{}, err
	}
	sigText, err := os.ReadFile(artefact + SignatureSuffix)
	if err != nil {
		return Manifest{}, err
	}
	sig, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(sigText)))
	if err != nil || len(sig) != ed25519.SignatureSize || !ed25519.Verify(pub, body, sig) {
		return Manifest{}, ErrSignature
	}
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return Manifest{}, fmt.Errorf("manifest: %w", err)
	}
	if c.Package != "" && m.Package != c.Package {
		return m, fmt.Errorf("%w: %q, want %q", ErrPackage, m.Package, c.Package)
	}
	if c.Installed != "" {
		newer, err := Newer(m.Version, c.Installed)
		if err != nil {
			return m, err
		}
		if !newer {
			return m, fmt.Errorf("%w: %s <= installed %s", ErrDowngrade, m.Version, c.Installed)
		}
	}
	sum, size, err := hashFile(artefact)
	if err != nil {
		return m, err
	}
	if size != m.Size || sum != m.SHA256 {
		return m, fmt.Errorf("%w: size %d sha256 %s, manifest says %d %s", ErrTampered, size, sum, m.Size, m.SHA256)
	}
	return m, nil
}

// Newer reports whether version a is strictly newer than b. Versions are
// MAJOR.MINOR.PATCH with an optional leading "v"; a pre-release ("-rc1") is
// older than the release and pre-releases compare as strings.
func Newer(a, b string) (bool, error) {
	va, err := parseVersion(a)
	if err != nil {
		return false, err
	}
	vb, err := parseVersion(b)
	if err != nil {
		return false, err
	}
	for i := 0; i < 3; i++ {
		if va.n[i] != vb.n[i] {
			return va.n[i] > vb.n[i], nil
		}
	}
	switch {
	case va.pre == vb.pre:
		return false, nil
	case va.pre == "":
		return true, nil
	case vb.pre == "":
		return false, nil
	}
	return va.pre > vb.pre, nil
}

type version struct {
	n   [3]uint64
	pre string
}

func parseVersion(s string) (version, error) {
	var v version
	core, pre, _ := strings.Cut(strings.TrimPrefix(s, "v"), "-")
	core, _, _ = strings.Cut(core, "+") // build metadata does not order
	parts := strings.Split(core, ".")
	if len(parts) != 3 {
		return v, fmt.Errorf("version %q: want MAJOR.MINOR.PATCH", s)
	}
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 10, 32)
		if err != nil {
			return v, fmt.Errorf("version %q: %w", s, err)
		}
		v.n[i] = n
	}
	v.pre = pre
	return v, nil
}

func hashFile(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

func readPEM(path, typ string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != typ {
		return nil, fmt.Errorf("%s: want a PEM %s", path, typ)
	}
	return blk.Bytes, nil
}

func writeExcl(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
