package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Scope is the set of homes a user may see. All is for admins; DeviceOnly limits a
// technician to device and gateway trouble.
type Scope struct {
	All        bool
	Homes      map[string]bool
	DeviceOnly bool
	WorkerID   string // the user's worker record, for "my incidents"
}

// Has reports whether home is in scope.
func (s Scope) Has(home string) bool { return s.All || s.Homes[home] }

// ScopeOf works out which homes u may see: a worker or technician their grid's, a
// supervisor their community's, family and residents the homes linked to them.
func (s *Store) ScopeOf(ctx context.Context, u User) (Scope, error) {
	sc := Scope{Homes: map[string]bool{}, WorkerID: u.WorkerID}
	var q string
	var args []any
	switch u.Role {
	case "admin":
		sc.All = true
		return sc, nil
	case "worker", "technician":
		sc.DeviceOnly = u.Role == "technician"
		q, args = `SELECT h.id FROM homes h JOIN workers w ON w.grid_id = h.grid_id WHERE w.id = $1`, []any{u.WorkerID}
	case "supervisor":
		q, args = `SELECT h.id FROM homes h JOIN grids g ON g.id = h.grid_id WHERE g.community = $1 AND g.community <> ''`, []any{u.Community}
	case "family", "resident":
		q, args = `SELECT home_id FROM user_homes WHERE user_id = $1`, []any{u.ID}
	default:
		return sc, nil // unknown role: nothing
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return sc, fmt.Errorf("scope of %s: %w", u.Username, err)
	}
	defer rows.Close()
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			return sc, err
		}
		sc.Homes[h] = true
	}
	return sc, rows.Err()
}

// LinkUserHome lets a family member or resident see a home.
func (s *Store) LinkUserHome(ctx context.Context, userID, homeID, relation string) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO user_homes (user_id, home_id, relation) VALUES ($1, $2, $3)
		ON CONFLICT (user_id, home_id) DO UPDATE SET relation = excluded.relation`, userID, homeID, relation)
	if err != nil {
		return fmt.Errorf("link user %s to home %s: %w", userID, homeID, err)
	}
	return nil
}

// Data kinds a resident decides about.
const (
	KindAlerts   = "anomaly_alerts"
	KindCharts   = "charts"
	KindTimeline = "timeline"
	KindMedical  = "medical"
	KindContacts = "contacts"
)

// DefaultPrivacy is who sees what until the resident chooses: the people who must
// act see what they need; medical notes only the grid worker.
var DefaultPrivacy = map[string][]string{
	KindAlerts:   {"admin", "supervisor", "worker", "family", "resident"},
	KindCharts:   {"admin", "worker", "family", "resident"},
	KindTimeline: {"admin", "worker", "family", "resident"},
	KindMedical:  {"worker", "resident"},
	KindContacts: {"admin", "supervisor", "worker", "family", "resident"},
}

// Privacy returns a home's choices, defaults filled in.
func (s *Store) Privacy(ctx context.Context, homeID string) (map[string][]string, error) {
	out := map[string][]string{}
	for k, v := range DefaultPrivacy {
		out[k] = slices.Clone(v)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT kind, roles FROM privacy_settings WHERE home_id = $1`, homeID)
	if err != nil {
		return nil, fmt.Errorf("privacy of %s: %w", homeID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var kind, roles string
		if err := rows.Scan(&kind, &roles); err != nil {
			return nil, err
		}
		out[kind] = nil
		if roles != "" {
			out[kind] = strings.Split(roles, ",")
		}
	}
	return out, rows.Err()
}

// SetPrivacy records which roles see kind of a home's data. The resident always
// sees their own data.
func (s *Store) SetPrivacy(ctx context.Context, homeID, kind string, roles []string, by string, now time.Time) error {
	if _, ok := DefaultPrivacy[kind]; !ok {
		return fmt.Errorf("privacy kind %q: want one of anomaly_alerts, charts, timeline, medical, contacts: %w", kind, ErrConflict)
	}
	for _, r := range roles {
		if !slices.Contains([]string{"admin", "supervisor", "worker", "technician", "family", "resident"}, r) {
			return fmt.Errorf("privacy role %q: unknown: %w", r, ErrConflict)
		}
	}
	if !slices.Contains(roles, "resident") {
		roles = append(roles, "resident")
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO privacy_settings (home_id, kind, roles, updated_at, updated_by) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (home_id, kind) DO UPDATE SET roles = excluded.roles, updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
		homeID, kind, strings.Join(roles, ","), ms(now), by)
	if err != nil {
		return fmt.Errorf("set privacy of %s: %w", homeID, err)
	}
	return nil
}

// AuditEntry is one access to personal data. Each entry's hash covers the previous
// hash, so removing or editing a row breaks the chain from there on.
type AuditEntry struct {
	Seq      int64     `json:"seq"`
	At       time.Time `json:"at"`
	Actor    string    `json:"actor"`
	Action   string    `json:"action"`
	HomeID   string    `json:"home_id"`
	Object   string    `json:"object"`
	Reason   string    `json:"reason"`
	PrevHash string    `json:"prev_hash"`
	Hash     string    `json:"hash"`
}

// ReadEntries are the audit rows of one read of object about homes: one per home,
// blanks and repeats dropped; reason is cut to 200 bytes.
func ReadEntries(actor, object, reason string, at time.Time, homes ...string) []AuditEntry {
	if len(reason) > 200 {
		reason = reason[:200]
	}
	seen := map[string]bool{}
	var entries []AuditEntry
	for _, h := range homes {
		if h == "" || seen[h] {
			continue
		}
		seen[h] = true
		entries = append(entries, AuditEntry{At: at, Actor: actor, Action: "read", HomeID: h, Object: object, Reason: reason})
	}
	return entries
}

func auditHash(e AuditEntry) string {
	h := sha256.New()
	for _, f := range []string{e.PrevHash, strconv.FormatInt(e.Seq, 10), strconv.FormatInt(ms(e.At), 10), e.Actor, e.Action, e.HomeID, e.Object, e.Reason} {
		h.Write([]byte(f))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Audit appends entries to the chain in one transaction.
func (s *Store) Audit(ctx context.Context, entries ...AuditEntry) error {
	if len(entries) == 0 {
		return nil
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if s.dialect == "postgres" {
			// One writer at a time extends the chain.
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7463)`); err != nil {
				return err
			}
		}
		var seq int64
		prev := ""
		err := tx.QueryRowContext(ctx, `SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1`).Scan(&seq, &prev)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		for _, e := range entries {
			seq++
			e.Seq, e.PrevHash, e.At = seq, prev, e.At.Truncate(time.Millisecond)
			e.Hash = auditHash(e)
			if _, err := tx.ExecContext(ctx, `INSERT INTO audit_log (seq, at, actor, action, home_id, object, reason, prev_hash, hash)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, e.Seq, ms(e.At), e.Actor, e.Action, e.HomeID, e.Object, e.Reason, e.PrevHash, e.Hash); err != nil {
				return err
			}
			prev = e.Hash
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

// AuditLog returns the newest entries, of home only if home is not empty.
func (s *Store) AuditLog(ctx context.Context, home string, limit int) ([]AuditEntry, error) {
	q, args := `SELECT seq, at, actor, action, home_id, object, reason, prev_hash, hash FROM audit_log`, []any{limit}
	if home != "" {
		q += ` WHERE home_id = $2`
		args = append(args, home)
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY seq DESC LIMIT $1`, args...)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	defer rows.Close()
	out := []AuditEntry{}
	for rows.Next() {
		var e AuditEntry
		var at int64
		if err := rows.Scan(&e.Seq, &at, &e.Actor, &e.Action, &e.HomeID, &e.Object, &e.Reason, &e.PrevHash, &e.Hash); err != nil {
			return nil, err
		}
		e.At = time.UnixMilli(at)
		out = append(out, e)
	}
	return out, rows.Err()
}

// ErrAuditBroken is wrapped by VerifyAudit's report of an entry that does not
// follow from the one before it (as opposed to failing to read the chain).
var ErrAuditBroken = errors.New("audit chain broken")

// VerifyAudit walks the whole chain and reports the first entry that does not
// follow from the one before it.
func (s *Store) VerifyAudit(ctx context.Context) (int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT seq, at, actor, action, home_id, object, reason, prev_hash, hash FROM audit_log ORDER BY seq`)
	if err != nil {
		return 0, fmt.Errorf("verify audit: %w", err)
	}
	defer rows.Close()
	n, prev, want := 0, "", int64(1)
	for rows.Next() {
		var e AuditEntry
		var at int64
		if err := rows.Scan(&e.Seq, &at, &e.Actor, &e.Action, &e.HomeID, &e.Object, &e.Reason, &e.PrevHash, &e.Hash); err != nil {
			return n, err
		}
		e.At = time.UnixMilli(at)
		switch {
		case e.Seq != want:
			return n, fmt.Errorf("audit entry %d missing (found %d): %w", want, e.Seq, ErrAuditBroken)
		case e.PrevHash != prev:
			return n, fmt.Errorf("audit entry %d does not follow entry %d: %w", e.Seq, e.Seq-1, ErrAuditBroken)
		case auditHash(e) != e.Hash:
			return n, fmt.Errorf("audit entry %d was altered: %w", e.Seq, ErrAuditBroken)
		}
		prev, want = e.Hash, want+1
		n++
	}
	return n, rows.Err()
}

// homeFilter returns an SQL condition restricting col to the scope's homes, with
// placeholders numbered from next.
func homeFilter(sc Scope, col string, next int) (string, []any) {
	if sc.All {
		return "1 = 1", nil
	}
	if len(sc.Homes) == 0 {
		return "1 = 0", nil
	}
	var ph []string
	var args []any
	for h := range sc.Homes {
		ph = append(ph, "$"+strconv.Itoa(next+len(args)))
		args = append(args, h)
	}
	return col + " IN (" + strings.Join(ph, ", ") + ")", args
}

// AlertsIn returns the newest alerts of the scope's homes.
func (s *Store) AlertsIn(ctx context.Context, sc Scope, limit int) ([]Alert, error) {
	cond, args := homeFilter(sc, "a.home_id", 2)
	return s.queryAlerts(ctx, alertSelect+` WHERE `+cond+` ORDER BY a.received_at DESC, a.id DESC LIMIT $1`, append([]any{limit}, args...)...)
}

// IncidentPage selects one page of a scope's incidents, most recently changed first.
type IncidentPage struct {
	OpenOnly bool
	Limit    int
	// After is the last incident of the previous page; nil: the first page.
	After *IncidentCursor
}

// IncidentCursor is a position in the list: keyset, so a page costs the same deep in
// the history and no incident is listed twice while others are added. An incident
// that changes while someone pages moves to the top and shows on the next refresh.
type IncidentCursor struct {
	UpdatedAt time.Time
	ID        string
}

// IncidentsIn lists one page of incidents of the scope's homes, most recently changed
// first. next is the cursor of the following page; nil when this page is the last.
func (s *Store) IncidentsIn(ctx context.Context, sc Scope, p IncidentPage) (list []Incident, next *IncidentCursor, err error) {
	cond, args := homeFilter(sc, "i.home_id", 2)
	q := incidentSelect + ` WHERE ` + cond
	// One more than asked tells whether there is a next page.
	all := append([]any{p.Limit + 1}, args...)
	if p.OpenOnly {
		n := len(all) + 1
		q += fmt.Sprintf(` AND i.state IN ($%d, $%d, $%d, $%d)`, n, n+1, n+2, n+3)
		all = append(all, IncDiscovered, IncDispatched, IncAccepted, IncOnSite)
	}
	if p.After != nil {
		n := len(all) + 1
		q += fmt.Sprintf(` AND (i.updated_at < $%d OR (i.updated_at = $%d AND i.id < $%d))`, n, n, n+1)
		all = append(all, ms(p.After.UpdatedAt), p.After.ID)
	}
	list, err = s.listIncidents(ctx, q+` ORDER BY i.updated_at DESC, i.id DESC LIMIT $1`, all...)
	if err != nil {
		return nil, nil, err
	}
	if len(list) > p.Limit {
		list = list[:p.Limit]
		last := list[len(list)-1]
		next = &IncidentCursor{UpdatedAt: last.UpdatedAt, ID: last.ID}
	}
	return list, next, nil
}

func (s *Store) listIncidents(ctx context.Context, q string, all ...any) ([]Incident, error) {
	rows, err := s.db.QueryContext(ctx, q, all...)
	if err != nil {
		return nil, fmt.Errorf("list incidents: %w", err)
	}
	defer rows.Close()
	out := []Incident{}
	for rows.Next() {
		in, err := scanIncident(rows)
		if err != nil {
			return nil, fmt.Errorf("list incidents: %w", err)
		}
		out = append(out, in)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, s.fillRules(ctx, out)
}

// fillRules adds each listed incident's causes in one query, so a list card can say
// "no movement, no water" without a request per incident.
func (s *Store) fillRules(ctx context.Context, list []Incident) error {
	if len(list) == 0 {
		return nil
	}
	idx := map[string]int{}
	ph := make([]string, len(list))
	args := make([]any, len(list))
	for i, in := range list {
		idx[in.ID] = i
		ph[i], args[i] = "$"+strconv.Itoa(i+1), in.ID
	}
	rows, err := s.db.QueryContext(ctx, `SELECT DISTINCT incident_id, rule FROM alerts WHERE incident_id IN (`+strings.Join(ph, ", ")+`) ORDER BY incident_id, rule`, args...)
	if err != nil {
		return fmt.Errorf("incident rules: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, rule string
		if err := rows.Scan(&id, &rule); err != nil {
			return err
		}
		list[idx[id]].Rules = append(list[idx[id]].Rules, rule)
	}
	return rows.Err()
}
