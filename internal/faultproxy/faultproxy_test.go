package faultproxy

import (
	"bufio"
	"net"
	"testing"
	"time"
)

func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 1024)
				for {
					n, err := c.Read(buf)
					if err != nil {
						return
					}
					c.Write(buf[:n])
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func roundTrip(c net.Conn, r *bufio.Reader, msg string) (string, error) {
	c.SetDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := c.Write([]byte(msg + "\n")); err != nil {
		return "", err
	}
	return r.ReadString('\n')
}

func TestFreezeDownUp(t *testing.T) {
	p, err := New(echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, err := net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	if got, err := roundTrip(c, r, "hello"); err != nil || got != "hello\n" {
		t.Fatalf("forwarding: %q %v", got, err)
	}
	p.Freeze()
	// Half-open: writes succeed, nothing comes back, no EOF either.
	if got, err := roundTrip(c, r, "lost"); err == nil {
		t.Fatalf("frozen link answered %q", got)
	} else if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		t.Fatalf("frozen link: want a timeout, got %v", err)
	}
	// A new connection works.
	c2, err := net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	r2 := bufio.NewReader(c2)
	if got, err := roundTrip(c2, r2, "again"); err != nil || got != "again\n" {
		t.Fatalf("new connection after freeze: %q %v", got, err)
	}
	p.Down()
	if _, err := roundTrip(c2, r2, "x"); err == nil {
		t.Fatal("connection survived Down")
	}
	c3, err := net.Dial("tcp", p.Addr)
	if err == nil {
		c3.SetReadDeadline(time.Now().Add(time.Second))
		if _, err := c3.Read(make([]byte, 1)); err == nil {
			t.Fatal("connection accepted while down")
		}
		c3.Close()
	}
	p.Up()
	c4, err := net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c4.Close()
	if got, err := roundTrip(c4, bufio.NewReader(c4), "up"); err != nil || got != "up\n" {
		t.Fatalf("after Up: %q %v", got, err)
	}
	if p.Accepted() != 3 {
		t.Fatalf("accepted %d, want 3", p.Accepted())
	}
}
