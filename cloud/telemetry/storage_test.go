package telemetry

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shouwang-care/shouwang/firmware-protocol/mqttv1"
	"github.com/shouwang-care/shouwang/internal/testinfra"
)

// TestStoragePerHomeYear measures what a home's year of telemetry takes on an
// InfluxDB 1.8 disk, for docs/operations/capacity.md. It is a measurement, not a
// check, so it runs only when asked:
//
//	SHOUWANG_STORAGE_HOMES=5 go test -run TestStoragePerHomeYear -v -timeout 30m ./cloud/telemetry
//
// Each home sends what the edge's defaults send (water and power totals every
// minute, four activity counts every 5 minutes) through the cloud's own writer,
// into the retention policy of deploy/influxdb/retention.influxql (7-day shards).
// The server compacts a shard fully 5 s after its last write (in production: 4 h),
// so the size read after it settles is what a cold year costs.
func TestStoragePerHomeYear(t *testing.T) {
	homes, _ := strconv.Atoi(os.Getenv("SHOUWANG_STORAGE_HOMES"))
	if homes <= 0 {
		t.Skip("a measurement: set SHOUWANG_STORAGE_HOMES=N to write N home-years and report the disk they take")
	}
	db, dataDir := testinfra.InfluxOwn(t, testinfra.InfluxOptions{Data: `  compact-full-write-cold-duration = "5s"
  cache-snapshot-write-cold-duration = "1s"`})
	influxQuery(t, db.URL, `ALTER RETENTION POLICY "autogen" ON "shouwang" DURATION 400d SHARD DURATION 7d DEFAULT`)
	in, err := NewInflux(InfluxConfig{URL: db.URL, Bucket: db.Bucket}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	// A year ending now, so the 400-day policy keeps all of it.
	end := time.Now().Truncate(time.Minute)
	start := end.AddDate(-1, 0, 0)
	began := time.Now()
	var points int
	for h := range homes {
		rng := rand.New(rand.NewPCG(uint64(h), 1))
		gw := fmt.Sprintf("gw-hz-%04d", h+1)
		water, power := 100+rng.Float64()*400, 1000+rng.Float64()*9000
		for ts := start; ts.Before(end); ts = ts.Add(time.Minute) {
			hour := ts.Hour()
			awake := hour >= 6 && hour < 22
			// Water in small draws while awake; power a base load plus use while awake.
			if awake && rng.IntN(20) == 0 {
				water += float64(rng.IntN(40)+1) / 1000
			}
			power += 0.002 + rng.Float64()*0.004
			if awake {
				power += rng.Float64() * 0.01
			}
			w, p := round(water, 4), round(power, 2)
			m := mqttv1.Telemetry{V: 1, Gateway: gw, Readings: []mqttv1.Reading{
				{T: ts, Sensor: "water", TotalM3: &w}, {T: ts, Sensor: "power", TotalKWh: &p}}}
			if ts.Minute()%5 == 0 {
				for _, s := range []string{"pir.kitchen", "pir.bathroom", "pir.bedroom", "door.front"} {
					n := 0
					if awake && rng.IntN(3) == 0 {
						n = rng.IntN(6)
					}
					m.Activity = append(m.Activity, mqttv1.Activity{T: ts.Add(-5 * time.Minute), PeriodS: 300, Sensor: s, Count: n})
				}
			}
			points += len(m.Readings) + len(m.Activity)
			if err := in.Write(context.Background(), m); err != nil {
				t.Fatal(err)
			}
		}
	}
	in.Close() // drains
	t.Logf("wrote %d points (%d homes × 1 year) in %v", points, homes, time.Since(began).Round(time.Second))
	if got := countPoints(t, db.URL); got != points {
		t.Fatalf("InfluxDB holds %d points, wrote %d", got, points)
	}
	size := settledSize(t, filepath.Join(dataDir, "shouwang"))
	t.Logf("on disk after full compaction: %d bytes = %.2f MB per home-year, %.2f bytes per point",
		size, float64(size)/float64(homes)/1e6, float64(size)/float64(points))
}

func round(v float64, places int) float64 {
	f, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'f', places, 64), 64)
	return f
}

func influxQuery(t *testing.T, base, q string) string {
	t.Helper()
	resp, err := http.PostForm(base+"/query?db=shouwang", url.Values{"q": {q}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || strings.Contains(string(b), `"error"`) {
		t.Fatalf("%s: %s %s", q, resp.Status, b)
	}
	return string(b)
}

func countPoints(t *testing.T, base string) int {
	t.Helper()
	total := 0
	// A meter point has one field (total_m3 or total_kwh); an activity point has two.
	// A meter point has one field (total_m3 or total_kwh), an activity point two.
	for _, q := range []string{`SELECT COUNT(*) FROM "meter"`, `SELECT COUNT("count") FROM "activity"`} {
		out := influxQuery(t, base, q)
		// {"results":[{"statement_id":0,"series":[{"name":"meter","columns":["time","count_total_kwh","count_total_m3"],"values":[["1970-…",N,M]]}]}]}
		i := strings.Index(out, `"values":[[`)
		if i < 0 {
			t.Fatalf("%s: %s", q, out)
		}
		row := strings.SplitN(out[i+len(`"values":[[`):], "]", 2)[0]
		for _, f := range strings.Split(row, ",")[1:] {
			n, err := strconv.Atoi(f)
			if err != nil {
				t.Fatalf("%s: %s", q, out)
			}
			total += n
		}
	}
	return total
}

// settledSize waits until the database's directory stops changing (compactions
// done, no temporary files) and returns its size in bytes.
func settledSize(t *testing.T, dir string) int64 {
	t.Helper()
	var last int64 = -1
	stable := 0
	for deadline := time.Now().Add(10 * time.Minute); time.Now().Before(deadline); time.Sleep(2 * time.Second) {
		var size int64
		tmp := false
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			if strings.HasSuffix(p, ".tmp") {
				tmp = true
			}
			if fi, err := d.Info(); err == nil {
				size += fi.Size()
			}
			return nil
		})
		if size == last && !tmp {
			if stable++; stable >= 10 { // 20 s unchanged: well past the 5 s cold time
				return size
			}
		} else {
			stable = 0
		}
		last = size
	}
	t.Fatal("the data directory did not settle in 10 minutes")
	return 0
}
