package agi

import (
	"bufio"
	"context"
	"errors"
	"net"
	"testing"
	"time"
)

func TestServeRun(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan error, 1)
	go Serve(ctx, l, time.Second, func(ctx context.Context, s *Session) {
		r, err := s.Run(ctx, Answer{})
		if err != nil || r.Result != 0 {
			got <- errors.New("answer failed")
			return
		}
		_, err = s.Run(ctx, StreamFile{File: "x"})
		got <- err
	})
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("agi_network: yes\nagi_request: agi://127.0.0.1/main\n\n"))
	br := bufio.NewReader(c)
	if line, _ := br.ReadString('\n'); line != "ANSWER\n" {
		t.Fatalf("first command %q", line)
	}
	c.Write([]byte("200 result=0\n"))
	br.ReadString('\n')
	// Asterisk says HANGUP, then answers the command on the dead channel.
	c.Write([]byte("HANGUP\n511 Command Not Permitted on a dead channel or intercepted channel\n"))
	if err := <-got; !errors.Is(err, ErrHangup) {
		t.Fatalf("after HANGUP: %v", err)
	}
}
