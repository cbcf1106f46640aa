package homesim

import (
	"fmt"
	"io"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/shouwang-care/shouwang/edge/replay"
	"github.com/shouwang-care/shouwang/edge/rules"
	"github.com/shouwang-care/shouwang/firmware-protocol/mqttv1"
)

// Config is one rule configuration under evaluation.
type Config struct {
	Name     string
	Settings rules.Settings
}

// Result scores one configuration on a population.
type Result struct {
	Name        string
	Incidents   int
	Detected    int
	Within24h   int
	DelayDay    []time.Duration
	DelayNight  []time.Duration
	ByKind      map[string][]time.Duration // detection delays per incident kind (missed: -1)
	DetectRule  map[string]int
	False       int
	FalseRule   map[string]int
	FalseCause  map[string]int
	HomeMonths  float64
	DeviceAlert int // device/gateway class raises (not resident alarms)
}

// Run replays one home under settings, the away flag following the home's cloud
// config changes, and returns every transition.
func Run(h Home, set rules.Settings) []mqttv1.Alert {
	var out []mqttv1.Alert
	p := replay.NewPlayer(set, func(a mqttv1.Alert) { out = append(out, a) })
	away := append([]AwayChange(nil), h.Away...)
	sort.Slice(away, func(i, j int) bool { return away[i].At.Before(away[j].At) })
	for _, ev := range h.Events {
		for len(away) > 0 && !away[0].At.After(ev.T) {
			s := set
			s.Away = away[0].Away
			p.Engine.SetSettings(s)
			away = away[1:]
		}
		p.Feed(ev)
	}
	p.TickTo(h.End)
	return out
}

// Evaluate runs every home under cfg, in parallel, and scores it.
func Evaluate(homes []Home, cfg Config) Result {
	res := Result{Name: cfg.Name, ByKind: map[string][]time.Duration{}, DetectRule: map[string]int{}, FalseRule: map[string]int{}, FalseCause: map[string]int{}}
	alerts := make([][]mqttv1.Alert, len(homes))
	var wg sync.WaitGroup
	work := make(chan int)
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for i := range work {
				alerts[i] = Run(homes[i], cfg.Settings)
			}
		})
	}
	for i := range homes {
		work <- i
	}
	close(work)
	wg.Wait()
	for i, h := range homes {
		res.score(h, alerts[i])
	}
	return res
}

func (res *Result) score(h Home, alerts []mqttv1.Alert) {
	start := h.Events[0].T
	until := h.End
	if h.Incident != nil {
		until = h.Incident.At
		res.Incidents++
	}
	res.HomeMonths += until.Sub(start).Hours() / 24 / 30
	detected := false
	for _, a := range alerts {
		if a.State != mqttv1.Raised {
			continue
		}
		if a.Class != mqttv1.ClassResident {
			res.DeviceAlert++
			continue
		}
		if a.Severity == mqttv1.Info {
			continue
		}
		if h.Incident != nil && !a.At.Before(h.Incident.At) {
			if !detected {
				detected = true
				d := a.At.Sub(h.Incident.At)
				res.Detected++
				res.DetectRule[a.Rule]++
				if d <= 24*time.Hour {
					res.Within24h++
				}
				if h.Incident.Night() {
					res.DelayNight = append(res.DelayNight, d)
				} else {
					res.DelayDay = append(res.DelayDay, d)
				}
				res.ByKind[h.Incident.Kind] = append(res.ByKind[h.Incident.Kind], d)
			}
			continue
		}
		res.False++
		res.FalseRule[a.Rule]++
		res.FalseCause[cause(h, a.At)]++
	}
	if h.Incident != nil && !detected {
		res.ByKind[h.Incident.Kind] = append(res.ByKind[h.Incident.Kind], -1)
	}
}

// cause is the ordinary-life situation around a false alarm: the latest one that
// began before it and had not ended more than 12 h before.
func cause(h Home, t time.Time) string {
	best, bestStart := "routine_variation", time.Time{}
	for _, s := range h.Situations {
		if !s.Start.After(t) && t.Before(s.End.Add(12*time.Hour)) && s.Start.After(bestStart) {
			best, bestStart = s.Cause, s.Start
		}
	}
	return best
}

func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return -1
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[int(q*float64(len(s)-1)+0.5)]
}

func hm(d time.Duration) string {
	if d < 0 {
		return "–"
	}
	return fmt.Sprintf("%dh%02d", int(d.Hours()), int(d.Minutes())%60)
}

// Report writes the side-by-side Markdown tables.
func Report(w io.Writer, rs []Result) {
	row := func(label string, f func(r Result) string) {
		cells := []string{label}
		for _, r := range rs {
			cells = append(cells, f(r))
		}
		fmt.Fprintln(w, "| "+strings.Join(cells, " | ")+" |")
	}
	hdr := []string{"metric"}
	for _, r := range rs {
		hdr = append(hdr, r.Name)
	}
	fmt.Fprintln(w, "| "+strings.Join(hdr, " | ")+" |")
	fmt.Fprintln(w, "|"+strings.Repeat("---|", len(hdr)))
	row("incidents detected", func(r Result) string {
		return fmt.Sprintf("%d / %d (%.0f %%)", r.Detected, r.Incidents, pctOf(r.Detected, r.Incidents))
	})
	row("within 24 h", func(r Result) string { return fmt.Sprintf("%d / %d", r.Within24h, r.Incidents) })
	row("delay by day: median / p90", func(r Result) string {
		return fmt.Sprintf("%s / %s (n=%d)", hm(quantile(r.DelayDay, .5)), hm(quantile(r.DelayDay, .9)), len(r.DelayDay))
	})
	row("delay at night: median / p90", func(r Result) string {
		return fmt.Sprintf("%s / %s (n=%d)", hm(quantile(r.DelayNight, .5)), hm(quantile(r.DelayNight, .9)), len(r.DelayNight))
	})
	for _, k := range []string{CollapseDay, CollapseNight, BathroomTap, SOSPress} {
		row("median delay, "+k, func(r Result) string {
			var ok []time.Duration
			for _, d := range r.ByKind[k] {
				if d >= 0 {
					ok = append(ok, d)
				}
			}
			return fmt.Sprintf("%s (%d/%d)", hm(quantile(ok, .5)), len(ok), len(r.ByKind[k]))
		})
	}
	row("false alarms per home-month", func(r Result) string {
		return fmt.Sprintf("%.2f (%d in %.1f home-months)", float64(r.False)/r.HomeMonths, r.False, r.HomeMonths)
	})
	row("detected first by", func(r Result) string { return counts(r.DetectRule) })
	row("false alarms by rule", func(r Result) string { return counts(r.FalseRule) })
	row("false alarms by cause", func(r Result) string { return counts(r.FalseCause) })
	row("device/gateway alerts (not resident)", func(r Result) string { return fmt.Sprint(r.DeviceAlert) })
}

func pctOf(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return 100 * float64(a) / float64(b)
}

func counts(m map[string]int) string {
	if len(m) == 0 {
		return "–"
	}
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Slice(ks, func(i, j int) bool { return m[ks[i]] > m[ks[j]] || m[ks[i]] == m[ks[j]] && ks[i] < ks[j] })
	var parts []string
	for _, k := range ks {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// Configs are the two configurations the evaluation compares: the fixed 12-hour
// rule alone (what deployed programmes run) and the defaults, both with the
// pre-alarm off so every alarm counts before any cancel.
func Configs() []Config {
	d := rules.Defaults()
	d.PreAlarm = 0
	return []Config{
		{Name: "fixed 12 h no-water rule", Settings: rules.Settings{NoWater: 12 * time.Hour}},
		{Name: "defaults (pre-alarm off)", Settings: d},
	}
}
