package esl_test

import (
	"context"
	"testing"
	"time"

	"github.com/callflow/callflow/esl"
	"github.com/callflow/callflow/esl/esltest"
	"go.uber.org/zap/zaptest"
)

// TestOutboundSession runs the outbound-socket.txt flow against esltest:
// connect, myevents, event, linger, divert_events, answer, playback,
// play_and_get_digits with scripted DTMF, getvar, hangup, linger notice,
// exit.
func TestOutboundSession(t *testing.T) {
	s := newServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	type result struct {
		ani, digits string
		completes   []string
		err         error
	}
	results := make(chan result, 1)
	ready, pressed := make(chan struct{}), make(chan struct{})
	srv, err := esl.Listen(ctx, "127.0.0.1:0", func(ctx context.Context, sess *esl.Session) {
		var r result
		defer func() { results <- r }()
		r.ani = sess.ChannelData().Get("Caller-Caller-ID-Number")
		steps := []func() error{
			func() error { return sess.MyEvents(ctx) },
			func() error { return sess.Subscribe(ctx, "PLAYBACK_START", "PLAYBACK_STOP") },
			func() error { return sess.Linger(ctx, 0) },
			func() error { return sess.DivertEvents(ctx) },
		}
		for _, st := range steps {
			if r.err = st(); r.err != nil {
				return
			}
		}
		for _, app := range [][2]string{{"answer", ""}, {"playback", "tone_stream://%(300,100,523,659)"},
			{"", ""}, {"play_and_get_digits", `1 4 1 5000 # tone_stream://%(300,100,440) silence_stream://250 pagd_digits \d+ 3000`}} {
			if app[0] == "" { // let the caller press digits (buffered, as in FreeSWITCH)
				ready <- struct{}{}
				<-pressed
				continue
			}
			e, err := sess.Execute(ctx, app[0], app[1])
			if err != nil {
				r.err = err
				return
			}
			r.completes = append(r.completes, e.Get("Application"))
		}
		if r.digits, r.err = sess.API(ctx, esl.API{Cmd: "uuid_getvar", Args: sess.UUID() + " pagd_digits"}); r.err != nil {
			return
		}
		if r.err = sess.Hangup(ctx, ""); r.err != nil {
			return
		}
		select {
		case <-sess.HungUp():
		case <-ctx.Done():
			r.err = ctx.Err()
		}
	}, esl.ServerOptions{Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	call, err := s.DialOutbound(ctx, srv.Addr().String(), esltest.Caller{Number: "+420111222333", Name: "Test"})
	if err != nil {
		t.Fatal(err)
	}
	// The caller presses 123# while play_and_get_digits runs.
	go func() {
		<-ready
		call.SendDTMF("123#")
		close(pressed)
	}()
	var r result
	select {
	case r = <-results:
	case <-ctx.Done():
		t.Fatal("handler did not finish")
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.ani != "+420111222333" || r.digits != "123" || len(r.completes) != 3 {
		t.Fatalf("got %+v", r)
	}
	select {
	case <-call.Done():
	case <-ctx.Done():
		t.Fatal("socket not closed after handler returned (linger needs exit)")
	}
	lines := s.ReceivedLines()
	if lines[len(lines)-1] != "exit" {
		t.Fatalf("last command %q, want exit", lines[len(lines)-1])
	}
}
