package telemetry

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/influxdb-client-go/v2/api/write"
	lp "github.com/influxdata/line-protocol"

	"github.com/shouwang-care/shouwang/firmware-protocol/mqttv1"
)

// records must write exactly what influxdb-client-go's own encoder writes for
// the same points (the cloud used write.Point before formatting lines itself),
// for every name the contract tests send and for batches that do and do not
// fill their last record.
func TestRecordsMatchClientEncoder(t *testing.T) {
	many := batch(gw, nil)
	for k := range 11 {
		at := base.Add(time.Duration(k) * 1234567 * time.Nanosecond)
		many.Readings = append(many.Readings, kwh(fmt.Sprintf("p%d", k), at, 0.1*float64(k)+1e8))
		many.Activity = append(many.Activity, act("pir", at, k))
	}
	cases := map[string]mqttv1.Telemetry{
		"empty":                batch(gw, nil),
		"one reading":          batch(gw, []mqttv1.Reading{m3("water", base, 12.345)}),
		"one count":            batch(gw, nil, act("pir-hall", base.Add(-time.Hour), 0)),
		"mixed, 22":            many,
		"tiny and huge totals": batch(gw, []mqttv1.Reading{m3("w", base, 1e-9), m3("w", base.Add(time.Second), 999999999.999), kwh("e", base, 0)}),
	}
	for k, name := range hostile {
		cases["hostile "+name] = batch(gw, []mqttv1.Reading{m3(name, base.Add(time.Duration(k)), float64(k))}, act(name, base, k))
	}
	for name, tb := range cases {
		t.Run(name, func(t *testing.T) {
			if err := validate(&tb); err != nil {
				t.Fatal(err)
			}
			recs := records(&tb)
			n := len(tb.Readings) + len(tb.Activity)
			if want := (n + linesPerRecord - 1) / linesPerRecord; len(recs) != want {
				t.Errorf("%d records for %d points, want %d", len(recs), n, want)
			}
			var got strings.Builder
			for _, r := range recs {
				got.WriteString(r + "\n") // as WriteRecord and the blocking writer join them
			}
			if want := clientLines(t, &tb); got.String() != want {
				t.Errorf("lines differ from the client's encoder\n got: %q\nwant: %q", got.String(), want)
			}
		})
	}
}

// clientLines encodes a batch the way the cloud did before records:
// write.Point through line-protocol's encoder, as the client's WritePoint does.
func clientLines(t *testing.T, tb *mqttv1.Telemetry) string {
	t.Helper()
	var buf bytes.Buffer
	e := lp.NewEncoder(&buf)
	e.SetFieldTypeSupport(lp.UintSupport)
	e.FailOnFieldErr(true)
	e.SetPrecision(time.Nanosecond)
	enc := func(p *write.Point) {
		if _, err := e.Encode(p); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range tb.Readings {
		f, v := readingValue(r)
		enc(write.NewPoint(measurementMeter, map[string]string{"gateway": tb.Gateway, "sensor": r.Sensor}, map[string]any{f: v}, r.T))
	}
	for _, a := range tb.Activity {
		enc(write.NewPoint(measurementActivity, map[string]string{"gateway": tb.Gateway, "sensor": a.Sensor},
			map[string]any{FieldCount: int64(a.Count), "period_s": int64(a.PeriodS)}, a.T))
	}
	return buf.String()
}

func BenchmarkRecords(b *testing.B) {
	tb := batch(gw, []mqttv1.Reading{m3("water", base, 123.456), kwh("power", base, 7890.12)},
		act("pir-hall", base, 3), act("door", base, 1))
	b.ReportAllocs()
	for b.Loop() {
		if err := validate(&tb); err != nil {
			b.Fatal(err)
		}
		_ = records(&tb)
	}
}
