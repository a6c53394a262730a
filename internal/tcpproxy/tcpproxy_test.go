package tcpproxy

import (
	"bufio"
	"io"
	"net"
	"testing"
	"time"
)

// echoServer answers every line with the same line until the client
// closes; it ends with the test.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() { // ends when the listener closes
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { // ends when the client's side ends
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

func roundTrip(c net.Conn, r *bufio.Reader, msg string) (string, error) {
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(msg + "\n")); err != nil {
		return "", err
	}
	return r.ReadString('\n')
}

func TestCutAndRestore(t *testing.T) {
	p, err := Start(echoServer(t), t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	c1, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	r1 := bufio.NewReader(c1)
	if got, err := roundTrip(c1, r1, "hello"); err != nil || got != "hello\n" {
		t.Fatalf("before the cut: %q, %v", got, err)
	}
	if p.Open() != 1 || p.Accepted() != 1 {
		t.Fatalf("open %d accepted %d, want 1 and 1", p.Open(), p.Accepted())
	}

	if n := p.Cut(); n != 1 {
		t.Fatalf("cut reset %d connections, want 1", n)
	}
	// The open connection is dead: the read fails without waiting for the
	// deadline.
	start := time.Now()
	if got, err := roundTrip(c1, r1, "lost"); err == nil {
		t.Fatalf("after the cut the old connection still answers %q", got)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("the cut connection failed only after %v", d)
	}
	// A new connection is refused: accepted and reset at once.
	c2, err := net.Dial("tcp", p.Addr())
	if err == nil {
		if got, err := roundTrip(c2, bufio.NewReader(c2), "refused"); err == nil {
			t.Fatalf("a connection made while cut answers %q", got)
		}
		c2.Close()
	}
	if p.Refused() < 1 {
		t.Fatalf("refused %d, want at least 1", p.Refused())
	}

	p.Restore()
	c3, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c3.Close()
	if got, err := roundTrip(c3, bufio.NewReader(c3), "again"); err != nil || got != "again\n" {
		t.Fatalf("after restore: %q, %v", got, err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := roundTrip(c3, bufio.NewReader(c3), "closed"); err == nil {
		t.Fatal("a connection still answers after Close")
	}
}

func TestHalfCloseIsPassedOn(t *testing.T) {
	p, err := Start(echoServer(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("bye")); err != nil {
		t.Fatal(err)
	}
	_ = c.(*net.TCPConn).CloseWrite()
	b, err := io.ReadAll(c)
	if err != nil || string(b) != "bye" {
		t.Fatalf("after a half-close: %q, %v", b, err)
	}
}

func TestBadTarget(t *testing.T) {
	if _, err := Start("no-port", nil); err == nil {
		t.Fatal("a target without a port was accepted")
	}
}
