// Package provision is the gateway's side of the cloud's claim (POST
// /api/v1/claim, cloud/registry): `shouwang-edge claim` redeems the installer's
// one-time code for this gateway's MQTT secret, writes the secret where the
// config points (0600, atomically) and makes the config use it.
//
// The code is spent by the cloud the moment it answers, and the secret is shown
// only that once. So everything that can fail locally (the config, the files'
// directories, the secret's owner) is checked and the temporary files are
// created before the code is sent; after the answer only the renames are left.
package provision

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"time"

	"github.com/shouwang-care/shouwang/firmware-protocol/mqttv1"
)

// Options are the claim's inputs; the command's flags fill them.
type Options struct {
	Cloud      string        // the cloud's base URL, https://cloud.example.org (a path prefix is kept)
	Code       string        // the claim code as typed; the cloud ignores case, spaces and dashes
	ConfigPath string        // the edge config (edge.yaml), edited in place
	GatewayID  string        // "" = the config's gateway_id, or a new one written to the config
	CAFile     string        // PEM roots trusted for the cloud's certificate; "" = the system's
	Owner      string        // when run as root: the user who gets the secret (the daemon's); "" = root keeps it
	Timeout    time.Duration // for the whole claim; 0 = DefaultTimeout
	Mosquitto  bool          // also make the gateway's line for a Mosquitto password_file
}

// DefaultTimeout bounds a claim: a mobile link in a basement is slow, but an
// installer must not stare at a hung command.
const DefaultTimeout = 30 * time.Second

// Result is what a successful claim did, for the installer's checklist.
type Result struct {
	GatewayID   string
	Generated   bool // the gateway ID was made here and written to the config
	HomeID      string
	HomeAddress string
	SecretFile  string
	Owner       string // who owns SecretFile, when it was given away
	ConfigFile  string
	Changed     []string // config keys set, as spelled in the file; empty if it was right already
	// MosquittoLine is the gateway's password_file line for the operator's
	// Mosquitto (Options.Mosquitto): a salted hash, not the secret.
	MosquittoLine string
}

// ErrWrite marks a local file that cannot be read or written: the config, the
// secret or their directories.
var ErrWrite = errors.New("cannot read or write the gateway's files")

// Claim redeems o.Code for this gateway's credentials and configures the daemon
// to use them.
func Claim(ctx context.Context, o Options) (Result, error) {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	endpoint, err := claimURL(o.Cloud)
	if err != nil {
		return Result{}, err
	}
	if o.Code == "" {
		return Result{}, errors.New("no claim code: pass --code with the code the admin gave (like 7KQ2-M9XD)")
	}
	httpc, err := newClient(o.CAFile)
	if err != nil {
		return Result{}, err
	}

	src, err := os.ReadFile(o.ConfigPath)
	if err != nil {
		return Result{}, fmt.Errorf("%w: read config: %w", ErrWrite, err)
	}
	plan, err := planConfig(src, o.GatewayID, defaultSecretPath(o.ConfigPath))
	if err != nil {
		return Result{}, fmt.Errorf("config %s: %w", o.ConfigPath, err)
	}
	uid, gid, err := secretOwner(o.Owner)
	if err != nil {
		return Result{}, err
	}

	secret, err := prepare(realPath(plan.secretPath))
	if err != nil {
		return Result{}, err
	}
	defer secret.abort()
	var conf *pending
	if plan.changed() {
		if conf, err = prepare(realPath(o.ConfigPath)); err != nil {
			return Result{}, err
		}
		defer conf.abort()
	}

	reply, err := redeem(ctx, httpc, endpoint, o.Code, plan.gatewayID)
	if err != nil {
		return Result{}, err
	}
	// From here the code is spent: say what the cloud did and what is left to do.
	if err := secret.commit([]byte(reply.MQTTPassword+"\n"), 0o600, uid, gid); err != nil {
		return Result{}, fmt.Errorf("%w: the cloud bound gateway %s to home %s, but the secret was not saved (%w); ask an admin to revoke gateway %s and issue a new code", ErrIncomplete, plan.gatewayID, reply.HomeID, err, plan.gatewayID)
	}
	if conf != nil {
		mode, cuid, cgid := fileOwner(o.ConfigPath)
		if err := conf.commit(plan.out, mode, cuid, cgid); err != nil {
			return Result{}, fmt.Errorf("%w: gateway %s is bound to home %s and its secret is in %s, but the config was not updated (%w); set in %s by hand: %s", ErrIncomplete, plan.gatewayID, reply.HomeID, plan.secretPath, err, o.ConfigPath, plan.summary())
		}
	}
	r := Result{
		GatewayID: plan.gatewayID, Generated: plan.generated,
		HomeID: reply.HomeID, HomeAddress: reply.HomeAddress,
		SecretFile: plan.secretPath, ConfigFile: o.ConfigPath, Changed: plan.keys,
	}
	if uid >= 0 {
		r.Owner = o.Owner
	}
	if o.Mosquitto {
		if r.MosquittoLine, err = MosquittoLine(plan.gatewayID, reply.MQTTPassword); err != nil {
			return r, fmt.Errorf("%w: the gateway is claimed and configured, but %w", ErrIncomplete, err)
		}
	}
	return r, nil
}

// defaultSecretPath is where the secret goes when the config names no
// password_file: beside the config, as the packaged example has it.
func defaultSecretPath(configPath string) string {
	abs, err := filepath.Abs(configPath)
	if err != nil {
		abs = configPath
	}
	return filepath.Join(filepath.Dir(abs), "edge.secret")
}

// newGatewayID makes an ID for a gateway whose config has none: random, so two
// installers never claim the same one (a shared placeholder would make the
// second claim a 409).
func newGatewayID() string {
	b := make([]byte, 5)
	rand.Read(b)
	return "gw-" + hex.EncodeToString(b)
}

// validID is mqttv1's rule, which the cloud and broker apply too.
func validID(id string) error { return mqttv1.ValidGatewayID(id) }

// secretOwner resolves the user the daemon runs as. Only root can give a file
// away, and only root needs to: the packaged daemon runs as shouwang and must
// read a 0600 secret that the installer wrote with sudo. -1 means keep.
func secretOwner(name string) (uid, gid int, err error) {
	if name == "" || os.Geteuid() != 0 {
		return -1, -1, nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		return -1, -1, fmt.Errorf("owner of the secret: %w (the shouwang-edge package creates user shouwang; pass --owner with the user the daemon runs as)", err)
	}
	uid, err = strconv.Atoi(u.Uid)
	if err == nil {
		gid, err = strconv.Atoi(u.Gid)
	}
	if err != nil {
		return -1, -1, fmt.Errorf("owner of the secret: user %s: %w", name, err)
	}
	return uid, gid, nil
}
