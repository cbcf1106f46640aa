package ingest

import (
	"sync"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// ackOrder sends one session's PUBACKs in the order its PUBLISHes arrived,
// while workers finish them in any order. MQTT 3.1.1 §4.6 requires that order
// of a client ("It MUST send PUBACK packets in the order in which the
// corresponding PUBLISH packets were received"); a broker may count its
// in-flight window on that assumption. Measured, it neither slowed ingest nor
// steadied the live benchmark (docs/benchmarks.md).
type ackOrder struct {
	mu      sync.Mutex
	pending []*ordered // in arrival order; the head is the oldest not yet acked
}

// ordered is a message whose Ack waits for every earlier message of its session.
type ordered struct {
	mqtt.Message
	q       *ackOrder
	settled bool
	ack     bool
}

// add registers m; call it in arrival order (from paho's callback).
func (q *ackOrder) add(m mqtt.Message) *ordered {
	o := &ordered{Message: m, q: q}
	q.mu.Lock()
	q.pending = append(q.pending, o)
	q.mu.Unlock()
	return o
}

// Ack acknowledges the message once all earlier ones are settled.
func (o *ordered) Ack() { o.settle(true) }

// Skip settles the message without acknowledging it: the broker redelivers it
// after a reconnect. Later messages are not held back by it.
func (o *ordered) Skip() { o.settle(false) }

func (o *ordered) settle(ack bool) {
	q := o.q
	q.mu.Lock()
	defer q.mu.Unlock()
	if o.settled {
		return
	}
	o.settled, o.ack = true, ack
	n := 0
	for ; n < len(q.pending) && q.pending[n].settled; n++ {
		// Under the lock, so that two workers releasing runs cannot interleave.
		if p := q.pending[n]; p.ack {
			p.Message.Ack()
		}
		q.pending[n] = nil
	}
	q.pending = q.pending[n:]
}

// skip leaves m unacknowledged for redelivery, releasing later messages when m
// is an ordered one.
func skip(m mqtt.Message) {
	if o, ok := m.(*ordered); ok {
		o.Skip()
	}
}
