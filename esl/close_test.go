package esl_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/callflow/callflow/esl"
)

// floodServer accepts one ESL client, authenticates it and then writes
// plain CHANNEL_ANSWER events, each for a new Unique-ID, as fast as the
// socket takes them, until the client goes away.
func floodServer(t *testing.T) (addr string, wait func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // ends when the client closes the socket
		defer wg.Done()
		defer ln.Close()
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		if _, err := nc.Write([]byte("Content-Type: auth/request\n\n")); err != nil {
			return
		}
		br := bufio.NewReader(nc)
		for { // the auth command ends at a blank line
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			if line == "\n" {
				break
			}
		}
		if _, err := nc.Write([]byte("Content-Type: command/reply\nReply-Text: +OK accepted\n\n")); err != nil {
			return
		}
		for i := 0; ; i++ {
			body := fmt.Sprintf("Event-Name: CHANNEL_ANSWER\nUnique-ID: flood-%d\n\n", i)
			frame := fmt.Sprintf("Content-Length: %d\nContent-Type: text/event-plain\n\n%s", len(body), body)
			if _, err := nc.Write([]byte(frame)); err != nil {
				return
			}
		}
	}()
	return ln.Addr().String(), wg.Wait
}

// TestNoEventAfterClose: once Close has returned, OnEvent is never called
// again, even for frames read while Close ran (the reader goroutine is
// waited for, and a dispatcher that has ended starts no handler).
func TestNoEventAfterClose(t *testing.T) {
	for i := range 20 {
		t.Run(fmt.Sprintf("run %d", i), func(t *testing.T) {
			addr, wait := floodServer(t)
			var calls, late atomic.Int64
			var closed atomic.Bool
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			got := make(chan struct{}, 1)
			c, err := esl.Dial(ctx, addr, "ClueCon", esl.Options{Logger: zaptest.NewLogger(t), OnEvent: func(e *esl.Event) {
				if closed.Load() {
					late.Add(1)
				}
				if !strings.HasPrefix(e.UniqueID(), "flood-") {
					t.Errorf("unexpected event %q", e.UniqueID())
				}
				calls.Add(1)
				select {
				case got <- struct{}{}:
				default:
				}
			}})
			if err != nil {
				t.Fatal(err)
			}
			select {
			case <-got:
			case <-ctx.Done():
				t.Fatal("no event delivered")
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			closed.Store(true)
			n := calls.Load()
			time.Sleep(20 * time.Millisecond) // room for a straggler to show
			if l, m := late.Load(), calls.Load(); l > 0 || m != n {
				t.Errorf("OnEvent ran %d times after Close returned (%d calls then, %d now)", l, n, m)
			}
			wait()
		})
	}
}
