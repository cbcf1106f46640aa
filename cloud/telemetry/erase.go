package telemetry

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Erase deletes every series of a gateway (erasing a resident). InfluxDB 1.8 has
// no v2 delete endpoint, so this uses InfluxQL's DROP SERIES on the bucket's
// database; the gateway ID is validated, so it cannot break out of the quotes.
func (i *Influx) Erase(ctx context.Context, gateway string) error {
	if err := checkGateway(gateway); err != nil {
		return fmt.Errorf("erase telemetry: %w", err)
	}
	db, _, _ := strings.Cut(i.bucket, "/")
	form := url.Values{"db": {db}, "q": {fmt.Sprintf(`DROP SERIES WHERE "gateway" = '%s'`, gateway)}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, i.url+"/query", strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("erase telemetry of %s: %w", gateway, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if i.token != "" {
		req.Header.Set("Authorization", "Token "+i.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("erase telemetry of %s: %w", gateway, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK || strings.Contains(string(body), `"error"`) {
		return fmt.Errorf("erase telemetry of %s: InfluxDB said %d %s", gateway, resp.StatusCode, body)
	}
	return nil
}

// Erase deletes every point of a gateway.
func (s *SQL) Erase(ctx context.Context, gateway string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM telemetry_points WHERE gateway = $1`, gateway); err != nil {
		return fmt.Errorf("erase telemetry of %s: %w", gateway, err)
	}
	return nil
}
