package telemetry

import (
	"fmt"
	"testing"
	"time"

	"github.com/shouwang-care/shouwang/firmware-protocol/mqttv1"
)

// benchBatch is one gateway message of 200 points: 100 meter readings and
// 100 activity counts over 10 sensors, distinct per iteration n.
func benchBatch(n int) mqttv1.Telemetry {
	t0 := base.Add(time.Duration(n) * time.Hour)
	b := mqttv1.Telemetry{V: mqttv1.Version, Gateway: gw, Seq: uint64(n)}
	for k := range 100 {
		at := t0.Add(time.Duration(k) * time.Second)
		b.Readings = append(b.Readings, m3(fmt.Sprintf("water-%d", k%10), at, float64(n*100+k)))
		b.Activity = append(b.Activity, act(fmt.Sprintf("pir-%d", k%10), at, k))
	}
	return b
}

// BenchmarkWrite measures points/s through each store. The Influx
// (asynchronous) case flushes before the clock stops, so it counts points
// delivered, not merely queued.
func BenchmarkWrite(b *testing.B) {
	for _, impl := range []struct {
		name string
		open func(b *testing.B) (store, func())
	}{
		{"sqlite", func(b *testing.B) (store, func()) { return newSQL(b, openSQLite(b)), func() {} }},
		{"postgres", func(b *testing.B) (store, func()) { return newSQL(b, openPostgres(b)), func() {} }},
		{"influx", func(b *testing.B) (store, func()) {
			i := newInflux(b)
			return i, i.Flush
		}},
		{"influx-blocking", func(b *testing.B) (store, func()) { return influxBlocking{newInflux(b)}, func() {} }},
	} {
		b.Run(impl.name, func(b *testing.B) {
			s, flush := impl.open(b)
			batches := make([]mqttv1.Telemetry, b.N)
			for n := range batches {
				batches[n] = benchBatch(n)
			}
			points := len(batches[0].Readings) + len(batches[0].Activity)
			ctx := b.Context()
			b.ResetTimer()
			for n := range b.N {
				if err := s.Write(ctx, batches[n]); err != nil {
					b.Fatal(err)
				}
			}
			flush()
			b.StopTimer()
			b.ReportMetric(float64(b.N*points)/b.Elapsed().Seconds(), "points/s")
			if i, ok := s.(*Influx); ok {
				if n := writeErrors(i); n != 0 {
					b.Fatalf("%v asynchronous write errors", n)
				}
			}
		})
	}
}
