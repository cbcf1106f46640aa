package outbox

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shouwang-care/shouwang/firmware-protocol/mqttv1"
)

func alert(i int, state mqttv1.AlertState) mqttv1.Alert {
	at := time.Date(2026, 3, 1, 18, 45, i, 0, time.UTC)
	return mqttv1.Alert{V: 1, ID: fmt.Sprintf("id-%03d", i), Gateway: "gw-1a", Rule: "no_water", State: state,
		Severity: mqttv1.Critical, Class: mqttv1.ClassResident, At: at, RaisedAt: at}
}

func TestPutPendingAckSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	o, q, err := Open(path)
	if err != nil || q != "" {
		t.Fatal(err, q)
	}
	for i := range 5 {
		if err := o.Put(alert(i, mqttv1.Raised)); err != nil {
			t.Fatal(err)
		}
	}
	if err := o.Put(alert(2, mqttv1.Raised)); err != nil { // duplicate: kept once
		t.Fatal(err)
	}
	if err := o.Put(alert(2, mqttv1.Cleared)); err != nil { // the clear is its own message
		t.Fatal(err)
	}
	if o.Len() != 6 {
		t.Fatalf("len %d, want 6", o.Len())
	}
	n, err := o.Ack([]mqttv1.AckItem{{ID: "id-001", State: mqttv1.Raised}, {ID: "id-001", State: mqttv1.Raised}, {ID: "nope", State: mqttv1.Raised}})
	if err != nil || n != 1 {
		t.Fatalf("ack %d %v", n, err)
	}
	if err := o.SetState("rev", 7); err != nil {
		t.Fatal(err)
	}
	o.Close()

	o, _, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	p, err := o.Pending(100)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range p {
		got = append(got, a.ID+"/"+string(a.State))
	}
	if want := "id-000/raised id-002/raised id-003/raised id-004/raised id-002/cleared"; strings.Join(got, " ") != want {
		t.Fatalf("pending after reopen:\n got %s\nwant %s", strings.Join(got, " "), want)
	}
	var rev int
	if err := o.GetState("rev", &rev); err != nil || rev != 7 {
		t.Fatalf("state %d %v", rev, err)
	}
	if err := o.GetState("missing", &rev); err != ErrNotFound {
		t.Fatalf("missing state: %v", err)
	}
}

func TestCorruptFileIsQuarantined(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	junk := bytes.Repeat([]byte("not a bolt file "), 512)
	if err := os.WriteFile(path, junk, 0o600); err != nil {
		t.Fatal(err)
	}
	o, q, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if q == "" {
		t.Fatal("corrupt file not reported as quarantined")
	}
	kept, err := os.ReadFile(q)
	if err != nil || !bytes.Equal(kept, junk) {
		t.Fatalf("quarantined bytes not kept: %v", err)
	}
	if err := o.Put(alert(1, mqttv1.Raised)); err != nil || o.Len() != 1 {
		t.Fatalf("fresh store unusable: %v", err)
	}
}
