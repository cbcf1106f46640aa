package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/shouwang-care/shouwang/firmware-protocol/mqttv1"
)

// Alert statuses on the cloud side (the closed loop grows from here).
const (
	StatusUnassigned = "unassigned"
	StatusDispatched = "dispatched"
)

// Alert is an alert as the cloud knows it: the edge's facts plus dispatch.
type Alert struct {
	ID           string            `json:"id"`
	Gateway      string            `json:"gateway"`
	HomeID       string            `json:"home_id"`
	Address      string            `json:"address"`
	Resident     string            `json:"resident"`
	Rule         string            `json:"rule"`
	Severity     string            `json:"severity"`
	Class        string            `json:"class"`
	State        string            `json:"state"`
	Status       string            `json:"status"`
	RaisedAt     time.Time         `json:"raised_at"`
	ClearedAt    *time.Time        `json:"cleared_at"`
	ReceivedAt   time.Time         `json:"received_at"`
	Evidence     []mqttv1.Evidence `json:"evidence"`
	Assignee     *Assignee         `json:"assignee"`
	DispatchedAt *time.Time        `json:"dispatched_at"`
	IncidentID   string            `json:"incident_id"`
}

// Assignee is the worker an alert was dispatched to.
type Assignee struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Phone string `json:"phone"`
}

// IngestAlert commits one alert message idempotently on (id, state). It reports
// whether the message was new; a duplicate changes nothing.
func (s *Store) IngestAlert(ctx context.Context, a mqttv1.Alert, received time.Time) (bool, error) {
	payload, err := json.Marshal(a)
	if err != nil {
		return false, fmt.Errorf("ingest alert %s: %w", a.ID, err)
	}
	evidence, _ := json.Marshal(a.Evidence)
	created := false
	err = s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO alert_messages (alert_id, state, received_at, payload) VALUES ($1, $2, $3, $4)
			ON CONFLICT (alert_id, state) DO NOTHING`, a.ID, string(a.State), ms(received), string(payload))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		created = true
		var home sql.NullString
		if err := tx.QueryRowContext(ctx, `SELECT home_id FROM gateways WHERE id = $1`, a.Gateway).Scan(&home); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		var cleared any
		if a.State == mqttv1.Cleared {
			cleared = ms(a.At)
		}
		// A clear may overtake its raise on the wire; whichever comes first creates the
		// row, and a late raise never reopens a cleared alert.
		_, err = tx.ExecContext(ctx, `INSERT INTO alerts (id, gateway_id, home_id, rule, severity, class, state, status, raised_at, cleared_at, received_at, evidence)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
			ON CONFLICT (id) DO NOTHING`,
			a.ID, a.Gateway, home, a.Rule, string(a.Severity), string(a.Class), string(a.State), StatusUnassigned,
			ms(a.RaisedAt), cleared, ms(received), string(evidence))
		if err != nil {
			return err
		}
		if a.State == mqttv1.Cleared {
			_, err = tx.ExecContext(ctx, `UPDATE alerts SET state = $1, cleared_at = $2 WHERE id = $3`, string(mqttv1.Cleared), ms(a.At), a.ID)
		}
		return err
	})
	if err != nil {
		return false, fmt.Errorf("ingest alert %s/%s: %w", a.ID, a.State, err)
	}
	return created, nil
}

// UnattachedAlerts lists alerts of bound homes not yet in an incident (new, or
// committed just before a crash), oldest first. Info-level alerts (away suggested,
// "I'm OK" cancellations, a slow leak) are recorded but page nobody. A resident alert
// that arrives already cleared still opens a case: an SOS pressed while the cloud
// was unreachable, and re-armed on the gateway since, must reach a person.
func (s *Store) UnattachedAlerts(ctx context.Context, limit int) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id FROM alerts WHERE incident_id IS NULL AND home_id IS NOT NULL AND severity <> 'info'
		AND (state = $1 OR class = 'resident') ORDER BY received_at LIMIT $2`, string(mqttv1.Raised), limit)
	if err != nil {
		return nil, fmt.Errorf("list unattached alerts: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// AlertsOfIncident returns the alerts grouped into an incident.
func (s *Store) AlertsOfIncident(ctx context.Context, incidentID string) ([]Alert, error) {
	return s.queryAlerts(ctx, alertSelect+` WHERE a.incident_id = $1 ORDER BY a.received_at`, incidentID)
}

const alertSelect = `SELECT a.id, a.gateway_id, COALESCE(a.home_id, ''), COALESCE(h.address, ''), COALESCE(h.resident_name, ''),
	a.rule, a.severity, a.class, a.state, a.status, a.raised_at, a.cleared_at, a.received_at, a.evidence,
	w.id, w.name, w.phone, a.dispatched_at, COALESCE(a.incident_id, '')
	FROM alerts a LEFT JOIN homes h ON h.id = a.home_id LEFT JOIN workers w ON w.id = a.assignee_id`

// Alerts returns the newest alerts first.
func (s *Store) Alerts(ctx context.Context, limit int) ([]Alert, error) {
	return s.queryAlerts(ctx, alertSelect+` ORDER BY a.received_at DESC, a.id DESC LIMIT $1`, limit)
}

func (s *Store) queryAlerts(ctx context.Context, q string, args ...any) ([]Alert, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list alerts: %w", err)
	}
	defer rows.Close()
	var out []Alert
	for rows.Next() {
		a, err := scanAlert(rows)
		if err != nil {
			return nil, fmt.Errorf("list alerts: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// Alert returns one alert.
func (s *Store) Alert(ctx context.Context, id string) (Alert, error) {
	a, err := scanAlert(s.db.QueryRowContext(ctx, alertSelect+` WHERE a.id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return a, ErrNotFound
	}
	if err != nil {
		return a, fmt.Errorf("alert %s: %w", id, err)
	}
	return a, nil
}

func scanAlert(r interface{ Scan(...any) error }) (Alert, error) {
	var a Alert
	var raised, received int64
	var cleared, dispatched sql.NullInt64
	var evidence string
	var wid, wname, wphone sql.NullString
	if err := r.Scan(&a.ID, &a.Gateway, &a.HomeID, &a.Address, &a.Resident, &a.Rule, &a.Severity, &a.Class, &a.State, &a.Status,
		&raised, &cleared, &received, &evidence, &wid, &wname, &wphone, &dispatched, &a.IncidentID); err != nil {
		return a, err
	}
	a.RaisedAt, a.ReceivedAt = time.UnixMilli(raised), time.UnixMilli(received)
	a.ClearedAt, a.DispatchedAt = fromMS(cleared), fromMS(dispatched)
	if err := json.Unmarshal([]byte(evidence), &a.Evidence); err != nil {
		return a, fmt.Errorf("alert %s evidence: %w", a.ID, err)
	}
	if wid.Valid {
		a.Assignee = &Assignee{ID: wid.String, Name: wname.String, Phone: wphone.String}
	}
	return a, nil
}

// AccessScope tells the live stream whose data this is.
func (a Alert) AccessScope() (home, class, recipient string) { return a.HomeID, a.Class, "" }
