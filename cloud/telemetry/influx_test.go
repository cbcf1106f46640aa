package telemetry

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/shouwang-care/shouwang/firmware-protocol/mqttv1"
	"github.com/shouwang-care/shouwang/internal/testinfra"
)

func TestFluxString(t *testing.T) {
	for in, want := range map[string]string{
		`water`:            `"water"`,
		`x") |> drop() //`: `"x\") |> drop() //"`,
		`${string(v: 1)}`:  `"\${string(v: 1)}"`,
		`a\b`:              `"a\\b"`,
		"a\nb\x01":         `"a\nb\x01"`,
		`水表`:               `"水表"`,
	} {
		if got := fluxString(in); got != want {
			t.Errorf("fluxString(%q) = %s, want %s", in, got, want)
		}
	}
}

// With InfluxDB unreachable, Write still accepts (the client buffers and
// retries), the failure is counted, the blocking path reports it, and Close
// neither hangs nor leaks the drain goroutine.
func TestInfluxDown(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: waits for connection failures")
	}
	url := fmt.Sprintf("http://127.0.0.1:%d", testinfra.FreePort(t)) // nothing listens
	i, err := NewInflux(InfluxConfig{URL: url, Bucket: "shouwang/autogen", MaxRetries: 1, RetryInterval: time.Millisecond}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	b := batch(gw, []mqttv1.Reading{m3("water", base, 1)}, act("pir", base, 1))
	if err := i.Write(t.Context(), b); err != nil {
		t.Fatalf("asynchronous Write with the server down = %v, want nil (buffered)", err)
	}
	i.Flush()
	waitFor(t, func() bool { return writeErrors(i) >= 1 })
	n := writeErrors(i)
	if err := i.WriteBlocking(t.Context(), b); err == nil {
		t.Fatal("WriteBlocking with the server down succeeded")
	}
	if got := writeErrors(i); got != n+1 {
		t.Errorf("write errors after a failed WriteBlocking = %v, want %v", got, n+1)
	}
	if _, err := i.Query(t.Context(), gw, "water", base, at("1h"), time.Hour); err == nil {
		t.Error("Query with the server down succeeded")
	}

	done := make(chan struct{})
	go func() { i.Close(); i.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("Close hangs with the server down")
	}
	select {
	case <-i.drained:
	default:
		t.Fatal("error drain goroutine still running after Close")
	}
	if err := i.Write(t.Context(), b); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after Close = %v, want ErrClosed", err)
	}
	if err := i.WriteBlocking(t.Context(), b); !errors.Is(err, ErrClosed) {
		t.Errorf("WriteBlocking after Close = %v, want ErrClosed", err)
	}
	i.Flush() // no-op, must not panic
}

// Close flushes what Write queued, in every writer: nothing is lost on an
// orderly shutdown.
func TestInfluxCloseFlushes(t *testing.T) {
	db := testinfra.Influx(t)
	cfg := InfluxConfig{URL: db.URL, Token: db.Token, Org: db.Org, Bucket: db.Bucket, BatchSize: 10_000, FlushInterval: time.Hour}
	w, err := NewInflux(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	// Five messages, so each of the writers holds some.
	for k := range 5 {
		must(t, w.Write(t.Context(), batch(gw, nil, act("pir", at(fmt.Sprintf("%dm", k+1)), k+1))))
	}
	w.Close()
	if n := writeErrors(w); n != 0 {
		t.Fatalf("%v write errors", n)
	}
	r, err := NewInflux(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, err := r.Query(t.Context(), gw, "pir", base, at("1h"), time.Hour)
	must(t, err)
	same(t, got, Series{Sensor: "pir", Field: FieldCount, Points: []Point{{base, 15}}})
}

func TestNewInfluxConfig(t *testing.T) {
	if _, err := NewInflux(InfluxConfig{URL: "http://127.0.0.1:1"}, nil); err == nil {
		t.Error("NewInflux without a bucket succeeded")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 30s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
