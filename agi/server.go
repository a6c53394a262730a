package agi

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// Session is one FastAGI connection: the environment Asterisk sent and a
// command channel for the channel that ran AGI().
type Session struct {
	Env  Env
	conn net.Conn
	r    *bufio.Reader
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

// Run sends cmd and waits for its reply until ctx ends. A HANGUP line that
// Asterisk sends before the reply is reported as ErrHangup.
func (s *Session) Run(ctx context.Context, cmd Command) (Reply, error) {
	stop := context.AfterFunc(ctx, func() { _ = s.conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := s.conn.Write([]byte(cmd.Line())); err != nil {
		return Reply{}, s.ioErr(ctx, err)
	}
	line, err := s.r.ReadString('\n')
	if err != nil {
		return Reply{}, s.ioErr(ctx, err)
	}
	return ParseReply(strings.TrimRight(line, "\r\n"))
}

func (s *Session) ioErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	if errors.Is(err, net.ErrClosed) {
		return ErrHangup
	}
	return fmt.Errorf("agi: %w", err)
}
