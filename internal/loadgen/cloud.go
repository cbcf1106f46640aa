package loadgen

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Metrics is one scrape of the cloud's /metrics: every sample by its full name with
// labels as printed (`shouwang_ingest_messages_total{channel="alert"}`).
type Metrics map[string]float64

// ScrapeMetrics reads base/metrics (text exposition format).
func ScrapeMetrics(ctx context.Context, base string) (Metrics, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(base, "/")+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	m := Metrics{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		m[line[:i]] = v
	}
	return m, sc.Err()
}

// Sum adds every sample of name (any labels).
func (m Metrics) Sum(name string) float64 {
	var s float64
	for k, v := range m {
		if k == name || strings.HasPrefix(k, name+"{") {
			s += v
		}
	}
	return s
}

// Get is one sample by its exact printed name.
func (m Metrics) Get(name string) float64 { return m[name] }

// HistogramQuantile estimates quantile q of histogram name from the difference of
// two scrapes (before may be nil), interpolating linearly inside a bucket like
// Prometheus' histogram_quantile. It returns NaN when no observation fell in between.
func HistogramQuantile(name string, q float64, before, after Metrics) float64 {
	type bucket struct{ le, n float64 }
	var bs []bucket
	prefix := name + `_bucket{le="`
	for k, v := range after {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		les := strings.TrimSuffix(strings.TrimPrefix(k, prefix), `"}`)
		le, err := strconv.ParseFloat(les, 64)
		if err != nil {
			continue
		}
		bs = append(bs, bucket{le, v - before[k]})
	}
	sort.Slice(bs, func(i, j int) bool { return bs[i].le < bs[j].le })
	if len(bs) == 0 || bs[len(bs)-1].n == 0 {
		return math.NaN()
	}
	rank := q * bs[len(bs)-1].n
	lo, prev := 0.0, 0.0
	for _, b := range bs {
		if b.n >= rank {
			if math.IsInf(b.le, 1) {
				return lo // beyond the last finite bucket: its bound is all we know
			}
			if b.n == prev {
				return b.le
			}
			return lo + (b.le-lo)*(rank-prev)/(b.n-prev)
		}
		lo, prev = b.le, b.n
	}
	return math.NaN()
}

// PageWatcher follows the cloud's in-app stream (GET /api/v1/events as admin) and
// records when each gateway's incident was first paged: the in-app "notification"
// event of kind dispatched names the incident; the "incident" event the dispatcher
// publishes right after it names the gateway.
type PageWatcher struct {
	mu        sync.Mutex
	notified  map[string]time.Time // incident → first dispatched notification
	incidents map[string]string    // incident → gateway
	paged     map[string]time.Time // gateway → first page
	events    int
	err       error
}

// WatchPages logs in as user and follows the stream until ctx ends.
func WatchPages(ctx context.Context, base, user, password string) (*PageWatcher, error) {
	base = strings.TrimSuffix(base, "/")
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar}
	body := fmt.Sprintf(`{"username":%q,"password":%q}`, user, password)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/v1/login", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("login: %w", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("login as %s: %s %s", user, resp.Status, b)
	}
	req, _ = http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/events", nil)
	resp, err = hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	if resp.StatusCode != 200 {
		resp.Body.Close()
		return nil, fmt.Errorf("events: %s", resp.Status)
	}
	w := &PageWatcher{notified: map[string]time.Time{}, incidents: map[string]string{}, paged: map[string]time.Time{}}
	go func() {
		defer resp.Body.Close()
		err := w.read(resp.Body)
		w.mu.Lock()
		if ctx.Err() == nil {
			w.err = err
		}
		w.mu.Unlock()
	}()
	return w, nil
}

func (w *PageWatcher) read(r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	var event string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event = line[len("event: "):]
		case strings.HasPrefix(line, "data: "):
			w.handle(event, []byte(line[len("data: "):]), time.Now())
		case line == "":
			event = ""
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return io.EOF
}

func (w *PageWatcher) handle(event string, data []byte, at time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.events++
	switch event {
	case "notification":
		var n struct {
			IncidentID string `json:"incident_id"`
			Kind       string `json:"kind"`
		}
		if json.Unmarshal(data, &n) != nil || n.Kind != "dispatched" || n.IncidentID == "" {
			return
		}
		if _, ok := w.notified[n.IncidentID]; !ok {
			w.notified[n.IncidentID] = at
		}
		if gw, ok := w.incidents[n.IncidentID]; ok {
			w.page(gw, at)
		}
	case "incident":
		var inc struct {
			ID      string `json:"id"`
			Gateway string `json:"gateway"`
		}
		if json.Unmarshal(data, &inc) != nil || inc.ID == "" || inc.Gateway == "" {
			return
		}
		w.incidents[inc.ID] = inc.Gateway
		if t, ok := w.notified[inc.ID]; ok {
			w.page(inc.Gateway, t)
		}
	}
}

func (w *PageWatcher) page(gw string, at time.Time) {
	if _, ok := w.paged[gw]; !ok {
		w.paged[gw] = at
	}
}

// PagedAt returns when gateway gw's incident was first paged.
func (w *PageWatcher) PagedAt(gw string) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	t, ok := w.paged[gw]
	return t, ok
}

// Stats reports events seen and the stream's error, if it ended early.
func (w *PageWatcher) Stats() (events, pages int, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.events, len(w.paged), w.err
}

// ProcStat is CPU time and resident memory of a process group, from /proc.
type ProcStat struct {
	CPU   time.Duration // user + system, of live processes of the group
	RSS   int64         // bytes, summed over the group
	Procs int
}

// ReadProcGroup sums /proc/<pid>/stat over every process in process group pgid
// (servers started with Setpgid: postgres' backends, the cloud, mosquitto).
func ReadProcGroup(pgid int) (ProcStat, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return ProcStat{}, err
	}
	var ps ProcStat
	tick := 100.0 // USER_HZ; 100 on every Linux we run on
	page := int64(os.Getpagesize())
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		// After the comm: state(0) ppid(1) pgrp(2) … utime(11) stime(12) … rss(21)
		if len(f) < 22 {
			continue
		}
		if g, _ := strconv.Atoi(f[2]); g != pgid {
			continue
		}
		ut, _ := strconv.ParseFloat(f[11], 64)
		st, _ := strconv.ParseFloat(f[12], 64)
		rss, _ := strconv.ParseInt(f[21], 10, 64)
		ps.CPU += time.Duration((ut + st) / tick * float64(time.Second))
		ps.RSS += rss * page
		ps.Procs++
	}
	return ps, nil
}
