package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/callflow/callflow/clock"
	"github.com/callflow/callflow/internal/e2etest"
	"github.com/callflow/callflow/internal/sipptest"
	"github.com/callflow/callflow/media"
)

// (d) Voicemail played to the agent: the caller waits while the agent is
// busy, presses 1, records a message and presses #. When the agent is free,
// the agent's phone is called first and hears the whisper and the message;
// only then is the customer dialled, with the queue's ANI.
func TestVoicemail(t *testing.T) { e2etest.EachSwitch(t, testVoicemail) }

func testVoicemail(t *testing.T, sw string) {
	r := e2etest.NewRig(t, e2etest.RigOptions{Switch: sw,
		AgentModes:   []sipptest.Mode{sipptest.Busy},
		CustomerHold: 2 * time.Second,
	})
	const caller = "+420601111222"
	run := r.Call(sipptest.Caller{Extension: e2etest.ExtVoicemail, From: caller, Events: []sipptest.Step{
		// "You are next" (5.4 s) comes first; 1 barges into the offer that
		// follows it. The instructions (2.1 s) and the beep precede the
		// recording: the audio covers them and ~3.5 s of the recording.
		sipptest.Pause(8 * time.Second), sipptest.DTMF("1"),
		sipptest.Audio(6 * time.Second), sipptest.DTMF("#"),
		sipptest.ExpectBye(),
	}})
	id := r.InboundCall(20*time.Second, 0)
	r.Event(10*time.Second, e2etest.Match{Call: id, Source: "queue", Kind: "joined", Attrs: map[string]string{"position": "1"}})
	r.Event(20*time.Second, e2etest.Match{Call: id, Source: "queue", Kind: "agent_no_answer", Attrs: map[string]string{"outcome": "busy"}})
	r.Event(20*time.Second, e2etest.Match{Call: id, Source: "queue", Kind: "reserved"})
	rec := r.Event(30*time.Second, e2etest.Match{Call: id, Source: "flow", Kind: "record"})
	name, ok := strings.CutPrefix(rec.Attrs["recording"], "recording:")
	if !ok {
		t.Fatalf("record event %v has no recording:NAME", rec)
	}
	reg := r.Event(10*time.Second, e2etest.Match{Call: id, Source: "queue", Kind: "registered"})
	if reg.Attrs["number"] != caller || reg.Attrs["ani"] != e2etest.DefaultANI {
		t.Errorf("registered %v, want number %s ani %s", reg, caller, e2etest.DefaultANI)
	}
	r.Finish(run, 60*time.Second)

	// The message is real audio in the media store.
	store, err := media.Open(r.Svc.MediaDir, 0, clock.Real{})
	if err != nil {
		t.Fatal(err)
	}
	f, info, err := store.Open(name)
	if err != nil {
		t.Fatalf("recording %s not in the media store: %v", name, err)
	}
	dur, rate, _, err := media.WAVInfo(f)
	f.Close()
	if err != nil {
		t.Fatalf("recording %s (%+v): %v", name, info, err)
	}
	if dur <= time.Second {
		t.Errorf("recording %s lasts %v, want more than 1s of the caller's audio", name, dur)
	}
	t.Logf("recording %s: %v at %d Hz", name, dur, rate)
	cbs, err := r.Svc.Callbacks(r.Ctx(10 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if len(cbs) != 1 || !containsString(cbs[0].Media, "recording:"+name) {
		t.Fatalf("callbacks %+v, want one whose media holds recording:%s", cbs, name)
	}

	// The agent was busy for the callback too; now the agent is free.
	r.Event(20*time.Second, e2etest.Match{Call: "cb-1", Source: "callback", Kind: "agent_no_answer", Attrs: map[string]string{"outcome": "busy"}})
	if err := r.Agents[0].SetMode(r.Ctx(10*time.Second), sipptest.Answer, 0); err != nil {
		t.Fatal(err)
	}
	media := r.Event(30*time.Second, e2etest.Match{Call: "cb-1", Source: "callback", Kind: "media_to_agent", Text: "3 prompts"})
	dial := r.Event(30*time.Second, e2etest.Match{Call: "cb-1", Source: "callback", Kind: "dialing_customer"})
	if dial.Attrs["ani"] != e2etest.DefaultANI {
		t.Errorf("dialing_customer %v, want ani %s", dial, e2etest.DefaultANI)
	}
	r.Event(30*time.Second, e2etest.Match{Call: "cb-1", Source: "callback", Kind: "completed"})

	var answered *e2etest.PhoneCall
	for _, c := range r.Agents[0].Calls() {
		if c.Mode == sipptest.Answer {
			answered = &c
			break
		}
	}
	cust := r.Customer.Calls()
	if answered == nil || answered.From != e2etest.DefaultANI {
		t.Fatalf("agent phone calls %+v: want one answered from the ANI", r.Agents[0].Calls())
	}
	if len(cust) != 1 || cust[0].From != e2etest.DefaultANI || cust[0].To != caller {
		t.Fatalf("customer phone got %+v, want one call From %s To %s", cust, e2etest.DefaultANI, caller)
	}
	// Whisper and "message" prompts come before the message itself, so the
	// customer's INVITE trails the agent's by more than the recording.
	if gap := cust[0].At.Sub(answered.At); gap < dur {
		t.Errorf("customer dialled %v after the agent answered, want at least the message's %v", gap, dur)
	}
	if gap := dial.At.Sub(media.At); gap < dur {
		t.Errorf("trace: dialing_customer %v after media_to_agent, want at least %v", gap, dur)
	}
}

func containsString(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
