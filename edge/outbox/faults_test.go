package outbox

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shouwang-care/shouwang/firmware-protocol/mqttv1"
)

// filledStore writes n alerts with bulky evidence (so they span many pages) and closes
// the store, returning its path and size.
func filledStore(t *testing.T, n int) (string, int64) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "outbox.db")
	o, _, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		a := alert(i, mqttv1.Raised)
		for j := range 8 {
			a.Evidence = append(a.Evidence, mqttv1.Evidence{Signal: "water", Note: fmt.Sprintf("evidence %d of alert %d, padded to fill pages ................................................", j, i)})
		}
		if err := o.Commit([]mqttv1.Alert{a}, "rules", map[string]int{"n": i}); err != nil {
			t.Fatal(err)
		}
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, fi.Size()
}

// TestDamagedFileWithContent: a store with real alerts that was truncated (a torn
// write at the end of the SD card's last flush) or had pages overwritten (flash
// corruption) never crashes Open; it is quarantined, a fresh store starts, and the
// alerts still readable are carried over.
func TestDamagedFileWithContent(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, path string, size int64)
	}{
		{"truncated to half", func(t *testing.T, path string, size int64) {
			if err := os.Truncate(path, size/2); err != nil {
				t.Fatal(err)
			}
		}},
		{"truncated inside the meta pages", func(t *testing.T, path string, _ int64) {
			if err := os.Truncate(path, 5000); err != nil {
				t.Fatal(err)
			}
		}},
		{"meta pages garbled", func(t *testing.T, path string, _ int64) {
			garble(t, path, 0, 8192)
		}},
		{"data pages garbled", func(t *testing.T, path string, size int64) {
			garble(t, path, 4*4096, size-4*4096)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, size := filledStore(t, 60)
			tc.damage(t, path, size)
			o, q, err := Open(path)
			if err != nil {
				t.Fatalf("open damaged store: %v", err)
			}
			defer o.Close()
			if q == "" {
				// bbolt found the damage harmless (e.g. only free pages hit); then the
				// store must still be fully readable.
				if _, err := o.Pending(1000); err != nil {
					t.Fatalf("not quarantined but unreadable: %v", err)
				}
				return
			}
			if _, err := os.Stat(q); err != nil {
				t.Fatalf("quarantined file not kept: %v", err)
			}
			t.Logf("quarantined as %s; %d of 60 alerts salvaged", filepath.Base(q), o.Salvaged)
			p, err := o.Pending(1000)
			if err != nil || len(p) != o.Salvaged || o.Len() != o.Salvaged {
				t.Fatalf("fresh store: %d pending (%v), %d salvaged", len(p), err, o.Salvaged)
			}
			if err := o.Put(alert(999, mqttv1.Raised)); err != nil {
				t.Fatalf("fresh store unusable: %v", err)
			}
		})
	}
}

func garble(t *testing.T, path string, from, n int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	junk := make([]byte, n)
	for i := range junk {
		junk[i] = byte(i*131 + 7)
	}
	if _, err := f.WriteAt(junk, from); err != nil {
		t.Fatal(err)
	}
}

func reading(at time.Time, sensor string, v float64) mqttv1.Reading {
	return mqttv1.Reading{T: at, Sensor: sensor, TotalM3: &v}
}

func TestTelemetrySeqPersistsAndDrainsInOrder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	o, _, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for i := range 3 {
		if _, err := o.PutTelemetry(mqttv1.Telemetry{Readings: []mqttv1.Reading{reading(t0.Add(time.Duration(i)*time.Minute), "water", float64(i))}}); err != nil {
			t.Fatal(err)
		}
	}
	o.Close()
	if o, _, err = Open(path); err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	seq, err := o.PutTelemetry(mqttv1.Telemetry{Readings: []mqttv1.Reading{reading(t0.Add(time.Hour), "water", 9)}})
	if err != nil || seq != 4 {
		t.Fatalf("seq after reopen %d %v, want 4", seq, err)
	}
	p, err := o.PendingTelemetry(10)
	if err != nil || len(p) != 4 {
		t.Fatalf("pending %d %v", len(p), err)
	}
	for i, b := range p {
		if b.Seq != uint64(i+1) {
			t.Fatalf("batch %d has seq %d", i, b.Seq)
		}
	}
	if err := o.DeleteTelemetry(1, 2); err != nil {
		t.Fatal(err)
	}
	if n, _ := o.TelemetryLen(); n != 2 {
		t.Fatalf("%d batches after delete, want 2", n)
	}
}

// TestTelemetryBoundedDownsampleThenDrop: a week offline at one batch a minute fills
// the limit; the backlog is reduced to one reading per meter per hour with activity
// summed, and only when that is not enough are the oldest batches dropped, counted.
func TestTelemetryBoundedDownsampleThenDrop(t *testing.T) {
	o, _, err := Open(filepath.Join(t.TempDir(), "outbox.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	o.SetTelemetryLimit(64 << 10)
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	const minutes = 6 * 60
	for m := range minutes {
		at := t0.Add(time.Duration(m) * time.Minute)
		b := mqttv1.Telemetry{
			Readings: []mqttv1.Reading{reading(at, "water", float64(m)), reading(at, "power", float64(2*m))},
			Activity: []mqttv1.Activity{{T: at, PeriodS: 60, Sensor: "pir.kitchen", Count: 1}},
		}
		if _, err := o.PutTelemetry(b); err != nil {
			t.Fatal(err)
		}
	}
	n, size := o.TelemetryLen()
	if size > 64<<10 {
		t.Fatalf("telemetry holds %d bytes, limit 64 KiB", size)
	}
	if o.TelemetryDropped() != 0 {
		t.Fatalf("dropped %d although downsampling sufficed", o.TelemetryDropped())
	}
	p, err := o.PendingTelemetry(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	// Every hour keeps its last water reading, activity totals are kept, order holds.
	hours := map[int]bool{}
	count := 0
	var prevSeq uint64
	for _, b := range p {
		if b.Seq <= prevSeq {
			t.Fatalf("seq order broken: %d after %d", b.Seq, prevSeq)
		}
		prevSeq = b.Seq
		for _, r := range b.Readings {
			if r.Sensor == "water" {
				hours[r.T.Hour()] = true
			}
		}
		for _, a := range b.Activity {
			count += a.Count
		}
	}
	if len(hours) != 6 || count != minutes {
		t.Fatalf("after downsampling: water in %d hours (want 6), activity %d (want %d); %d batches", len(hours), count, minutes, n)
	}

	// Now a limit so small that even hourly data does not fit: the oldest go, counted.
	o.SetTelemetryLimit(600)
	if _, err := o.PutTelemetry(mqttv1.Telemetry{Readings: []mqttv1.Reading{reading(t0.Add(7*time.Hour), "water", 1e3)}}); err != nil {
		t.Fatal(err)
	}
	if _, size := o.TelemetryLen(); size > 600 {
		t.Fatalf("%d bytes held, limit 600", size)
	}
	if o.TelemetryDropped() == 0 {
		t.Fatal("drops not counted")
	}
	p, _ = o.PendingTelemetry(1 << 20)
	last := p[len(p)-1]
	if len(last.Readings) != 1 || *last.Readings[0].TotalM3 != 1e3 {
		t.Fatalf("newest batch not kept: %+v", last)
	}
	t.Logf("dropped %d items; %d batches left", o.TelemetryDropped(), len(p))
}
