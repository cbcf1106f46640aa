package store

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// KPI summarises how a grid (or a rule) is served: how fast cases are accepted,
// reached and resolved, how many were false alarms, and what is still open.
type KPI struct {
	Key             string  `json:"key"` // grid ID or rule
	Name            string  `json:"name,omitempty"`
	Incidents       int     `json:"incidents"`
	Accepted        int     `json:"accepted"`
	Resolved        int     `json:"resolved"`
	FalseAlarms     int     `json:"false_alarms"`
	FalseAlarmRatio float64 `json:"false_alarm_ratio"` // of resolved
	AcceptP50S      float64 `json:"accept_p50_s"`
	AcceptP90S      float64 `json:"accept_p90_s"`
	OnSiteP50S      float64 `json:"on_site_p50_s"`
	ResolveP50S     float64 `json:"resolve_p50_s"`
	ResolveP90S     float64 `json:"resolve_p90_s"`
	OpenUnder1h     int     `json:"open_under_1h"`
	Open1hTo24h     int     `json:"open_1h_to_24h"`
	OpenOver24h     int     `json:"open_over_24h"`
	MeanRating      float64 `json:"mean_rating"`
	Ratings         int     `json:"ratings"`
}

// KPIs are per grid and per opening rule, for resident incidents opened since since.
type KPIs struct {
	Since time.Time `json:"since"`
	Grids []KPI     `json:"grids"`
	Rules []KPI     `json:"rules"`
}

type kpiCase struct {
	grid, gridName, rule, state, outcome string
	opened                               time.Time
	accept, arrive, resolve              *time.Time
	rating                               *int
}

// KPIs computes the service figures from the closed-loop records (times from
// discovery, as the resident experiences them).
func (s *Store) KPIs(ctx context.Context, since, now time.Time) (KPIs, error) {
	return s.KPIsIn(ctx, Scope{All: true}, since, now)
}

// KPIsIn is KPIs over the scope's homes only: a supervisor's figures are their
// community's, per rule too.
func (s *Store) KPIsIn(ctx context.Context, sc Scope, since, now time.Time) (KPIs, error) {
	cond, args := homeFilter(sc, "i.home_id", 2)
	rows, err := s.db.QueryContext(ctx, `SELECT h.grid_id, COALESCE(g.name, ''), i.state, i.outcome, i.opened_at, i.rating,
		(SELECT detail FROM incident_events e WHERE e.incident_id = i.id AND e.action = 'discovered' ORDER BY seq LIMIT 1),
		(SELECT MIN(at) FROM incident_events e WHERE e.incident_id = i.id AND e.action = 'accept'),
		(SELECT MIN(at) FROM incident_events e WHERE e.incident_id = i.id AND e.action = 'arrive'),
		(SELECT MIN(at) FROM incident_events e WHERE e.incident_id = i.id AND e.action = 'resolve')
		FROM incidents i JOIN homes h ON h.id = i.home_id LEFT JOIN grids g ON g.id = h.grid_id
		WHERE i.class = 'resident' AND i.opened_at >= $1 AND `+cond, append([]any{ms(since)}, args...)...)
	if err != nil {
		return KPIs{}, fmt.Errorf("kpis: %w", err)
	}
	defer rows.Close()
	var cases []kpiCase
	for rows.Next() {
		var c kpiCase
		var opened int64
		var rating, accept, arrive, resolve nullInt
		var rule nullString
		if err := rows.Scan(&c.grid, &c.gridName, &c.state, &c.outcome, &opened, &rating, &rule, &accept, &arrive, &resolve); err != nil {
			return KPIs{}, fmt.Errorf("kpis: %w", err)
		}
		c.opened, c.rule = time.UnixMilli(opened), rule.String
		c.accept, c.arrive, c.resolve = fromMS(accept.NullInt64), fromMS(arrive.NullInt64), fromMS(resolve.NullInt64)
		if rating.Valid {
			v := int(rating.Int64)
			c.rating = &v
		}
		cases = append(cases, c)
	}
	if err := rows.Err(); err != nil {
		return KPIs{}, fmt.Errorf("kpis: %w", err)
	}
	out := KPIs{Since: since, Grids: summarise(cases, now, func(c kpiCase) (string, string) { return c.grid, c.gridName }),
		Rules: summarise(cases, now, func(c kpiCase) (string, string) { return c.rule, "" })}
	return out, nil
}

func summarise(cases []kpiCase, now time.Time, key func(kpiCase) (string, string)) []KPI {
	type acc struct {
		k                      KPI
		accept, onSite, resolv []float64
		ratingSum              int
	}
	by := map[string]*acc{}
	var order []string
	for _, c := range cases {
		k, name := key(c)
		a := by[k]
		if a == nil {
			a = &acc{k: KPI{Key: k, Name: name}}
			by[k] = a
			order = append(order, k)
		}
		a.k.Incidents++
		if c.accept != nil {
			a.k.Accepted++
			a.accept = append(a.accept, c.accept.Sub(c.opened).Seconds())
		}
		if c.arrive != nil {
			a.onSite = append(a.onSite, c.arrive.Sub(c.opened).Seconds())
		}
		if c.resolve != nil {
			a.k.Resolved++
			a.resolv = append(a.resolv, c.resolve.Sub(c.opened).Seconds())
			if c.outcome == "false_alarm" {
				a.k.FalseAlarms++
			}
		}
		if c.rating != nil {
			a.k.Ratings++
			a.ratingSum += *c.rating
		}
		switch c.state {
		case IncDiscovered, IncDispatched, IncAccepted, IncOnSite:
			switch age := now.Sub(c.opened); {
			case age < time.Hour:
				a.k.OpenUnder1h++
			case age < 24*time.Hour:
				a.k.Open1hTo24h++
			default:
				a.k.OpenOver24h++
			}
		}
	}
	slices.Sort(order)
	out := make([]KPI, 0, len(order))
	for _, k := range order {
		a := by[k]
		a.k.AcceptP50S, a.k.AcceptP90S = quantile(a.accept, .5), quantile(a.accept, .9)
		a.k.OnSiteP50S = quantile(a.onSite, .5)
		a.k.ResolveP50S, a.k.ResolveP90S = quantile(a.resolv, .5), quantile(a.resolv, .9)
		if a.k.Resolved > 0 {
			a.k.FalseAlarmRatio = float64(a.k.FalseAlarms) / float64(a.k.Resolved)
		}
		if a.k.Ratings > 0 {
			a.k.MeanRating = float64(a.ratingSum) / float64(a.k.Ratings)
		}
		out = append(out, a.k)
	}
	return out
}

// quantile by the nearest-rank method; 0 for no data.
func quantile(v []float64, q float64) float64 {
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	i := int(q*float64(len(v))+0.999999) - 1
	return v[min(max(i, 0), len(v)-1)]
}
