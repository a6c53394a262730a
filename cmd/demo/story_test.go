package main

import (
	"strings"
	"testing"
	"time"

	"github.com/callflow/callflow/internal/e2etest"
	"github.com/callflow/callflow/internal/sipptest"
)

// A trace of a real demo run (voicemail experience), abridged.
const demoTrace = `15:39:19.100 1795621159.0 flow     answer             voicemail.yaml:10:3 welcome → next
15:39:19.100 1795621159.0 queue    joined             joined [position=1 queue=support]
15:39:19.110 1795621159.0 queue    agent_offered      PJSIP/agent1 [queue=support]
15:39:19.110 1795621159.0 queue    agent_no_answer    PJSIP/agent1 [outcome=busy queue=support]
15:39:20.110 1795621159.0 queue    agent_no_answer    PJSIP/agent1 [outcome=busy queue=support]
15:39:24.500 1795621159.0 flow     announce_position  voicemail-wait.yaml:10:3 position → next [position=1]
15:39:27.200 1795621159.0 flow     play               voicemail-wait.yaml:13:3 offer → next [digits=1]
15:39:27.200 1795621159.0 queue    reserved           [position=1 queue=support]
15:39:33.500 1795621159.0 flow     record             voicemail-wait.yaml:35:3 message → next [duration=4 recording=recording:1795621159.0-message-1]
15:39:33.510 1795621159.0 queue    registered         1 [ani=+420222333444 id=1 number=+420601111222 queue=support]
15:39:33.520 cb-1         callback dialing_agent      PJSIP/agent1 [attempt=1 endpoint=PJSIP/agent1 queue=support]
15:39:33.530 cb-1         callback agent_no_answer    PJSIP/agent1 [attempt=1 outcome=busy queue=support]
15:39:33.530 cb-1         callback requeued           agent busy [attempt=1 queue=support]
15:39:34.500 1795621159.0 flow     hangup             voicemail-wait.yaml:53:3 bye → end [cause=normal]
15:39:34.600 cb-1         callback dialing_agent      PJSIP/agent1 [attempt=1 endpoint=PJSIP/agent1 queue=support]
15:39:34.610 cb-1         callback agent_answered     PJSIP/agent1 [attempt=1 queue=support]
15:39:34.610 cb-1         callback media_to_agent     3 prompts [attempt=1 queue=support]
15:39:40.100 cb-1         callback dialing_customer   PJSIP/+420601111222@customer [ani=+420222333444 attempt=1 endpoint=PJSIP/+420601111222@customer queue=support]
15:39:40.110 cb-1         callback connected          PJSIP/agent1 [attempt=1 queue=support]
15:39:43.100 cb-1         callback completed          customer hung up [attempt=1 queue=support]
`

func TestStory(t *testing.T) {
	start := time.Date(2026, 11, 25, 15, 39, 0, 0, time.Local)
	evs, err := e2etest.ParseTrace(strings.NewReader(demoTrace), start)
	if err != nil {
		t.Fatal(err)
	}
	avail := time.Date(2026, 11, 25, 15, 39, 34, 550e6, time.Local)
	got := Story(StoryInput{
		Events: evs, Caller: "+420601111222", Queue: "support", ANI: "+420222333444",
		Recording: 3570 * time.Millisecond, AgentAvailable: avail,
		AgentCalls: []e2etest.PhoneCall{
			{UASCall: sipptest.UASCall{From: "+420601111222", To: "agent1"}, Mode: sipptest.Busy},
			{UASCall: sipptest.UASCall{From: "+420222333444", To: "agent1"}, Mode: sipptest.Answer},
		},
		CustomerCalls: []e2etest.PhoneCall{{UASCall: sipptest.UASCall{From: "+420222333444", To: "+420601111222"}}},
	})
	want := `15:39:19.1  caller +420601111222 called; callflow answered
15:39:19.1  caller +420601111222 entered queue support at position 1, on music
15:39:19.1  agent PJSIP/agent1 is busy; the caller waits (2 tries while the agent was unavailable)
15:39:24.5  told the caller they are number 1 in line
15:39:27.2  caller pressed 1 during the offer to leave a message and be called back
15:39:27.2  caller left the music (started a callback); place 1 in support is kept
15:39:33.5  recorded a 3.6 s message (recording:1795621159.0-message-1)
15:39:33.5  callback 1 registered for +420601111222, caller ID +420222333444
15:39:33.5  agent PJSIP/agent1 is busy; the callback waits (1 try while the agent was unavailable)
15:39:34.5  confirmed the callback to the caller and hung up
15:39:34.5  the agent's phone is free again: agent available
15:39:34.6  dialling agent PJSIP/agent1
15:39:34.6  agent PJSIP/agent1 answered (the agent's phone saw From: +420222333444)
15:39:34.6  played the whisper and the message to the agent (3 prompts)
15:39:40.1  dialling the customer +420601111222 with caller ID +420222333444 (the customer's phone saw From: +420222333444, To: +420601111222)
15:39:40.1  customer answered: agent and customer connected
15:39:43.1  callback 1 completed (customer hung up)
`
	if got != want {
		t.Errorf("story:\n%s\nwant:\n%s", got, want)
	}
}
