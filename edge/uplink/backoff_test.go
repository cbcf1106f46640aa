package uplink

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// TestBackoffFullJitter: retry n waits uniformly in (0, min(2 min, 0.5 s·2ⁿ)]: the
// ceiling doubles, is capped, and the spread covers the whole range (mean ≈ half the
// ceiling, samples near both ends), so gateways cut off together reconnect spread out.
func TestBackoffFullJitter(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for n := 1; n <= 12; n++ {
		ceiling := min(maxBackoff, baseBackoff<<n)
		const samples = 4000
		var sum float64
		lo, hi := time.Duration(math.MaxInt64), time.Duration(0)
		for range samples {
			d := backoff(n, rng.Int64N)
			if d <= 0 || d > ceiling {
				t.Fatalf("retry %d: wait %v outside (0, %v]", n, d, ceiling)
			}
			sum += float64(d)
			lo, hi = min(lo, d), max(hi, d)
		}
		mean := sum / samples / float64(ceiling)
		// Uniform: the mean of 4000 samples is within 0.5 ± 0.03 with overwhelming probability.
		if mean < 0.47 || mean > 0.53 {
			t.Errorf("retry %d: mean %.3f of the ceiling, want ≈ 0.5", n, mean)
		}
		if float64(lo) > 0.01*float64(ceiling) || float64(hi) < 0.99*float64(ceiling) {
			t.Errorf("retry %d: samples span [%v, %v] of (0, %v]: not full jitter", n, lo, hi, ceiling)
		}
	}
	if c := min(maxBackoff, baseBackoff<<20); c != 2*time.Minute {
		t.Fatalf("cap %v", c)
	}
	// Extreme draws of the random source stay in range.
	if d := backoff(3, func(int64) int64 { return 0 }); d != 1 {
		t.Errorf("lowest draw gives %v", d)
	}
	if d := backoff(40, func(n int64) int64 { return n - 1 }); d != maxBackoff {
		t.Errorf("highest draw at a huge attempt count gives %v", d)
	}
}

// TestConnectBacksOffThroughInjectedSleep: against a dead broker, connect asks the
// injected sleep for growing ceilings and stops when the context ends.
func TestConnectBacksOffThroughInjectedSleep(t *testing.T) {
	u := newTestUplink(t, &fakeBox{}, nil)
	u.randN = func(n int64) int64 { return n - 1 } // always the ceiling: shows the sequence
	var waits []time.Duration
	ctx, cancel := context.WithCancel(context.Background())
	u.sleep = func(_ context.Context, d time.Duration) bool {
		waits = append(waits, d)
		if len(waits) == 5 {
			cancel()
			return false
		}
		return true
	}
	u.connect(ctx, 1)
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second}
	if len(waits) != len(want) {
		t.Fatalf("waits %v", waits)
	}
	for i := range want {
		if waits[i] != want[i] {
			t.Fatalf("waits %v, want %v", waits, want)
		}
	}
}
