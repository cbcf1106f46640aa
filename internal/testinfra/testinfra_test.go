package testinfra_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/jackc/pgx/v5"

	"github.com/shouwang-care/shouwang/internal/testinfra"
)

func TestMain(m *testing.M) { testinfra.Main(m) }

func TestFreePort(t *testing.T) {
	if p := testinfra.FreePort(t); p <= 0 || p > 65535 {
		t.Fatalf("port %d", p)
	}
}

// A minimal MQTT 3.1.1 client (QoS 0), enough to prove the broker works
// without depending on a client library.
type mqttConn struct{ c net.Conn }

func mqttString(s string) []byte { return append([]byte{byte(len(s) >> 8), byte(len(s))}, s...) }

func (m *mqttConn) send(typ byte, body []byte) error {
	pkt := []byte{typ}
	n := len(body)
	for {
		b := byte(n % 128)
		n /= 128
		if n > 0 {
			b |= 0x80
		}
		pkt = append(pkt, b)
		if n == 0 {
			break
		}
	}
	_, err := m.c.Write(append(pkt, body...))
	return err
}

func (m *mqttConn) recv() (byte, []byte, error) {
	m.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(m.c)
	typ, err := r.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	n, mult := 0, 1
	for {
		b, err := r.ReadByte()
		if err != nil {
			return 0, nil, err
		}
		n += int(b&0x7f) * mult
		mult *= 128
		if b&0x80 == 0 {
			break
		}
	}
	body := make([]byte, n)
	_, err = io.ReadFull(r, body)
	return typ, body, err
}

// mqttConnect returns a connection after a successful CONNACK, or the error
// (including the CONNACK return code).
func mqttConnect(addr, id string) (*mqttConn, error) {
	c, err := net.DialTimeout("tcp", strings.TrimPrefix(addr, "tcp://"), 3*time.Second)
	if err != nil {
		return nil, err
	}
	m := &mqttConn{c}
	body := append(mqttString("MQTT"), 4, 0x02, 0, 60)
	if err := m.send(0x10, append(body, mqttString(id)...)); err != nil {
		c.Close()
		return nil, err
	}
	typ, ack, err := m.recv()
	if err == nil && (typ != 0x20 || len(ack) != 2) {
		err = fmt.Errorf("unexpected packet %#x %v", typ, ack)
	} else if err == nil && ack[1] != 0 {
		err = fmt.Errorf("CONNACK return code %d", ack[1])
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	return m, nil
}

func roundTrip(t *testing.T, addr string) {
	t.Helper()
	m, err := mqttConnect(addr, "rt")
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer m.c.Close()
	if err := m.send(0x82, append([]byte{0, 1}, append(mqttString("shouwang/test"), 0)...)); err != nil {
		t.Fatal(err)
	}
	if typ, _, err := m.recv(); err != nil || typ != 0x90 {
		t.Fatalf("suback: %#x %v", typ, err)
	}
	if err := m.send(0x30, append(mqttString("shouwang/test"), "hello"...)); err != nil {
		t.Fatal(err)
	}
	typ, body, err := m.recv()
	if err != nil || typ&0xf0 != 0x30 {
		t.Fatalf("publish: %#x %v", typ, err)
	}
	if want := append(mqttString("shouwang/test"), "hello"...); string(body) != string(want) {
		t.Fatalf("got %q", body)
	}
}

func TestMosquitto(t *testing.T) {
	t.Parallel()
	s := testinfra.Mosquitto(t)
	if !strings.HasPrefix(s.Addr, "tcp://127.0.0.1:") || s.Port == 0 {
		t.Fatalf("bad server %+v", s)
	}
	roundTrip(t, s.Addr)

	s.Stop()
	s.Stop() // idempotent
	if c, err := mqttConnect(s.Addr, "down"); err == nil {
		c.c.Close()
		t.Fatal("connect succeeded with the broker stopped")
	}
	s.Start()
	roundTrip(t, s.Addr)
}

func TestMosquittoConfig(t *testing.T) {
	t.Parallel()
	s := testinfra.Mosquitto(t, testinfra.WithMosquittoConfig("allow_anonymous false"))
	_, err := mqttConnect(s.Addr, "anon")
	if err == nil || !strings.Contains(err.Error(), "return code 5") {
		t.Fatalf("anonymous connect with allow_anonymous false: got %v, want CONNACK return code 5", err)
	}
}

func TestPostgresIsolation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn1, dsn2 := testinfra.Postgres(t), testinfra.Postgres(t)
	if dsn1 == dsn2 {
		t.Fatal("same DSN twice")
	}
	c1, err := pgx.Connect(ctx, dsn1)
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close(ctx)
	c2, err := pgx.Connect(ctx, dsn2)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close(ctx)
	for _, q := range []string{"CREATE TABLE seniors (id int primary key, name text)", "INSERT INTO seniors VALUES (1, '王奶奶')"} {
		if _, err := c1.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	var name string
	if err := c1.QueryRow(ctx, "SELECT name FROM seniors WHERE id = 1").Scan(&name); err != nil || name != "王奶奶" {
		t.Fatalf("select: %q %v", name, err)
	}
	if _, err := c2.Exec(ctx, "SELECT * FROM seniors"); err == nil {
		t.Fatal("table visible in the other database")
	}
}

func TestPostgresDroppedAfterTest(t *testing.T) {
	t.Parallel()
	var dsn string
	t.Run("inner", func(t *testing.T) { dsn = testinfra.Postgres(t) })
	u, _ := url.Parse(dsn)
	db := strings.TrimPrefix(u.Path, "/")
	srv := testinfra.PostgresServer(t)
	ctx := context.Background()
	c, err := pgx.Connect(ctx, srv.AdminDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var n int
	if err := c.QueryRow(ctx, "SELECT count(*) FROM pg_database WHERE datname = $1", db).Scan(&n); err != nil || n != 0 {
		t.Fatalf("database %s still exists (%d, %v)", db, n, err)
	}
}

func TestPostgresRestart(t *testing.T) {
	// A private server: stopping the shared one would break parallel tests.
	srv := testinfra.NewPostgresServer(t)
	ctx := context.Background()
	dsn := srv.CreateDatabase(t)
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(ctx, "CREATE TABLE x (v int); INSERT INTO x VALUES (42)"); err != nil {
		t.Fatal(err)
	}
	c.Close(ctx)
	srv.Kill()
	if c, err := pgx.Connect(ctx, dsn); err == nil {
		c.Close(ctx)
		t.Fatal("connected to a stopped server")
	}
	srv.Start(t)
	c, err = pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var v int
	if err := c.QueryRow(ctx, "SELECT v FROM x").Scan(&v); err != nil || v != 42 {
		t.Fatalf("after restart: %d %v", v, err)
	}
}

func TestInfluxHTTP(t *testing.T) {
	t.Parallel()
	db := testinfra.Influx(t)
	resp, err := http.Post(db.URL+"/write?db="+url.QueryEscape(db.Database), "text/plain",
		strings.NewReader("heart_rate,senior=s1 bpm=72 1700000000000000000"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("write: %s", resp.Status)
	}
	resp, err = http.Get(db.URL + "/query?" + url.Values{"db": {db.Database}, "q": {"SELECT bpm FROM heart_rate WHERE senior = 's1'"}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var r struct {
		Results []struct {
			Series []struct {
				Values [][]any `json:"values"`
			} `json:"series"`
		} `json:"results"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	if len(r.Results) != 1 || len(r.Results[0].Series) != 1 || len(r.Results[0].Series[0].Values) != 1 ||
		r.Results[0].Series[0].Values[0][1] != float64(72) {
		t.Fatalf("unexpected result %s", body)
	}
}

func TestInfluxV2ClientFlux(t *testing.T) {
	t.Parallel()
	db := testinfra.Influx(t)
	if db.Bucket != db.Database+"/autogen" {
		t.Fatalf("bucket %q", db.Bucket)
	}
	ctx := context.Background()
	c := influxdb2.NewClient(db.URL, db.Token)
	defer c.Close()
	now := time.Now().Truncate(time.Second)
	p := influxdb2.NewPoint("heart_rate", map[string]string{"senior": "s2"}, map[string]any{"bpm": 64.0}, now)
	if err := c.WriteAPIBlocking(db.Org, db.Bucket).WritePoint(ctx, p); err != nil {
		t.Fatalf("write: %v", err)
	}
	q := fmt.Sprintf(`from(bucket: %q) |> range(start: -1h) |> filter(fn: (r) => r._measurement == "heart_rate" and r.senior == "s2")`, db.Bucket)
	res, err := c.QueryAPI(db.Org).Query(ctx, q)
	if err != nil {
		t.Fatalf("flux query: %v", err)
	}
	var n int
	for res.Next() {
		r := res.Record()
		if r.Field() != "bpm" || r.Value() != 64.0 || !r.Time().Equal(now) {
			t.Fatalf("record %v %v %v", r.Field(), r.Value(), r.Time())
		}
		n++
	}
	if res.Err() != nil {
		t.Fatal(res.Err())
	}
	if n != 1 {
		t.Fatalf("%d records", n)
	}
}

// The client library the project uses, against the same broker.
func TestMosquittoPaho(t *testing.T) {
	t.Parallel()
	s := testinfra.Mosquitto(t)
	connect := func(id string) (mqtt.Client, error) {
		c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(s.Addr).SetClientID(id).
			SetConnectTimeout(3 * time.Second).SetAutoReconnect(false).SetConnectRetry(false))
		tok := c.Connect()
		if !tok.WaitTimeout(5 * time.Second) {
			return nil, fmt.Errorf("connect timeout")
		}
		return c, tok.Error()
	}
	roundTrip := func() {
		t.Helper()
		c, err := connect("paho")
		if err != nil {
			t.Fatalf("connect: %v", err)
		}
		defer c.Disconnect(100)
		got := make(chan string, 1)
		if tok := c.Subscribe("shouwang/paho", 1, func(_ mqtt.Client, m mqtt.Message) { got <- string(m.Payload()) }); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("subscribe: %v", tok.Error())
		}
		if tok := c.Publish("shouwang/paho", 1, false, "你好"); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("publish: %v", tok.Error())
		}
		select {
		case m := <-got:
			if m != "你好" {
				t.Fatalf("got %q", m)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no message")
		}
	}
	roundTrip()
	s.Stop()
	if c, err := connect("down"); err == nil {
		c.Disconnect(0)
		t.Fatal("paho connected with the broker stopped")
	}
	s.Start()
	roundTrip()
}
