// Package live fans updates out to the browsers watching (server-sent events).
package live

import (
	"encoding/json"
	"sync"
)

// Message is one server-sent event: its event name and JSON data, and whose data it
// is, so each stream delivers only what its viewer may see.
type Message struct {
	Event     string
	Data      []byte
	Home      string // the home the data is about; "" for none
	Class     string // resident | device | gateway
	Recipient string // a worker ID when the event is for one person only
}

// Scoped is implemented by published values that belong to a home or a person.
type Scoped interface {
	AccessScope() (home, class, recipient string)
}

// Hub is safe for concurrent use.
type Hub struct {
	mu   sync.Mutex
	subs map[chan Message]struct{}
	done chan struct{}
	once sync.Once
}

// NewHub returns an empty hub.
func NewHub() *Hub { return &Hub{subs: map[chan Message]struct{}{}, done: make(chan struct{})} }

// Done is closed when the hub shuts down: streams end then, so a server shutdown
// does not wait for the next keep-alive to notice them.
func (h *Hub) Done() <-chan struct{} { return h.done }

// Close ends every stream.
func (h *Hub) Close() { h.once.Do(func() { close(h.done) }) }

// Subscribe returns a channel of messages and a function to leave.
func (h *Hub) Subscribe() (<-chan Message, func()) {
	ch := make(chan Message, 64)
	h.mu.Lock()
	h.subs[ch] = struct{}{}
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		delete(h.subs, ch)
		h.mu.Unlock()
	}
}

// Publish sends v as event to every subscriber. A subscriber too slow to keep up
// misses the message rather than stalling the sender; its page refetches on reconnect.
func (h *Hub) Publish(event string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	m := Message{Event: event, Data: b}
	if sc, ok := v.(Scoped); ok {
		m.Home, m.Class, m.Recipient = sc.AccessScope()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs {
		select {
		case ch <- m:
		default:
		}
	}
}
