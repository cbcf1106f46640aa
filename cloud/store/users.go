package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// User is someone who logs in to the web app.
type User struct {
	ID, Username, Name, Role string
	PasswordHash             string
	WorkerID                 string // worker and technician: their worker record
	Community                string // supervisor: the community they oversee
}

// CountUsers reports how many users exist (0 means first run).
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM users`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count users: %w", err)
	}
	return n, nil
}

// CreateUser adds a user; the username must be new.
func (s *Store) CreateUser(ctx context.Context, u User) error {
	var worker any
	if u.WorkerID != "" {
		worker = u.WorkerID
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO users (id, username, name, role, password_hash, created_at, worker_id, community) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		u.ID, u.Username, u.Name, u.Role, u.PasswordHash, ms(time.Now()), worker, u.Community)
	if err != nil {
		return fmt.Errorf("create user %s: %w", u.Username, err)
	}
	return nil
}

// UserByName returns a user or ErrNotFound.
func (s *Store) UserByName(ctx context.Context, username string) (User, error) {
	var u User
	err := s.db.QueryRowContext(ctx, `SELECT id, username, name, role, password_hash, COALESCE(worker_id, ''), community FROM users WHERE username = $1`, username).
		Scan(&u.ID, &u.Username, &u.Name, &u.Role, &u.PasswordHash, &u.WorkerID, &u.Community)
	if errors.Is(err, sql.ErrNoRows) {
		return u, ErrNotFound
	}
	if err != nil {
		return u, fmt.Errorf("user %s: %w", username, err)
	}
	return u, nil
}

// CreateSession stores a session by the hash of its token (a stolen database
// yields no usable cookies).
func (s *Store) CreateSession(ctx context.Context, tokenHash, userID string, expires time.Time) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)`,
		tokenHash, userID, ms(time.Now()), ms(expires))
	if err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	return nil
}

// SessionUser returns the user of a live session, or ErrNotFound.
func (s *Store) SessionUser(ctx context.Context, tokenHash string, now time.Time) (User, error) {
	var u User
	err := s.db.QueryRowContext(ctx, `SELECT u.id, u.username, u.name, u.role, u.password_hash, COALESCE(u.worker_id, ''), u.community FROM sessions s JOIN users u ON u.id = s.user_id
		WHERE s.token_hash = $1 AND s.expires_at > $2`, tokenHash, ms(now)).Scan(&u.ID, &u.Username, &u.Name, &u.Role, &u.PasswordHash, &u.WorkerID, &u.Community)
	if errors.Is(err, sql.ErrNoRows) {
		return u, ErrNotFound
	}
	if err != nil {
		return u, fmt.Errorf("session: %w", err)
	}
	return u, nil
}

// DeleteSession ends a session.
func (s *Store) DeleteSession(ctx context.Context, tokenHash string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE token_hash = $1`, tokenHash); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// SetPassword replaces a user's password hash and ends their other sessions.
func (s *Store) SetPassword(ctx context.Context, userID, hash, keepSession string) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = $1 WHERE id = $2`, hash, userID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = $1 AND token_hash <> $2`, userID, keepSession)
		return err
	})
	if err != nil {
		return fmt.Errorf("set password of %s: %w", userID, err)
	}
	return nil
}

// CreateAPIToken stores an integration token by its hash.
func (s *Store) CreateAPIToken(ctx context.Context, tokenHash, userID, name string, now time.Time) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO api_tokens (token_hash, user_id, name, created_at) VALUES ($1, $2, $3, $4)`, tokenHash, userID, name, ms(now))
	if err != nil {
		return fmt.Errorf("create API token: %w", err)
	}
	return nil
}

// TokenUser returns the user of an API token, or ErrNotFound.
func (s *Store) TokenUser(ctx context.Context, tokenHash string, now time.Time) (User, error) {
	var u User
	err := s.db.QueryRowContext(ctx, `SELECT u.id, u.username, u.name, u.role, u.password_hash, COALESCE(u.worker_id, ''), u.community
		FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1`, tokenHash).
		Scan(&u.ID, &u.Username, &u.Name, &u.Role, &u.PasswordHash, &u.WorkerID, &u.Community)
	if errors.Is(err, sql.ErrNoRows) {
		return u, ErrNotFound
	}
	if err != nil {
		return u, fmt.Errorf("API token: %w", err)
	}
	_, _ = s.db.ExecContext(ctx, `UPDATE api_tokens SET last_used_at = $1 WHERE token_hash = $2`, ms(now), tokenHash)
	return u, nil
}
