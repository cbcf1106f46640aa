package telemetry

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/influxdb-client-go/v2/api"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shouwang-care/shouwang/firmware-protocol/mqttv1"
)

// InfluxConfig configures Influx. Zero values take the defaults noted.
type InfluxConfig struct {
	URL    string // http://host:8086
	Token  string // 2.x token; on 1.8 "user:password", or "" with auth off
	Org    string // ignored by 1.8
	Bucket string // on 1.8 "database/retention-policy", e.g. "shouwang/autogen"

	BatchSize uint // most points per write request; 0: 5000 (InfluxDB's advice)
	// Writers is how many write requests may be in flight at once; 0: 2. One
	// writer sends one request at a time, and ingest waits while the next batch
	// is full, so a single writer caps ingest at BatchSize per request latency.
	Writers       int
	FlushInterval time.Duration // longest a point waits in the batch; 0: 1s

	// Retries of failed asynchronous batches (connection errors, HTTP 429 and
	// 5xx). The retry buffer is in memory only: a cloud restart during an
	// InfluxDB outage loses what it holds. That is acceptable for telemetry;
	// alerts never go through here.
	MaxRetries       uint          // attempts per batch; 0: 5
	RetryInterval    time.Duration // first retry delay, growing exponentially; 0: 5s
	RetryBufferLimit uint          // points kept for retry, oldest dropped first; 0: 50000
}

// Influx stores telemetry in InfluxDB through influxdb-client-go/v2.
//
// Write is asynchronous and batched: the MQTT consumer must not stall on the
// database, and a failed batch is retried by the client and then dropped,
// logged and counted in shouwang_telemetry_write_errors_total. WriteBlocking
// is the synchronous path for a caller that must know the data is stored
// (an import, a test, an acknowledgement that promises durability).
type Influx struct {
	client   influxdb2.Client
	async    []*api.WriteAPIImpl // Write spreads messages over them, round robin
	next     atomic.Uint64
	blocking api.WriteAPIBlocking
	query    api.QueryAPI
	bucket   string
	url      string
	token    string
	log      *slog.Logger

	writeErrors prometheus.Counter

	mu       sync.RWMutex // held shared by writers, exclusively by Close
	closed   bool
	drainers sync.WaitGroup // the error drain goroutines
	drained  chan struct{}  // closed by Close once they have ended
}

// NewInflux creates the client; it does not contact the server, so the
// cloud starts (and buffers, then drops) telemetry while InfluxDB is down.
func NewInflux(cfg InfluxConfig, log *slog.Logger) (*Influx, error) {
	if cfg.URL == "" || cfg.Bucket == "" {
		return nil, fmt.Errorf("new influx telemetry store: URL and Bucket are required")
	}
	if log == nil {
		log = slog.Default()
	}
	writers := cfg.Writers
	if writers <= 0 {
		writers = 2
	}
	ms := func(d, def time.Duration) uint {
		if d <= 0 {
			d = def
		}
		return uint(max(d.Milliseconds(), 1))
	}
	orDefault := func(v, def uint) uint {
		if v == 0 {
			return def
		}
		return v
	}
	opts := influxdb2.DefaultOptions().
		// The writer counts records; each holds up to linesPerRecord points.
		SetBatchSize(max(orDefault(cfg.BatchSize, 5000)/linesPerRecord, 1)).
		SetFlushInterval(ms(cfg.FlushInterval, time.Second)).
		SetMaxRetries(orDefault(cfg.MaxRetries, 5)).
		SetRetryInterval(ms(cfg.RetryInterval, 5*time.Second)).
		// The client sizes its retry queue as limit / batch size batches of
		// batch size records; a record holds up to linesPerRecord points.
		SetRetryBufferLimit(max(orDefault(cfg.RetryBufferLimit, 50_000)/uint(writers)/linesPerRecord, 1)).
		SetPrecision(time.Nanosecond)
	client := influxdb2.NewClientWithOptions(cfg.URL, cfg.Token, opts)
	i := &Influx{
		client:   client,
		blocking: client.WriteAPIBlocking(cfg.Org, cfg.Bucket),
		query:    client.QueryAPI(cfg.Org),
		bucket:   cfg.Bucket,
		url:      strings.TrimSuffix(cfg.URL, "/"),
		token:    cfg.Token,
		log:      log,
		writeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "shouwang_telemetry_write_errors_total",
			Help: "Failed telemetry write attempts to InfluxDB (asynchronous batches, including attempts retried later, and blocking writes).",
		}),
		drained: make(chan struct{}),
	}
	for range writers {
		// Not client.WriteAPI: it returns one shared writer per bucket.
		w := api.NewWriteAPI(cfg.Org, cfg.Bucket, client.HTTPService(), opts.WriteOptions())
		i.async = append(i.async, w)
		// Errors must be taken before the first write, and drained: the client
		// drops an error it cannot hand over. The channel is closed by the
		// writer's Close, which ends the loop.
		errs := w.Errors()
		i.drainers.Add(1)
		go func() {
			defer i.drainers.Done()
			for err := range errs {
				i.writeErrors.Inc()
				i.log.Warn("telemetry write to InfluxDB failed; the client retries it or drops it", "bucket", cfg.Bucket, "err", err)
			}
		}()
	}
	return i, nil
}

// Collectors returns the store's metrics, for the caller's registry.
func (i *Influx) Collectors() []prometheus.Collector {
	return []prometheus.Collector{i.writeErrors}
}

// Write queues the batch for an asynchronous write and returns: an error
// means the batch was refused (invalid, or the store is closed), not that it
// was stored. ctx is checked on entry only; the call waits at most for the
// client's buffer to accept the points, which can take one HTTP request.
func (i *Influx) Write(ctx context.Context, t mqttv1.Telemetry) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("write telemetry for %s: %w", t.Gateway, err)
	}
	if err := validate(&t); err != nil {
		return fmt.Errorf("write telemetry for %s: %w", t.Gateway, err)
	}
	recs := records(&t)
	i.mu.RLock()
	defer i.mu.RUnlock()
	if i.closed {
		return fmt.Errorf("write telemetry for %s: %w", t.Gateway, ErrClosed)
	}
	w := i.async[i.next.Add(1)%uint64(len(i.async))]
	for _, r := range recs {
		w.WriteRecord(r)
	}
	return nil
}

// WriteBlocking writes the batch in one request and returns when InfluxDB
// has stored it, or with the error. It bypasses the batch and the retry
// buffer: the caller decides whether to retry.
func (i *Influx) WriteBlocking(ctx context.Context, t mqttv1.Telemetry) error {
	if err := validate(&t); err != nil {
		return fmt.Errorf("write telemetry for %s: %w", t.Gateway, err)
	}
	recs := records(&t)
	i.mu.RLock()
	defer i.mu.RUnlock()
	if i.closed {
		return fmt.Errorf("write telemetry for %s: %w", t.Gateway, ErrClosed)
	}
	if len(recs) == 0 {
		return nil
	}
	if err := i.blocking.WriteRecord(ctx, recs...); err != nil {
		i.writeErrors.Inc()
		return fmt.Errorf("write telemetry for %s: %w", t.Gateway, err)
	}
	return nil
}

// Flush sends the queued points now and waits for that request (bounded by
// the client's HTTP timeout, 20s). A failure goes to the error log and
// counter like any asynchronous write.
func (i *Influx) Flush() {
	i.mu.RLock()
	defer i.mu.RUnlock()
	if i.closed {
		return
	}
	var wg sync.WaitGroup
	for _, w := range i.async {
		wg.Go(w.Flush)
	}
	wg.Wait()
}

// Close flushes queued points, stops the client and the error drain
// goroutine. Writes after Close return ErrClosed. It is safe to call twice.
func (i *Influx) Close() {
	i.mu.Lock()
	if i.closed {
		i.mu.Unlock()
		return
	}
	i.closed = true
	i.mu.Unlock()
	var wg sync.WaitGroup
	for _, w := range i.async {
		wg.Go(w.Close) // flushes, then closes its Errors channel
	}
	wg.Wait()
	i.client.Close()
	i.drainers.Wait()
	close(i.drained)
}

// Query returns the sensor's history in [from, to), downsampled by Flux's
// aggregateWindow to windows of length every aligned to the Unix epoch (UTC):
// last for meter totals, sum for activity counts.
func (i *Influx) Query(ctx context.Context, gateway, sensor string, from, to time.Time, every time.Duration) (Series, error) {
	if err := checkQuery(gateway, sensor, from, to, every); err != nil {
		return Series{}, fmt.Errorf("query telemetry for %s/%s: %w", gateway, sensor, err)
	}
	res, err := i.query.Query(ctx, fluxQuery(i.bucket, gateway, sensor, from, to, every))
	if err != nil {
		return Series{}, fmt.Errorf("query telemetry for %s/%s: %w", gateway, sensor, err)
	}
	defer res.Close()
	byField := map[string][]Point{}
	for res.Next() {
		r := res.Record()
		var v float64
		switch x := r.Value().(type) {
		case float64:
			v = x
		case int64:
			v = float64(x)
		case uint64:
			v = float64(x)
		case nil:
			continue // an empty window, should createEmpty ever be on
		default:
			return Series{}, fmt.Errorf("query telemetry for %s/%s: unexpected value %T in field %s", gateway, sensor, x, r.Field())
		}
		byField[r.Field()] = append(byField[r.Field()], Point{T: r.Time().UTC(), Value: v})
	}
	if err := res.Err(); err != nil {
		return Series{}, fmt.Errorf("query telemetry for %s/%s: %w", gateway, sensor, err)
	}
	for _, pts := range byField {
		slices.SortFunc(pts, func(a, b Point) int { return a.T.Compare(b.T) })
	}
	return pickSeries(sensor, byField), nil
}

// fluxQuery builds the query. The InfluxDB 1.8 Flux endpoint takes no query
// parameters, so every string that reaches the text goes through fluxString;
// times and durations are formatted from typed values, never from input.
// The totals and the counts need different aggregates, hence two pipelines.
//
// The stop is to-1ns: InfluxDB 1.8's storage returns a point lying exactly
// on range's stop (which Flux defines as exclusive), and aggregateWindow then
// puts it in a window of its own, labelled with the previous window's start.
// Timestamps are integer nanoseconds, so on 1.8 this is exactly [from, to);
// on a server that honours the exclusive stop (2.x) only a point at exactly
// to-1ns would be missed.
func fluxQuery(bucket, gateway, sensor string, from, to time.Time, every time.Duration) string {
	src := fmt.Sprintf(`from(bucket: %s)
  |> range(start: %s, stop: %s)
  |> filter(fn: (r) => r.gateway == %s and r.sensor == %s)`,
		fluxString(bucket), fluxTime(from), fluxTime(to.Add(-time.Nanosecond)), fluxString(gateway), fluxString(sensor))
	win := fmt.Sprintf("every: %dns, createEmpty: false, timeSrc: \"_start\"", every.Nanoseconds())
	return fmt.Sprintf(`totals = %[1]s
  |> filter(fn: (r) => r._measurement == "meter" and (r._field == "total_m3" or r._field == "total_kwh"))
  |> aggregateWindow(fn: last, %[2]s)
counts = %[1]s
  |> filter(fn: (r) => r._measurement == "activity" and r._field == "count")
  |> aggregateWindow(fn: sum, %[2]s)
union(tables: [totals, counts])
`, src, win)
}

func fluxTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// fluxString quotes s as a Flux string literal. Besides the quote and the
// backslash, '$' is escaped: "${" starts string interpolation, which would
// evaluate an expression. Control characters become \xHH bytes.
func fluxString(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\' || r == '$':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			b.WriteString(`\x`)
			b.WriteString(strconv.FormatUint(uint64(r)>>4, 16))
			b.WriteString(strconv.FormatUint(uint64(r)&0xf, 16))
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
