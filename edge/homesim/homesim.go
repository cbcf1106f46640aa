// Package homesim generates synthetic homes — a resident's routine with its ordinary
// irregularities, device trouble and one injected incident — as event logs with the
// ground truth beside them, and scores the rule engine on them (see Evaluate and
// docs/rules-evaluation.md). Everything is a pure function of the seed.
package homesim

import (
	"math/rand/v2"
	"sort"
	"time"

	"github.com/shouwang-care/shouwang/firmware-protocol/event"
)

// Incident kinds.
const (
	CollapseDay   = "collapse_day"   // falls during the day, no activity afterwards
	CollapseNight = "collapse_night" // falls on a night toilet visit
	BathroomTap   = "bathroom_tap"   // falls in the bathroom with the tap running
	SOSPress      = "sos"            // falls and presses the button
)

// Incident is what happened to the resident, and when.
type Incident struct {
	Kind string
	At   time.Time
}

// Night reports whether the incident is a night one for the delay statistics
// (22:00–06:00 local).
func (i Incident) Night() bool { h := i.At.Hour(); return h >= 22 || h < 6 }

// Situation is a stretch of ordinary life that may explain a false alarm.
type Situation struct {
	Start, End time.Time
	Cause      string
}

// AwayChange is the cloud config's away flag changing (family or worker setting it).
type AwayChange struct {
	At   time.Time
	Away bool
}

// Home is one generated home.
type Home struct {
	ID         int
	Events     []event.Event
	Away       []AwayChange
	Situations []Situation
	Incident   *Incident // nil: a home without incident
	End        time.Time
}

// Spec sets a population.
type Spec struct {
	Seed     uint64
	Homes    int
	Days     int     // monitored days before the incident window closes
	Incident float64 // share of homes with an incident (the rest measure false alarms only)
}

var cst = time.FixedZone("CST", 8*3600)

// Population generates Spec.Homes homes.
func Population(s Spec) []Home {
	out := make([]Home, s.Homes)
	for i := range out {
		out[i] = generate(i, s)
	}
	return out
}

// resident is the routine of one person.
type resident struct {
	wake, sleep  time.Duration // weekday, from midnight
	pirs         []string
	pirMiss      float64
	napP         float64
	outP         float64 // chance of an outing per day
	nightToiletP float64
	hasDoor      bool
}

type gen struct {
	r      *rand.Rand
	start  time.Time
	mins   int
	water  []float64 // litres drawn in each minute
	power  []float64 // kWh used in each minute above the fridge
	events []event.Event
	home   *Home
	res    resident
	// stopped: minute from which the resident does nothing (incident)
	stopped int
	// present[m]: resident at home and awake-able (not out, not away)
	absent []bool
	dead   []deadPIR
	cuts   [][2]int
}

func generate(id int, s Spec) Home {
	r := rand.New(rand.NewPCG(s.Seed, uint64(id)*0x9e3779b97f4a7c15+1))
	start := time.Date(2026, 3, 2, 0, 0, 0, 0, cst) // a Monday
	days := s.Days + 2
	g := &gen{r: r, start: start, mins: days * 1440, home: &Home{ID: id}}
	g.water = make([]float64, g.mins)
	g.power = make([]float64, g.mins)
	g.absent = make([]bool, g.mins)
	g.stopped = g.mins
	g.res = resident{
		wake:         time.Duration(330+r.IntN(150)) * time.Minute, // 05:30–08:00
		pirMiss:      0.1 + 0.2*r.Float64(),
		napP:         0.3 + 0.5*r.Float64(),
		outP:         0.3 + 0.6*r.Float64(),
		nightToiletP: 0.3 + 0.9*r.Float64(),
		hasDoor:      r.Float64() < 0.9,
	}
	g.res.sleep = g.res.wake + time.Duration(14*60+r.IntN(150))*time.Minute // 14–16.5 h awake
	rooms := []string{"pir.kitchen", "pir.bathroom", "pir.living", "pir.bedroom"}
	g.res.pirs = rooms[:1+r.IntN(4)]

	if s.Incident > 0 && r.Float64() < s.Incident {
		g.home.Incident = g.incident(s.Days)
	}
	g.quirks(s.Days)
	for d := range days {
		g.day(d)
	}
	g.meters()
	sort.SliceStable(g.events, func(i, j int) bool { return g.events[i].T.Before(g.events[j].T) })
	g.home.Events = g.events
	g.home.End = start.Add(time.Duration(g.mins) * time.Minute)
	if g.home.Incident != nil {
		if end := g.home.Incident.At.Add(30 * time.Hour); end.Before(g.home.End) {
			g.home.End = end
		}
		n := sort.Search(len(g.events), func(i int) bool { return !g.events[i].T.Before(g.home.End) })
		g.home.Events = g.events[:n]
	}
	return *g.home
}

func (g *gen) at(m int) time.Time { return g.start.Add(time.Duration(m) * time.Minute) }

func (g *gen) minute(day int, d time.Duration) int { return day*1440 + int(d/time.Minute) }

func (g *gen) situation(a, b int, cause string) {
	g.home.Situations = append(g.home.Situations, Situation{Start: g.at(a), End: g.at(b), Cause: cause})
}

func (g *gen) incident(days int) *Incident {
	r := g.r
	day := 18 + r.IntN(max(1, days-18)) // after the routine is learned
	kinds := []string{CollapseDay, CollapseDay, CollapseNight, BathroomTap, SOSPress}
	k := kinds[r.IntN(len(kinds))]
	var at time.Duration
	switch k {
	case CollapseDay, SOSPress:
		at = g.res.wake + time.Duration(60+r.IntN(int((g.res.sleep-g.res.wake)/time.Minute)-120))*time.Minute
	case CollapseNight:
		at = time.Duration(60+r.IntN(210)) * time.Minute // 01:00–04:30
	case BathroomTap:
		at = g.res.wake + time.Duration(r.IntN(int((g.res.sleep-g.res.wake)/time.Minute)))*time.Minute
	}
	m := g.minute(day, at)
	g.stopped = m
	inc := &Incident{Kind: k, At: g.at(m)}
	switch k {
	case CollapseNight, BathroomTap:
		g.motion(m, "pir.bathroom")
	case SOSPress:
		g.events = append(g.events, event.Event{T: g.at(m), Sensor: "sos", Kind: event.Button})
	}
	if k == BathroomTap {
		for i := m; i < g.mins; i++ {
			g.water[i] += 6
		}
	}
	return inc
}

// quirks: trips, hospital stays, device trouble, a leaking cistern, power cuts.
func (g *gen) quirks(days int) {
	r := g.r
	stop := g.stopped
	if g.home.Incident != nil {
		stop -= 2 * 1440
	}
	span := func(minDays, maxDays int) (int, int, bool) {
		l := (minDays+r.IntN(maxDays-minDays+1))*1440 - 3*60 + r.IntN(6*60) // back by day
		if stop-l-3*1440 <= 1440 {
			return 0, 0, false
		}
		a := 1440 + r.IntN(stop-l-3*1440)
		a = a/1440*1440 + 9*60 + r.IntN(6*60)
		return a, a + l, true
	}
	if r.Float64() < 0.3 { // trip, family tells the worker (away set, cleared on return)
		if a, b, ok := span(2, 5); ok {
			g.leave(a, b)
			g.home.Away = append(g.home.Away, AwayChange{g.at(a - 60), true}, AwayChange{g.at(b + 30), false})
			g.situation(a, b, "trip_with_notice")
		}
	}
	if r.Float64() < 0.25 { // stays at a daughter's, tells nobody
		if a, b, ok := span(1, 2); ok {
			g.leave(a, b)
			g.situation(a, b+60, "trip_without_notice")
		}
	}
	if r.Float64() < 0.1 { // hospital: leaves by ambulance, away set hours later
		if a, b, ok := span(3, 7); ok {
			g.leave(a, b)
			g.home.Away = append(g.home.Away, AwayChange{g.at(a + 360 + r.IntN(18*60)), true}, AwayChange{g.at(b + 60), false})
			g.situation(a, b, "hospital_stay")
		}
	}
	if r.Float64() < 0.1 && len(g.res.pirs) > 0 { // a PIR dies; supervision reports it a day later; fixed in a week
		p := g.res.pirs[r.IntN(len(g.res.pirs))]
		a := 1440 * (1 + r.IntN(max(1, days-10)))
		b := a + 7*1440
		g.home.Situations = append(g.home.Situations, Situation{g.at(a), g.at(b), "faulty_pir"})
		g.dead = append(g.dead, deadPIR{p, a, b})
		g.events = append(g.events,
			event.Event{T: g.at(a + 1440), Sensor: p, Kind: event.Fault, Detail: "silent 24h: no motion reported"},
			event.Event{T: g.at(b), Sensor: p, Kind: event.Fault, Detail: "recovered: motion seen again"})
	}
	if r.Float64() < 0.1 { // leaking cistern from some day on
		a := 1440 * r.IntN(max(1, days-5))
		lpm := 0.1 + 0.4*r.Float64()
		for i := a; i < g.mins; i++ {
			g.water[i] += lpm
		}
		g.situation(a, g.mins, "leaking_toilet")
	}
	for range r.IntN(3) { // power cuts: the gateway is off, the meters keep counting
		a := 1440 + r.IntN(max(1, stop-2*1440))
		b := a + 30 + r.IntN(8*60)
		g.cuts = append(g.cuts, [2]int{a, b})
		g.situation(a, b+12*60, "power_cut")
	}
}

type deadPIR struct {
	sensor string
	a, b   int
}

// leave: out of the home from a to b (door on both ends).
func (g *gen) leave(a, b int) {
	for i := a; i < min(b, g.mins); i++ {
		g.absent[i] = true
	}
	g.door(a - 1)
	g.door(b)
	g.motion(b+1, "")
}

func (g *gen) door(m int) {
	if !g.res.hasDoor || m < 0 || m >= g.stopped || m >= g.mins {
		return
	}
	g.events = append(g.events,
		event.Event{T: g.at(m), Sensor: "door.front", Kind: event.Door, Open: event.Bool(true)},
		event.Event{T: g.at(m).Add(20 * time.Second), Sensor: "door.front", Kind: event.Door, Open: event.Bool(false)})
}

func (g *gen) motion(m int, room string) {
	if m < 0 || m >= g.mins || m > g.stopped || g.absent[m] || len(g.res.pirs) == 0 {
		return
	}
	if room == "" {
		room = g.res.pirs[g.r.IntN(len(g.res.pirs))]
	}
	ok := false
	for _, p := range g.res.pirs {
		ok = ok || p == room
	}
	if !ok || g.r.Float64() < g.res.pirMiss {
		return
	}
	for _, d := range g.dead {
		if d.sensor == room && m >= d.a && m < d.b {
			return
		}
	}
	g.events = append(g.events, event.Event{T: g.at(m).Add(time.Duration(g.r.IntN(50)) * time.Second), Sensor: room, Kind: event.Motion})
}

// use draws litres over n minutes and puts kW of power on for n minutes.
func (g *gen) use(m, n int, litres, kw float64) {
	for i := m; i < m+n && i < g.stopped && i < g.mins; i++ {
		if g.absent[i] {
			return
		}
		g.water[i] += litres / float64(n)
		g.power[i] += kw / 60
	}
}

func (g *gen) home_(m int) bool { return m >= 0 && m < g.stopped && m < g.mins && !g.absent[m] }

func (g *gen) day(d int) {
	r, res := g.r, g.res
	jit := func(n int) time.Duration { return time.Duration(r.IntN(2*n+1)-n) * time.Minute }
	wake := res.wake + jit(20)
	if d%7 >= 5 {
		wake += 30 * time.Minute
	}
	if r.Float64() < 0.08 {
		late := time.Duration(90+r.IntN(90)) * time.Minute
		g.situation(g.minute(d, wake), g.minute(d, wake+late+3*time.Hour), "late_wake")
		wake += late
	}
	sleep := res.sleep + jit(20)
	w, s := g.minute(d, wake), g.minute(d, sleep)

	// The night before: toilet visits.
	for range 2 {
		if r.Float64() < res.nightToiletP/2 {
			m := g.minute(d, 30*time.Minute) + r.IntN(max(1, w-g.minute(d, time.Hour)-d*1440))
			if g.home_(m) {
				g.motion(m, "pir.bedroom")
				g.motion(m+1, "pir.bathroom")
				g.use(m+2, 1, 6, 0)
			}
		}
	}
	if r.Float64() < 0.01 && g.home_(s+60) { // puts the rubbish out after midnight
		m := s + 90 + r.IntN(60)
		g.door(m)
		g.door(m + 3)
		g.motion(m+4, "")
		g.situation(m, m+60, "night_door")
	}
	if g.home_(w) {
		g.motion(w, "pir.bedroom")
		g.motion(w+3, "pir.bathroom")
		g.use(w+4, 1, 6, 0)
		g.use(w+6, 2, 3, 0)
		g.motion(w+20, "pir.kitchen")
		g.use(w+20, 1, 2, 0)
		g.use(w+21, 5, 0, 1.5)
	}
	if g.home_(s - 15) { // bedtime: toilet, wash
		g.motion(s-15, "pir.bathroom")
		g.use(s-14, 1, 6, 0)
		g.use(s-12, 2, 2, 0)
		g.motion(s-2, "pir.bedroom")
	}

	nap, napEnd := -1, -1
	if r.Float64() < res.napP {
		nap = g.minute(d, 12*time.Hour+30*time.Minute) + r.IntN(90)
		napEnd = nap + 45 + r.IntN(75)
	}
	if r.Float64() < res.outP {
		a := g.minute(d, 8*time.Hour+30*time.Minute) + r.IntN(7*60)
		if a > w+30 && (a < nap-10 || a > napEnd) && g.home_(a) {
			b := a + 60 + r.IntN(140)
			g.leave(a, b)
			g.situation(a, b+60, "outing")
		}
	}
	if r.Float64() < 1.0/7 {
		a := g.minute(d, 14*time.Hour) + r.IntN(120)
		if g.home_(a) {
			g.door(a)
			for i := a; i < a+90; i += 5 {
				g.motion(i, "")
			}
			g.use(a+10, 1, 2, 1.5)
			g.situation(a, a+120, "visitor")
		}
	}
	if r.Float64() < 1.0/14 {
		if a := g.minute(d, 9*time.Hour) + r.IntN(120); g.home_(a) {
			for i := range 6 {
				g.use(a+i*10, 2, 10, 0)
				g.motion(a+i*10, "")
			}
			g.situation(a, a+90, "cleaning")
		}
	}
	if r.Float64() < 2.0/7 {
		a := g.minute(d, 10*time.Hour) + r.IntN(60)
		for i := range 4 {
			g.use(a+i*15, 2, 12, 0)
		}
		g.use(a, 60, 0, 0.4)
	}
	if d%2 == 0 {
		g.use(g.minute(d, 19*time.Hour)+r.IntN(90), 8, 40, 0)
	}
	nextToilet := w + 120 + r.IntN(60)
	for m := w + 25; m < s && m < d*1440+1440+120; m++ {
		if !g.home_(m) {
			continue
		}
		if m >= nap && m < napEnd {
			continue
		}
		evening := m-d*1440 >= 19*60
		p := 0.12
		if evening {
			p = 0.04
			g.power[m] += 0.08 / 60
		}
		if m-d*1440 >= 18*60 {
			g.power[m] += 0.02 / 60
		}
		if r.Float64() < p {
			g.motion(m, "")
		}
		if m >= nextToilet {
			g.motion(m, "pir.bathroom")
			g.use(m+1, 1, 6, 0)
			g.use(m+2, 1, 1, 0)
			nextToilet = m + 90 + r.IntN(120)
		}
		if md := m - d*1440; md == 11*60+30 || md == 17*60+30 {
			g.motion(m, "pir.kitchen")
			g.use(m, 5, 5, 0)
			g.use(m, 30, 0, 0.8)
		}
	}
}

// meters turns the per-minute draws into readings (water every 2 min at 0.1 L,
// power every 5 min at 0.01 kWh), drops what the gateway could not see during a
// power cut and adds the boot after it.
func (g *gen) meters() {
	water, power := 123.4567, 5012.31
	off := func(m int) bool {
		for _, c := range g.cuts {
			if m >= c[0] && m < c[1] {
				return true
			}
		}
		return false
	}
	for m := range g.mins {
		water += g.water[m] / 1000
		fridge := 0.01
		if m%50 < 20 {
			fridge += 0.12
		}
		power += fridge/60 + g.power[m]
		if off(m) {
			continue
		}
		t := g.at(m).Add(30 * time.Second)
		if m%2 == 0 {
			g.events = append(g.events, event.Event{T: t, Sensor: "water", Kind: event.Meter, TotalM3: event.Float(round(water, 1e4))})
		}
		if m%5 == 0 {
			g.events = append(g.events, event.Event{T: t.Add(time.Second), Sensor: "power", Kind: event.Meter, TotalKWh: event.Float(round(power, 100))})
		}
	}
	kept := g.events[:0]
	for _, e := range g.events {
		if !off(int(e.T.Sub(g.start) / time.Minute)) {
			kept = append(kept, e)
		}
	}
	g.events = kept
	for _, c := range g.cuts {
		g.events = append(g.events, event.Event{T: g.at(c[1]), Sensor: "gateway", Kind: event.Boot})
	}
}

func round(v, q float64) float64 { return float64(int64(v*q)) / q }
