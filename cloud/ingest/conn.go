package ingest

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"runtime"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// batchConn is the consumer's connection to the broker, shaped for many small
// packets. paho reads a packet in three or more read(2)s (fixed header, length
// bytes, body) and writes every PUBACK with its own write(2); at ingest rates
// those syscalls were a quarter of the cloud's CPU. Reads go through a buffer;
// writes are appended to a pending buffer that one goroutine sends, so the
// PUBACKs that pile up while a send is in the kernel leave in the next one
// (group commit: no timer, no added delay when idle).
//
// Write deadlines apply to the sender's socket writes, not to Write, which
// returns once the bytes are queued: paho's WriteTimeout (unset here) would not
// bound anything. A stuck broker is found by the keepalive instead.
type batchConn struct {
	net.Conn
	r *bufio.Reader

	mu      sync.Mutex
	space   *sync.Cond // pending was taken, or err was set
	pending []byte
	err     error // sticky: the first failed send, or errConnClosed
	kick    chan struct{}
	done    chan struct{} // closed when the sender has ended
}

// maxPending bounds what Write buffers before it waits for the sender.
const maxPending = 256 << 10

// errConnClosed wraps net.ErrClosed, whose text paho recognises as a
// connection it closed itself (not a loss to report).
var errConnClosed = fmt.Errorf("broker connection: %w", net.ErrClosed)

func newBatchConn(c net.Conn) *batchConn {
	b := &batchConn{Conn: c, r: bufio.NewReaderSize(c, 64<<10), kick: make(chan struct{}, 1), done: make(chan struct{})}
	b.space = sync.NewCond(&b.mu)
	go b.send()
	return b
}

func (b *batchConn) Read(p []byte) (int, error) { return b.r.Read(p) }

// Write queues p for the sender. A failed send is reported by the next Write.
func (b *batchConn) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for b.err == nil && len(b.pending) > 0 && len(b.pending)+len(p) > maxPending {
		b.space.Wait()
	}
	if b.err != nil {
		return 0, b.err
	}
	b.pending = append(b.pending, p...)
	select {
	case b.kick <- struct{}{}:
	default: // the sender is already due to look
	}
	return len(p), nil
}

// send owns the socket's write side until Close.
func (b *batchConn) send() {
	defer close(b.done)
	var out []byte
	for range b.kick {
		// Let goroutines that are about to ack run first: under load their
		// PUBACKs join this send. When idle this returns at once.
		runtime.Gosched()
		b.mu.Lock()
		out, b.pending = b.pending, out[:0]
		b.space.Broadcast()
		b.mu.Unlock()
		if len(out) == 0 {
			continue
		}
		if _, err := b.Conn.Write(out); err != nil {
			b.mu.Lock()
			if b.err == nil {
				b.err = err
			}
			b.space.Broadcast()
			b.mu.Unlock()
			return
		}
	}
}

// Close sends what is pending (paho's DISCONNECT is written just before it
// closes), waiting at most a second for a stuck peer, then closes the socket.
func (b *batchConn) Close() error {
	b.mu.Lock()
	if b.err == errConnClosed {
		b.mu.Unlock()
		return nil
	}
	already := b.err != nil
	b.err = errConnClosed
	if !already {
		close(b.kick) // the sender drains the last kick, sends, and ends
	}
	b.space.Broadcast()
	b.mu.Unlock()
	if !already {
		select {
		case <-b.done:
		case <-time.After(time.Second):
		}
	}
	return b.Conn.Close()
}

// openBatchConn dials the broker as paho would for tcp:// and ssl:// (tls://,
// mqtts://) brokers and wraps the connection. Proxies from the environment are
// not honoured: the cloud reaches its broker directly.
func openBatchConn(uri *url.URL, o mqtt.ClientOptions) (net.Conn, error) {
	d := o.Dialer
	if d == nil {
		d = &net.Dialer{Timeout: 30 * time.Second}
	}
	var (
		c   net.Conn
		err error
	)
	switch uri.Scheme {
	case "tcp", "mqtt":
		c, err = d.Dial("tcp", uri.Host)
	case "ssl", "tls", "mqtts", "tcps":
		c, err = tls.DialWithDialer(d, "tcp", uri.Host, o.TLSConfig)
	default:
		return nil, fmt.Errorf("dial broker %s: scheme %q not supported by the ingest connection (want tcp or ssl)", uri.Redacted(), uri.Scheme)
	}
	if err != nil {
		return nil, fmt.Errorf("dial broker %s: %w", uri.Redacted(), err)
	}
	return newBatchConn(c), nil
}
