package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Grid is a community's patch of 300–500 households with its workers.
type Grid struct {
	ID, Name, Community string
}

// Worker is a grid worker (网格员) who goes to the door.
type Worker struct {
	ID, GridID, Name, Phone string
	OnDuty                  bool
	Role                    string // worker (default) | backup | supervisor | technician
}

// Home is where a resident lives and a gateway watches.
type Home struct {
	ID, GridID, Address, ResidentName string
}

// PutGrid inserts or updates a grid.
func (s *Store) PutGrid(ctx context.Context, g Grid) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO grids (id, name, community) VALUES ($1, $2, $3)
		ON CONFLICT (id) DO UPDATE SET name = excluded.name, community = excluded.community`, g.ID, g.Name, g.Community)
	if err != nil {
		return fmt.Errorf("put grid %s: %w", g.ID, err)
	}
	return nil
}

// PutWorker inserts or updates a worker.
func (s *Store) PutWorker(ctx context.Context, w Worker) error {
	if w.Role == "" {
		w.Role = "worker"
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO workers (id, grid_id, name, phone, on_duty, role) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (id) DO UPDATE SET grid_id = excluded.grid_id, name = excluded.name, phone = excluded.phone, on_duty = excluded.on_duty, role = excluded.role`,
		w.ID, w.GridID, w.Name, w.Phone, boolInt(w.OnDuty), w.Role)
	if err != nil {
		return fmt.Errorf("put worker %s: %w", w.ID, err)
	}
	return nil
}

// PutHome inserts or updates a home.
func (s *Store) PutHome(ctx context.Context, h Home) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO homes (id, grid_id, address, resident_name) VALUES ($1, $2, $3, $4)
		ON CONFLICT (id) DO UPDATE SET grid_id = excluded.grid_id, address = excluded.address, resident_name = excluded.resident_name`,
		h.ID, h.GridID, h.Address, h.ResidentName)
	if err != nil {
		return fmt.Errorf("put home %s: %w", h.ID, err)
	}
	return nil
}

// PutGateway binds gateway id to a home with the hash of its MQTT secret.
func (s *Store) PutGateway(ctx context.Context, id, homeID, secretHash string) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO gateways (id, home_id, secret_hash, created_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (id) DO UPDATE SET home_id = excluded.home_id, secret_hash = excluded.secret_hash`,
		id, homeID, secretHash, ms(time.Now()))
	if err != nil {
		return fmt.Errorf("put gateway %s: %w", id, err)
	}
	return nil
}

// GatewaySecretHash returns the stored secret hash of a gateway, or ErrNotFound.
func (s *Store) GatewaySecretHash(ctx context.Context, id string) (string, error) {
	var h string
	err := s.db.QueryRowContext(ctx, `SELECT secret_hash FROM gateways WHERE id = $1`, id).Scan(&h)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("gateway %s: %w", id, err)
	}
	return h, nil
}

// GatewayStatus is what the cloud knows of a gateway's liveness.
type GatewayStatus struct {
	ID, HomeID string
	Online     bool
	LastSeen   *time.Time
}

// Gateway returns one gateway's status.
func (s *Store) Gateway(ctx context.Context, id string) (GatewayStatus, error) {
	var g GatewayStatus
	var home sql.NullString
	var online int
	var seen sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT id, home_id, online, last_seen_at FROM gateways WHERE id = $1`, id).Scan(&g.ID, &home, &online, &seen)
	if errors.Is(err, sql.ErrNoRows) {
		return g, ErrNotFound
	}
	if err != nil {
		return g, fmt.Errorf("gateway %s: %w", id, err)
	}
	g.HomeID, g.Online, g.LastSeen = home.String, online == 1, fromMS(seen)
	return g, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// nullInt and nullString keep scans short where many columns may be NULL.
type (
	nullInt    struct{ sql.NullInt64 }
	nullString struct{ sql.NullString }
)

// GatewayOfHome returns the gateway watching a home.
func (s *Store) GatewayOfHome(ctx context.Context, homeID string) (string, error) {
	var id string
	err := s.db.QueryRowContext(ctx, `SELECT id FROM gateways WHERE home_id = $1 ORDER BY id LIMIT 1`, homeID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("gateway of home %s: %w", homeID, err)
	}
	return id, nil
}
