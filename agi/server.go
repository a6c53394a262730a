package agi

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"time"
)

// Session is one FastAGI connection: the environment Asterisk sent and a
// command channel for the channel that ran AGI().
type Session struct {
	Env    Env
	conn   net.Conn
	r      *bufio.Reader
	hungUp atomic.Bool
}

// Handler runs one session; the session's connection is closed when it returns.
type Handler func(ctx context.Context, s *Session)

// Serve accepts FastAGI connections on l until ctx ends, running h for each in
// its own goroutine; that goroutine ends when h returns. envTimeout bounds the
// wait for the environment block.
func Serve(ctx context.Context, l net.Listener, envTimeout time.Duration, h Handler) error {
	stop := context.AfterFunc(ctx, func() { l.Close() })
	defer stop()
	for {
		c, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("agi: accept: %w", err)
		}
		go func() {
			defer c.Close()
			_ = c.SetReadDeadline(time.Now().Add(envTimeout))
			r := bufio.NewReader(c)
			env, err := ReadEnv(r)
			if err != nil {
				return
			}
			_ = c.SetReadDeadline(time.Time{})
			h(ctx, &Session{Env: env, conn: c, r: r})
		}()
	}
}

// Run sends cmd and waits for its reply until ctx ends. Asterisk sends a
// lone HANGUP line when it notices the hang-up between commands, before the
// reply to the next command (a 511 on a dead channel); Run notes it and goes
// on reading that reply. Once the hang-up is known, a reply with result -1 or
// a 511 returns an error wrapping ErrHangup together with the reply.
func (s *Session) Run(ctx context.Context, cmd Command) (Reply, error) {
	if err := s.Send(ctx, cmd); err != nil {
		return Reply{}, err
	}
	return s.Read(ctx)
}

// Send writes cmd without waiting for its reply (for EXEC of an
// application that keeps the channel, such as Stasis); Read reads it.
func (s *Session) Send(ctx context.Context, cmd Command) error {
	stop := context.AfterFunc(ctx, func() { _ = s.conn.SetWriteDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := s.conn.Write([]byte(cmd.Line())); err != nil {
		return s.ioErr(ctx, err)
	}
	return nil
}

// Read waits for the next reply until ctx ends (see Run).
func (s *Session) Read(ctx context.Context) (Reply, error) {
	stop := context.AfterFunc(ctx, func() { _ = s.conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			if errors.Is(err, io.EOF) && ctx.Err() == nil {
				s.hungUp.Store(true)
				return Reply{}, fmt.Errorf("agi: connection closed: %w", ErrHangup)
			}
			return Reply{}, s.ioErr(ctx, err)
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "HANGUP" {
			s.hungUp.Store(true)
			continue
		}
		if strings.HasPrefix(line, "520-") {
			// Usage text follows, up to "520 End of proper usage.".
			if err := s.skipUsage(ctx); err != nil {
				return Reply{}, err
			}
		}
		r, err := ParseReply(line)
		if errors.Is(err, ErrHangup) {
			s.hungUp.Store(true)
		}
		if err == nil && r.Result == -1 && s.hungUp.Load() {
			err = ErrHangup
		}
		return r, err
	}
}

// maxUsageLines bounds a 520 usage block.
const maxUsageLines = 200

// skipUsage reads the usage lines of a 520- reply through its last line.
func (s *Session) skipUsage(ctx context.Context) error {
	for range maxUsageLines {
		line, err := s.r.ReadString('\n')
		if err != nil {
			return s.ioErr(ctx, err)
		}
		if strings.HasPrefix(line, "520 ") {
			return nil
		}
	}
	return fmt.Errorf("agi: 520 usage longer than %d lines", maxUsageLines)
}

// HungUp reports whether Asterisk has said the channel hung up.
func (s *Session) HungUp() bool { return s.hungUp.Load() }

// Close closes the connection: Asterisk ends AGI() and the dialplan goes
// on (or ends, for a hung-up channel).
func (s *Session) Close() error { return s.conn.Close() }

// RemoteAddr is the address Asterisk connected from.
func (s *Session) RemoteAddr() net.Addr { return s.conn.RemoteAddr() }

func (s *Session) ioErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	if errors.Is(err, net.ErrClosed) {
		return ErrHangup
	}
	return fmt.Errorf("agi: %w", err)
}
