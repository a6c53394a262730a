package freeswitch

import (
	"context"
	"testing"

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
