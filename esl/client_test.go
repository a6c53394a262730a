package esl_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callflow/callflow/esl"
	"github.com/callflow/callflow/esl/esltest"
	"go.uber.org/zap/zaptest"
)

func newServer(t *testing.T) *esltest.Server {
	t.Helper()
	s, err := esltest.NewServer(esltest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func dial(t *testing.T, s *esltest.Server, opts esl.Options) *esl.Conn {
	t.Helper()
	opts.Logger = zaptest.NewLogger(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := esl.Dial(ctx, s.Addr(), "ClueCon", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestDialAuth(t *testing.T) {
	s := newServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cases := []struct {
		name, password string
		wantErr        error
	}{
		{"good password", "ClueCon", nil},
		{"wrong password", "Wrong", esl.ErrCommandFailed},
		{"injection in password", "ClueCon\n\napi status", esl.ErrInvalidValue},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			conn, err := esl.Dial(ctx, s.Addr(), c.password, esl.Options{Logger: zaptest.NewLogger(t)})
			if c.wantErr != nil {
				if !errors.Is(err, c.wantErr) {
					t.Fatalf("err %v, want %v", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			_ = conn.Close()
		})
	}
}

func TestAPIAndBgAPI(t *testing.T) {
	s := newServer(t)
	s.Script("sofia/gateway/gw/+420111222333", esltest.Fate{Outcome: esltest.Answer})
	s.Script("sofia/gateway/gw/busy", esltest.Fate{Outcome: esltest.Busy})
	c := dial(t, s, esl.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	out, err := c.API(ctx, esl.API{Cmd: "uuid_exists", Args: "nope"})
	if err != nil || out != "false" {
		t.Fatalf("uuid_exists: %q %v", out, err)
	}
	_, err = c.API(ctx, esl.API{Cmd: "uuid_kill"})
	var re *esl.ReplyError
	if !errors.As(err, &re) || !strings.HasPrefix(re.Text, "-USAGE") {
		t.Fatalf("uuid_kill without args: %v", err)
	}

	cases := []struct {
		name, endpoint, cause string
	}{
		{"answered", "sofia/gateway/gw/+420111222333", ""},
		{"busy", "sofia/gateway/gw/busy", "USER_BUSY"},
		{"unknown tech", "nosuch/1", "CHAN_NOT_IMPLEMENTED"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			uuid := esl.NewUUID()
			args, err := esl.Originate{Vars: []esl.Var{{Name: "origination_uuid", Value: uuid},
				{Name: "origination_caller_id_number", Value: "+420999888777"}}, Endpoint: tc.endpoint}.Args()
			if err != nil {
				t.Fatal(err)
			}
			res, err := c.BgAPI(ctx, esl.BgAPI{Cmd: "originate", Args: args})
			if tc.cause == "" {
				if err != nil || res.Body != "+OK "+uuid+"\n" {
					t.Fatalf("originate: %q %v", res.Body, err)
				}
				info, _ := s.Channel(uuid)
				if info.Vars["origination_caller_id_number"] != "+420999888777" {
					t.Fatalf("ANI not carried: %v", info.Vars)
				}
				return
			}
			if !errors.As(err, &re) || re.Cause() != tc.cause {
				t.Fatalf("originate: %q %v, want cause %s", res.Body, err, tc.cause)
			}
		})
	}
	lines := s.ReceivedLines()
	if !contains(lines, "event plain BACKGROUND_JOB") {
		t.Fatalf("BACKGROUND_JOB not subscribed: %v", lines)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestOrderedEventsSlowConsumer: a Stream that is read late still gets
// every event, in order, and the reader goroutine never blocked (api
// commands kept working meanwhile).
func TestOrderedEventsSlowConsumer(t *testing.T) {
	s := newServer(t)
	s.Script("user/1001", esltest.Fate{Outcome: esltest.Answer})
	var mu sync.Mutex
	var other []string
	c := dial(t, s, esl.Options{SlowConsumer: 50, OnEvent: func(e *esl.Event) {
		mu.Lock()
		other = append(other, e.Name())
		mu.Unlock()
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Subscribe(ctx, "json", "CHANNEL_ANSWER", "DTMF", "CHANNEL_HANGUP", "BACKGROUND_JOB"); err != nil {
		t.Fatal(err)
	}
	uuid := esl.NewUUID()
	st := c.Watch(uuid)
	args, _ := esl.Originate{Vars: []esl.Var{{Name: "origination_uuid", Value: uuid}}, Endpoint: "user/1001"}.Args()
	if _, err := c.BgAPI(ctx, esl.BgAPI{Cmd: "originate", Args: args}); err != nil {
		t.Fatal(err)
	}
	const n = 200
	digits := strings.Repeat("0123456789", n/10)
	if !s.SendDTMF(uuid, digits) {
		t.Fatal("SendDTMF")
	}
	if _, err := c.API(ctx, esl.API{Cmd: "uuid_kill", Args: uuid}); err != nil {
		t.Fatal(err)
	}
	e, err := st.Next(ctx)
	if err != nil || e.Name() != "CHANNEL_ANSWER" {
		t.Fatalf("first event %v %v", e, err)
	}
	for i := 0; i < n; i++ {
		e, err := st.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if e.Name() != "DTMF" || e.Get("DTMF-Digit") != digits[i:i+1] {
			t.Fatalf("event %d: %s %q, want DTMF %q", i, e.Name(), e.Get("DTMF-Digit"), digits[i:i+1])
		}
	}
	if e, err := st.Next(ctx); err != nil || e.Name() != "CHANNEL_HANGUP" {
		t.Fatalf("last event %v %v", e, err)
	}
	if c.Faults() == 0 {
		t.Fatal("slow consumer not reported as a fault")
	}
}

// TestTimeoutRedials: a command without reply closes the connection; the
// client redials, re-authenticates and re-subscribes, and the next command
// gets its own reply.
func TestTimeoutRedials(t *testing.T) {
	s := newServer(t)
	reconnected := make(chan struct{}, 1)
	c := dial(t, s, esl.Options{CommandTimeout: 300 * time.Millisecond, RedialMin: 10 * time.Millisecond,
		OnReconnect: func(context.Context) { reconnected <- struct{}{} }})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Subscribe(ctx, "plain", "CHANNEL_ANSWER"); err != nil {
		t.Fatal(err)
	}
	if err := c.AddFilter(ctx, esl.Filter{Header: "Unique-ID", Value: "abc"}); err != nil {
		t.Fatal(err)
	}
	if !c.Connected() {
		t.Fatal("Connected false on a fresh connection")
	}
	s.StallNext(1)
	_, err := c.API(ctx, esl.API{Cmd: "status"})
	if !errors.Is(err, esl.ErrTimeout) {
		t.Fatalf("stalled command: %v, want ErrTimeout", err)
	}
	select {
	case <-reconnected:
	case <-ctx.Done():
		t.Fatal("no reconnect")
	}
	out, err := c.API(ctx, esl.API{Cmd: "version"})
	if err != nil || !strings.Contains(out, "Version") {
		t.Fatalf("after redial: %q %v", out, err)
	}
	if !c.Connected() {
		t.Fatal("Connected false after the redial")
	}
	lines := s.ReceivedLines()
	want := []string{"auth ClueCon", "event plain CHANNEL_ANSWER", "filter Unique-ID abc", "api status",
		"auth ClueCon", "event plain CHANNEL_ANSWER", "filter Unique-ID abc", "api version"}
	if strings.Join(lines, "|") != strings.Join(want, "|") {
		t.Fatalf("commands\n got %q\nwant %q", lines, want)
	}
}

func TestExitDisconnect(t *testing.T) {
	s := newServer(t)
	c := dial(t, s, esl.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.Send(ctx, esl.Exit{}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Done():
	case <-ctx.Done():
		t.Fatal("conn did not end after exit")
	}
	if !errors.Is(c.Err(), esl.ErrDisconnected) {
		t.Fatalf("Err %v, want ErrDisconnected", c.Err())
	}
	if c.Connected() {
		t.Fatal("Connected true after the disconnect")
	}
	if _, err := c.API(ctx, esl.API{Cmd: "status"}); err == nil {
		t.Fatal("command after disconnect succeeded")
	}
}
