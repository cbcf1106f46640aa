// Package pki issues the certificates of a Shouwang deployment: one CA, the
// MQTT broker's server certificate and one client certificate per gateway
// whose Common Name is the gateway ID (Mosquitto's use_identity_as_username
// then makes the CN the MQTT username, which the ACL confines to the
// gateway's own topics).
//
// Keys are ECDSA P-256: every TLS stack a gateway or broker may use (Go,
// OpenSSL 1.1/3, mbedTLS) supports it, unlike ed25519 certificates. Every
// file written is 0600 and is never overwritten: re-issuing means removing
// the old file first, on purpose.
//
// Layout of a PKI directory:
//
//	ca.pem  ca.key                    the CA (keep ca.key offline)
//	server.pem  server.key            the broker's certificate
//	gateways/<id>.pem  <id>.key       one per gateway
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/shouwang-care/shouwang/firmware-protocol/mqttv1"
)

// Default validity periods.
const (
	CAValidity      = 10 * 365 * 24 * time.Hour
	ServerValidity  = 825 * 24 * time.Hour
	GatewayValidity = 5 * 365 * 24 * time.Hour
)

// File names inside a PKI directory.
const (
	CACert     = "ca.pem"
	CAKey      = "ca.key"
	ServerCert = "server.pem"
	ServerKey  = "server.key"
	GatewayDir = "gateways"
)

// CloudUser is the cloud's MQTT username in deploy/mosquitto/shouwang.acl; no
// gateway may have it as its ID.
const CloudUser = "shouwang-cloud"

// ErrExists is returned instead of overwriting a file.
var ErrExists = errors.New("already exists")

// Options tune issuance; the zero value uses the defaults above and time.Now.
type Options struct {
	Validity time.Duration
	Now      func() time.Time
	// Organization is put in every subject (default "Shouwang").
	Organization string
}

func (o Options) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

func (o Options) org() string {
	if o.Organization != "" {
		return o.Organization
	}
	return "Shouwang"
}

func (o Options) validity(def time.Duration) time.Duration {
	if o.Validity > 0 {
		return o.Validity
	}
	return def
}

// Init creates dir (0700) with a new CA named name. It refuses to replace an
// existing CA.
func Init(dir, name string, o Options) error {
	if name == "" {
		name = "Shouwang CA"
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := notExist(filepath.Join(dir, CACert), filepath.Join(dir, CAKey)); err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := o.now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name, Organization: []string{o.org()}},
		NotBefore:             now.Add(-5 * time.Minute),
		NotAfter:              now.Add(o.validity(CAValidity)),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
		SubjectKeyId:          keyID(&key.PublicKey),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	return writePair(filepath.Join(dir, CACert), filepath.Join(dir, CAKey), der, key)
}

// IssueServer issues the broker's certificate for hosts (DNS names or IP
// addresses; the first is the CN) into dir/server.pem and dir/server.key.
func IssueServer(dir string, hosts []string, o Options) error {
	if len(hosts) == 0 {
		return errors.New("server certificate: at least one host name or IP address")
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: hosts[0], Organization: []string{o.org()}},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	return issue(dir, tmpl, filepath.Join(dir, ServerCert), filepath.Join(dir, ServerKey), o.validity(ServerValidity), o)
}

// IssueGateway issues the client certificate of gateway id (CN = id) into
// dir/gateways/<id>.pem and .key, and returns their paths.
func IssueGateway(dir, id string, o Options) (certPath, keyPath string, err error) {
	if err := mqttv1.ValidGatewayID(id); err != nil {
		return "", "", err
	}
	if id == CloudUser {
		// The ACL's per-gateway patterns apply to every user; a gateway with the
		// cloud's name would blur the two.
		return "", "", fmt.Errorf("gateway id %q is reserved for the cloud's MQTT user", id)
	}
	gdir := filepath.Join(dir, GatewayDir)
	if err := os.MkdirAll(gdir, 0o700); err != nil {
		return "", "", err
	}
	certPath, keyPath = filepath.Join(gdir, id+".pem"), filepath.Join(gdir, id+".key")
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: id, Organization: []string{o.org()}, OrganizationalUnit: []string{"gateway"}},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	return certPath, keyPath, issue(dir, tmpl, certPath, keyPath, o.validity(GatewayValidity), o)
}

func issue(dir string, tmpl *x509.Certificate, certPath, keyPath string, validity time.Duration, o Options) error {
	if err := notExist(certPath, keyPath); err != nil {
		return err
	}
	ca, caKey, err := LoadCA(dir)
	if err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := o.now()
	tmpl.SerialNumber = serial()
	tmpl.NotBefore = now.Add(-5 * time.Minute)
	tmpl.NotAfter = now.Add(validity)
	if tmpl.NotAfter.After(ca.NotAfter) {
		tmpl.NotAfter = ca.NotAfter
	}
	tmpl.SubjectKeyId = keyID(&key.PublicKey)
	tmpl.AuthorityKeyId = ca.SubjectKeyId
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return err
	}
	return writePair(certPath, keyPath, der, key)
}

// LoadCA reads dir/ca.pem and dir/ca.key.
func LoadCA(dir string) (*x509.Certificate, crypto.Signer, error) {
	cert, err := ReadCert(filepath.Join(dir, CACert))
	if err != nil {
		return nil, nil, fmt.Errorf("CA (run init first): %w", err)
	}
	b, err := os.ReadFile(filepath.Join(dir, CAKey))
	if err != nil {
		return nil, nil, fmt.Errorf("CA key: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, nil, fmt.Errorf("CA key %s: not PEM", filepath.Join(dir, CAKey))
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("CA key: %w", err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, nil, errors.New("CA key: not a signing key")
	}
	return cert, signer, nil
}

// ReadCert reads the first certificate of a PEM file.
func ReadCert(path string) (*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%s: no PEM certificate", path)
	}
	return x509.ParseCertificate(blk.Bytes)
}

func writePair(certPath, keyPath string, der []byte, key *ecdsa.PrivateKey) error {
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	// Key first: a certificate without its key is useless, the reverse is detectable.
	if err := WriteNew(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})); err != nil {
		return err
	}
	return WriteNew(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// WriteNew writes a new file with mode 0600 (whatever the umask), fsynced;
// it fails with ErrExists rather than replace a file.
func WriteNew(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("%s: %w (remove it first to re-issue)", path, ErrExists)
	}
	if err != nil {
		return err
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func notExist(paths ...string) error {
	for _, p := range paths {
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("%s: %w (remove it first to re-issue)", p, ErrExists)
		}
	}
	return nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return n.Add(n, big.NewInt(1))
}

func keyID(pub *ecdsa.PublicKey) []byte {
	der, _ := x509.MarshalPKIXPublicKey(pub)
	h := sha256.Sum256(der)
	return h[:20]
}
