// Package faultproxy is a TCP proxy for fault tests: it forwards connections to a
// target until told to cut the link (connections closed, new ones refused) or to
// freeze it (connections stay open but nothing is forwarded: a half-open link as a
// NAT box or a dead 4G modem leaves it, which only a keep-alive can detect).
package faultproxy

import (
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Proxy forwards 127.0.0.1:Port to its target. It is safe for concurrent use.
type Proxy struct {
	Addr string // host:port to dial instead of the target
	Port int

	target   string
	ln       net.Listener
	mu       sync.Mutex
	down     bool
	conns    map[*pair]struct{}
	wg       sync.WaitGroup
	accepted atomic.Int64
}

// pair is one proxied connection; frozen pairs stop copying but keep their sockets.
type pair struct {
	client, server net.Conn
	frozen         atomic.Bool
}

// New listens on a free loopback port and forwards to target (host:port).
func New(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("faultproxy listen: %w", err)
	}
	p := &Proxy{target: target, ln: ln, conns: map[*pair]struct{}{}}
	p.Addr = ln.Addr().String()
	p.Port = ln.Addr().(*net.TCPAddr).Port
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Accepted returns how many client connections were forwarded so far.
func (p *Proxy) Accepted() int64 { return p.accepted.Load() }

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		p.mu.Lock()
		down := p.down
		p.mu.Unlock()
		if down {
			c.Close()
			continue
		}
		s, err := net.DialTimeout("tcp", p.target, 5*time.Second)
		if err != nil {
			c.Close()
			continue
		}
		pr := &pair{client: c, server: s}
		p.mu.Lock()
		p.conns[pr] = struct{}{}
		p.mu.Unlock()
		p.accepted.Add(1)
		p.wg.Add(2)
		go p.copy(pr, s, c)
		go p.copy(pr, c, s)
	}
}

// copy moves bytes until either side fails; a frozen pair swallows what it reads and
// never closes, so the peer sees silence rather than a reset.
func (p *Proxy) copy(pr *pair, dst, src net.Conn) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !pr.frozen.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				err = werr
			}
		}
		if err != nil {
			if pr.frozen.Load() {
				return // leave the other side open: still half-open for the peer
			}
			pr.client.Close()
			pr.server.Close()
			p.mu.Lock()
			delete(p.conns, pr)
			p.mu.Unlock()
			return
		}
	}
}

// Freeze stops forwarding on every open connection without closing it. New
// connections are forwarded normally, so a client that notices and reconnects
// recovers.
func (p *Proxy) Freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for pr := range p.conns {
		pr.frozen.Store(true)
	}
}

// Down closes every connection and refuses new ones until Up.
func (p *Proxy) Down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for pr := range p.conns {
		pr.client.Close()
		pr.server.Close()
		delete(p.conns, pr)
	}
}

// Up forwards new connections again.
func (p *Proxy) Up() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = false
}

// Close stops the proxy and closes every connection, frozen ones included.
func (p *Proxy) Close() error {
	err := p.ln.Close()
	p.mu.Lock()
	for pr := range p.conns {
		pr.client.Close()
		pr.server.Close()
		delete(p.conns, pr)
	}
	p.mu.Unlock()
	p.wg.Wait()
	return err
}
