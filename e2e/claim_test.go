package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	cloudconfig "github.com/shouwang-care/shouwang/cloud/config"
	"github.com/shouwang-care/shouwang/edge/config"
	"github.com/shouwang-care/shouwang/edge/provision"
	"github.com/shouwang-care/shouwang/internal/testinfra"
)

// claimCode has the admin make a one-time code for home through the API, as the
// operator's console does.
func (c *cloud) claimCode(hc *http.Client, home string) string {
	c.t.Helper()
	r, err := hc.Post(c.svc.URL()+"api/v1/homes/"+home+"/claim-codes", "application/json", nil)
	if err != nil {
		c.t.Fatal(err)
	}
	defer r.Body.Close()
	var body struct{ Code string }
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || r.StatusCode != 201 || body.Code == "" {
		c.t.Fatalf("claim code: %d %v", r.StatusCode, err)
	}
	return body.Code
}

// claimConfig writes an edge config as an installer finds it: broker and
// simulation set, with comments, and no credentials. gatewayID "" leaves
// gateway_id out.
func claimConfig(t *testing.T, dir, broker, gatewayID string) string {
	t.Helper()
	id := ""
	if gatewayID != "" {
		id = "gateway_id: " + gatewayID + " # the label on the box\n"
	}
	path := filepath.Join(dir, "edge.yaml")
	body := fmt.Sprintf(`# test gateway: this comment survives the claim
%sstate_dir: %s
metrics_addr: ""
mqtt:
  broker: %s   # the cloud's embedded broker
  resend_interval: 300ms
  heartbeat: 1s
telemetry:
  interval: 200ms
simulate:
  enabled: true
  speed: 36000
  scenario: collapse
`, id, filepath.Join(dir, "state"), broker)
	if err := os.WriteFile(path, []byte(body), 0o640); err != nil {
		t.Fatal(err)
	}
	return path
}

// claim runs `shouwang-edge claim` as a function and returns its output.
func claim(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	// --owner= : the test runs as whoever it runs as, and keeps the secret.
	err := provision.Command(context.Background(), append(args, "--owner="), &out)
	return out.String(), err
}

// TestClaimThenConnect is the installer's provisioning step against a real
// cloud: the admin makes a claim code for the home, `shouwang-edge claim`
// redeems it for a gateway whose config has no ID yet, and the daemon started
// from the config it wrote logs in with the secret it saved: its alert reaches
// the home's grid worker. The code is then spent.
func TestClaimThenConnect(t *testing.T) {
	c := newCloud(t, nil)
	c.seedHome()
	hc := c.client()
	dir := t.TempDir()
	conf := claimConfig(t, dir, "tcp://"+c.cfg.MQTT.Listen, "")
	code := c.claimCode(hc, "home-1")

	out, err := claim(t, "--cloud", c.svc.URL(), "--code", strings.ToLower(code), "--config", conf)
	if err != nil {
		t.Fatalf("claim: %v\n%s", err, out)
	}
	cfg, err := config.Load(conf)
	if err != nil {
		t.Fatalf("the daemon refuses the claimed config: %v", err)
	}
	secretFile := filepath.Join(dir, "edge.secret")
	secret := checkSecretFile(t, secretFile, out)
	for _, want := range []string{"✓ 已绑定到 3-2-301（住户 home-1）", "bound to home home-1: 3-2-301", "gateway ID: " + cfg.GatewayID + "（新生成", "credentials saved: " + secretFile + " (0600)", "config updated: " + conf + " (gateway_id, mqtt.username, mqtt.password_file)", "systemctl restart shouwang-edge"} {
		if !strings.Contains(out, want) {
			t.Errorf("checklist lacks %q:\n%s", want, out)
		}
	}
	b, _ := os.ReadFile(conf)
	if !strings.Contains(string(b), "# test gateway: this comment survives the claim") || !strings.Contains(string(b), "# the cloud's embedded broker") || strings.Contains(string(b), secret) {
		t.Errorf("config after the claim:\n%s", b)
	}
	if fi, _ := os.Stat(conf); fi.Mode().Perm() != 0o640 {
		t.Errorf("config mode %v, want it kept at 0640", fi.Mode().Perm())
	}
	if cfg.MQTT.Username != cfg.GatewayID || cfg.MQTT.PasswordFile != secretFile || !strings.HasPrefix(cfg.GatewayID, "gw-") {
		t.Fatalf("claimed config: %+v", cfg.MQTT)
	}
	gw, err := c.svc.Store.Gateway(context.Background(), cfg.GatewayID)
	if err != nil || gw.HomeID != "home-1" {
		t.Fatalf("gateway in the cloud: %+v %v", gw, err)
	}

	e := startEdge(t, cfg)
	checkDispatched(t, c, hc, "no_water")
	waitFor(t, 10*time.Second, "edge outbox drained by the cloud's acks", func() bool { return e.d.Pending() == 0 })

	// The code is spent: a second gateway cannot use it, and nothing is written.
	dir2 := t.TempDir()
	conf2 := claimConfig(t, dir2, "tcp://"+c.cfg.MQTT.Listen, "gw-claim-0002")
	before, _ := os.ReadFile(conf2)
	out, err = claim(t, "--cloud", c.svc.URL(), "--code", code, "--config", conf2)
	var ref *provision.Refused
	if !errors.As(err, &ref) || ref.Status != 410 || !strings.Contains(err.Error(), "already used") || !strings.Contains(out, "ask the admin for a new one") || !strings.Contains(out, "请管理员重新生成") {
		t.Fatalf("reused code: %v\n%s", err, out)
	}
	checkUntouched(t, dir2, conf2, before)
}

// checkSecretFile checks the secret was saved 0600 as one line and that the
// command's output does not show it; it returns the secret.
func checkSecretFile(t *testing.T, path, out string) string {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("secret file mode %v, want 0600", fi.Mode().Perm())
	}
	b, _ := os.ReadFile(path)
	secret := strings.TrimSuffix(string(b), "\n")
	if len(secret) < 32 || strings.ContainsAny(secret, " \n") {
		t.Fatalf("secret file holds %d bytes", len(b))
	}
	if strings.Contains(out, secret) || strings.Contains(out, secret[:12]) {
		t.Fatalf("the output shows the secret:\n%s", out)
	}
	return secret
}

// checkUntouched: a refused claim leaves the config as it was, writes no secret
// and leaves no temporary file behind.
func checkUntouched(t *testing.T, dir, conf string, before []byte) {
	t.Helper()
	if after, _ := os.ReadFile(conf); !bytes.Equal(after, before) {
		t.Errorf("a refused claim changed the config:\n%s", after)
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if e.Name() != "edge.yaml" {
			t.Errorf("a refused claim left %s", e.Name())
		}
	}
}

// TestClaimRefusals: what the installer sees when the claim cannot be done, and
// that none of it spends the code or writes a file, except the cloud's own
// refusals, which are told apart.
func TestClaimRefusals(t *testing.T) {
	c := newCloud(t, nil)
	c.seedHome()
	hc := c.client()
	code := c.claimCode(hc, "home-1")
	dir := t.TempDir()
	conf := claimConfig(t, dir, "tcp://"+c.cfg.MQTT.Listen, "gw-claim-0010")
	before, _ := os.ReadFile(conf)
	refusal := func(name string, err error, out string, wants ...string) {
		t.Helper()
		if err == nil {
			t.Fatalf("%s: claimed:\n%s", name, out)
		}
		text := err.Error() + "\n" + out
		for _, w := range wants {
			if !strings.Contains(text, w) {
				t.Errorf("%s: %q not said:\n%s", name, w, text)
			}
		}
		checkUntouched(t, dir, conf, before)
	}

	out, err := claim(t, "--cloud", c.svc.URL(), "--code", "ZZZZ-ZZZZ", "--config", conf)
	refusal("wrong code", err, out, "404 claim_code_unknown", "unknown claim code", "绑定码不存在")

	dead := fmt.Sprintf("http://127.0.0.1:%d", testinfra.FreePort(t))
	out, err = claim(t, "--cloud", dead, "--code", code, "--config", conf, "--timeout", "5s")
	if !errors.Is(err, provision.ErrUnreachable) {
		t.Errorf("unreachable cloud: %v", err)
	}
	refusal("unreachable cloud", err, out, "cloud unreachable: "+dead+"/api/v1/claim: dial tcp", "connection refused", "cannot reach the cloud", "无法连接云端")

	// The secret's directory cannot be written: refused before the code is sent.
	missing := filepath.Join(dir, "missing", "edge.secret")
	bad := filepath.Join(t.TempDir(), "edge.yaml")
	if err := os.WriteFile(bad, bytes.Replace(before, []byte("  resend_interval:"), []byte("  password_file: "+missing+"\n  resend_interval:"), 1), 0o640); err != nil {
		t.Fatal(err)
	}
	out, err = claim(t, "--cloud", c.svc.URL(), "--code", code, "--config", bad)
	if !errors.Is(err, provision.ErrWrite) {
		t.Errorf("unwritable secret: %v", err)
	}
	refusal("unwritable secret", err, out, "cannot create files in "+filepath.Dir(missing), "run with sudo", "the code was not used")

	// A config the daemon would refuse: refused before the code is sent, with
	// the file and the field.
	typo := filepath.Join(t.TempDir(), "edge.yaml")
	if err := os.WriteFile(typo, append(append([]byte{}, before...), "rulez:\n  no_water_hours: 12\n"...), 0o640); err != nil {
		t.Fatal(err)
	}
	out, err = claim(t, "--cloud", c.svc.URL(), "--code", code, "--config", typo)
	refusal("config with a typo", err, out, "config "+typo, "field rulez not found", "the code was not used")

	out, err = claim(t, "--cloud", c.svc.URL(), "--code", code, "--config", filepath.Join(dir, "nope.yaml"))
	refusal("no config", err, out, "read config", "nope.yaml: no such file")

	if os.Geteuid() == 0 {
		// As root, with no user for the daemon (the package not installed).
		_, err = provision.Claim(context.Background(), provision.Options{Cloud: c.svc.URL(), Code: code, ConfigPath: conf, Owner: "no-such-user"})
		refusal("unknown owner", err, "", "owner of the secret", "no-such-user", "pass --owner")
	}

	// None of that spent the code: it still binds this gateway.
	out, err = claim(t, "--cloud", c.svc.URL(), "--code", code, "--config", conf)
	if err != nil {
		t.Fatalf("claim after the refusals: %v\n%s", err, out)
	}
	checkSecretFile(t, filepath.Join(dir, "edge.secret"), out)
	if !strings.Contains(out, "gateway ID: gw-claim-0010\n") || !strings.Contains(out, "(mqtt.username, mqtt.password_file)") {
		t.Errorf("checklist:\n%s", out)
	}

	// The same gateway ID again with a fresh code: the cloud will not let a code
	// take over a working gateway.
	conf3 := claimConfig(t, t.TempDir(), "tcp://"+c.cfg.MQTT.Listen, "gw-claim-0010")
	out, err = claim(t, "--cloud", c.svc.URL(), "--code", c.claimCode(hc, "home-1"), "--config", conf3)
	var ref *provision.Refused
	if !errors.As(err, &ref) || ref.Status != 409 || !strings.Contains(out, "--gateway-id") || !strings.Contains(out, "请管理员先注销") {
		t.Errorf("second claim of a provisioned gateway: %v\n%s", err, out)
	}
}

// TestClaimTLS: the claim verifies the cloud's certificate, against the system's
// roots by default (a private CA is refused with a hint) and against --ca when
// given. The cloud sits behind a TLS proxy, as behind nginx in production.
func TestClaimTLS(t *testing.T) {
	c := newCloud(t, nil)
	c.seedHome()
	hc := c.client()
	target, _ := url.Parse(c.svc.URL())
	front := httptest.NewTLSServer(httputil.NewSingleHostReverseProxy(target))
	defer front.Close()
	// The config is a link to a file kept elsewhere: the claim updates the file
	// and keeps the link.
	dir, elsewhere := t.TempDir(), t.TempDir()
	linked := claimConfig(t, elsewhere, "tcp://"+c.cfg.MQTT.Listen, "gw-claim-0020")
	conf := filepath.Join(dir, "edge.yaml")
	if err := os.Symlink(linked, conf); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(conf)
	code := c.claimCode(hc, "home-1")

	out, err := claim(t, "--cloud", front.URL, "--code", code, "--config", conf)
	if !errors.Is(err, provision.ErrUntrusted) || !strings.Contains(out, "--ca") || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("untrusted cloud: %v\n%s", err, out)
	}
	checkUntouched(t, dir, conf, before)

	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: front.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = claim(t, "--cloud", front.URL+"/", "--code", code, "--config", conf, "--ca", ca)
	if err != nil {
		t.Fatalf("claim with --ca: %v\n%s", err, out)
	}
	checkSecretFile(t, filepath.Join(dir, "edge.secret"), out)
	if fi, err := os.Lstat(conf); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the config link was replaced: %v %v", fi, err)
	}
	if cfg, err := config.Load(linked); err != nil || cfg.MQTT.PasswordFile != filepath.Join(dir, "edge.secret") {
		t.Errorf("linked config not updated: %+v %v", cfg.MQTT, err)
	}
}

// TestClaimBinary: the installer's commands as built: `shouwang-edge claim`,
// then the daemon from the same binary and config, whose alert reaches the
// grid worker; a reused code exits 1 with the reason.
func TestClaimBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds shouwang-edge")
	}
	c := newCloud(t, nil)
	c.seedHome()
	hc := c.client()
	dir := t.TempDir()
	bin := filepath.Join(dir, "shouwang-edge")
	if out, err := exec.Command("go", "build", "-o", bin, "../edge/cmd/shouwang-edge").CombinedOutput(); err != nil {
		t.Fatalf("build shouwang-edge: %v\n%s", err, out)
	}
	conf := claimConfig(t, dir, "tcp://"+c.cfg.MQTT.Listen, "gw-claim-0030")
	code := c.claimCode(hc, "home-1")
	// As root (sudo, as the installer runs it) the secret goes to the daemon's
	// user; nobody stands in for shouwang here.
	owner, wantOwner := "--owner=", ""
	if os.Geteuid() == 0 {
		owner, wantOwner = "--owner=nobody", "nobody"
	}
	cmd := exec.Command(bin, "claim", "--cloud", c.svc.URL(), "--code", code, "--config", conf, owner)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("shouwang-edge claim: %v\n%s", err, out)
	}
	secretFile := filepath.Join(dir, "edge.secret")
	checkSecretFile(t, secretFile, string(out))
	if !strings.Contains(string(out), "✓ 已绑定到 3-2-301") {
		t.Errorf("output:\n%s", out)
	}
	if wantOwner != "" {
		nobody, err := user.Lookup(wantOwner)
		if err != nil {
			t.Fatal(err)
		}
		fi, _ := os.Stat(secretFile)
		if uid := fmt.Sprint(fi.Sys().(*syscall.Stat_t).Uid); uid != nobody.Uid || !strings.Contains(string(out), "(0600, nobody)") {
			t.Errorf("secret owned by uid %s, want %s (%s):\n%s", uid, nobody.Uid, wantOwner, out)
		}
	}

	daemon := exec.Command(bin, "--config", conf)
	var stderr bytes.Buffer
	daemon.Stderr = &stderr
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = daemon.Process.Signal(os.Interrupt)
		_ = daemon.Wait()
		if t.Failed() {
			t.Logf("daemon log:\n%s", stderr.String())
		}
	}()
	checkDispatched(t, c, hc, "no_water")

	out, err = exec.Command(bin, "claim", "--cloud", c.svc.URL(), "--code", code, "--config", conf, "--owner=").CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(string(out), "✗ 绑定失败 / claim failed") || !strings.Contains(string(out), "shouwang-edge: claim: the cloud refused the claim (410 claim_code_spent)") {
		t.Errorf("reused code through the binary: %v\n%s", err, out)
	}
}

// TestClaimMosquitto: with Mosquitto as the broker (deploy/mosquitto), the
// claimed secret reaches the broker by the operator's step: `claim --mosquitto`
// prints the gateway's password_file line, the operator appends it and reloads
// Mosquitto; the daemon, refused until then, logs in and its alert reaches the
// grid worker.
func TestClaimMosquitto(t *testing.T) {
	dir := t.TempDir()
	passwd := filepath.Join(dir, "shouwang.passwd")
	const cloudPassword = "cloud-password-0123456789"
	cloudLine, err := provision.MosquittoLine("shouwang-cloud", cloudPassword)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(passwd, []byte(cloudLine+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mq := testinfra.Mosquitto(t, testinfra.WithMosquittoConfig("allow_anonymous false\npassword_file "+passwd))
	c := newCloud(t, func(cfg *cloudconfig.Config) {
		cfg.MQTT.Broker, cfg.MQTT.Username, cfg.MQTT.Password = mq.Addr, "shouwang-cloud", cloudPassword
	})
	c.seedHome()
	hc := c.client()
	gwDir := t.TempDir()
	conf := claimConfig(t, gwDir, mq.Addr, "gw-claim-0040")
	out, err := claim(t, "--cloud", c.svc.URL(), "--code", c.claimCode(hc, "home-1"), "--config", conf, "--mosquitto")
	if err != nil {
		t.Fatalf("claim: %v\n%s", err, out)
	}
	checkSecretFile(t, filepath.Join(gwDir, "edge.secret"), out)
	var line string
	for _, l := range strings.Split(out, "\n") {
		if l, ok := strings.CutPrefix(l, "  gw-claim-0040:$7$101$"); ok {
			line = "gw-claim-0040:$7$101$" + l
		}
	}
	if line == "" || !strings.Contains(out, "password_file line for the operator") {
		t.Fatalf("no Mosquitto line in the checklist:\n%s", out)
	}
	cfg, err := config.Load(conf)
	if err != nil {
		t.Fatal(err)
	}
	e := startEdge(t, cfg)
	waitFor(t, 20*time.Second, "Mosquitto refusing the gateway it does not know yet", func() bool {
		// Mosquitto 2.0 names a refused client <unknown>; the cloud is logged in.
		return strings.Contains(mq.Log(), "disconnected, not authorised")
	})

	// The operator's step: append the line, reload.
	f, err := os.OpenFile(passwd, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(line + "\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	mq.Stop()
	mq.Start()
	checkDispatched(t, c, hc, "no_water")
	waitFor(t, 10*time.Second, "edge outbox drained by the cloud's acks", func() bool { return e.d.Pending() == 0 })
}
