package pki

import (
	"crypto/ecdsa"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestIssue(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	if _, _, err := IssueGateway(dir, "gw-1", Options{}); err == nil {
		t.Fatal("issued without a CA")
	}
	if err := Init(dir, "", Options{}); err != nil {
		t.Fatal(err)
	}
	if err := Init(dir, "", Options{}); !errors.Is(err, ErrExists) {
		t.Fatalf("second init: %v, want ErrExists", err)
	}
	if err := IssueServer(dir, []string{"mqtt.example.org", "10.0.0.5"}, Options{}); err != nil {
		t.Fatal(err)
	}
	cert, key, err := IssueGateway(dir, "gw-hz-0001", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := IssueGateway(dir, "gw-hz-0001", Options{}); !errors.Is(err, ErrExists) {
		t.Fatalf("re-issue: %v, want ErrExists", err)
	}
	for _, bad := range []string{"GW-1", "gw/1", "+", "x", CloudUser} {
		if _, _, err := IssueGateway(dir, bad, Options{}); err == nil {
			t.Errorf("gateway id %q accepted", bad)
		}
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("%s: %v %v, want 0700", dir, fi.Mode(), err)
	}
	for _, p := range []string{CACert, CAKey, ServerCert, ServerKey, "gateways/gw-hz-0001.pem", "gateways/gw-hz-0001.key"} {
		fi, err := os.Stat(filepath.Join(dir, p))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", p, fi.Mode().Perm())
		}
	}
	ca, err := ReadCert(filepath.Join(dir, CACert))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)

	gw, err := ReadCert(cert)
	if err != nil {
		t.Fatal(err)
	}
	if gw.Subject.CommonName != "gw-hz-0001" {
		t.Errorf("CN %q", gw.Subject.CommonName)
	}
	if _, ok := gw.PublicKey.(*ecdsa.PublicKey); !ok {
		t.Errorf("key %T, want ECDSA", gw.PublicKey)
	}
	if _, err := gw.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("gateway cert: %v", err)
	}
	if _, err := gw.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err == nil {
		t.Error("gateway cert usable as a server certificate")
	}
	srv, err := ReadCert(filepath.Join(dir, ServerCert))
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"mqtt.example.org", "10.0.0.5"} {
		if _, err := srv.Verify(x509.VerifyOptions{Roots: roots, DNSName: h}); err != nil {
			t.Errorf("server cert for %s: %v", h, err)
		}
	}
	if srv.NotAfter.After(ca.NotAfter) || srv.NotAfter.Before(time.Now().Add(800*24*time.Hour)) {
		t.Errorf("server NotAfter %v (CA %v)", srv.NotAfter, ca.NotAfter)
	}
	_ = key
}

func TestWriteNewIgnoresUmask(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	if err := WriteNew(p, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode())
	}
	if err := WriteNew(p, []byte("y")); !errors.Is(err, ErrExists) {
		t.Fatalf("overwrite: %v", err)
	}
}
