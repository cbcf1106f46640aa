package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// ErrInvalidCode is returned for an invitation or claim code that is unknown,
// expired or already used; the three are not told apart, so codes cannot be probed.
var ErrInvalidCode = errors.New("invalid, expired or used code")

// CreateInvite stores an invitation (by the hash of its code) for a family member
// to follow a home: the resident's consent, given by the resident or on their behalf.
func (s *Store) CreateInvite(ctx context.Context, codeHash, homeID, relation, by string, now time.Time, ttl time.Duration) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO invites (code_hash, home_id, relation, created_by, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		codeHash, homeID, relation, by, ms(now), ms(now.Add(ttl)))
	if err != nil {
		return fmt.Errorf("invite for home %s: %w", homeID, err)
	}
	return nil
}

// AcceptInvite uses an invitation once: it creates the family login and links it to
// the home in one transaction.
func (s *Store) AcceptInvite(ctx context.Context, codeHash string, u User, now time.Time) (homeID string, err error) {
	err = s.tx(ctx, func(tx *sql.Tx) error {
		var relation string
		err := tx.QueryRowContext(ctx, `SELECT home_id, relation FROM invites WHERE code_hash = $1 AND used_at IS NULL AND expires_at > $2`,
			codeHash, ms(now)).Scan(&homeID, &relation)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrInvalidCode
		}
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE invites SET used_at = $1, used_by = $2 WHERE code_hash = $3 AND used_at IS NULL`, ms(now), u.ID, codeHash)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return ErrInvalidCode // used concurrently
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO users (id, username, name, role, password_hash, created_at, community) VALUES ($1, $2, $3, 'family', $4, $5, '')`,
			u.ID, u.Username, u.Name, u.PasswordHash, ms(now)); err != nil {
			return fmt.Errorf("username %q: %w", u.Username, ErrConflict)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO user_homes (user_id, home_id, relation) VALUES ($1, $2, $3)`, u.ID, homeID, relation)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("accept invitation: %w", err)
	}
	return homeID, nil
}
