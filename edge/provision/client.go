package provision

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"unicode"
)

// Errors a claim can end with before anything is written, told apart so the
// installer is told what to do (Hint).
var (
	ErrUnreachable = errors.New("cloud unreachable")
	ErrUntrusted   = errors.New("cloud's TLS certificate not trusted")
)

// Refused is the cloud's answer to a claim it did not grant: its status and
// its {"error":{"code","message"}}, whose message says what to do.
type Refused struct {
	Status  int
	Code    string
	Message string
}

func (e *Refused) Error() string {
	return fmt.Sprintf("the cloud refused the claim (%d %s): %s", e.Status, e.Code, e.Message)
}

// maxReply bounds what is read of the cloud's answer; a claim reply is ~200 bytes.
const maxReply = 64 << 10

// claimURL checks the --cloud URL and returns the claim endpoint under it.
// Plain http is allowed only to this machine: elsewhere the secret would cross
// the network in clear.
func claimURL(base string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(base))
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return "", fmt.Errorf("--cloud %q: want the cloud's address, like https://cloud.example.org", base)
	}
	if u.Scheme == "http" && !loopback(u.Hostname()) {
		return "", fmt.Errorf("--cloud %q: refusing plain http, the gateway's secret would cross the network unencrypted; use https://", base)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("--cloud %q: want only scheme, host and path", base)
	}
	u.Path = strings.TrimRight(u.Path, "/") + "/api/v1/claim"
	u.RawPath = ""
	return u.String(), nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// newClient verifies the cloud's certificate against caFile's roots, or the
// system's when caFile is "". There is no switch to skip verification: the
// answer carries the gateway's secret.
func newClient(caFile string) (*http.Client, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("--ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca %s: no PEM certificate in it", caFile)
		}
		tc.RootCAs = pool
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	return &http.Client{
		Transport: tr,
		// A redirect would resend the code somewhere the installer did not name.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}, nil
}

// reply is the cloud's 200 answer to a claim.
type reply struct {
	GatewayID    string `json:"gateway_id"`
	HomeID       string `json:"home_id"`
	HomeAddress  string `json:"home_address"`
	MQTTUsername string `json:"mqtt_username"`
	MQTTPassword string `json:"mqtt_password"`
}

// redeem posts the code and returns the cloud's checked answer.
func redeem(ctx context.Context, c *http.Client, endpoint, code, gatewayID string) (reply, error) {
	body, _ := json.Marshal(map[string]string{"code": code, "gateway_id": gatewayID})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return reply{}, fmt.Errorf("claim request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return reply{}, transportError(endpoint, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxReply))
	if err != nil {
		return reply{}, fmt.Errorf("%w: %s: reading the answer: %w", ErrUnreachable, endpoint, err)
	}
	return parseReply(resp.StatusCode, b, gatewayID)
}

// transportError tells a certificate problem (fixable with --ca) from a cloud
// that cannot be reached at all.
func transportError(endpoint string, err error) error {
	// url.Error repeats the method and URL, which the message says already.
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	var ci x509.CertificateInvalidError
	var tv *tls.CertificateVerificationError
	if errors.As(err, &ua) || errors.As(err, &he) || errors.As(err, &ci) || errors.As(err, &tv) {
		return fmt.Errorf("%w: %s: %w", ErrUntrusted, endpoint, err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: %s: no answer in time", ErrUnreachable, endpoint)
	}
	return fmt.Errorf("%w: %s: %w", ErrUnreachable, endpoint, err)
}

// parseReply reads the cloud's answer to a claim by gatewayID. Anything but a
// well-formed grant is an error, and no error repeats the secret.
func parseReply(status int, b []byte, gatewayID string) (reply, error) {
	if status != http.StatusOK {
		var e struct {
			Error struct{ Code, Message string }
		}
		if json.Unmarshal(b, &e) != nil || e.Error.Message == "" {
			// Not the API's error shape: a proxy's page, most likely.
			return reply{}, &Refused{Status: status, Code: "unexpected", Message: printable(string(b), 200)}
		}
		return reply{}, &Refused{Status: status, Code: printable(e.Error.Code, 64), Message: printable(e.Error.Message, 500)}
	}
	var r reply
	if err := json.Unmarshal(b, &r); err != nil {
		return reply{}, fmt.Errorf("the cloud's answer is not a claim grant: %w", err)
	}
	switch {
	case r.GatewayID != gatewayID || r.MQTTUsername != gatewayID:
		return reply{}, fmt.Errorf("the cloud granted gateway %q with username %q, but %q asked", printable(r.GatewayID, 64), printable(r.MQTTUsername, 64), gatewayID)
	case r.HomeID == "":
		return reply{}, errors.New("the cloud's grant names no home")
	case !wellFormedSecret(r.MQTTPassword):
		return reply{}, fmt.Errorf("the cloud's grant has no usable secret (%d characters)", len(r.MQTTPassword))
	}
	r.HomeID, r.HomeAddress = printable(r.HomeID, 64), printable(r.HomeAddress, 200)
	return r, nil
}

// wellFormedSecret: the cloud issues 43 URL-safe characters; a secret is a line
// in a file the daemon trims, so no spaces or control characters.
func wellFormedSecret(s string) bool {
	if len(s) < 16 || len(s) > 512 {
		return false
	}
	for _, c := range []byte(s) {
		if c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

// printable keeps text from the cloud from moving the installer's cursor or
// flooding the terminal: control and format (bidi) characters go, at most max
// runes stay.
func printable(s string, max int) string {
	var b strings.Builder
	n := 0
	for _, r := range s {
		if n == max {
			b.WriteString("…")
			break
		}
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == unicode.ReplacementChar {
			r = ' '
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}
