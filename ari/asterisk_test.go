package ari

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/callflow/callflow/internal/asterisktest"
	"go.uber.org/zap/zaptest"
)

// TestRealAsterisk runs the client against Asterisk 22 in the test chroot
// (skipped where it cannot run, failing under CI).
func TestRealAsterisk(t *testing.T) {
	if testing.Short() {
		t.Skip("real Asterisk: skipped with -short")
	}
	a := asterisktest.Require(t)
	c, err := New(Config{BaseURL: a.ARIURL, User: a.User, Pass: a.Pass, App: a.App, RequestTimeout: 5 * time.Second}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	all := c.Subscribe(AllKey)
	defer all.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- c.Run(runCtx) }()
	defer func() {
		stop()
		<-done
	}()
	if r, ok := next(t, all).(*Resynced); !ok || r.Reconnect {
		t.Fatalf("first event %#v", r)
	}

	t.Run("info", func(t *testing.T) {
		info, err := c.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.System == nil || info.System.Version == "" {
			t.Fatalf("info %+v", info)
		}
		t.Logf("asterisk %s", info.System.Version)
	})

	t.Run("event filter", func(t *testing.T) {
		want := []string{"StasisStart", "StasisEnd", "ChannelDestroyed"}
		app, err := c.SetEventFilter(ctx, want)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.GetApplication(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var types []string
		for _, f := range got.EventsAllowed {
			types = append(types, f.Type)
		}
		if len(types) != len(want) || app.Name != a.App {
			t.Fatalf("allowed after PUT %v (answer %+v), want %v", types, app, want)
		}
		// An empty list clears the filter.
		if _, err := c.SetEventFilter(ctx, nil); err != nil {
			t.Fatal(err)
		}
		got, err = c.GetApplication(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(got.EventsAllowed) != 0 {
			t.Fatalf("filter not cleared: %+v", got.EventsAllowed)
		}
	})

	t.Run("holding bridge lifecycle", func(t *testing.T) {
		id := NewID("br-test-")
		b, err := c.CreateBridge(ctx, id, BridgeHolding, "queue support")
		if err != nil {
			t.Fatal(err)
		}
		if b.ID != id || b.BridgeType != BridgeHolding || b.Name != "queue support" {
			t.Errorf("created %+v", b)
		}
		if err := c.StartBridgeMOH(ctx, id, "default"); err != nil {
			t.Errorf("moh: %v", err)
		}
		bs, err := c.ListBridges(ctx)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, x := range bs {
			found = found || x.ID == id
		}
		if !found {
			t.Errorf("bridge %s not listed in %+v", id, bs)
		}
		if err := c.DestroyBridge(ctx, id); err != nil {
			t.Fatal(err)
		}
		// DELETE answers before Asterisk drops the bridge's snapshot;
		// a GET right after it can still find the bridge.
		for deadline := time.Now().Add(2 * time.Second); ; {
			_, err := c.GetBridge(ctx, id)
			if errors.Is(err, ErrNotFound) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("get destroyed bridge: %v, want ErrNotFound within 2s", err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})

	t.Run("list channels", func(t *testing.T) {
		if _, err := c.ListChannels(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := c.GetChannel(ctx, "no-such-channel"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("get: %v, want ErrNotFound", err)
		}
	})

	t.Run("originate non-existing endpoint fails", func(t *testing.T) {
		// Measured on Asterisk 22.10: 500 {"error":"Allocation failed"}.
		_, _, err := c.OriginateAndWait(ctx, OriginateRequest{Endpoint: "PJSIP/no-such-endpoint", Timeout: 3 * time.Second})
		var ae *Error
		if !errors.As(err, &ae) || !errors.Is(err, ErrServer) || ae.Message != "Allocation failed" {
			t.Fatalf("err = %v, want 500 Allocation failed", err)
		}
	})

	t.Run("originate unanswered agent times out", func(t *testing.T) {
		_, _, err := c.OriginateAndWait(ctx, OriginateRequest{Endpoint: "PJSIP/agent1", CallerID: "+420111222333", Timeout: 2 * time.Second})
		var oe *OriginateError
		if !errors.As(err, &oe) || !errors.Is(err, ErrOriginateFailed) || oe.Cause != 19 {
			t.Fatalf("err = %v, want OriginateError with cause 19", err)
		}
	})

	t.Run("originate answered then play record download", func(t *testing.T) {
		st, sub, err := c.OriginateAndWait(ctx, OriginateRequest{Endpoint: "Local/s@control-in", CallerID: "+420111222333", AppArgs: "test", Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		id := st.Channel.ID
		defer func() { _ = c.Hangup(context.WithoutCancel(ctx), id, "normal") }()
		if len(st.Args) != 1 || st.Args[0] != "test" {
			t.Errorf("args %v", st.Args)
		}
		hostile := "a&b=c #d\nJiří ☎"
		if err := c.SetVar(ctx, id, "CF_TEST", hostile); err != nil {
			t.Fatal(err)
		}
		if v, err := c.GetVar(ctx, id, "CF_TEST"); err != nil || v != hostile {
			t.Errorf("GetVar = %q, %v; want %q", v, err, hostile)
		}
		res, err := c.PlayAndWait(ctx, id, []string{"sound:beep"}, PlayOptions{})
		if err != nil || res.Playback.State != PlaybackStateDone {
			t.Fatalf("play: %+v, %v", res, err)
		}
		name := NewID("rec-test-")
		rec, err := c.RecordAndWait(ctx, id, RecordRequest{Name: name, MaxDurationSeconds: 1, IfExists: "overwrite"})
		if err != nil {
			t.Fatalf("record: %v", err)
		}
		if rec.State != "done" {
			t.Errorf("recording %+v", rec)
		}
		var buf bytes.Buffer
		if n, err := c.DownloadRecording(ctx, name, &buf); err != nil || n < 44 || !bytes.HasPrefix(buf.Bytes(), []byte("RIFF")) {
			t.Errorf("download: %d bytes, %v", n, err)
		}
		if err := c.DeleteStoredRecording(ctx, name); err != nil {
			t.Error(err)
		}
		if err := c.Hangup(ctx, id, "normal"); err != nil {
			t.Fatal(err)
		}
		for {
			ev := next(t, sub)
			if d, ok := ev.(*ChannelDestroyed); ok {
				t.Logf("destroyed: cause %d %s", d.Cause, d.CauseText)
				break
			}
		}
	})
	if st := c.Stats(); st.Malformed != 0 || st.Invalid != 0 {
		t.Errorf("stats %+v", st)
	}
}
