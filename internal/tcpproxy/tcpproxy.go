// Package tcpproxy is a test helper: a TCP proxy on a loopback port that
// forwards every connection to one target and can cut the line on demand,
// the way a failed switch port, a firewall reload or a restarted load
// balancer cuts the control connection between callflow and its switch
// while the switch itself (and every call on it) stays up.
//
// Cut resets every open connection and refuses new ones (each is accepted
// and reset at once, so a client's dial or handshake fails immediately, as
// against a closed port); Restore forwards new connections again. The
// proxy never alters the bytes it forwards.
package tcpproxy

import (
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
)

// Proxy forwards connections accepted on Addr to its target.
type Proxy struct {
	ln     net.Listener
	target string
	logf   func(string, ...any)

	mu      sync.Mutex
	cut     bool
	closed  bool
	conns   map[*pair]struct{}
	cutDone chan struct{} // closed and replaced on every Restore

	accepted atomic.Int64 // connections forwarded
	refused  atomic.Int64 // connections reset while cut
	wg       sync.WaitGroup
}

// pair is one forwarded connection: the client's and the target's side.
type pair struct{ client, server net.Conn }

// Start listens on a free loopback port and forwards to target
// (host:port). logf, if not nil, receives one line per cut and restore.
// The caller must Close the proxy.
func Start(target string, logf func(string, ...any)) (*Proxy, error) {
	if _, _, err := net.SplitHostPort(target); err != nil {
		return nil, fmt.Errorf("tcpproxy: target %q: %w", target, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("tcpproxy: listen: %w", err)
	}
	if logf == nil {
		logf = func(string, ...any) {}
	}
	p := &Proxy{ln: ln, target: target, logf: logf, conns: map[*pair]struct{}{}}
	p.wg.Add(1)
	// The accept loop ends when Close closes the listener.
	go p.accept()
	return p, nil
}

// Addr is where the proxy listens (127.0.0.1:PORT).
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Target is the address the proxy forwards to.
func (p *Proxy) Target() string { return p.target }

// Accepted is the number of connections forwarded so far.
func (p *Proxy) Accepted() int64 { return p.accepted.Load() }

// Refused is the number of connections reset because the proxy was cut.
func (p *Proxy) Refused() int64 { return p.refused.Load() }

// Open is the number of connections forwarded right now.
func (p *Proxy) Open() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// Cut resets every open connection (both sides) and refuses new ones until
// Restore. It returns how many connections it reset.
func (p *Proxy) Cut() int {
	p.mu.Lock()
	p.cut = true
	open := make([]*pair, 0, len(p.conns))
	for c := range p.conns {
		open = append(open, c)
	}
	p.mu.Unlock()
	for _, c := range open {
		c.reset()
	}
	p.logf("tcpproxy %s -> %s: cut, %d connections reset", p.Addr(), p.target, len(open))
	return len(open)
}

// Restore forwards new connections again after Cut.
func (p *Proxy) Restore() {
	p.mu.Lock()
	p.cut = false
	p.mu.Unlock()
	p.logf("tcpproxy %s -> %s: restored", p.Addr(), p.target)
}

// Close stops listening, resets every connection and waits for the
// proxy's goroutines to end.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	open := make([]*pair, 0, len(p.conns))
	for c := range p.conns {
		open = append(open, c)
	}
	p.mu.Unlock()
	err := p.ln.Close()
	for _, c := range open {
		c.reset()
	}
	p.wg.Wait()
	return err
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // the listener was closed
		}
		p.mu.Lock()
		refuse := p.cut || p.closed
		p.mu.Unlock()
		if refuse {
			p.refused.Add(1)
			resetConn(c)
			continue
		}
		p.wg.Add(1)
		// Ends when both directions have stopped copying (either side
		// closed, Cut or Close).
		go p.forward(c)
	}
}

// forward dials the target for client and copies both ways.
func (p *Proxy) forward(client net.Conn) {
	defer p.wg.Done()
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		p.logf("tcpproxy %s -> %s: dial: %v", p.Addr(), p.target, err)
		resetConn(client)
		return
	}
	c := &pair{client: client, server: server}
	p.mu.Lock()
	if p.cut || p.closed {
		p.mu.Unlock()
		p.refused.Add(1)
		c.reset()
		return
	}
	p.conns[c] = struct{}{}
	p.mu.Unlock()
	p.accepted.Add(1)
	var done sync.WaitGroup
	done.Add(2)
	// Each copy ends when its source reads EOF or fails (reset).
	go func() { defer done.Done(); pipe(server, client) }()
	go func() { defer done.Done(); pipe(client, server) }()
	done.Wait()
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	_ = client.Close()
	_ = server.Close()
}

// pipe copies src to dst and passes on a half-close, so a side that ends
// its writes cleanly is seen as such by the other.
func pipe(dst, src net.Conn) {
	if _, err := io.Copy(dst, src); err != nil {
		// A reset, or Cut closed a side: end both directions at once.
		resetConn(dst)
		resetConn(src)
		return
	}
	if tc, ok := dst.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
		return
	}
	_ = dst.Close()
}

func (c *pair) reset() {
	resetConn(c.client)
	resetConn(c.server)
}

// resetConn closes c with SO_LINGER 0: the peer gets a RST, not a FIN, as
// when a connection dies on the way rather than being closed politely.
func resetConn(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}
