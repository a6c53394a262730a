package asterisk

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/callflow/callflow/adapter"
	"github.com/callflow/callflow/ari"
	"github.com/callflow/callflow/internal/sipptest"
)

func TestOriginateAgent(t *testing.T) {
	a, sw := env(t)
	tests := []struct {
		name    string
		uas     *sipptest.UASOptions // nil: no UAS
		req     adapter.OriginateRequest
		wantErr error // nil: answered
		max     time.Duration
	}{
		{
			name: "answer",
			uas:  &sipptest.UASOptions{Port: a.AgentPorts[0], Mode: sipptest.Answer, RingFor: 500 * time.Millisecond, Calls: 1},
			req:  adapter.OriginateRequest{Endpoint: "PJSIP/agent1", CallerID: "+420222333444", Tag: "agent"},
			max:  8 * time.Second,
		},
		{
			name:    "busy",
			uas:     &sipptest.UASOptions{Port: a.AgentPorts[1], Mode: sipptest.Busy, Calls: 1},
			req:     adapter.OriginateRequest{Endpoint: "PJSIP/agent2", CallerID: "+420222333444", Tag: "agent"},
			wantErr: adapter.ErrBusy, max: 8 * time.Second,
		},
		{
			name:    "no answer",
			uas:     &sipptest.UASOptions{Port: a.AgentPorts[2], Mode: sipptest.NoAnswer, Calls: 1},
			req:     adapter.OriginateRequest{Endpoint: "PJSIP/agent3", CallerID: "+420222333444", Timeout: 2 * time.Second, Tag: "agent"},
			wantErr: adapter.ErrNoAnswer, max: 8 * time.Second,
		},
		{
			name:    "unknown endpoint",
			req:     adapter.OriginateRequest{Endpoint: "PJSIP/nosuchendpoint", CallerID: "+420222333444"},
			wantErr: adapter.ErrFailed, max: 8 * time.Second,
		},
		{
			name:    "hostile endpoint is refused before any request",
			req:     adapter.OriginateRequest{Endpoint: "PJSIP/agent1&PJSIP/agent2", CallerID: "+420222333444"},
			wantErr: adapter.ErrFailed, max: time.Second,
		},
		{
			name:    "hostile caller number is refused",
			req:     adapter.OriginateRequest{Endpoint: "PJSIP/agent1", CallerID: "+420 222\"<sip:x>"},
			wantErr: adapter.ErrFailed, max: time.Second,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if tc.uas != nil {
				u, err := sipptest.StartUAS(ctx, *tc.uas)
				if err != nil {
					t.Fatal(err)
				}
				defer u.Stop()
			}
			t0 := time.Now()
			c, err := sw.Originate(ctx, tc.req)
			elapsed := time.Since(t0)
			if elapsed > tc.max {
				t.Errorf("originate took %v, want at most %v", elapsed, tc.max)
			}
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("originate: %v, want %v", err, tc.wantErr)
				}
				t.Logf("originate: %v", err)
				return
			}
			if err != nil {
				t.Fatalf("originate: %v", err)
			}
			info := c.Info()
			if info.Direction != adapter.Outbound || info.Endpoint != tc.req.Endpoint || info.CallerNumber != tc.req.CallerID ||
				!slices.Equal(info.Args, []string{OriginateMarker}) {
				t.Errorf("info %+v", info)
			}
			if err := c.Answer(ctx); err != nil {
				t.Errorf("answer an answered outbound call: %v", err)
			}
			if _, err := c.Play(ctx, []adapter.Prompt{"tone:beep"}, adapter.PlayOptions{}); err != nil {
				t.Errorf("play to the agent: %v", err)
			}
			if err := c.Hangup(ctx, adapter.CauseNormal); err != nil {
				t.Fatal(err)
			}
			if c.Cause() != adapter.CauseNormal {
				t.Errorf("cause %v after our hang-up", c.Cause())
			}
		})
	}
}

func TestOriginateCancelWhileRinging(t *testing.T) {
	a, sw := env(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	u, err := sipptest.StartUAS(ctx, sipptest.UASOptions{Port: a.AgentPorts[3], Mode: sipptest.NoAnswer, Calls: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Stop()
	octx, ocancel := context.WithCancel(ctx)
	time.AfterFunc(1500*time.Millisecond, ocancel)
	t0 := time.Now()
	_, err = sw.Originate(octx, adapter.OriginateRequest{Endpoint: "PJSIP/agent4", CallerID: "100", Timeout: 20 * time.Second})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("originate: %v, want context.Canceled", err)
	}
	if d := time.Since(t0); d > 4*time.Second {
		t.Errorf("cancelled originate returned after %v", d)
	}
	// The ringing channel was hung up: Asterisk has no channel left.
	deadline := time.Now().Add(5 * time.Second)
	for {
		chs, err := sw.client.ListChannels(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(chs) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("channels left after cancelled originate: %+v", chs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestOriginateCustomerANI(t *testing.T) {
	a, sw := env(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	u, err := sipptest.StartUAS(ctx, sipptest.UASOptions{Port: a.CustomerPort, Mode: sipptest.Answer, Calls: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Stop()
	names := []string{"", "Ev\"il <sip:x@y>\r\nX-Inject: 1 & #1 čeština \\"}
	for _, name := range names {
		c, err := sw.Originate(ctx, adapter.OriginateRequest{
			Endpoint: "PJSIP/+420601111222@customer", CallerID: "+420222333444", CallerName: name, Tag: "customer",
		})
		if err != nil {
			t.Fatalf("originate (name %q): %v", name, err)
		}
		if got := c.Info().Dialed; got != "+420601111222" {
			t.Errorf("dialed %q", got)
		}
		if err := c.Hangup(ctx, adapter.CauseNormal); err != nil {
			t.Fatal(err)
		}
	}
	calls, err := u.WaitCalls(ctx, len(names))
	if err != nil {
		t.Fatal(err)
	}
	for i, call := range calls {
		if call.From != "+420222333444" || call.To != "+420601111222" {
			t.Errorf("call %d: UAS saw From %q To %q, want +420222333444 -> +420601111222", i, call.From, call.To)
		}
	}
	for _, line := range strings.Split(u.Messages(), "\n") {
		if strings.HasPrefix(line, "X-Inject") {
			t.Errorf("caller name injected a header: %q", line)
		}
		if strings.HasPrefix(line, "From:") && strings.Contains(line, "Evil") {
			t.Logf("hostile name arrived as %q", strings.TrimSpace(line))
		}
	}
}

func TestBridges(t *testing.T) {
	a, sw := env(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	u, err := sipptest.StartUAS(ctx, sipptest.UASOptions{Port: a.AgentPorts[0], Mode: sipptest.Answer, Calls: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Stop()

	logf = t.Logf
	got := make(chan result, 1)
	handle(t, "1008", func(ctx context.Context, c adapter.Call) {
		got <- result{err: bridgeScenario(ctx, sw, c)}
	})
	out := dial(t, a, sipptest.Caller{Extension: "1008", Events: []sipptest.Step{sipptest.Audio(6 * time.Second), sipptest.ExpectBye()}})
	r := await(t, got, 40*time.Second)
	finished(t, out)
	if r.err != nil {
		t.Fatal(r.err)
	}
}

var logf = func(string, ...any) {}

// bridgeScenario holds the caller with music, then talks it to an agent.
func bridgeScenario(ctx context.Context, sw *Switch, caller adapter.Call) error {
	if err := caller.Answer(ctx); err != nil {
		return err
	}
	hold, err := sw.NewBridge(ctx, adapter.BridgeOptions{Kind: adapter.Holding, Name: "queue support & sales #1", MusicClass: "default"})
	if err != nil {
		return err
	}
	defer hold.Destroy(context.WithoutCancel(ctx))
	if err := hold.Add(ctx, caller); err != nil {
		return err
	}
	if err := expectMembers(ctx, sw, hold.ID(), "holding", caller.ID()); err != nil {
		return err
	}
	// Bridge music on hold is played by an announcer channel in the bridge.
	out, err := shared.ast.CLI(ctx, "core show channels verbose")
	if err != nil {
		return err
	}
	out2, _ := shared.ast.CLI(ctx, "bridge show "+hold.ID())
	if !strings.Contains(out, "Announcer/ARI_MOH") || !strings.Contains(out2, "holding_bridge") {
		return fmt.Errorf("no music on hold on the channels:\n%s\n%s", out, out2)
	}
	logf("%s%s", out, out2)
	// A prompt to the held caller alone still works.
	if _, err := caller.Play(ctx, []adapter.Prompt{"tone:beep"}, adapter.PlayOptions{}); err != nil {
		return err
	}
	if err := caller.Wait(ctx, time.Second); err != nil {
		return err
	}
	agent, err := sw.Originate(ctx, adapter.OriginateRequest{Endpoint: "PJSIP/agent1", CallerID: caller.Info().CallerNumber, Tag: "agent"})
	if err != nil {
		return err
	}
	defer agent.Hangup(context.WithoutCancel(ctx), adapter.CauseNormal)
	talk, err := sw.NewBridge(ctx, adapter.BridgeOptions{Kind: adapter.Mixing, Name: "conversation"})
	if err != nil {
		return err
	}
	defer talk.Destroy(context.WithoutCancel(ctx))
	// Straight from the holding bridge into the conversation.
	if err := talk.Add(ctx, caller); err != nil {
		return err
	}
	if err := talk.Add(ctx, agent); err != nil {
		return err
	}
	if err := expectMembers(ctx, sw, talk.ID(), "mixing", caller.ID(), agent.ID()); err != nil {
		return err
	}
	if err := expectMembers(ctx, sw, hold.ID(), "holding"); err != nil {
		return err
	}
	if err := caller.Wait(ctx, time.Second); err != nil {
		return err
	}
	if err := talk.Remove(ctx, agent); err != nil {
		return err
	}
	if err := talk.Remove(ctx, agent); err != nil {
		return errors.Join(errors.New("second remove is not a no-op"), err)
	}
	if err := agent.Hangup(ctx, adapter.CauseNormal); err != nil {
		return err
	}
	if err := talk.Remove(ctx, agent); err != nil {
		return errors.Join(errors.New("remove of a gone call is not a no-op"), err)
	}
	if err := talk.Add(ctx, agent); !errors.Is(err, adapter.ErrHangup) {
		return errors.Join(errors.New("add of a gone call did not fail with ErrHangup"), err)
	}
	if err := talk.Destroy(ctx); err != nil {
		return err
	}
	if err := talk.Destroy(ctx); err != nil {
		return errors.Join(errors.New("second destroy is not a no-op"), err)
	}
	if err := talk.Add(ctx, caller); !errors.Is(err, adapter.ErrNotFound) {
		return errors.Join(errors.New("add to a destroyed bridge did not fail with ErrNotFound"), err)
	}
	// The caller is still up.
	return caller.Wait(ctx, 200*time.Millisecond)
}

// expectMembers waits until the bridge holds exactly the channels ids.
func expectMembers(ctx context.Context, sw *Switch, bridgeID, typ string, ids ...string) error {
	deadline := time.Now().Add(3 * time.Second)
	for {
		b, err := sw.client.GetBridge(ctx, bridgeID)
		if err != nil {
			return err
		}
		got := slices.Clone(b.Channels)
		slices.Sort(got)
		want := slices.Clone(ids)
		slices.Sort(want)
		if b.BridgeType == typ && slices.Equal(got, want) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("bridge %s (%s) holds %v, want %s %v", bridgeID, b.BridgeType, got, typ, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestStaleBridgeSwept: an empty bridge of ours that this process does not
// own (left by a killed process) is destroyed when its last channel leaves;
// an owned one stays.
func TestStaleBridgeSwept(t *testing.T) {
	a, sw := env(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	u, err := sipptest.StartUAS(ctx, sipptest.UASOptions{Port: a.AgentPorts[0], Mode: sipptest.Answer, Calls: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Stop()
	agent, err := sw.Originate(ctx, adapter.OriginateRequest{Endpoint: "PJSIP/agent1", CallerID: "+420222333444", Tag: "agent"})
	if err != nil {
		t.Fatal(err)
	}
	defer agent.Hangup(context.WithoutCancel(ctx), adapter.CauseNormal)

	stale := ari.NewID(bridgeIDPrefix)
	if _, err := sw.client.CreateBridge(ctx, stale, ari.BridgeMixing, "left by a dead process"); err != nil {
		t.Fatal(err)
	}
	owned, err := sw.NewBridge(ctx, adapter.BridgeOptions{Kind: adapter.Mixing, Name: "ours"})
	if err != nil {
		t.Fatal(err)
	}
	defer owned.Destroy(context.WithoutCancel(ctx))
	for _, id := range []string{stale, owned.ID()} {
		if err := sw.client.AddChannel(ctx, id, agent.ID()); err != nil {
			t.Fatal(err)
		}
		if err := expectMembers(ctx, sw, id, "mixing", agent.ID()); err != nil {
			t.Fatal(err)
		}
		if err := sw.client.RemoveChannel(ctx, id, agent.ID()); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := sw.client.GetBridge(ctx, stale)
		if errors.Is(err, ari.ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stale empty bridge %s still there: %v", stale, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := sw.client.GetBridge(ctx, owned.ID()); err != nil {
		t.Fatalf("owned empty bridge was swept: %v", err)
	}
}
