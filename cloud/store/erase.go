package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// HomeExport is everything the cloud holds about a home's resident.
type HomeExport struct {
	HomeID     string              `json:"home_id"`
	ExportedAt time.Time           `json:"exported_at"`
	Home       map[string]any      `json:"home"`
	Residents  []map[string]any    `json:"residents"`
	Contacts   []map[string]any    `json:"emergency_contacts"`
	Medical    []map[string]any    `json:"medical_notes"`
	Family     []map[string]any    `json:"family_members"`
	Alerts     []Alert             `json:"alerts"`
	Incidents  []Incident          `json:"incidents"`
	Settings   []HomeConfig        `json:"settings"`
	Privacy    map[string][]string `json:"privacy"`
	Audit      []AuditEntry        `json:"audit"`
}

func (s *Store) rowsAsMaps(ctx context.Context, q string, args ...any) ([]map[string]any, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	out := []map[string]any{}
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		m := map[string]any{}
		for i, c := range cols {
			if b, ok := vals[i].([]byte); ok {
				vals[i] = string(b)
			}
			m[c] = vals[i]
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// ExportHome gathers a home's data for the resident (a copy of what we hold).
func (s *Store) ExportHome(ctx context.Context, homeID string, now time.Time) (HomeExport, error) {
	x := HomeExport{HomeID: homeID, ExportedAt: now}
	homes, err := s.rowsAsMaps(ctx, `SELECT id, grid_id, address, resident_name FROM homes WHERE id = $1`, homeID)
	if err != nil {
		return x, fmt.Errorf("export home %s: %w", homeID, err)
	}
	if len(homes) == 0 {
		return x, ErrNotFound
	}
	x.Home = homes[0]
	steps := []struct {
		dst *[]map[string]any
		q   string
	}{
		{&x.Residents, `SELECT id, name, phone FROM residents WHERE home_id = $1`},
		{&x.Contacts, `SELECT c.resident_id, c.seq, c.name, c.relation, c.phone FROM emergency_contacts c JOIN residents r ON r.id = c.resident_id WHERE r.home_id = $1`},
		{&x.Medical, `SELECT m.resident_id, m.notes, m.updated_at FROM resident_medical m JOIN residents r ON r.id = m.resident_id WHERE r.home_id = $1`},
		{&x.Family, `SELECT f.id, f.resident_id, f.name, f.relation, f.phone FROM family_members f JOIN residents r ON r.id = f.resident_id WHERE r.home_id = $1`},
	}
	for _, st := range steps {
		if *st.dst, err = s.rowsAsMaps(ctx, st.q, homeID); err != nil {
			return x, fmt.Errorf("export home %s: %w", homeID, err)
		}
	}
	if x.Alerts, err = s.queryAlerts(ctx, alertSelect+` WHERE a.home_id = $1 ORDER BY a.received_at`, homeID); err != nil {
		return x, err
	}
	if x.Alerts == nil {
		x.Alerts = []Alert{}
	}
	ids, err := s.rowsAsMaps(ctx, `SELECT id FROM incidents WHERE home_id = $1 ORDER BY opened_at`, homeID)
	if err != nil {
		return x, fmt.Errorf("export home %s: %w", homeID, err)
	}
	x.Incidents = []Incident{}
	for _, row := range ids {
		in, err := s.Incident(ctx, fmt.Sprint(row["id"]))
		if err != nil {
			return x, err
		}
		x.Incidents = append(x.Incidents, in)
	}
	if x.Settings, err = s.HomeConfigs(ctx, homeID); err != nil {
		return x, err
	}
	if x.Privacy, err = s.Privacy(ctx, homeID); err != nil {
		return x, err
	}
	if x.Audit, err = s.AuditLog(ctx, homeID, 100000); err != nil {
		return x, err
	}
	return x, nil
}

// EraseHome deletes the resident's data in one transaction: alerts, incidents and
// their timelines and pages, residents, contacts, medical notes, family, privacy
// choices and the links of family logins. What stays: the home (a flat, with its
// grid and gateway), its settings row (it carries the erase to the gateway) and the
// audit log, which records access and, now, this erasure — records the law requires
// us to keep. It returns the gateways whose telemetry the caller must erase.
func (s *Store) EraseHome(ctx context.Context, homeID, by, reason string, now time.Time) ([]string, error) {
	var gateways []string
	err := s.tx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT id FROM gateways WHERE home_id = $1`, homeID)
		if err != nil {
			return err
		}
		for rows.Next() {
			var g string
			if err := rows.Scan(&g); err != nil {
				rows.Close()
				return err
			}
			gateways = append(gateways, g)
		}
		rows.Close()
		stmts := []string{
			`DELETE FROM alert_messages WHERE alert_id IN (SELECT id FROM alerts WHERE home_id = $1)`,
			`DELETE FROM notifications WHERE incident_id IN (SELECT id FROM incidents WHERE home_id = $1)`,
			`DELETE FROM incident_events WHERE incident_id IN (SELECT id FROM incidents WHERE home_id = $1)`,
			`DELETE FROM alerts WHERE home_id = $1`,
			`DELETE FROM incidents WHERE home_id = $1`,
			`DELETE FROM emergency_contacts WHERE resident_id IN (SELECT id FROM residents WHERE home_id = $1)`,
			`DELETE FROM resident_medical WHERE resident_id IN (SELECT id FROM residents WHERE home_id = $1)`,
			`DELETE FROM family_members WHERE resident_id IN (SELECT id FROM residents WHERE home_id = $1)`,
			`DELETE FROM residents WHERE home_id = $1`,
			`DELETE FROM privacy_settings WHERE home_id = $1`,
			`DELETE FROM user_homes WHERE home_id = $1`,
			`DELETE FROM family_notices WHERE home_id = $1`,
			`DELETE FROM invites WHERE home_id = $1`,
			`UPDATE homes SET resident_name = '' WHERE id = $1`,
		}
		for _, q := range stmts {
			if _, err := tx.ExecContext(ctx, q, homeID); err != nil {
				return fmt.Errorf("%.50s…: %w", q, err)
			}
		}
		// Alerts the gateway sends later (from before the erase) find no home.
		_, err = tx.ExecContext(ctx, `DELETE FROM alert_messages WHERE alert_id IN (SELECT id FROM alerts WHERE gateway_id IN (SELECT id FROM gateways WHERE home_id = $1))`, homeID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("erase home %s: %w", homeID, err)
	}
	if err := s.Audit(ctx, AuditEntry{At: now, Actor: by, Action: "erase", HomeID: homeID, Object: "home:" + homeID, Reason: reason}); err != nil {
		return gateways, fmt.Errorf("erase home %s: erased, but the confirmation record failed: %w", homeID, err)
	}
	return gateways, nil
}
