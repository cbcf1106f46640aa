package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"testing"
)

// countingConn counts the writes that reach the socket.
type countingConn struct {
	net.Conn
	writes atomic.Int64
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

func pipe(t *testing.T) (*batchConn, *countingConn, net.Conn) {
	t.Helper()
	a, peer := net.Pipe()
	cc := &countingConn{Conn: a}
	b := newBatchConn(cc)
	t.Cleanup(func() { b.Close(); peer.Close() })
	return b, cc, peer
}

// PUBACKs written while the peer is busy leave in one send, in order.
func TestBatchConnCoalescesInOrder(t *testing.T) {
	b, cc, peer := pipe(t)
	var want bytes.Buffer
	const n = 1000
	for i := range n {
		pkt := []byte{0x40, 0x02, byte(i >> 8), byte(i)} // PUBACK, message ID i
		want.Write(pkt)
		if _, err := b.Write(pkt); err != nil {
			t.Fatal(err)
		}
	}
	got := make([]byte, want.Len())
	if _, err := io.ReadFull(peer, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatal("bytes arrived changed or out of order")
	}
	// net.Pipe blocks a send until it is read: one send may have started before
	// the reader did, everything else waited and went in one more.
	if w := cc.writes.Load(); w > 2 {
		t.Errorf("%d writes to the socket for %d packets, want ≤ 2", w, n)
	}
}

// More than maxPending waits for the sender instead of growing without bound,
// and arrives whole.
func TestBatchConnBackPressure(t *testing.T) {
	b, _, peer := pipe(t)
	chunk := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB
	const chunks = 16                                       // 1 MiB, 4 × maxPending
	errc := make(chan error, 1)
	go func() {
		for range chunks {
			if _, err := b.Write(chunk); err != nil {
				errc <- err
				return
			}
			b.mu.Lock()
			over := len(b.pending) > maxPending
			b.mu.Unlock()
			if over {
				errc <- fmt.Errorf("pending grew past %d bytes", maxPending)
				return
			}
		}
		errc <- nil
	}()
	got, err := io.ReadAll(io.LimitReader(peer, int64(len(chunk)*chunks)))
	if err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, bytes.Repeat(chunk, chunks)) {
		t.Fatal("data changed")
	}
}

// Close sends what is pending first (paho writes DISCONNECT, then closes),
// and later writes fail.
func TestBatchConnCloseFlushes(t *testing.T) {
	b, _, peer := pipe(t)
	read := make(chan []byte)
	go func() {
		got, _ := io.ReadAll(peer)
		read <- got
	}()
	if _, err := b.Write([]byte{0xe0, 0x00}); err != nil { // DISCONNECT
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if got := <-read; !bytes.Equal(got, []byte{0xe0, 0x00}) {
		t.Errorf("peer read % x before EOF, want e0 00", got)
	}
	if _, err := b.Write([]byte{0xc0, 0x00}); !errors.Is(err, errConnClosed) {
		t.Errorf("write after close: %v, want %v", err, errConnClosed)
	}
	if err := b.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
}

// A send that fails (the broker went away) is reported by the next write, so
// paho sees the connection is lost and reconnects.
func TestBatchConnReportsSendFailure(t *testing.T) {
	b, _, peer := pipe(t)
	peer.Close()
	if _, err := b.Write([]byte{0x40, 0x02, 0, 1}); err != nil {
		t.Fatalf("first write: %v (it only queues)", err)
	}
	<-b.done // the sender ends on the failed send
	if _, err := b.Write([]byte{0x40, 0x02, 0, 2}); !errors.Is(err, io.ErrClosedPipe) {
		t.Errorf("write after a failed send: %v, want %v", err, io.ErrClosedPipe)
	}
}

// Reads come through the buffer unchanged, packet after packet.
func TestBatchConnReads(t *testing.T) {
	b, _, peer := pipe(t)
	go func() {
		for i := range 100 {
			peer.Write([]byte{0x30, 0x03, 0x00, 0x01, byte(i)})
		}
	}()
	for i := range 100 {
		got := make([]byte, 5)
		if _, err := io.ReadFull(b, got); err != nil {
			t.Fatal(err)
		}
		if got[4] != byte(i) {
			t.Fatalf("packet %d: % x", i, got)
		}
	}
}
