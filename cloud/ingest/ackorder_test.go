package ingest

import (
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
)

// fakeMessage records its Ack in a shared log.
type fakeMessage struct {
	id  uint16
	log *ackLog
}

type ackLog struct {
	mu  sync.Mutex
	ids []uint16
}

func (m *fakeMessage) Duplicate() bool   { return false }
func (m *fakeMessage) Qos() byte         { return 1 }
func (m *fakeMessage) Retained() bool    { return false }
func (m *fakeMessage) Topic() string     { return "shouwang/v1/gw-0001/telemetry" }
func (m *fakeMessage) MessageID() uint16 { return m.id }
func (m *fakeMessage) Payload() []byte   { return nil }
func (m *fakeMessage) Ack() {
	m.log.mu.Lock()
	m.log.ids = append(m.log.ids, m.id)
	m.log.mu.Unlock()
}

// Workers finish in any order; PUBACKs leave in arrival order, each once, and
// a skipped message (store failed: left for redelivery) holds nothing back.
func TestAckOrder(t *testing.T) {
	var q ackOrder
	log := &ackLog{}
	const n = 2000
	msgs := make([]*ordered, n)
	for i := range n {
		msgs[i] = q.add(&fakeMessage{id: uint16(i + 1), log: log})
	}
	skipped := map[uint16]bool{}
	var want []uint16
	for i := range n {
		if i%97 == 5 {
			skipped[uint16(i+1)] = true
		} else {
			want = append(want, uint16(i+1))
		}
	}
	order := rand.Perm(n)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for k := w; k < n; k += 8 {
				m := msgs[order[k]]
				if skipped[m.MessageID()] {
					skip(m)
				} else {
					m.Ack()
					m.Ack() // a second Ack changes nothing
				}
			}
		})
	}
	wg.Wait()
	if !slices.Equal(log.ids, want) {
		t.Fatalf("acked %d messages, want %d in arrival order; first differences: got %v…", len(log.ids), len(want), log.ids[:min(10, len(log.ids))])
	}
	if len(q.pending) != 0 {
		t.Errorf("%d messages still pending", len(q.pending))
	}
}

// An unfinished message holds back the acks of later ones, and releases them
// when it is settled.
func TestAckOrderWaitsForHead(t *testing.T) {
	var q ackOrder
	log := &ackLog{}
	a := q.add(&fakeMessage{id: 1, log: log})
	b := q.add(&fakeMessage{id: 2, log: log})
	c := q.add(&fakeMessage{id: 3, log: log})
	c.Ack()
	b.Ack()
	if len(log.ids) != 0 {
		t.Fatalf("acked %v before message 1 was done", log.ids)
	}
	a.Ack()
	if !slices.Equal(log.ids, []uint16{1, 2, 3}) {
		t.Fatalf("acked %v, want [1 2 3]", log.ids)
	}
}
