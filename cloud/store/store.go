// Package store is the cloud's state in SQL: the registry (grids, workers, homes,
// gateways), alerts and the people who log in. One migration set and one set of
// queries serve both SQLite (the embedded default) and PostgreSQL (production): the
// SQL sticks to what both understand, times are Unix milliseconds in BIGINT.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // driver "pgx"
	_ "modernc.org/sqlite"             // driver "sqlite"
)

// Store is safe for concurrent use.
type Store struct {
	db      *sql.DB
	dialect string // "sqlite" or "postgres"
}

// ErrNotFound is returned when a row does not exist.
var ErrNotFound = errors.New("not found")

// Open connects to dsn and applies migrations. A dsn starting with postgres:// or
// postgresql:// is PostgreSQL; anything else is a SQLite file path (or "file:…").
func Open(ctx context.Context, dsn string) (*Store, error) {
	s := &Store{}
	var err error
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		s.dialect = "postgres"
		s.db, err = sql.Open("pgx", dsn)
	} else {
		s.dialect = "sqlite"
		path := strings.TrimPrefix(dsn, "file:")
		// WAL with synchronous=FULL: a committed alert survives a power cut.
		s.db, err = sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=foreign_keys(1)")
		if err == nil {
			// SQLite allows one writer; one connection avoids SQLITE_BUSY under load.
			s.db.SetMaxOpenConns(1)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	if err := s.db.PingContext(ctx); err != nil {
		s.db.Close()
		return nil, fmt.Errorf("connect to %s database: %w", s.dialect, err)
	}
	if err := s.migrate(ctx); err != nil {
		s.db.Close()
		return nil, err
	}
	return s, nil
}

// DB exposes the pool for components that keep their own tables (embedded telemetry).
func (s *Store) DB() *sql.DB { return s.db }

// Dialect is "sqlite" or "postgres".
func (s *Store) Dialect() string { return s.dialect }

// Close closes the pool.
func (s *Store) Close() error { return s.db.Close() }

// migrations are applied in order, once each; never edit one that has shipped.
var migrations = []string{
	`CREATE TABLE grids (
		id TEXT PRIMARY KEY,
		name TEXT NOT NULL,
		community TEXT NOT NULL DEFAULT ''
	);
	CREATE TABLE workers (
		id TEXT PRIMARY KEY,
		grid_id TEXT NOT NULL REFERENCES grids(id),
		name TEXT NOT NULL,
		phone TEXT NOT NULL DEFAULT '',
		on_duty INTEGER NOT NULL DEFAULT 1
	);
	CREATE TABLE homes (
		id TEXT PRIMARY KEY,
		grid_id TEXT NOT NULL REFERENCES grids(id),
		address TEXT NOT NULL,
		resident_name TEXT NOT NULL DEFAULT ''
	);
	CREATE TABLE gateways (
		id TEXT PRIMARY KEY,
		home_id TEXT REFERENCES homes(id),
		secret_hash TEXT NOT NULL DEFAULT '',
		created_at BIGINT NOT NULL,
		online INTEGER NOT NULL DEFAULT 0,
		last_seen_at BIGINT
	);
	CREATE TABLE alerts (
		id TEXT PRIMARY KEY,
		gateway_id TEXT NOT NULL,
		home_id TEXT,
		rule TEXT NOT NULL,
		severity TEXT NOT NULL,
		class TEXT NOT NULL,
		state TEXT NOT NULL,
		status TEXT NOT NULL,
		raised_at BIGINT NOT NULL,
		cleared_at BIGINT,
		received_at BIGINT NOT NULL,
		evidence TEXT NOT NULL,
		assignee_id TEXT REFERENCES workers(id),
		dispatched_at BIGINT
	);
	CREATE INDEX alerts_received ON alerts (received_at);
	CREATE INDEX alerts_status ON alerts (status);
	CREATE TABLE alert_messages (
		alert_id TEXT NOT NULL,
		state TEXT NOT NULL,
		received_at BIGINT NOT NULL,
		payload TEXT NOT NULL,
		PRIMARY KEY (alert_id, state)
	);
	CREATE TABLE users (
		id TEXT PRIMARY KEY,
		username TEXT NOT NULL UNIQUE,
		name TEXT NOT NULL DEFAULT '',
		role TEXT NOT NULL,
		password_hash TEXT NOT NULL,
		created_at BIGINT NOT NULL
	);
	CREATE TABLE sessions (
		token_hash TEXT PRIMARY KEY,
		user_id TEXT NOT NULL REFERENCES users(id),
		created_at BIGINT NOT NULL,
		expires_at BIGINT NOT NULL
	);`,
	// 2: incidents, the closed loop and escalation.
	`ALTER TABLE workers ADD COLUMN role TEXT NOT NULL DEFAULT 'worker';
	ALTER TABLE alerts ADD COLUMN incident_id TEXT;
	CREATE TABLE escalation_policies (
		grid_id TEXT PRIMARY KEY REFERENCES grids(id),
		steps TEXT NOT NULL,
		repeat_count INTEGER NOT NULL DEFAULT 1
	);
	CREATE TABLE incidents (
		id TEXT PRIMARY KEY,
		home_id TEXT NOT NULL,
		gateway_id TEXT NOT NULL,
		class TEXT NOT NULL,
		severity TEXT NOT NULL,
		state TEXT NOT NULL,
		opened_at BIGINT NOT NULL,
		updated_at BIGINT NOT NULL,
		assignee_id TEXT,
		chain TEXT NOT NULL,
		step INTEGER NOT NULL DEFAULT 0,
		next_escalation_at BIGINT,
		outcome TEXT NOT NULL DEFAULT '',
		notes TEXT NOT NULL DEFAULT '',
		rating INTEGER,
		feedback TEXT NOT NULL DEFAULT ''
	);
	CREATE INDEX incidents_home ON incidents (home_id, class, state);
	CREATE INDEX incidents_escalation ON incidents (next_escalation_at);
	CREATE TABLE incident_events (
		incident_id TEXT NOT NULL,
		seq INTEGER NOT NULL,
		at BIGINT NOT NULL,
		actor TEXT NOT NULL,
		action TEXT NOT NULL,
		detail TEXT NOT NULL DEFAULT '',
		PRIMARY KEY (incident_id, seq)
	);
	CREATE TABLE notifications (
		id TEXT PRIMARY KEY,
		incident_id TEXT NOT NULL,
		recipient_id TEXT NOT NULL,
		kind TEXT NOT NULL,
		created_at BIGINT NOT NULL,
		sent_at BIGINT
	);
	CREATE INDEX notifications_pending ON notifications (sent_at, created_at)`,
	// 3: gateway liveness and the inhibition it causes.
	`ALTER TABLE gateways ADD COLUMN offline_since BIGINT;
	ALTER TABLE gateways ADD COLUMN offline_alert_id TEXT;
	ALTER TABLE incidents ADD COLUMN inhibited INTEGER NOT NULL DEFAULT 0`,
	// who may see what: scopes of users, residents' privacy choices, the audit
	// chain, and per-home settings pushed to the gateway.
	`ALTER TABLE users ADD COLUMN worker_id TEXT;
	ALTER TABLE users ADD COLUMN community TEXT NOT NULL DEFAULT '';
	CREATE TABLE user_homes (
		user_id TEXT NOT NULL REFERENCES users(id),
		home_id TEXT NOT NULL REFERENCES homes(id),
		relation TEXT NOT NULL DEFAULT '',
		PRIMARY KEY (user_id, home_id)
	);
	CREATE TABLE privacy_settings (
		home_id TEXT NOT NULL REFERENCES homes(id),
		kind TEXT NOT NULL,
		roles TEXT NOT NULL,
		updated_at BIGINT NOT NULL,
		updated_by TEXT NOT NULL,
		PRIMARY KEY (home_id, kind)
	);
	CREATE TABLE audit_log (
		seq BIGINT PRIMARY KEY,
		at BIGINT NOT NULL,
		actor TEXT NOT NULL,
		action TEXT NOT NULL,
		home_id TEXT NOT NULL DEFAULT '',
		object TEXT NOT NULL DEFAULT '',
		reason TEXT NOT NULL DEFAULT '',
		prev_hash TEXT NOT NULL,
		hash TEXT NOT NULL
	);
	CREATE INDEX audit_home ON audit_log (home_id, seq);
	CREATE TABLE home_settings (
		home_id TEXT PRIMARY KEY REFERENCES homes(id),
		revision BIGINT NOT NULL,
		settings TEXT NOT NULL,
		updated_at BIGINT NOT NULL,
		updated_by TEXT NOT NULL
	)`,
	// 5: the registry in full — residents (medical notes in their own table so
	// privacy rules can withhold them), emergency contacts, family, sensors, and
	// one-time claim codes that bind a gateway to a home.
	`CREATE TABLE residents (
		id TEXT PRIMARY KEY,
		home_id TEXT NOT NULL REFERENCES homes(id),
		name TEXT NOT NULL,
		phone TEXT NOT NULL DEFAULT ''
	);
	CREATE INDEX residents_home ON residents (home_id);
	CREATE TABLE resident_medical (
		resident_id TEXT PRIMARY KEY REFERENCES residents(id),
		notes TEXT NOT NULL,
		updated_at BIGINT NOT NULL
	);
	CREATE TABLE emergency_contacts (
		resident_id TEXT NOT NULL REFERENCES residents(id),
		seq INTEGER NOT NULL,
		name TEXT NOT NULL,
		relation TEXT NOT NULL DEFAULT '',
		phone TEXT NOT NULL,
		PRIMARY KEY (resident_id, seq)
	);
	CREATE TABLE family_members (
		id TEXT PRIMARY KEY,
		resident_id TEXT NOT NULL REFERENCES residents(id),
		name TEXT NOT NULL,
		relation TEXT NOT NULL DEFAULT '',
		phone TEXT NOT NULL
	);
	CREATE INDEX family_resident ON family_members (resident_id);
	CREATE TABLE home_sensors (
		home_id TEXT NOT NULL REFERENCES homes(id),
		sensor_id TEXT NOT NULL,
		kind TEXT NOT NULL,
		PRIMARY KEY (home_id, sensor_id)
	);
	CREATE TABLE claim_codes (
		code_hash TEXT PRIMARY KEY,
		home_id TEXT NOT NULL REFERENCES homes(id),
		created_at BIGINT NOT NULL,
		expires_at BIGINT NOT NULL,
		created_by TEXT NOT NULL DEFAULT '',
		used_at BIGINT,
		gateway_id TEXT
	);
	CREATE INDEX claim_codes_home ON claim_codes (home_id);
	ALTER TABLE gateways ADD COLUMN revoked_at BIGINT`,
	// 6: family invitations: a family member joins only with the resident's consent.
	`CREATE TABLE invites (
		code_hash TEXT PRIMARY KEY,
		home_id TEXT NOT NULL REFERENCES homes(id),
		relation TEXT NOT NULL DEFAULT '',
		created_by TEXT NOT NULL,
		created_at BIGINT NOT NULL,
		expires_at BIGINT NOT NULL,
		used_at BIGINT,
		used_by TEXT
	)`,
	// 7: API tokens for integrations.
	`CREATE TABLE api_tokens (
		token_hash TEXT PRIMARY KEY,
		user_id TEXT NOT NULL REFERENCES users(id),
		name TEXT NOT NULL,
		created_at BIGINT NOT NULL,
		last_used_at BIGINT
	)`,
	// 8: the latest sign of life a gateway reported, for the family's status.
	`ALTER TABLE gateways ADD COLUMN last_activity_at BIGINT`,
	// 9: how each family member wants to hear from us (channels, kinds, their
	// addresses), and the status and digest messages they were sent, to read again
	// in the app.
	`CREATE TABLE notify_prefs (
		user_id TEXT PRIMARY KEY REFERENCES users(id),
		channels TEXT NOT NULL,
		kinds TEXT NOT NULL,
		phone TEXT NOT NULL DEFAULT '',
		email TEXT NOT NULL DEFAULT '',
		wecom_user TEXT NOT NULL DEFAULT '',
		webpush TEXT NOT NULL DEFAULT '',
		lang TEXT NOT NULL DEFAULT '',
		updated_at BIGINT NOT NULL
	);
	CREATE TABLE family_notices (
		recipient_id TEXT NOT NULL REFERENCES users(id),
		msg_key TEXT NOT NULL,
		kind TEXT NOT NULL,
		home_id TEXT NOT NULL DEFAULT '',
		incident_id TEXT NOT NULL DEFAULT '',
		title_zh TEXT NOT NULL DEFAULT '',
		title_en TEXT NOT NULL DEFAULT '',
		body_zh TEXT NOT NULL DEFAULT '',
		body_en TEXT NOT NULL DEFAULT '',
		url TEXT NOT NULL DEFAULT '',
		channels TEXT NOT NULL DEFAULT '',
		at BIGINT NOT NULL,
		PRIMARY KEY (recipient_id, msg_key)
	);
	CREATE INDEX family_notices_at ON family_notices (recipient_id, at)`,
}

func (s *Store) migrate(ctx context.Context) error {
	// Up to date: touch no DDL, so the cloud can run as a role without CREATE
	// (deploy/postgres/roles.sql: the owner migrates, the app role only reads and writes).
	var have int
	if err := s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&have); err == nil && have >= len(migrations) {
		if have > len(migrations) {
			return fmt.Errorf("migrate: the database is at schema version %d, this build knows %d: run the newer build", have, len(migrations))
		}
		return nil
	}
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for i, m := range migrations {
		v := i + 1
		err := s.tx(ctx, func(tx *sql.Tx) error {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = $1`, v).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			for _, stmt := range strings.Split(m, ";") {
				if strings.TrimSpace(stmt) == "" {
					continue
				}
				if _, err := tx.ExecContext(ctx, stmt); err != nil {
					return fmt.Errorf("%.60s…: %w", strings.TrimSpace(stmt), err)
				}
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)`, v, ms(time.Now()))
			return err
		})
		if err != nil {
			return fmt.Errorf("migrate to version %d: %w", v, err)
		}
	}
	return nil
}

func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := time.UnixMilli(v.Int64)
	return &t
}
