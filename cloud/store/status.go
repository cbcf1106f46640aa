package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Status values of a home, at a glance.
const (
	StatusSafe    = "safe"    // 平安: activity today, nothing open, gateway reporting
	StatusAlert   = "alert"   // an incident is open
	StatusOffline = "offline" // nobody is watching: the gateway is silent
	StatusQuiet   = "quiet"   // no sign of life for a day, no alert yet
)

// HomeStatus is what a family member sees first.
type HomeStatus struct {
	HomeID        string     `json:"home_id"`
	Resident      string     `json:"resident"`
	Status        string     `json:"status"`
	LastActivity  *time.Time `json:"last_activity_at"`
	GatewayOnline bool       `json:"gateway_online"`
	GatewaySeen   *time.Time `json:"gateway_last_seen"`
	OpenIncidents int        `json:"open_incidents"`
	Away          bool       `json:"away"`
}

// HomeStatus summarises a home now.
func (s *Store) HomeStatus(ctx context.Context, homeID string, now time.Time) (HomeStatus, error) {
	st := HomeStatus{HomeID: homeID}
	var online sql.NullInt64
	var seen, activity sql.NullInt64
	var offlineSince sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT h.resident_name, g.online, g.last_seen_at, g.last_activity_at, g.offline_since
		FROM homes h LEFT JOIN gateways g ON g.home_id = h.id WHERE h.id = $1 ORDER BY g.id LIMIT 1`, homeID).
		Scan(&st.Resident, &online, &seen, &activity, &offlineSince)
	if errors.Is(err, sql.ErrNoRows) {
		return st, ErrNotFound
	}
	if err != nil {
		return st, fmt.Errorf("status of %s: %w", homeID, err)
	}
	st.GatewayOnline, st.GatewaySeen, st.LastActivity = online.Int64 == 1 && !offlineSince.Valid, fromMS(seen), fromMS(activity)
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM incidents WHERE home_id = $1 AND class = 'resident' AND state IN ($2, $3, $4, $5)`,
		homeID, IncDiscovered, IncDispatched, IncAccepted, IncOnSite).Scan(&st.OpenIncidents); err != nil {
		return st, fmt.Errorf("status of %s: %w", homeID, err)
	}
	if cfgs, err := s.HomeConfigs(ctx, homeID); err == nil && len(cfgs) == 1 {
		st.Away = cfgs[0].Settings.Away
	}
	switch {
	case st.OpenIncidents > 0:
		st.Status = StatusAlert
	case offlineSince.Valid || st.GatewaySeen == nil:
		st.Status = StatusOffline
	case st.LastActivity == nil || now.Sub(*st.LastActivity) > 24*time.Hour:
		st.Status = StatusQuiet
	default:
		st.Status = StatusSafe
	}
	return st, nil
}

// FamilyHome is one family member and one home they follow.
type FamilyHome struct {
	UserID, Username, Name, HomeID string
}

// FamilyHomes lists who follows which home (for the daily digest).
func (s *Store) FamilyHomes(ctx context.Context) ([]FamilyHome, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT u.id, u.username, u.name, l.home_id FROM user_homes l JOIN users u ON u.id = l.user_id
		WHERE u.role = 'family' ORDER BY u.id, l.home_id`)
	if err != nil {
		return nil, fmt.Errorf("family homes: %w", err)
	}
	defer rows.Close()
	var out []FamilyHome
	for rows.Next() {
		var f FamilyHome
		if err := rows.Scan(&f.UserID, &f.Username, &f.Name, &f.HomeID); err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

// Seen is one gateway's latest signs of life, as ingest batches them.
type Seen struct {
	ID           string
	Online       bool
	At           time.Time
	LastActivity *time.Time
}

// SeenGateways records many gateways' liveness in a few statements (one per 400
// gateways): per-message UPDATEs were half of ingest's cost. Liveness is soft state
// with a minutes-long budget, so ingest flushes it once a second.
func (s *Store) SeenGateways(ctx context.Context, batch []Seen) error {
	const chunk = 400
	for len(batch) > 0 {
		n := min(chunk, len(batch))
		var b strings.Builder
		args := make([]any, 0, 4*n)
		b.WriteString(`WITH v(id, online, at, act) AS (VALUES `)
		for i, g := range batch[:n] {
			if i > 0 {
				b.WriteString(", ")
			}
			k := 4 * i
			fmt.Fprintf(&b, "(CAST($%d AS TEXT), CAST($%d AS INTEGER), CAST($%d AS BIGINT), CAST($%d AS BIGINT))", k+1, k+2, k+3, k+4)
			var act any
			if g.LastActivity != nil {
				act = ms(*g.LastActivity)
			}
			args = append(args, g.ID, boolInt(g.Online), ms(g.At), act)
		}
		b.WriteString(`) UPDATE gateways SET online = v.online, last_seen_at = v.at,
			last_activity_at = CASE WHEN v.act IS NOT NULL AND (gateways.last_activity_at IS NULL OR gateways.last_activity_at < v.act)
				THEN v.act ELSE gateways.last_activity_at END
			FROM v WHERE gateways.id = v.id`)
		if _, err := s.db.ExecContext(ctx, b.String(), args...); err != nil {
			return fmt.Errorf("record liveness of %d gateways: %w", n, err)
		}
		batch = batch[n:]
	}
	return nil
}

// FamilyOfHome lists the family logins following a home.
func (s *Store) FamilyOfHome(ctx context.Context, homeID string) ([]FamilyHome, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT u.id, u.username, u.name, l.home_id FROM user_homes l JOIN users u ON u.id = l.user_id
		WHERE u.role = 'family' AND l.home_id = $1 ORDER BY u.id`, homeID)
	if err != nil {
		return nil, fmt.Errorf("family of %s: %w", homeID, err)
	}
	defer rows.Close()
	var out []FamilyHome
	for rows.Next() {
		var f FamilyHome
		if err := rows.Scan(&f.UserID, &f.Username, &f.Name, &f.HomeID); err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

// GatewayCounts is how many registered gateways are in each state.
type GatewayCounts struct {
	Online, Offline, NeverSeen, Revoked int
}

// CountGateways counts the registry's gateways by liveness. A gateway never seen
// (registered, not yet installed) is not offline: no home is left unwatched by it.
func (s *Store) CountGateways(ctx context.Context) (GatewayCounts, error) {
	var c GatewayCounts
	err := scanRows(ctx, s.db, `SELECT CASE
			WHEN revoked_at IS NOT NULL THEN 'revoked'
			WHEN last_seen_at IS NULL THEN 'never_seen'
			WHEN online = 1 THEN 'online'
			ELSE 'offline' END AS state, COUNT(*)
		FROM gateways GROUP BY 1`, nil, func(scan func(...any) error) error {
		var state string
		var n int
		if err := scan(&state, &n); err != nil {
			return err
		}
		switch state {
		case "revoked":
			c.Revoked = n
		case "never_seen":
			c.NeverSeen = n
		case "online":
			c.Online = n
		default:
			c.Offline = n
		}
		return nil
	})
	if err != nil {
		return GatewayCounts{}, fmt.Errorf("count gateways: %w", err)
	}
	return c, nil
}
