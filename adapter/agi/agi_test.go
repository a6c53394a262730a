package agi

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/callflow/callflow/adapter"
	"github.com/callflow/callflow/agi/agitest"
)

// unusedARI stands where no ARI is reachable: every request fails. (A
// handler that returns on a closed session makes finish try ARI.)
type unusedARI struct{ t *testing.T }

func (unusedARI) StoreRecording(context.Context, string, string) (adapter.Recording, error) {
	return adapter.Recording{}, errors.New("no ARI in this test")
}

func (unusedARI) HangupChannel(context.Context, string, adapter.Cause) error {
	return errors.New("no ARI in this test")
}

// serveTranscript runs h on a Call whose Asterisk side is a recorded
// transcript, and returns when both sides are done.
func serveTranscript(t *testing.T, name string, h adapter.Handler) {
	t.Helper()
	srv, err := New(Config{App: "callflow", ARI: unusedARI{t}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := agitest.Load(name)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan struct{})
	// Ends when ctx ends.
	go srv.Serve(ctx, l, func(ctx context.Context, c adapter.Call) {
		defer close(done)
		h(ctx, c)
	})
	if err := agitest.Play(ctx, l.Addr().String(), tr); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("handler did not return")
	}
}

func TestCallOverTranscriptDTMF(t *testing.T) {
	serveTranscript(t, "dtmf", func(ctx context.Context, c adapter.Call) {
		if err := c.Answer(ctx); err != nil {
			t.Error(err)
		}
		if d, err := c.Play(ctx, []adapter.Prompt{"sound:silence/10"}, adapter.PlayOptions{BargeIn: true}); err != nil || d != "1" {
			t.Errorf("Play = %q, %v; want the barge-in digit 1", d, err)
		}
		got, err := c.Gather(ctx, adapter.GatherOptions{MaxDigits: 4, Terminator: "#", FirstTimeout: 4 * time.Second, InterDigitTimeout: 4 * time.Second})
		if err != nil || got != "2" {
			t.Errorf("Gather = %q, %v; want 2 ended by #", got, err)
		}
		got, err = c.Gather(ctx, adapter.GatherOptions{MaxDigits: 1, FirstTimeout: 500 * time.Millisecond})
		if err != nil || got != "" {
			t.Errorf("Gather = %q, %v; want nothing", got, err)
		}
	})
}

func TestCallInfoHostileCaller(t *testing.T) {
	serveTranscript(t, "hostile-caller", func(ctx context.Context, c adapter.Call) {
		info := c.Info()
		want := []string{"callback-only", `x" \ HANGUP 200 result=1`, " agi_arg_1: voicemail"}
		if info.CallerNumber != "*1'$(id)!" || !slices.Equal(info.Args, want) || info.Dialed != "309" || c.ID() == "" || !strings.Contains(info.ID, ".") {
			t.Errorf("info %+v id %s", info, c.ID())
		}
		// The rest of the transcript: two GET VARIABLEs and HANGUP.
		for _, v := range []string{"CALLERID(num)", "CALLERID(name)"} {
			if _, err := c.(*call).run(ctx, "get", getVar(v)); err != nil {
				t.Error(err)
			}
		}
		if err := c.Hangup(ctx, adapter.CauseNormal); err != nil || c.Cause() != adapter.CauseNormal {
			t.Errorf("Hangup: %v, cause %v", err, c.Cause())
		}
	})
}

type getVar string

func (g getVar) Line() string { return `GET VARIABLE "` + string(g) + "\"\n" }

// idCall is a call that only has an identity (Claim reads nothing else).
type idCall struct {
	adapter.Call
	id   string
	args []string
}

func (c idCall) ID() string             { return c.id }
func (c idCall) Info() adapter.CallInfo { return adapter.CallInfo{ID: c.id, Args: c.args} }

func TestClaimToken(t *testing.T) {
	srv, err := New(Config{App: "callflow", ARI: unusedARI{t}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	done := make(chan struct{})
	tok, ho, err := srv.expect("chan-1", done)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		call idCall
	}{
		{"unknown token", idCall{id: "chan-1", args: []string{HandoverMarker, "feedface"}}},
		{"other channel", idCall{id: "chan-2", args: []string{HandoverMarker, tok}}},
		{"no token", idCall{id: "chan-1", args: []string{HandoverMarker}}},
		{"extra args", idCall{id: "chan-1", args: []string{HandoverMarker, tok, "x"}}},
	}
	for _, tc := range cases {
		if err := srv.Claim(ctx, tc.call); err == nil {
			t.Errorf("%s: claimed", tc.name)
		}
	}
	claimed := make(chan error, 1)
	go func() { claimed <- srv.Claim(ctx, idCall{id: "chan-1", args: []string{HandoverMarker, tok}}) }()
	if a := <-ho.arrived; a.ID() != "chan-1" {
		t.Fatalf("delivered %s", a.ID())
	}
	select {
	case err := <-claimed:
		t.Fatalf("Claim returned before the run ended: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(done)
	if err := <-claimed; err != nil {
		t.Fatal(err)
	}
	if err := srv.Claim(ctx, idCall{id: "chan-1", args: []string{HandoverMarker, tok}}); err == nil {
		t.Error("token used twice")
	}
	if srv.Pending() != 0 {
		t.Errorf("%d hand-overs pending", srv.Pending())
	}
}

// An EXEC Stasis for an application no ARI client holds returns at once:
// the move fails, the call stays on AGI and no token is left behind.
func TestMoveWithoutStasisApp(t *testing.T) {
	srv, err := New(Config{App: "nosuchapp", ARI: unusedARI{t}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := agitest.Load("stasis-no-app")
	if err != nil {
		t.Fatal(err)
	}
	tr = tr.Replace("0123456789abcdef", agitest.Any)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan struct{})
	// Ends when ctx ends.
	go srv.Serve(ctx, l, func(ctx context.Context, c adapter.Call) {
		defer close(done)
		if err := c.Answer(ctx); err != nil {
			t.Error(err)
		}
		err := c.(adapter.Mover).Move(ctx)
		if err == nil || errors.Is(err, adapter.ErrHangup) || !strings.Contains(err.Error(), "nosuchapp") {
			t.Errorf("Move = %v, want a failure naming the application", err)
		}
		if c.Cause() != adapter.CauseUnknown || srv.Pending() != 0 {
			t.Errorf("cause %v, %d tokens pending", c.Cause(), srv.Pending())
		}
	})
	if err := agitest.Play(ctx, l.Addr().String(), tr); err != nil {
		t.Fatal(err)
	}
	<-done
}
