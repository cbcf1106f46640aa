package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// GatewayHealth is one gateway as a supervisor's console shows it: where it is,
// whether it reports, and the device faults it still has open.
type GatewayHealth struct {
	ID           string     `json:"id"`
	HomeID       string     `json:"home_id"`
	Address      string     `json:"address"`
	GridID       string     `json:"grid_id"`
	Online       bool       `json:"online"`
	LastSeen     *time.Time `json:"last_seen_at"`
	OfflineSince *time.Time `json:"offline_since"`
	Revoked      bool       `json:"revoked"`
	Faults       []string   `json:"open_faults"` // rules of device and gateway alerts still raised
}

// GatewaysIn lists the gateways of the scope's homes, the ones not reporting
// first, then by ID. Gateways bound to no home are an admin's only (scope All).
func (s *Store) GatewaysIn(ctx context.Context, sc Scope, limit, offset int) ([]GatewayHealth, error) {
	cond, args := homeFilter(sc, "g.home_id", 1)
	// Offline as HomeStatus has it: marked offline by liveness, or never reported.
	q, args := page(`SELECT g.id, COALESCE(g.home_id, ''), COALESCE(h.address, ''), COALESCE(h.grid_id, ''), g.online, g.last_seen_at, g.offline_since, g.revoked_at
		FROM gateways g LEFT JOIN homes h ON h.id = g.home_id WHERE `+cond+`
		ORDER BY CASE WHEN g.online = 1 AND g.offline_since IS NULL THEN 1 ELSE 0 END, g.id`, args, limit, offset)
	list := []GatewayHealth{}
	idx := map[string]int{}
	err := scanRows(ctx, s.db, q, args, func(scan func(...any) error) error {
		var g GatewayHealth
		var online int
		var seen, since, revoked sql.NullInt64
		if err := scan(&g.ID, &g.HomeID, &g.Address, &g.GridID, &online, &seen, &since, &revoked); err != nil {
			return err
		}
		g.LastSeen, g.OfflineSince, g.Revoked = fromMS(seen), fromMS(since), revoked.Valid
		g.Online = online == 1 && !since.Valid
		g.Faults = []string{}
		idx[g.ID] = len(list)
		list = append(list, g)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list gateways: %w", err)
	}
	if len(list) == 0 {
		return list, nil
	}
	in, inArgs := inList(list, false, func(g GatewayHealth) string { return g.ID })
	err = scanRows(ctx, s.db, `SELECT DISTINCT gateway_id, rule FROM alerts WHERE class <> 'resident' AND state = 'raised' AND `+in("gateway_id")+` ORDER BY gateway_id, rule`,
		inArgs, func(scan func(...any) error) error {
			var gw, rule string
			if err := scan(&gw, &rule); err != nil {
				return err
			}
			list[idx[gw]].Faults = append(list[idx[gw]].Faults, rule)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("gateway faults: %w", err)
	}
	return list, nil
}

// Escalation is one page sent past the first step of an incident's chain: which
// incident, to whom, at which step and when.
type Escalation struct {
	IncidentID string    `json:"incident_id"`
	HomeID     string    `json:"home_id"`
	Address    string    `json:"address"`
	Resident   string    `json:"resident"`
	Class      string    `json:"class"`
	Severity   string    `json:"severity"`
	State      string    `json:"state"`  // the incident's state now
	Step       int       `json:"step"`   // 1 is the first page; repeats of the chain count on
	Target     string    `json:"target"` // on_duty | backup | supervisor | technician
	At         time.Time `json:"at"`
	Worker     Assignee  `json:"worker"`
}

// EscalationsIn lists the escalation pages of the scope's homes sent since since,
// newest first. They are read from the notifications the escalation stored, whose
// IDs carry the step (incident/step), so no page is inferred twice.
func (s *Store) EscalationsIn(ctx context.Context, sc Scope, since time.Time, limit int) ([]Escalation, error) {
	cond, args := homeFilter(sc, "i.home_id", 3)
	q := `SELECT n.id, n.incident_id, n.created_at, i.home_id, COALESCE(h.address, ''), COALESCE(h.resident_name, ''), i.class, i.severity, i.state, i.chain,
		COALESCE(w.id, n.recipient_id), COALESCE(w.name, ''), COALESCE(w.phone, '')
		FROM notifications n JOIN incidents i ON i.id = n.incident_id LEFT JOIN homes h ON h.id = i.home_id LEFT JOIN workers w ON w.id = n.recipient_id
		WHERE n.kind = 'escalated' AND n.created_at >= $1 AND ` + cond + ` ORDER BY n.created_at DESC, n.id DESC LIMIT $2`
	list := []Escalation{}
	err := scanRows(ctx, s.db, q, append([]any{ms(since), limit}, args...), func(scan func(...any) error) error {
		var e Escalation
		var id, chain string
		var at int64
		if err := scan(&id, &e.IncidentID, &at, &e.HomeID, &e.Address, &e.Resident, &e.Class, &e.Severity, &e.State, &chain,
			&e.Worker.ID, &e.Worker.Name, &e.Worker.Phone); err != nil {
			return err
		}
		e.At = time.UnixMilli(at)
		step, err := strconv.Atoi(id[strings.LastIndex(id, "/")+1:])
		if err != nil {
			return fmt.Errorf("notification %s: no step in its ID", id)
		}
		e.Step = step + 1
		var c Chain
		if json.Unmarshal([]byte(chain), &c) == nil && len(c.Steps) > 0 {
			e.Target = c.Steps[step%len(c.Steps)].Target
		}
		list = append(list, e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list escalations: %w", err)
	}
	return list, nil
}
