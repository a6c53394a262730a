package freeswitch

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/callflow/callflow/adapter"
	"github.com/callflow/callflow/esl/esltest"
)

// TestBridges: a caller waits in a holding bridge with music, then is
// joined to an originated agent in a mixing bridge.
func TestBridges(t *testing.T) {
	type res struct {
		agent string
		errs  []error
	}
	got := make(chan res, 1)
	bridged := make(chan struct{})
	release := make(chan struct{})
	var e *env
	e = start(t, func(ctx context.Context, c adapter.Call) {
		var r res
		defer func() { got <- r }()
		ok := func(err error) bool { r.errs = append(r.errs, err); return err == nil }
		if !ok(c.Answer(ctx)) {
			return
		}
		hold, err := e.sw.NewBridge(ctx, adapter.BridgeOptions{Kind: adapter.Holding, Name: "sales", MusicClass: "default"})
		if !ok(err) || !ok(hold.Add(ctx, c)) || !ok(hold.Add(ctx, c)) {
			return
		}
		agent, err := e.sw.Originate(ctx, adapter.OriginateRequest{Endpoint: "user/agent1", CallerID: "+420111222333", Tag: "agent"})
		if !ok(err) {
			return
		}
		r.agent = agent.ID()
		mix, err := e.sw.NewBridge(ctx, adapter.BridgeOptions{Kind: adapter.Mixing, Name: "sales"})
		if !ok(err) || !ok(mix.Add(ctx, c)) || !ok(mix.Add(ctx, agent)) {
			return
		}
		ok(hold.Remove(ctx, c)) // not in it any more: a no-op
		close(bridged)
		<-release
		ok(agent.Hangup(ctx, adapter.CauseNormal))
		ok(mix.Destroy(ctx))
		ok(hold.Destroy(ctx))
	})
	e.srv.Script("user/agent1", esltest.Fate{Outcome: esltest.Answer})
	oc := e.dial(t, esltest.Caller{Number: "+420111222333"})
	await(t, e, bridged)
	ch, _ := e.srv.Channel(oc.UUID)
	close(release)
	r := await(t, e, got)
	for i, err := range r.errs {
		if err != nil {
			t.Errorf("step %d: %v", i, err)
		}
	}
	if ch.Peer != r.agent || r.agent == "" {
		t.Errorf("caller bridged to %q, want the agent %q", ch.Peer, r.agent)
	}
	caller := oc.UUID
	want := []string{
		"api uuid_broadcast " + caller + " local_stream://moh aleg",
		"api uuid_break " + caller + " all",
		"api uuid_setvar " + caller + " hangup_after_bridge false",
		"api uuid_setvar " + caller + " park_after_bridge true",
		"api uuid_setvar " + r.agent + " hangup_after_bridge false",
		"api uuid_setvar " + r.agent + " park_after_bridge true",
		"api uuid_bridge " + caller + " " + r.agent,
	}
	var got2 []string
	for _, s := range e.sent() {
		for _, w := range want {
			if s == w {
				got2 = append(got2, s)
			}
		}
	}
	equalLines(t, got2, want)
}

// TestMusicClass: a class other than default plays local_stream://CLASS;
// one that could split the command is refused.
func TestMusicClass(t *testing.T) {
	e := start(t, nil)
	cases := []struct {
		name, class string
		music       string // "" when refused
	}{
		{"default", "", "local_stream://moh"},
		{"named", "jazz", "local_stream://jazz"},
		{"space", "moh aleg", ""},
		{"newline", "moh\napi shutdown", ""},
		{"quote", "moh'", ""},
		{"comma", "moh,jazz", ""},
		{"braces", "{x=y}moh", ""},
		{"ampersand", "moh&x", ""},
		{"carets", "^^;moh", ""},
		{"broadcast app syntax", "moh::hangup", ""},
		{"failover bar", "moh|x", ""},
		{"with rate", "moh/8000", "local_stream://moh/8000"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := e.sw.NewBridge(e.ctx, adapter.BridgeOptions{Kind: adapter.Holding, MusicClass: tc.class})
			if tc.music == "" {
				if err == nil {
					t.Errorf("class %q accepted", tc.class)
				}
				return
			}
			if err != nil || b.(*bridge).music != tc.music {
				t.Errorf("bridge %v, %v; want music %q", b, err, tc.music)
			}
		})
	}
}

// TestRemoveBridgedPair: Remove on a bridged pair parks the removed call
// (uuid_park); its peer is parked by park_after_bridge, nobody hangs up,
// both calls go on (play), a second Remove is a no-op, and the pair can
// be bridged again; when the agent then hangs up the caller stays.
func TestRemoveBridgedPair(t *testing.T) {
	type step struct {
		name string
		err  error
	}
	got := make(chan []step, 1)
	removed, rebridged := make(chan struct{}), make(chan struct{})
	// checked: the test has looked at the parked legs; the handler waits
	// for it before playing, which changes the caller's state.
	checked := make(chan struct{})
	var e *env
	var agentID string
	e = start(t, func(ctx context.Context, c adapter.Call) {
		var steps []step
		defer func() { got <- steps }()
		do := func(name string, err error) bool {
			steps = append(steps, step{name, err})
			return err == nil
		}
		if !do("answer", c.Answer(ctx)) {
			return
		}
		agent, err := e.sw.Originate(ctx, adapter.OriginateRequest{Endpoint: "user/agent1", CallerID: "+420111222333", Tag: "agent"})
		if !do("originate", err) {
			return
		}
		agentID = agent.ID()
		mix, err := e.sw.NewBridge(ctx, adapter.BridgeOptions{Kind: adapter.Mixing, Name: "talk"})
		if !do("new bridge", err) || !do("add agent", mix.Add(ctx, agent)) || !do("add caller", mix.Add(ctx, c)) {
			return
		}
		if !do("remove caller", mix.Remove(ctx, c)) {
			return
		}
		close(removed)
		select {
		case <-checked:
		case <-ctx.Done():
			return
		}
		_, err = c.Play(ctx, []adapter.Prompt{"sound:hello"}, adapter.PlayOptions{})
		do("caller plays", err)
		_, err = agent.Play(ctx, []adapter.Prompt{"sound:hello"}, adapter.PlayOptions{})
		do("agent plays", err)
		do("remove caller again", mix.Remove(ctx, c))
		if !do("bridge again", mix.Add(ctx, c)) {
			return
		}
		close(rebridged)
		do("agent gone", agent.Wait(ctx, 0))
		do("caller still up", c.Wait(ctx, 20*time.Millisecond))
		_, err = c.Play(ctx, []adapter.Prompt{"sound:bye"}, adapter.PlayOptions{})
		do("caller plays after the agent left", err)
		do("destroy", mix.Destroy(ctx))
	})
	e.srv.Script("user/agent1", esltest.Fate{Outcome: esltest.Answer})
	oc := e.dial(t, esltest.Caller{Number: "+420111222333"})
	await(t, e, removed)
	// uuid_park answers +OK before the channel leaves its bridge (on the
	// real switch too), and Remove returns on that reply: the park follows.
	for _, uuid := range []string{oc.UUID, agentID} {
		var ch esltest.ChannelInfo
		deadline := time.Now().Add(2 * time.Second)
		for {
			ch, _ = e.srv.Channel(uuid)
			if !ch.HungUp && ch.Parked && ch.Peer == "" || time.Now().After(deadline) {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		if ch.HungUp || !ch.Parked || ch.Peer != "" {
			t.Errorf("after Remove %s: %+v, want up, parked, unbridged", uuid, ch)
		}
	}
	close(checked)
	await(t, e, rebridged)
	if ch, _ := e.srv.Channel(oc.UUID); ch.Peer != agentID {
		t.Errorf("bridged again to %q, want %q", ch.Peer, agentID)
	}
	e.srv.Hangup(agentID, "NORMAL_CLEARING")
	for _, s := range await(t, e, got) {
		wantErr := s.name == "agent gone"
		if (s.err != nil) != wantErr || wantErr && !errors.Is(s.err, adapter.ErrHangup) {
			t.Errorf("%s: %v", s.name, s.err)
		}
	}
	if n := strings.Count(strings.Join(e.sent(), "\n"), "api uuid_park "+oc.UUID); n != 1 {
		t.Errorf("uuid_park %s sent %d times, want once:\n%s", oc.UUID, n, strings.Join(e.sent(), "\n"))
	}
	if n := strings.Count(strings.Join(e.sent(), "\n"), "api uuid_bridge "); n != 2 {
		t.Errorf("uuid_bridge sent %d times, want 2", n)
	}
	await(t, e, oc.Done())
	if ch, _ := e.srv.Channel(oc.UUID); ch.Cause != "NORMAL_CLEARING" {
		t.Errorf("caller ended with %q, want NORMAL_CLEARING by the handler's end", ch.Cause)
	}
}
