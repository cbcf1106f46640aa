package gpiosensor

import (
	"fmt"
	"strings"
	"sync"
	"time"
)

// Fault codes, the first word of a Fault event's Detail. A recovery is a Fault
// event whose Detail starts with Recovered, then the code it clears:
//
//	"stuck: button held for 1m0s (stuck_after 1m0s); …"
//	"recovered: stuck: button released after 1m12s"
//
// event.Event has no field that says "this fault is over", hence the prefix;
// FaultCode parses it back.
const (
	FaultStuck  = "stuck"  // the active state lasted longer than stuck_after
	FaultSilent = "silent" // a PIR saw nothing for silent_after while the home was active elsewhere
	Recovered   = "recovered"
)

// FaultCode splits a Fault Detail written by this package into its code and
// whether it reports a recovery. ok is false for a Detail it did not write.
func FaultCode(detail string) (code string, recovered, ok bool) {
	if rest, found := strings.CutPrefix(detail, Recovered+": "); found {
		detail, recovered = rest, true
	}
	code, _, found := strings.Cut(detail, ":")
	if !found || (code != FaultStuck && code != FaultSilent) {
		return "", false, false
	}
	return code, recovered, true
}

func faultDetail(code, format string, args ...any) string {
	return code + ": " + fmt.Sprintf(format, args...)
}

func recoveredDetail(code, format string, args ...any) string {
	return Recovered + ": " + faultDetail(code, format, args...)
}

// supervisor decides when a PIR has gone silent. It is shared by every sensor
// goroutine and by Watcher.Activity, hence the mutex.
//
// A PIR that sees nothing is normal when nobody is home, so silence alone is not
// a fault: the home must have been active elsewhere (other sensors of this
// Watcher, or Activity fed by the meters) over at least half of the silent
// period. Half, so that a resident coming back from two days away does not
// fault every PIR they have not walked past yet.
type supervisor struct {
	mu   sync.Mutex
	pirs map[string]*pirWatch
}

type pirWatch struct {
	silentAfter time.Duration
	last        time.Time // last trigger, or the start
	// activity elsewhere since last
	first, latest time.Time
	raised        bool
}

func newSupervisor() *supervisor {
	return &supervisor{pirs: map[string]*pirWatch{}}
}

func (s *supervisor) addPIR(name string, silentAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pirs[name] = &pirWatch{silentAfter: silentAfter}
}

// start marks the moment a PIR's watch begins; silence counts from there.
func (s *supervisor) start(name string, t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.pirs[name]; p != nil {
		p.last, p.first, p.latest = t, time.Time{}, time.Time{}
	}
}

// activity records something happening in the home, seen by src ("" for a
// source outside this package).
func (s *supervisor) activity(src string, t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, p := range s.pirs {
		if name == src || !t.After(p.last) {
			continue
		}
		if p.first.IsZero() || t.Before(p.first) {
			p.first = t
		}
		if t.After(p.latest) {
			p.latest = t
		}
	}
}

// trigger records a PIR's own motion. It returns a recovery Detail if the PIR
// had been reported silent.
func (s *supervisor) trigger(name string, t time.Time) (recovery string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pirs[name]
	if p == nil {
		return ""
	}
	if p.raised {
		recovery = recoveredDetail(FaultSilent, "motion again after %v", t.Sub(p.last).Round(time.Second))
		p.raised = false
	}
	p.last, p.first, p.latest = t, time.Time{}, time.Time{}
	return recovery
}

// silent returns a fault Detail the first time name qualifies as silent at now.
func (s *supervisor) silent(name string, now time.Time) (detail string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pirs[name]
	if p == nil || p.raised || p.silentAfter <= 0 {
		return ""
	}
	quiet := now.Sub(p.last)
	if quiet < p.silentAfter || p.first.IsZero() || p.latest.Sub(p.first) < p.silentAfter/2 {
		return ""
	}
	p.raised = true
	return faultDetail(FaultSilent, "no motion for %v (silent_after %v) while the home was active elsewhere from %s to %s; check the PIR is powered, uncovered and aimed at the room",
		quiet.Round(time.Second), p.silentAfter, p.first.Format(time.RFC3339), p.latest.Format(time.RFC3339))
}
