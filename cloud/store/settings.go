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

// HomeSettings are what family or the grid worker set for a home and the cloud
// pushes to its gateway: away mode, the sleep window, thresholds.
type HomeSettings struct {
	Away          bool       `json:"away"`
	AwayUntil     *time.Time `json:"away_until,omitempty"`
	AwayReason    string     `json:"away_reason,omitempty"` // travel or hospital: for the people, the gateway needs only Away
	NoWaterHours  float64    `json:"no_water_hours,omitempty"`
	NoMotionHours float64    `json:"no_motion_hours,omitempty"`
	SleepStart    string     `json:"sleep_start,omitempty"`
	SleepEnd      string     `json:"sleep_end,omitempty"`
	PreAlarmS     *int       `json:"prealarm_s,omitempty"`
	EraseBefore   *time.Time `json:"erase_before,omitempty"` // set by an erasure, not by people
}

// HomeConfig is a home's settings as the next config revision for its gateway.
type HomeConfig struct {
	HomeID    string       `json:"home_id"`
	GatewayID string       `json:"gateway_id"`
	Revision  int64        `json:"revision"`
	Settings  HomeSettings `json:"settings"`
	UpdatedAt time.Time    `json:"updated_at"`
	UpdatedBy string       `json:"updated_by"`
}

// Config is the retained cloud→edge payload for this revision.
func (h HomeConfig) Config() mqttv1.Config {
	s := h.Settings
	return mqttv1.Config{V: mqttv1.Version, Gateway: h.GatewayID, Revision: h.Revision, Away: s.Away, AwayUntil: s.AwayUntil,
		NoWaterHours: s.NoWaterHours, NoMotionHours: s.NoMotionHours, SleepStart: s.SleepStart, SleepEnd: s.SleepEnd, PreAlarmS: s.PreAlarmS,
		EraseBefore: s.EraseBefore}
}

// PutHomeSettings stores new settings as the next revision. The payload is
// validated as the gateway would validate it, so nothing the edge would refuse is
// stored.
func (s *Store) PutHomeSettings(ctx context.Context, homeID string, set HomeSettings, by string, now time.Time) (HomeConfig, error) {
	var hc HomeConfig
	if set.AwayReason != "" && set.AwayReason != "travel" && set.AwayReason != "hospital" {
		return hc, fmt.Errorf("settings of home %s: away_reason %q: want travel or hospital: %w", homeID, set.AwayReason, ErrConflict)
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var gw sql.NullString
		if err := tx.QueryRowContext(ctx, `SELECT id FROM gateways WHERE home_id = $1 ORDER BY id LIMIT 1`, homeID).Scan(&gw); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		var rev int64
		if err := tx.QueryRowContext(ctx, `SELECT revision FROM home_settings WHERE home_id = $1`, homeID).Scan(&rev); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		hc = HomeConfig{HomeID: homeID, GatewayID: gw.String, Revision: rev + 1, Settings: set, UpdatedAt: now, UpdatedBy: by}
		if hc.GatewayID != "" {
			if _, err := mqttv1.Encode(hc.Config()); err != nil {
				return fmt.Errorf("%w: %w", ErrConflict, err)
			}
		}
		b, _ := json.Marshal(set)
		_, err := tx.ExecContext(ctx, `INSERT INTO home_settings (home_id, revision, settings, updated_at, updated_by) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (home_id) DO UPDATE SET revision = excluded.revision, settings = excluded.settings, updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
			homeID, hc.Revision, string(b), ms(now), by)
		return err
	})
	if err != nil {
		return hc, fmt.Errorf("settings of home %s: %w", homeID, err)
	}
	return hc, nil
}

// HomeConfigs returns the settings of every home with a gateway (to republish), or
// of one home when homeID is not empty.
func (s *Store) HomeConfigs(ctx context.Context, homeID string) ([]HomeConfig, error) {
	q := `SELECT s.home_id, COALESCE(g.id, ''), s.revision, s.settings, s.updated_at, s.updated_by FROM home_settings s
		LEFT JOIN gateways g ON g.home_id = s.home_id`
	var args []any
	if homeID != "" {
		q += ` WHERE s.home_id = $1`
		args = append(args, homeID)
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("home settings: %w", err)
	}
	defer rows.Close()
	var out []HomeConfig
	for rows.Next() {
		var h HomeConfig
		var set string
		var at int64
		if err := rows.Scan(&h.HomeID, &h.GatewayID, &h.Revision, &set, &at, &h.UpdatedBy); err != nil {
			return nil, err
		}
		h.UpdatedAt = time.UnixMilli(at)
		if err := json.Unmarshal([]byte(set), &h.Settings); err != nil {
			return nil, fmt.Errorf("home %s settings: %w", h.HomeID, err)
		}
		out = append(out, h)
	}
	return out, rows.Err()
}
