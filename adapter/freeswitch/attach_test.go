package freeswitch

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/callflow/callflow/adapter"
	"github.com/callflow/callflow/esl"
	"github.com/callflow/callflow/esl/esltest"
)

const (
	// longID is a legal call id too long for a FreeSWITCH Unique-ID;
	// longUUID is its UUIDv5 in idNamespace, computed independently
	// (Python: uuid.uuid5(uuid.UUID("3c1f6a52-…-6e5d4c3b2a19"), longID)).
	longID   = "cb9223372036854775807-12-customer-deadbeef-9223372036854775807"
	longUUID = "6dd1ec4d-09e5-5ff2-a546-25d5b364b007"
)

func TestUUIDV5(t *testing.T) {
	// RFC 9562 appendix A.4: the DNS namespace and "www.example.com".
	dns := [16]byte{0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}
	if got := uuidV5(dns, "www.example.com"); got != "2ed6657d-e927-568b-95e1-2665a8aea6a2" {
		t.Errorf("uuidV5 = %s", got)
	}
}

func TestChannelUUID(t *testing.T) {
	cases := []struct{ name, id, want string }{
		{"engine id kept", "cb12-1-agent-1a2b3c4d-3", "cb12-1-agent-1a2b3c4d-3"},
		{"uuid kept", "0b4e7f2c-3a1d-4c5e-9f60-7a8b9c0d1e2f", "0b4e7f2c-3a1d-4c5e-9f60-7a8b9c0d1e2f"},
		{"36 characters kept", strings.Repeat("a", 36), strings.Repeat("a", 36)},
		{"too long for FreeSWITCH", longID, longUUID},
		{"leading dash is a filter modifier", "-leading-dash", "8563664c-d3b4-5317-9059-c034a95fae6f"},
		{"leading dot", ".x", uuidV5(idNamespace, ".x")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := channelUUID(tc.id); got != tc.want {
				t.Errorf("channelUUID(%q) = %s, want %s", tc.id, got, tc.want)
			}
		})
	}
	if channelUUID(strings.Repeat("a", 37)) == channelUUID(strings.Repeat("a", 38)) {
		t.Error("distinct long ids share a uuid")
	}
}

// TestOriginateWithID: req.ID becomes the call's ID, and origination_uuid
// is the id itself or its UUIDv5; every command uses that uuid.
func TestOriginateWithID(t *testing.T) {
	const ep = "user/agent1"
	cases := []struct {
		name, id, uuid string
		want           error
	}{
		{"engine id", "cb12-1-agent-1a2b3c4d-3", "cb12-1-agent-1a2b3c4d-3", nil},
		{"long id mapped", longID, longUUID, nil},
		{"space refused", "cb1 x", "", adapter.ErrFailed},
		{"comma refused", "cb1,x=y", "", adapter.ErrFailed},
		{"65 characters refused", strings.Repeat("a", 65), "", adapter.ErrFailed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := start(t, nil)
			e.srv.Script(ep, esltest.Fate{Outcome: esltest.Answer})
			c, err := e.sw.Originate(e.ctx, adapter.OriginateRequest{ID: tc.id, Endpoint: ep, CallerID: "+420111222333", Timeout: 5 * time.Second, Tag: "agent"})
			if tc.want != nil {
				if !errors.Is(err, tc.want) {
					t.Fatalf("originate: %v, want %v", err, tc.want)
				}
				for _, s := range e.sent() {
					if strings.HasPrefix(s, "bgapi") || strings.HasPrefix(s, "filter Unique-ID "+tc.id) {
						t.Errorf("sent %q for a refused id", s)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("originate: %v", err)
			}
			if c.ID() != tc.id || c.Info().ID != tc.id {
				t.Errorf("ID %q, info %+v; want %q", c.ID(), c.Info(), tc.id)
			}
			if ch, ok := e.srv.Channel(tc.uuid); !ok || !ch.Answered {
				t.Errorf("channel %s: %+v %v", tc.uuid, ch, ok)
			}
			if _, err := c.Play(e.ctx, []adapter.Prompt{"sound:whisper"}, adapter.PlayOptions{}); err != nil {
				t.Errorf("play: %v", err)
			}
			// A second originate with the same id while the call lives is refused.
			if _, err := e.sw.Originate(e.ctx, adapter.OriginateRequest{ID: tc.id, Endpoint: ep}); !errors.Is(err, adapter.ErrFailed) {
				t.Errorf("duplicate id: %v, want ErrFailed", err)
			}
			if err := c.Hangup(e.ctx, adapter.CauseNormal); err != nil {
				t.Errorf("hangup: %v", err)
			}
			e.waitSent(t, "^filter delete Unique-ID "+tc.uuid+"$")
			job := ""
			for _, c := range e.srv.Received() {
				if strings.HasPrefix(c.Line, "bgapi originate ") {
					job = c.Headers.Get("Job-UUID")
				}
			}
			equalLines(t, e.after(t, `^filter Unique-ID callflow-idle`), []string{
				"filter Unique-ID " + tc.uuid,
				"filter Job-UUID " + job,
				"bgapi originate {origination_uuid=" + tc.uuid + ",origination_caller_id_number=+420111222333," +
					"originate_timeout=6,ignore_early_media=true,hangup_after_bridge=false,park_after_bridge=true}" +
					ep + " &park()|Job-UUID: ID",
				"filter delete Job-UUID " + job,
				"api uuid_setvar " + tc.uuid + " playback_terminators none",
				"sendmsg " + tc.uuid + "|call-command: execute|execute-app-name: playback|execute-app-arg: whisper.wav|event-lock: true|Event-UUID: ID",
				"api uuid_kill " + tc.uuid + " NORMAL_CLEARING",
				"filter delete Unique-ID " + tc.uuid,
			})
		})
	}
}

// crashedOriginate places a leg the way a process that then died would:
// on its own inbound connection, which is closed afterwards. ring leaves
// the leg ringing (bgapi, never answered); else it is answered and parked.
func crashedOriginate(t *testing.T, e *env, uuid, endpoint string, ring bool) {
	t.Helper()
	conn, err := esl.Dial(e.ctx, e.srv.Addr(), "S3cret-pw", esl.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	args, err := esl.Originate{Vars: []esl.Var{{Name: "origination_uuid", Value: uuid},
		{Name: "origination_caller_id_number", Value: "+420111222333"}, {Name: "originate_timeout", Value: "3000"}},
		Endpoint: endpoint, App: "park"}.Args()
	if err != nil {
		t.Fatal(err)
	}
	if !ring {
		if out, err := conn.API(e.ctx, esl.API{Cmd: "originate", Args: args}); err != nil || out != "+OK "+uuid+"\n" {
			t.Fatalf("originate: %q %v", out, err)
		}
		return
	}
	if _, err := conn.StartBgAPI(e.ctx, esl.BgAPI{Cmd: "originate", Args: args}); err != nil {
		t.Fatal(err)
	}
	for {
		if _, ok := e.srv.Channel(uuid); ok {
			return
		}
		select {
		case <-e.ctx.Done():
			t.Fatalf("channel %s never created", uuid)
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// sentSince returns the commands sent after the first n.
func (e *env) sentSince(n int) []string { return e.sent()[n:] }

func isAnswered(c adapter.Call) bool {
	fc := c.(*call)
	fc.mu.Lock()
	defer fc.mu.Unlock()
	return fc.answered
}

// TestAttachAnswered: a leg answered under a crashed process is attached
// (uuid_exists, filter, uuid_dump, in that order), plays through the
// inbound connection, and its far-end hang-up is seen.
func TestAttachAnswered(t *testing.T) {
	const ep = "sofia/gateway/trunk/+420222333444"
	cases := []struct{ name, id, uuid string }{
		{"engine id", "cb7-2-customer-0a1b2c3d-5", "cb7-2-customer-0a1b2c3d-5"},
		{"long id", longID, longUUID},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := start(t, nil)
			e.srv.Script(ep, esltest.Fate{Outcome: esltest.Answer})
			crashedOriginate(t, e, tc.uuid, ep, false)
			n := len(e.sent())
			ac, err := e.sw.Attach(e.ctx, tc.id)
			if err != nil {
				t.Fatalf("attach: %v", err)
			}
			want := adapter.CallInfo{ID: tc.id, Direction: adapter.Outbound, CallerNumber: "+420111222333", Dialed: ep, Endpoint: ep}
			if ac.ID() != tc.id || ac.Info().ID != want.ID || ac.Info().CallerNumber != want.CallerNumber || ac.Info().Endpoint != want.Endpoint || ac.Info().Direction != want.Direction {
				t.Errorf("call %s info %+v, want %+v", ac.ID(), ac.Info(), want)
			}
			if !isAnswered(ac) || ac.Cause() != adapter.CauseUnknown {
				t.Errorf("answered %v cause %v", isAnswered(ac), ac.Cause())
			}
			if again, err := e.sw.Attach(e.ctx, tc.id); err != nil || again != ac {
				t.Errorf("second attach: %v %v, want the same call", again, err)
			}
			if _, err := ac.Play(e.ctx, []adapter.Prompt{"sound:whisper"}, adapter.PlayOptions{}); err != nil {
				t.Errorf("play: %v", err)
			}
			e.srv.Hangup(tc.uuid, "NORMAL_CLEARING")
			if err := ac.Wait(e.ctx, 0); !errors.Is(err, adapter.ErrHangup) {
				t.Errorf("wait: %v, want ErrHangup", err)
			}
			if ac.Cause() != adapter.CauseNormal {
				t.Errorf("cause %v", ac.Cause())
			}
			e.waitSent(t, "^filter delete Unique-ID "+tc.uuid+"$")
			equalLines(t, e.sentSince(n), []string{
				"api uuid_exists " + tc.uuid,
				"filter Unique-ID " + tc.uuid,
				"api uuid_dump " + tc.uuid,
				"api uuid_setvar " + tc.uuid + " playback_terminators none",
				"sendmsg " + tc.uuid + "|call-command: execute|execute-app-name: playback|execute-app-arg: whisper.wav|event-lock: true|Event-UUID: ID",
				"filter delete Unique-ID " + tc.uuid,
			})
			if _, err := e.sw.Attach(e.ctx, tc.id); !errors.Is(err, adapter.ErrNotFound) {
				t.Errorf("attach after hang-up: %v, want ErrNotFound", err)
			}
		})
	}
}

// TestAttachRinging: a leg still ringing is attached unanswered; its later
// answer is seen; hanging it up makes the next Attach ErrNotFound (the
// queue engine's "hang up, confirm gone").
func TestAttachRinging(t *testing.T) {
	const id, ep = "cb8-1-agent-0a1b2c3d-1", "user/agent1"
	e := start(t, nil)
	e.srv.Script(ep, esltest.Fate{Outcome: esltest.Ring})
	crashedOriginate(t, e, id, ep, true)
	c, err := e.sw.Attach(e.ctx, id)
	if err != nil {
		t.Fatalf("attach: %v", err)
	}
	if isAnswered(c) {
		t.Fatal("ringing leg attached as answered")
	}
	// The far end answers (here through another client's uuid_answer).
	other, err := esl.Dial(e.ctx, e.srv.Addr(), "S3cret-pw", esl.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.API(e.ctx, esl.API{Cmd: "uuid_answer", Args: id}); err != nil {
		t.Fatal(err)
	}
	for !isAnswered(c) {
		select {
		case <-e.ctx.Done():
			t.Fatal("CHANNEL_ANSWER not seen")
		case <-time.After(2 * time.Millisecond):
		}
	}
	if err := c.Hangup(e.ctx, adapter.CauseNormal); err != nil {
		t.Fatalf("hangup: %v", err)
	}
	if ch, _ := e.srv.Channel(id); !ch.HungUp {
		t.Errorf("channel still up: %+v", ch)
	}
	if _, err := e.sw.Attach(e.ctx, id); !errors.Is(err, adapter.ErrNotFound) {
		t.Errorf("attach after hang-up: %v, want ErrNotFound", err)
	}
}

// TestAttachNotFound: a missing or malformed id is ErrNotFound, with no
// filter left behind.
func TestAttachNotFound(t *testing.T) {
	cases := []struct {
		name, id string
		sent     []string
	}{
		{"missing", "cb9-1-customer-0a1b2c3d-2", []string{"api uuid_exists cb9-1-customer-0a1b2c3d-2"}},
		{"missing long", longID, []string{"api uuid_exists " + longUUID}},
		{"malformed", "cb9 x", nil},
		{"empty", "", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := start(t, nil)
			n := len(e.sent())
			c, err := e.sw.Attach(e.ctx, tc.id)
			if !errors.Is(err, adapter.ErrNotFound) || c != nil {
				t.Fatalf("attach: %v %v, want ErrNotFound", c, err)
			}
			equalLines(t, e.sentSince(n), tc.sent)
		})
	}
}

// TestAttachSwitchDown: with FreeSWITCH gone the attach fails within the
// command timeout with ErrClosed, and after Serve ended at once.
func TestAttachSwitchDown(t *testing.T) {
	e := start(t, nil, withCommandTimeout(300*time.Millisecond))
	e.srv.Close()
	t0 := time.Now()
	if _, err := e.sw.Attach(e.ctx, "cb1-1-agent-0a1b2c3d-1"); !errors.Is(err, adapter.ErrClosed) {
		t.Errorf("attach: %v, want ErrClosed", err)
	}
	if d := time.Since(t0); d > 3*time.Second {
		t.Errorf("attach took %v", d)
	}
	// While esl redials in vain, the attach gives up after the command
	// timeout (the first tries may still meet the dead link at once).
	for {
		t0 = time.Now()
		_, err := e.sw.Attach(e.ctx, "cb1-1-agent-0a1b2c3d-1")
		if !errors.Is(err, adapter.ErrClosed) {
			t.Fatalf("attach while redialling: %v, want ErrClosed", err)
		}
		if errors.Is(err, context.DeadlineExceeded) {
			if d := time.Since(t0); d < 250*time.Millisecond || d > 3*time.Second {
				t.Errorf("attach while redialling took %v, want the command timeout", d)
			}
			break
		}
		select {
		case <-e.ctx.Done():
			t.Fatal("no attach waited for the redial")
		case <-time.After(5 * time.Millisecond):
		}
	}

	sw, err := New(Config{Inbound: e.srv.Addr(), Password: "pw", OutboundListen: "127.0.0.1:0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(e.ctx)
	cancel()
	if err := sw.Serve(ctx, func(context.Context, adapter.Call) {}); err == nil {
		t.Fatal("serve with a cancelled context succeeded")
	}
	if _, err := sw.Attach(e.ctx, "cb1-1-agent-0a1b2c3d-1"); !errors.Is(err, adapter.ErrClosed) {
		t.Errorf("attach after serve: %v, want ErrClosed", err)
	}
}
