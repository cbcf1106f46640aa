package notify

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"sync"
	"time"
)

// Attempt statuses in the delivery log.
const (
	StatusSent        = "sent"         // the provider accepted the message
	StatusFailed      = "failed"       // this attempt failed (see Reason/Error)
	StatusRateLimited = "rate_limited" // not sent: a token bucket was empty
	StatusDuplicate   = "duplicate"    // not sent: the Key was already delivered (or is in flight)
)

// Attempt is one row of the delivery log: one try on one channel for one
// recipient. Duplicates and rate-limit rejections are logged with Attempt 0.
type Attempt struct {
	At          time.Time
	Channel     string
	RecipientID string
	Key         string
	IncidentID  string
	Kind        string
	Attempt     int // 1-based; 0 when nothing was sent
	Status      string
	Reason      string // failure reason (Reason* constants), empty when sent
	Error       string
	Latency     time.Duration
}

// Log records delivery attempts and answers the dedupe question across
// restarts. The store implements it; MemLog and SQLLog are provided.
type Log interface {
	Record(ctx context.Context, a Attempt) error
	// Delivered reports whether key was sent to recipientID on channel at or
	// after since.
	Delivered(ctx context.Context, channel, recipientID, key string, since time.Time) (bool, error)
}

// MemLog is an in-memory Log for tests and single-process use.
type MemLog struct {
	mu   sync.Mutex
	rows []Attempt
}

// NewMemLog returns an empty MemLog.
func NewMemLog() *MemLog { return &MemLog{} }

// Record appends a.
func (l *MemLog) Record(_ context.Context, a Attempt) error {
	l.mu.Lock()
	l.rows = append(l.rows, a)
	l.mu.Unlock()
	return nil
}

// Delivered implements Log.
func (l *MemLog) Delivered(_ context.Context, channel, recipientID, key string, since time.Time) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, a := range l.rows {
		if a.Status == StatusSent && a.Channel == channel && a.RecipientID == recipientID && a.Key == key && !a.At.Before(since) {
			return true, nil
		}
	}
	return false, nil
}

// Attempts returns a copy of the log, oldest first.
func (l *MemLog) Attempts() []Attempt {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Attempt(nil), l.rows...)
}

// SQLLog keeps the delivery log in the table notify_delivery_log. It works on
// SQLite (modernc, driver "sqlite") and PostgreSQL (pgx stdlib, driver "pgx"):
// portable types only, times as Unix milliseconds, $n placeholders.
type SQLLog struct {
	db *sql.DB
}

const sqlLogSchema = `CREATE TABLE IF NOT EXISTS notify_delivery_log (
	id           TEXT PRIMARY KEY,
	at_ms        BIGINT NOT NULL,
	channel      TEXT NOT NULL,
	recipient_id TEXT NOT NULL,
	msg_key      TEXT NOT NULL,
	incident_id  TEXT NOT NULL DEFAULT '',
	kind         TEXT NOT NULL DEFAULT '',
	attempt      INTEGER NOT NULL,
	status       TEXT NOT NULL,
	reason       TEXT NOT NULL DEFAULT '',
	error        TEXT NOT NULL DEFAULT '',
	latency_ms   BIGINT NOT NULL DEFAULT 0
)`

const sqlLogIndex = `CREATE INDEX IF NOT EXISTS notify_delivery_log_key
	ON notify_delivery_log (msg_key, recipient_id, channel, status)`

// NewSQLLog creates the table (and its index) if missing.
func NewSQLLog(db *sql.DB) (*SQLLog, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, q := range []string{sqlLogSchema, sqlLogIndex} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return nil, fmt.Errorf("notify: creating delivery log: %w", err)
		}
	}
	return &SQLLog{db: db}, nil
}

// Record inserts one attempt.
func (l *SQLLog) Record(ctx context.Context, a Attempt) error {
	// id: insertion time (ns, big-endian) then random bytes, so ORDER BY id
	// is insertion order even within one millisecond.
	var id [16]byte
	binary.BigEndian.PutUint64(id[:8], uint64(time.Now().UnixNano()))
	if _, err := rand.Read(id[8:]); err != nil {
		return err
	}
	_, err := l.db.ExecContext(ctx, `INSERT INTO notify_delivery_log
		(id, at_ms, channel, recipient_id, msg_key, incident_id, kind, attempt, status, reason, error, latency_ms)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		hex.EncodeToString(id[:]), a.At.UnixMilli(), a.Channel, a.RecipientID, a.Key, a.IncidentID, a.Kind,
		a.Attempt, a.Status, a.Reason, truncate(a.Error, 1000), a.Latency.Milliseconds())
	if err != nil {
		return fmt.Errorf("notify: recording delivery: %w", err)
	}
	return nil
}

// Delivered implements Log.
func (l *SQLLog) Delivered(ctx context.Context, channel, recipientID, key string, since time.Time) (bool, error) {
	var n int
	err := l.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM notify_delivery_log
		WHERE msg_key = $1 AND recipient_id = $2 AND channel = $3 AND status = $4 AND at_ms >= $5`,
		key, recipientID, channel, StatusSent, since.UnixMilli()).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("notify: reading delivery log: %w", err)
	}
	return n > 0, nil
}

// Attempts returns the log rows for key, oldest first (for the incident
// timeline and tests).
func (l *SQLLog) Attempts(ctx context.Context, key string) ([]Attempt, error) {
	rows, err := l.db.QueryContext(ctx, `SELECT at_ms, channel, recipient_id, msg_key, incident_id, kind, attempt, status, reason, error, latency_ms
		FROM notify_delivery_log WHERE msg_key = $1 ORDER BY at_ms, id`, key)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Attempt
	for rows.Next() {
		var a Attempt
		var at, lat int64
		if err := rows.Scan(&at, &a.Channel, &a.RecipientID, &a.Key, &a.IncidentID, &a.Kind, &a.Attempt, &a.Status, &a.Reason, &a.Error, &lat); err != nil {
			return nil, err
		}
		a.At = time.UnixMilli(at)
		a.Latency = time.Duration(lat) * time.Millisecond
		out = append(out, a)
	}
	return out, rows.Err()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// do not cut a UTF-8 sequence in half
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
