package homesim

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestSmallPopulation is the fast check of the evaluation: a few homes, every one
// with an incident; the defaults must find each within 24 h. The full table comes
// from cmd/homesim-eval (docs/rules-evaluation.md).
func TestSmallPopulation(t *testing.T) {
	spec := Spec{Seed: 7, Homes: 4, Days: 20, Incident: 1}
	pop := Population(spec)
	if !reflect.DeepEqual(pop[0].Events[:50], Population(spec)[0].Events[:50]) {
		t.Fatal("population not deterministic")
	}
	cfgs := Configs()
	fixed, def := Evaluate(pop, cfgs[0]), Evaluate(pop, cfgs[1])
	if def.Incidents != 4 || def.Detected != 4 || def.Within24h != 4 {
		t.Fatalf("defaults: %+v", def)
	}
	if fixed.Detected > def.Detected {
		t.Fatalf("fixed rule found more: %+v vs %+v", fixed, def)
	}
	var b strings.Builder
	Report(&b, []Result{fixed, def})
	if !strings.Contains(b.String(), "| incidents detected | ") {
		t.Fatal(b.String())
	}
}

func TestSituationsAndIncidents(t *testing.T) {
	pop := Population(Spec{Seed: 3, Homes: 30, Days: 30, Incident: 0.5})
	kinds := map[string]bool{}
	causes := map[string]bool{}
	for _, h := range pop {
		if h.Incident != nil {
			kinds[h.Incident.Kind] = true
			if !h.End.After(h.Incident.At) {
				t.Fatalf("home %d ends before its incident", h.ID)
			}
		}
		for _, s := range h.Situations {
			causes[s.Cause] = true
		}
		for i := 1; i < len(h.Events); i++ {
			if h.Events[i].T.Before(h.Events[i-1].T) {
				t.Fatalf("home %d: events out of order at %d", h.ID, i)
			}
		}
	}
	for _, k := range []string{CollapseDay, CollapseNight, BathroomTap, SOSPress} {
		if !kinds[k] {
			t.Errorf("no %s incident in 30 homes", k)
		}
	}
	for _, c := range []string{"outing", "late_wake", "power_cut", "leaking_toilet", "trip_with_notice"} {
		if !causes[c] {
			t.Errorf("no %s situation in 30 homes", c)
		}
	}
	if n := (Incident{At: time.Date(2026, 3, 1, 23, 0, 0, 0, cst)}); !n.Night() {
		t.Error("23:00 is night")
	}
}
