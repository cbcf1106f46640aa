package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
)

// Incident states: the closed loop. discovered → dispatched → accepted → on_site →
// resolved → feedback → evaluated. Only discovered and dispatched escalate.
const (
	IncDiscovered = "discovered"
	IncDispatched = "dispatched"
	IncAccepted   = "accepted"
	IncOnSite     = "on_site"
	IncResolved   = "resolved"
	IncFeedback   = "feedback"
	IncEvaluated  = "evaluated"
)

// Outcomes a worker may record when resolving.
var Outcomes = map[string]bool{"safe": true, "needed_help": true, "hospital": true, "false_alarm": true, "away": true, "device_recovered": true}

// ErrConflict is returned for a closed-loop step that does not follow from the
// incident's state (accepting a resolved incident, resolving twice…).
var ErrConflict = errors.New("conflict")

// Step is one level of an escalation chain: page Target, and if nobody accepts within
// After, go to the next step.
type Step struct {
	Target string `json:"target"` // on_duty | backup | supervisor | technician
	AfterS int64  `json:"after_s"`
}

// Chain is an escalation policy. After the last step it starts again Repeat times.
type Chain struct {
	Steps  []Step `json:"steps"`
	Repeat int    `json:"repeat"`
}

// DefaultChain: the on-duty worker has 30 minutes to accept (cross-department calls
// are answered within 30 minutes), then the backup, then the community supervisor,
// and the round repeats once.
var DefaultChain = Chain{Steps: []Step{{"on_duty", 1800}, {"backup", 1800}, {"supervisor", 1800}}, Repeat: 1}

// DeviceChain sends device faults to a technician, never to the grid worker.
var DeviceChain = Chain{Steps: []Step{{"technician", 4 * 3600}, {"supervisor", 4 * 3600}}, Repeat: 0}

// Validate checks a chain an operator configured.
func (c Chain) Validate() error {
	if len(c.Steps) == 0 || len(c.Steps) > 10 {
		return fmt.Errorf("steps: %d, want 1–10", len(c.Steps))
	}
	for i, s := range c.Steps {
		switch s.Target {
		case "on_duty", "backup", "supervisor", "technician":
		default:
			return fmt.Errorf("steps[%d].target: %q, want on_duty, backup, supervisor or technician", i, s.Target)
		}
		if s.AfterS < 60 || s.AfterS > 7*86400 {
			return fmt.Errorf("steps[%d].after_s: %d, want 60–604800", i, s.AfterS)
		}
	}
	if c.Repeat < 0 || c.Repeat > 10 {
		return fmt.Errorf("repeat: %d, want 0–10", c.Repeat)
	}
	return nil
}

// Incident is one case: a home and a cause, with every alert that belongs to it.
type Incident struct {
	ID        string          `json:"id"`
	HomeID    string          `json:"home_id"`
	Gateway   string          `json:"gateway"`
	Address   string          `json:"address"`
	Resident  string          `json:"resident"`
	Class     string          `json:"class"`
	Severity  string          `json:"severity"`
	State     string          `json:"state"`
	OpenedAt  time.Time       `json:"opened_at"`
	UpdatedAt time.Time       `json:"updated_at"`
	Assignee  *Assignee       `json:"assignee"`
	Step      int             `json:"step"`
	NextEscAt *time.Time      `json:"next_escalation_at"`
	Chain     Chain           `json:"chain"`
	Outcome   string          `json:"outcome"`
	Notes     string          `json:"notes"`
	Rating    *int            `json:"rating"`
	Feedback  string          `json:"feedback"`
	Rules     []string        `json:"rules"`
	Inhibited bool            `json:"inhibited"` // held while the home's gateway is offline
	Timeline  []IncidentEvent `json:"timeline,omitempty"`
}

// IncidentEvent is one step of the closed loop, with who and when.
type IncidentEvent struct {
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Action string    `json:"action"`
	Detail string    `json:"detail,omitempty"`
}

// PutEscalationPolicy sets a grid's chain; running incidents keep the chain they
// started with (it was snapshotted onto them).
func (s *Store) PutEscalationPolicy(ctx context.Context, gridID string, c Chain) error {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("escalation policy for grid %s: %w", gridID, err)
	}
	b, _ := json.Marshal(c.Steps)
	_, err := s.db.ExecContext(ctx, `INSERT INTO escalation_policies (grid_id, steps, repeat_count) VALUES ($1, $2, $3)
		ON CONFLICT (grid_id) DO UPDATE SET steps = excluded.steps, repeat_count = excluded.repeat_count`, gridID, string(b), c.Repeat)
	if err != nil {
		return fmt.Errorf("escalation policy for grid %s: %w", gridID, err)
	}
	return nil
}

func addEvent(ctx context.Context, tx *sql.Tx, incID string, at time.Time, actor, action, detail string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO incident_events (incident_id, seq, at, actor, action, detail)
		VALUES ($1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM incident_events WHERE incident_id = $1), $2, $3, $4, $5)`,
		incID, ms(at), actor, action, detail)
	return err
}

// OpenIncident groups a newly committed raised alert into an incident: one per home
// and cause (class). A duplicate cause attaches to the open incident and never pages
// again; a raise shortly after resolution reopens the case.
func (s *Store) OpenIncident(ctx context.Context, alertID string, now time.Time) (id string, opened bool, err error) {
	err = s.tx(ctx, func(tx *sql.Tx) error {
		var home sql.NullString
		var gw, class, severity, rule, incident sql.NullString
		if err := tx.QueryRowContext(ctx, `SELECT home_id, gateway_id, class, severity, rule, incident_id FROM alerts WHERE id = $1`, alertID).
			Scan(&home, &gw, &class, &severity, &rule, &incident); err != nil {
			return fmt.Errorf("alert %s: %w", alertID, err)
		}
		if incident.Valid {
			id = incident.String
			return nil
		}
		if !home.Valid {
			return fmt.Errorf("alert %s: gateway %s is not bound to a home", alertID, gw.String)
		}
		err := tx.QueryRowContext(ctx, `SELECT id FROM incidents WHERE home_id = $1 AND class = $2 AND state IN ($3, $4, $5, $6)
			ORDER BY opened_at DESC LIMIT 1`, home.String, class.String, IncDiscovered, IncDispatched, IncAccepted, IncOnSite).Scan(&id)
		switch {
		case err == nil:
			// The alert shares the incident's assignee; a more severe cause (an SOS
			// joining a no-water case) raises the incident's severity.
			if _, err := tx.ExecContext(ctx, `UPDATE alerts SET incident_id = $1,
				assignee_id = (SELECT assignee_id FROM incidents WHERE id = $1),
				status = CASE WHEN (SELECT assignee_id FROM incidents WHERE id = $1) IS NULL THEN status ELSE $2 END,
				dispatched_at = CASE WHEN (SELECT assignee_id FROM incidents WHERE id = $1) IS NULL THEN NULL ELSE CAST($3 AS BIGINT) END
				WHERE id = $4`, id, StatusDispatched, ms(now), alertID); err != nil {
				return err
			}
			if severity.String == "critical" {
				if _, err := tx.ExecContext(ctx, `UPDATE incidents SET severity = 'critical' WHERE id = $1`, id); err != nil {
					return err
				}
			}
			return addEvent(ctx, tx, id, now, "system", "alert_attached", rule.String)
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		// Reopen when the edge raises again within a day of resolution.
		err = tx.QueryRowContext(ctx, `SELECT id FROM incidents WHERE home_id = $1 AND class = $2 AND state IN ($3, $4, $5) AND updated_at > $6
			ORDER BY updated_at DESC LIMIT 1`, home.String, class.String, IncResolved, IncFeedback, IncEvaluated, ms(now.Add(-24*time.Hour))).Scan(&id)
		if err == nil {
			opened = true
			if _, err := tx.ExecContext(ctx, `UPDATE incidents SET state = $1, step = 0, next_escalation_at = $2, updated_at = $2, outcome = '' WHERE id = $3`,
				IncDiscovered, ms(now), id); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE alerts SET incident_id = $1 WHERE id = $2`, id, alertID); err != nil {
				return err
			}
			return addEvent(ctx, tx, id, now, "system", "reopened", rule.String)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		chain := DefaultChain
		if class.String != "resident" {
			chain = DeviceChain
		} else {
			var steps string
			var repeat int
			err := tx.QueryRowContext(ctx, `SELECT p.steps, p.repeat_count FROM escalation_policies p JOIN homes h ON h.grid_id = p.grid_id WHERE h.id = $1`, home.String).Scan(&steps, &repeat)
			if err == nil {
				var c Chain
				if json.Unmarshal([]byte(steps), &c.Steps) == nil {
					c.Repeat = repeat
					chain = c
				}
			} else if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
		}
		cb, _ := json.Marshal(chain)
		id, opened = uuid.Must(uuid.NewV7()).String(), true
		if _, err := tx.ExecContext(ctx, `INSERT INTO incidents (id, home_id, gateway_id, class, severity, state, opened_at, updated_at, chain, step, next_escalation_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8, 0, $7)`, id, home.String, gw.String, class.String, severity.String, IncDiscovered, ms(now), string(cb)); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE alerts SET incident_id = $1 WHERE id = $2`, id, alertID); err != nil {
			return err
		}
		if err := addEvent(ctx, tx, id, now, "system", "discovered", rule.String); err != nil {
			return err
		}
		return inhibit(ctx, tx, id, home.String, rule.String, now)
	})
	if err != nil {
		return "", false, fmt.Errorf("open incident for alert %s: %w", alertID, err)
	}
	return id, opened, nil
}

// Page is a notification the escalation decided on; it is also stored durably in
// the notifications table under ID, so a crash after the decision cannot lose it and
// a retry cannot double it.
type Page struct {
	ID         string
	IncidentID string
	Worker     Worker
	Kind       string // dispatched | escalated
	Step       int
}

// EscalateDue performs the next escalation step of every incident whose timer is due
// at now. Each incident is locked (FOR UPDATE SKIP LOCKED on PostgreSQL, so replicas
// never act twice) and its state re-checked: an accepted incident never pages again.
func (s *Store) EscalateDue(ctx context.Context, now time.Time, limit int) ([]Page, error) {
	var pages []Page
	err := s.tx(ctx, func(tx *sql.Tx) error {
		q := `SELECT i.id, i.home_id, i.state, i.chain, i.step, h.grid_id FROM incidents i JOIN homes h ON h.id = i.home_id
			WHERE i.next_escalation_at IS NOT NULL AND i.next_escalation_at <= $1 ORDER BY i.next_escalation_at LIMIT $2`
		if s.dialect == "postgres" {
			q += ` FOR UPDATE OF i SKIP LOCKED`
		}
		rows, err := tx.QueryContext(ctx, q, ms(now), limit)
		if err != nil {
			return err
		}
		type due struct {
			id, home, state, chain, grid string
			step                         int
		}
		var list []due
		for rows.Next() {
			var d due
			if err := rows.Scan(&d.id, &d.home, &d.state, &d.chain, &d.step, &d.grid); err != nil {
				rows.Close()
				return err
			}
			list = append(list, d)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, d := range list {
			if d.state != IncDiscovered && d.state != IncDispatched {
				if _, err := tx.ExecContext(ctx, `UPDATE incidents SET next_escalation_at = NULL WHERE id = $1`, d.id); err != nil {
					return err
				}
				continue
			}
			var c Chain
			if err := json.Unmarshal([]byte(d.chain), &c); err != nil || len(c.Steps) == 0 {
				c = DefaultChain
			}
			p, err := s.escalateOne(ctx, tx, d.id, d.grid, c, d.step, now)
			if err != nil {
				return fmt.Errorf("incident %s: %w", d.id, err)
			}
			if p != nil {
				pages = append(pages, *p)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("escalate: %w", err)
	}
	return pages, nil
}

// escalateOne pages the target of step (skipping steps with nobody to page).
func (s *Store) escalateOne(ctx context.Context, tx *sql.Tx, id, grid string, c Chain, step int, now time.Time) (*Page, error) {
	total := len(c.Steps) * (1 + c.Repeat)
	for ; step < total; step++ {
		st := c.Steps[step%len(c.Steps)]
		w, err := targetWorker(ctx, tx, grid, st.Target)
		if errors.Is(err, sql.ErrNoRows) {
			if err := addEvent(ctx, tx, id, now, "system", "no_target", st.Target); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		kind := "escalated"
		if step == 0 {
			kind = "dispatched"
		}
		next := now.Add(time.Duration(st.AfterS) * time.Second)
		if _, err := tx.ExecContext(ctx, `UPDATE incidents SET state = $1, assignee_id = $2, step = $3, next_escalation_at = $4, updated_at = $5 WHERE id = $6`,
			IncDispatched, w.ID, step+1, ms(next), ms(now), id); err != nil {
			return nil, err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE alerts SET status = $1, assignee_id = $2, dispatched_at = COALESCE(dispatched_at, $3) WHERE incident_id = $4`,
			StatusDispatched, w.ID, ms(now), id); err != nil {
			return nil, err
		}
		p := &Page{ID: id + "/" + strconv.Itoa(step), IncidentID: id, Worker: w, Kind: kind, Step: step}
		if _, err := tx.ExecContext(ctx, `INSERT INTO notifications (id, incident_id, recipient_id, kind, created_at) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (id) DO NOTHING`, p.ID, id, w.ID, kind, ms(now)); err != nil {
			return nil, err
		}
		return p, addEvent(ctx, tx, id, now, "system", kind, fmt.Sprintf("%s %s (%s)", st.Target, w.Name, w.ID))
	}
	_, err := tx.ExecContext(ctx, `UPDATE incidents SET next_escalation_at = NULL, step = $1, updated_at = $2 WHERE id = $3`, step, ms(now), id)
	if err != nil {
		return nil, err
	}
	return nil, addEvent(ctx, tx, id, now, "system", "escalation_exhausted", "")
}

func targetWorker(ctx context.Context, tx *sql.Tx, grid, target string) (Worker, error) {
	var w Worker
	q := `SELECT id, grid_id, name, phone FROM workers WHERE grid_id = $1 AND role = $2 ORDER BY id LIMIT 1`
	args := []any{grid, target}
	if target == "on_duty" {
		q = `SELECT id, grid_id, name, phone FROM workers WHERE grid_id = $1 AND role = 'worker' AND on_duty = 1 ORDER BY id LIMIT 1`
		args = args[:1]
	}
	err := tx.QueryRowContext(ctx, q, args...).Scan(&w.ID, &w.GridID, &w.Name, &w.Phone)
	w.Role = target
	return w, err
}

// Action is a closed-loop step taken by a person.
type Action struct {
	Name     string // accept | arrive | resolve | feedback | evaluate
	Actor    string
	Outcome  string // resolve
	Notes    string // resolve
	Feedback string // feedback
	Rating   int    // evaluate: 1–5
}

var transitions = map[string]struct {
	from []string
	to   string
}{
	"accept":   {[]string{IncDiscovered, IncDispatched}, IncAccepted},
	"arrive":   {[]string{IncAccepted}, IncOnSite},
	"resolve":  {[]string{IncAccepted, IncOnSite}, IncResolved},
	"feedback": {[]string{IncResolved}, IncFeedback},
	"evaluate": {[]string{IncResolved, IncFeedback}, IncEvaluated},
}

// Act applies a closed-loop step, recording who and when. A step that does not
// follow from the current state returns ErrConflict, and changes nothing.
func (s *Store) Act(ctx context.Context, id string, a Action, now time.Time) error {
	tr, ok := transitions[a.Name]
	if !ok {
		return fmt.Errorf("incident %s: unknown action %q: %w", id, a.Name, ErrConflict)
	}
	switch a.Name {
	case "resolve":
		if !Outcomes[a.Outcome] {
			return fmt.Errorf("incident %s: outcome %q, want safe, needed_help, hospital, false_alarm or away: %w", id, a.Outcome, ErrConflict)
		}
	case "evaluate":
		if a.Rating < 1 || a.Rating > 5 {
			return fmt.Errorf("incident %s: rating %d, want 1–5: %w", id, a.Rating, ErrConflict)
		}
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var state string
		q := `SELECT state FROM incidents WHERE id = $1`
		if s.dialect == "postgres" {
			q += ` FOR UPDATE`
		}
		if err := tx.QueryRowContext(ctx, q, id).Scan(&state); errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		} else if err != nil {
			return err
		}
		allowed := false
		for _, f := range tr.from {
			allowed = allowed || f == state
		}
		if !allowed {
			return fmt.Errorf("cannot %s an incident that is %s: %w", a.Name, state, ErrConflict)
		}
		var err error
		switch a.Name {
		case "accept":
			// Accepting stops the escalation timer for good.
			_, err = tx.ExecContext(ctx, `UPDATE incidents SET state = $1, next_escalation_at = NULL, updated_at = $2 WHERE id = $3`, tr.to, ms(now), id)
		case "resolve":
			_, err = tx.ExecContext(ctx, `UPDATE incidents SET state = $1, outcome = $2, notes = $3, next_escalation_at = NULL, updated_at = $4 WHERE id = $5`, tr.to, a.Outcome, a.Notes, ms(now), id)
		case "feedback":
			_, err = tx.ExecContext(ctx, `UPDATE incidents SET state = $1, feedback = $2, updated_at = $3 WHERE id = $4`, tr.to, a.Feedback, ms(now), id)
		case "evaluate":
			_, err = tx.ExecContext(ctx, `UPDATE incidents SET state = $1, rating = $2, updated_at = $3 WHERE id = $4`, tr.to, a.Rating, ms(now), id)
		default:
			_, err = tx.ExecContext(ctx, `UPDATE incidents SET state = $1, updated_at = $2 WHERE id = $3`, tr.to, ms(now), id)
		}
		if err != nil {
			return err
		}
		detail := a.Outcome
		if a.Name == "feedback" {
			detail = a.Feedback
		} else if a.Name == "evaluate" {
			detail = strconv.Itoa(a.Rating)
		}
		return addEvent(ctx, tx, id, now, a.Actor, a.Name, detail)
	})
	if err != nil {
		return fmt.Errorf("incident %s %s: %w", id, a.Name, err)
	}
	return nil
}

// AutoResolveDevice closes a device incident when the device recovered (its alert
// cleared). Resident incidents are closed only by a person.
func (s *Store) AutoResolveDevice(ctx context.Context, alertID string, now time.Time) (string, error) {
	var id string
	err := s.tx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `SELECT i.id FROM incidents i JOIN alerts a ON a.incident_id = i.id
			WHERE a.id = $1 AND i.class <> 'resident' AND i.state IN ($2, $3, $4, $5)`, alertID, IncDiscovered, IncDispatched, IncAccepted, IncOnSite).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			id = ""
			return nil
		}
		if err != nil {
			return err
		}
		var open int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM alerts WHERE incident_id = $1 AND state = 'raised'`, id).Scan(&open); err != nil {
			return err
		}
		if open > 0 {
			id = ""
			return nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE incidents SET state = $1, outcome = 'device_recovered', next_escalation_at = NULL, updated_at = $2 WHERE id = $3`,
			IncResolved, ms(now), id); err != nil {
			return err
		}
		return addEvent(ctx, tx, id, now, "system", "resolve", "device_recovered")
	})
	if err != nil {
		return "", fmt.Errorf("auto-resolve for alert %s: %w", alertID, err)
	}
	return id, nil
}

const incidentSelect = `SELECT i.id, i.home_id, i.gateway_id, COALESCE(h.address, ''), COALESCE(h.resident_name, ''), i.class, i.severity, i.state,
	i.opened_at, i.updated_at, w.id, w.name, w.phone, i.step, i.next_escalation_at, i.chain, i.outcome, i.notes, i.rating, i.feedback, i.inhibited
	FROM incidents i LEFT JOIN homes h ON h.id = i.home_id LEFT JOIN workers w ON w.id = i.assignee_id`

func scanIncident(r interface{ Scan(...any) error }) (Incident, error) {
	var in Incident
	var opened, updated int64
	var next, rating sql.NullInt64
	var wid, wname, wphone sql.NullString
	var chain string
	var inhibited int
	err := r.Scan(&in.ID, &in.HomeID, &in.Gateway, &in.Address, &in.Resident, &in.Class, &in.Severity, &in.State,
		&opened, &updated, &wid, &wname, &wphone, &in.Step, &next, &chain, &in.Outcome, &in.Notes, &rating, &in.Feedback, &inhibited)
	if err != nil {
		return in, err
	}
	in.OpenedAt, in.UpdatedAt, in.NextEscAt = time.UnixMilli(opened), time.UnixMilli(updated), fromMS(next)
	in.Inhibited = inhibited == 1
	if rating.Valid {
		v := int(rating.Int64)
		in.Rating = &v
	}
	if wid.Valid {
		in.Assignee = &Assignee{ID: wid.String, Name: wname.String, Phone: wphone.String}
	}
	_ = json.Unmarshal([]byte(chain), &in.Chain)
	return in, nil
}

// Incidents lists incidents, most recently changed first; open only if openOnly.
func (s *Store) Incidents(ctx context.Context, openOnly bool, limit int) ([]Incident, error) {
	q := incidentSelect
	args := []any{limit}
	if openOnly {
		q += ` WHERE i.state IN ($2, $3, $4, $5)`
		args = append(args, IncDiscovered, IncDispatched, IncAccepted, IncOnSite)
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY i.updated_at DESC LIMIT $1`, args...)
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
	return out, rows.Err()
}

// Incident returns one incident with its rules and closed-loop timeline.
func (s *Store) Incident(ctx context.Context, id string) (Incident, error) {
	in, err := scanIncident(s.db.QueryRowContext(ctx, incidentSelect+` WHERE i.id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return in, ErrNotFound
	}
	if err != nil {
		return in, fmt.Errorf("incident %s: %w", id, err)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT DISTINCT rule FROM alerts WHERE incident_id = $1 ORDER BY rule`, id)
	if err != nil {
		return in, fmt.Errorf("incident %s rules: %w", id, err)
	}
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err == nil {
			in.Rules = append(in.Rules, r)
		}
	}
	rows.Close()
	rows, err = s.db.QueryContext(ctx, `SELECT at, actor, action, detail FROM incident_events WHERE incident_id = $1 ORDER BY seq`, id)
	if err != nil {
		return in, fmt.Errorf("incident %s timeline: %w", id, err)
	}
	defer rows.Close()
	for rows.Next() {
		var e IncidentEvent
		var at int64
		if err := rows.Scan(&at, &e.Actor, &e.Action, &e.Detail); err != nil {
			return in, err
		}
		e.At = time.UnixMilli(at)
		in.Timeline = append(in.Timeline, e)
	}
	return in, rows.Err()
}

// PendingNotifications returns pages not yet delivered, oldest first.
func (s *Store) PendingNotifications(ctx context.Context, limit int) ([]Page, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT n.id, n.incident_id, n.kind, w.id, w.grid_id, w.name, w.phone FROM notifications n
		JOIN workers w ON w.id = n.recipient_id WHERE n.sent_at IS NULL ORDER BY n.created_at LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("pending notifications: %w", err)
	}
	defer rows.Close()
	var out []Page
	for rows.Next() {
		var p Page
		if err := rows.Scan(&p.ID, &p.IncidentID, &p.Kind, &p.Worker.ID, &p.Worker.GridID, &p.Worker.Name, &p.Worker.Phone); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// MarkNotified records that a page was delivered.
func (s *Store) MarkNotified(ctx context.Context, id string, at time.Time) error {
	if _, err := s.db.ExecContext(ctx, `UPDATE notifications SET sent_at = $1 WHERE id = $2 AND sent_at IS NULL`, ms(at), id); err != nil {
		return fmt.Errorf("mark notification %s: %w", id, err)
	}
	return nil
}

// AccessScope tells the live stream whose data this is.
func (in Incident) AccessScope() (home, class, recipient string) { return in.HomeID, in.Class, "" }
