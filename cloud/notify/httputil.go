package notify

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// defaultHTTPClient is used when a config has no HTTPClient. Every call also
// carries the caller's context.
var defaultHTTPClient = &http.Client{Timeout: 15 * time.Second}

func clientOr(c *http.Client) *http.Client {
	if c != nil {
		return c
	}
	return defaultHTTPClient
}

// readBody reads at most 1 MiB of a response.
func readBody(r io.Reader) ([]byte, error) {
	return io.ReadAll(io.LimitReader(r, 1<<20))
}

// httpStatusError classifies a non-2xx HTTP status: 408, 425, 429 and 5xx are
// retryable, other 4xx are not.
func httpStatusError(channel string, resp *http.Response, body []byte) *Error {
	code := fmt.Sprintf("HTTP %d", resp.StatusCode)
	err := fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(truncate(string(body), 300)))
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		return &Error{Channel: channel, Reason: ReasonRateLimited, Code: code, Retryable: true, RetryAfter: retryAfter(resp.Header.Get("Retry-After")), Err: err}
	case resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode == http.StatusTooEarly, resp.StatusCode >= 500:
		e := Transient(channel, code, err)
		e.RetryAfter = retryAfter(resp.Header.Get("Retry-After"))
		return e
	case resp.StatusCode == http.StatusUnauthorized, resp.StatusCode == http.StatusForbidden:
		return Permanent(channel, ReasonAuth, code, err)
	default:
		return Permanent(channel, ReasonRejected, code, err)
	}
}

func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}

// checkBaseURL validates a configurable endpoint.
func checkBaseURL(field, raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%s %q is not a URL: %v", field, raw, err)
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return fmt.Errorf("%s %q must be an http(s) URL", field, raw)
	}
	if u.Host == "" {
		return fmt.Errorf("%s %q has no host", field, raw)
	}
	return nil
}

func joinErrs(prefix string, errs []string) error {
	if len(errs) == 0 {
		return nil
	}
	return errors.New(prefix + strings.Join(errs, "; "))
}
