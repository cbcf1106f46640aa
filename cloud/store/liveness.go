package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Inhibited rules are the "nothing happened" kind: while a home's gateway is offline
// they cannot be judged, and the gateway-offline incident already sends someone.
var Inhibited = map[string]bool{"no_water": true, "no_motion": true, "no_exit": true, "power_flat": true}

// SilentGateway is a bound gateway that has not been heard from within its budget.
type SilentGateway struct {
	ID, HomeID string
	LastSeen   time.Time
}

// SilentGateways lists gateways heard from before cutoff and not yet marked offline.
// A gateway never heard from is not installed yet and is not listed.
func (s *Store) SilentGateways(ctx context.Context, cutoff time.Time) ([]SilentGateway, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, home_id, last_seen_at FROM gateways
		WHERE home_id IS NOT NULL AND last_seen_at IS NOT NULL AND last_seen_at < $1 AND offline_since IS NULL`, ms(cutoff))
	if err != nil {
		return nil, fmt.Errorf("silent gateways: %w", err)
	}
	defer rows.Close()
	var out []SilentGateway
	for rows.Next() {
		var g SilentGateway
		var seen int64
		if err := rows.Scan(&g.ID, &g.HomeID, &seen); err != nil {
			return nil, err
		}
		g.LastSeen = time.UnixMilli(seen)
		out = append(out, g)
	}
	return out, rows.Err()
}

// MarkOffline records that gateway id went silent and which alert says so.
func (s *Store) MarkOffline(ctx context.Context, id, alertID string, since time.Time) error {
	if _, err := s.db.ExecContext(ctx, `UPDATE gateways SET online = 0, offline_since = $1, offline_alert_id = $2 WHERE id = $3`, ms(since), alertID, id); err != nil {
		return fmt.Errorf("mark gateway %s offline: %w", id, err)
	}
	return nil
}

// RecoveredGateway is an offline gateway heard from again.
type RecoveredGateway struct {
	ID, HomeID, AlertID string
	Since, Seen         time.Time
}

// RecoveredGateways lists gateways marked offline that have been heard from since.
func (s *Store) RecoveredGateways(ctx context.Context) ([]RecoveredGateway, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, home_id, COALESCE(offline_alert_id, ''), offline_since, last_seen_at FROM gateways
		WHERE offline_since IS NOT NULL AND last_seen_at > offline_since`)
	if err != nil {
		return nil, fmt.Errorf("recovered gateways: %w", err)
	}
	defer rows.Close()
	var out []RecoveredGateway
	for rows.Next() {
		var g RecoveredGateway
		var home sql.NullString
		var since, seen int64
		if err := rows.Scan(&g.ID, &home, &g.AlertID, &since, &seen); err != nil {
			return nil, err
		}
		g.HomeID, g.Since, g.Seen = home.String, time.UnixMilli(since), time.UnixMilli(seen)
		out = append(out, g)
	}
	return out, rows.Err()
}

// MarkRecovered clears the offline mark and lifts the inhibition of the home's
// incidents: they start escalating now.
func (s *Store) MarkRecovered(ctx context.Context, g RecoveredGateway, now time.Time) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE gateways SET offline_since = NULL, offline_alert_id = NULL WHERE id = $1`, g.ID); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT id FROM incidents WHERE home_id = $1 AND inhibited = 1`, g.HomeID)
		if err != nil {
			return err
		}
		var ids []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
		}
		rows.Close()
		for _, id := range ids {
			if _, err := tx.ExecContext(ctx, `UPDATE incidents SET inhibited = 0,
				next_escalation_at = CASE WHEN state IN ($1, $2) THEN CAST($3 AS BIGINT) ELSE next_escalation_at END WHERE id = $4`,
				IncDiscovered, IncDispatched, ms(now), id); err != nil {
				return err
			}
			if err := addEvent(ctx, tx, id, now, "system", "uninhibited", "gateway "+g.ID+" back online"); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("gateway %s recovered: %w", g.ID, err)
	}
	return nil
}

// inhibit holds a new incident's escalation while its home's gateway is offline.
func inhibit(ctx context.Context, tx *sql.Tx, incID, homeID, rule string, now time.Time) error {
	if !Inhibited[rule] {
		return nil
	}
	var gw string
	err := tx.QueryRowContext(ctx, `SELECT id FROM gateways WHERE home_id = $1 AND offline_since IS NOT NULL LIMIT 1`, homeID).Scan(&gw)
	if err == sql.ErrNoRows {
		return nil
	}
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE incidents SET inhibited = 1, next_escalation_at = NULL WHERE id = $1`, incID); err != nil {
		return err
	}
	return addEvent(ctx, tx, incID, now, "system", "inhibited", "gateway "+gw+" offline: "+rule+" cannot be judged")
}
