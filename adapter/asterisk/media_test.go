package asterisk

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/callflow/callflow/adapter"
	"github.com/callflow/callflow/ari"
	"github.com/callflow/callflow/internal/sipptest"
)

// TestPlayMissingSound: a prompt that is well formed but that Asterisk
// cannot play (no such sound file) fails with ari.ErrPlaybackFailed — a
// media failure, not a hang-up: the leg stays up and plays the next prompt.
// The callback dispatcher counts such a failure to the agent as a failed
// attempt and skips the agent; a hang-up would requeue the callback.
func TestPlayMissingSound(t *testing.T) {
	a, sw := env(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	u, err := sipptest.StartUAS(ctx, sipptest.UASOptions{Port: a.AgentPorts[0], Mode: sipptest.Answer, Calls: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Stop()
	c, err := sw.Originate(ctx, adapter.OriginateRequest{Endpoint: "PJSIP/agent1", CallerID: "+420222333444", Tag: "agent"})
	if err != nil {
		t.Fatalf("originate: %v", err)
	}
	defer func() { _ = c.Hangup(context.WithoutCancel(ctx), adapter.CauseNormal) }()
	for _, ps := range [][]adapter.Prompt{
		{"sound:callflow-no-such-sound"},
		{"tone:beep", "sound:callflow-no-such-sound"},
	} {
		t0 := time.Now()
		_, err = c.Play(ctx, ps, adapter.PlayOptions{})
		t.Logf("play %v: %v after %v", ps, err, time.Since(t0).Round(time.Millisecond))
		if !errors.Is(err, ari.ErrPlaybackFailed) {
			t.Fatalf("play %v: %v, want ari.ErrPlaybackFailed", ps, err)
		}
		if errors.Is(err, adapter.ErrHangup) || errors.Is(err, adapter.ErrClosed) {
			t.Fatalf("play %v: %v is classified as a hang-up or a lost switch", ps, err)
		}
		if cause := c.Cause(); cause != adapter.CauseUnknown {
			t.Fatalf("leg ended (%v) after a failed playback", cause)
		}
	}
	if _, err := c.Play(ctx, []adapter.Prompt{"tone:beep"}, adapter.PlayOptions{}); err != nil {
		t.Fatalf("play after the failed playback: %v", err)
	}
}
