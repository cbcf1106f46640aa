// Command shouwang-pki issues the certificates of a deployment and signs and
// verifies release artefacts.
//
//	shouwang-pki [-dir DIR] init [-name NAME]
//	shouwang-pki [-dir DIR] server HOST [HOST…]
//	shouwang-pki [-dir DIR] gateway GW-ID
//	shouwang-pki keygen PRIV PUB
//	shouwang-pki sign -key PRIV -package NAME -version X.Y.Z ARTEFACT
//	shouwang-pki verify -pub PUB [-package NAME] [-installed X.Y.Z] ARTEFACT
//
// See docs/operations/README.md ("Certificates" and "Signed updates").
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/shouwang-care/shouwang/deploy/pki"
	"github.com/shouwang-care/shouwang/deploy/update"
)

const usage = `usage:
  shouwang-pki [-dir DIR] init [-name NAME]      create the CA (ca.pem, ca.key)
  shouwang-pki [-dir DIR] server HOST [HOST...]  broker certificate (server.pem, server.key)
  shouwang-pki [-dir DIR] gateway GW-ID          gateway certificate, CN = GW-ID (gateways/GW-ID.pem, .key)
  shouwang-pki keygen PRIV PUB                   ed25519 release-signing key pair
  shouwang-pki sign -key PRIV -package NAME -version X.Y.Z ARTEFACT
  shouwang-pki verify -pub PUB [-package NAME] [-installed X.Y.Z] ARTEFACT
Every file written is 0600 (public keys 0644) and never overwritten.
`

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "shouwang-pki:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("shouwang-pki", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(os.Stderr, usage) }
	dir := fs.String("dir", "pki", "PKI directory")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return fmt.Errorf("missing command")
	}
	cmd, rest := fs.Arg(0), fs.Args()[1:]
	switch cmd {
	case "init":
		f := flag.NewFlagSet("init", flag.ContinueOnError)
		name := f.String("name", "Shouwang CA", "CA common name")
		if err := f.Parse(rest); err != nil {
			return err
		}
		if err := pki.Init(*dir, *name, pki.Options{}); err != nil {
			return err
		}
		fmt.Println(filepath.Join(*dir, pki.CACert))
	case "server":
		if len(rest) == 0 {
			return fmt.Errorf("server: give the broker's host names / IP addresses")
		}
		if err := pki.IssueServer(*dir, rest, pki.Options{}); err != nil {
			return err
		}
		fmt.Println(filepath.Join(*dir, pki.ServerCert))
	case "gateway":
		if len(rest) != 1 {
			return fmt.Errorf("gateway: give exactly one gateway ID")
		}
		cert, _, err := pki.IssueGateway(*dir, rest[0], pki.Options{})
		if err != nil {
			return err
		}
		fmt.Println(cert)
	case "keygen":
		if len(rest) != 2 {
			return fmt.Errorf("keygen: give PRIV and PUB paths")
		}
		return update.GenerateKey(rest[0], rest[1])
	case "sign":
		f := flag.NewFlagSet("sign", flag.ContinueOnError)
		key := f.String("key", "", "ed25519 private key (PEM)")
		pkg := f.String("package", "", "package name, e.g. shouwang-edge")
		ver := f.String("version", "", "version X.Y.Z")
		if err := f.Parse(rest); err != nil {
			return err
		}
		if *key == "" || *pkg == "" || *ver == "" || f.NArg() != 1 {
			return fmt.Errorf("sign: -key, -package, -version and one ARTEFACT are required")
		}
		priv, err := update.ReadPrivateKey(*key)
		if err != nil {
			return err
		}
		m, err := update.Sign(priv, f.Arg(0), *pkg, *ver)
		if err != nil {
			return err
		}
		fmt.Printf("signed %s %s %s sha256=%s\n", m.Name, m.Package, m.Version, m.SHA256)
	case "verify":
		f := flag.NewFlagSet("verify", flag.ContinueOnError)
		pubPath := f.String("pub", "/etc/shouwang/release.pub", "ed25519 public key (PEM)")
		pkg := f.String("package", "", "required package name")
		installed := f.String("installed", "", "installed version; the artefact must be newer")
		if err := f.Parse(rest); err != nil {
			return err
		}
		if f.NArg() != 1 {
			return fmt.Errorf("verify: one ARTEFACT")
		}
		pub, err := update.ReadPublicKey(*pubPath)
		if err != nil {
			return err
		}
		m, err := update.Verify(pub, f.Arg(0), update.Check{Package: *pkg, Installed: *installed})
		if err != nil {
			return err
		}
		fmt.Printf("ok %s %s %s\n", m.Name, m.Package, m.Version)
	default:
		fs.Usage()
		return fmt.Errorf("unknown command %q", cmd)
	}
	return nil
}
