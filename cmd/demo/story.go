package main

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/callflow/callflow/internal/e2etest"
	"github.com/callflow/callflow/internal/sipptest"
	"github.com/callflow/callflow/trace"
)

// StoryInput is what the story is told from.
type StoryInput struct {
	Events    []e2etest.Event
	Caller    string        // the caller's number
	Queue     string        // the queue the caller waits in
	ANI       string        // the callback caller ID configured
	Recording time.Duration // the message's measured length (0: unknown)
	// AgentAvailable is when the agent's phone was switched to answer.
	AgentAvailable time.Time
	// What the phones saw.
	AgentCalls, CustomerCalls []e2etest.PhoneCall
}

type storyLine struct {
	at   time.Time
	n    int // emission order, for equal times
	text string
}

// Story renders the scene as time-stamped sentences, in time order.
func Story(in StoryInput) string {
	var lines []storyLine
	add := func(at time.Time, f string, a ...any) {
		lines = append(lines, storyLine{at: at, n: len(lines), text: fmt.Sprintf(f, a...)})
	}
	calls := e2etest.InboundCalls(in.Events)
	caller := ""
	if len(calls) > 0 {
		caller = calls[0]
	}
	busy := map[string]int{} // agent busy results per call, before the agent was available
	for _, e := range in.Events {
		if e.Kind == "agent_no_answer" && (in.AgentAvailable.IsZero() || e.At.Before(in.AgentAvailable)) {
			busy[e.Call]++
		}
	}
	toldBusy := map[string]bool{}
	for _, e := range in.Events {
		if e.Call == caller || e.Call == "" || strings.HasPrefix(e.Call, "cb-") {
			if s := sentence(e, in, busy, toldBusy); s != "" {
				add(e.At, "%s", s)
			}
		}
	}
	if !in.AgentAvailable.IsZero() {
		add(in.AgentAvailable, "the agent's phone is free again: agent available")
	}
	sort.SliceStable(lines, func(i, j int) bool {
		if !lines[i].at.Equal(lines[j].at) {
			return lines[i].at.Before(lines[j].at)
		}
		return lines[i].n < lines[j].n
	})
	var b strings.Builder
	for _, l := range lines {
		fmt.Fprintf(&b, "%s  %s\n", l.at.Format("15:04:05.0"), l.text)
	}
	return b.String()
}

// sentence tells one event, or returns "" for events the story skips.
func sentence(e e2etest.Event, in StoryInput, busy map[string]int, toldBusy map[string]bool) string {
	a := e.Attrs
	switch e.Source + " " + e.Kind {
	case "flow answer":
		return fmt.Sprintf("caller %s called; callflow answered", in.Caller)
	case "queue joined":
		return fmt.Sprintf("caller %s entered queue %s at position %s, on music", in.Caller, a["queue"], a["position"])
	case "queue agent_no_answer", "callback agent_no_answer":
		if toldBusy[e.Call] {
			return ""
		}
		toldBusy[e.Call] = true
		who := "the caller"
		if e.Source == trace.Callback {
			who = "the callback"
		}
		return fmt.Sprintf("agent %s is %s; %s waits (%s while the agent was unavailable)", e.Text, orBusy(a["outcome"]), who, plural(busy[e.Call], "try", "tries"))
	case "flow announce_position":
		return fmt.Sprintf("told the caller they are number %s in line", a["position"])
	case "flow play":
		if d := a["digits"]; d != "" {
			return fmt.Sprintf("caller pressed %s during the offer to leave a message and be called back", d)
		}
	case "queue reserved":
		return fmt.Sprintf("caller left the music (started a callback); place %s in %s is kept", a["position"], a["queue"])
	case "flow record":
		d := "a"
		if in.Recording > 0 {
			d = fmt.Sprintf("a %.1f s", in.Recording.Seconds())
		}
		return fmt.Sprintf("recorded %s message (%s)", d, a["recording"])
	case "queue registered":
		return fmt.Sprintf("callback %s registered for %s, caller ID %s", a["id"], a["number"], a["ani"])
	case "flow hangup":
		return "confirmed the callback to the caller and hung up"
	case "callback dialing_agent":
		if !in.AgentAvailable.IsZero() && e.At.Before(in.AgentAvailable) {
			return ""
		}
		return fmt.Sprintf("dialling agent %s", e.Text)
	case "callback requeued":
		return ""
	case "callback agent_answered":
		s := fmt.Sprintf("agent %s answered", e.Text)
		if c, ok := lastAnswered(in.AgentCalls); ok {
			s += fmt.Sprintf(" (the agent's phone saw From: %s)", c.From)
		}
		return s
	case "callback media_to_agent":
		return fmt.Sprintf("played the whisper and the message to the agent (%s)", e.Text)
	case "callback dialing_customer":
		// PJSIP/+420…@customer, sofia/callflow/+420…@127.0.0.1:PORT
		num := strings.SplitN(e.Text, "@", 2)[0]
		num = num[strings.LastIndex(num, "/")+1:]
		s := fmt.Sprintf("dialling the customer %s with caller ID %s", num, a["ani"])
		if n := len(in.CustomerCalls); n > 0 {
			c := in.CustomerCalls[n-1]
			s += fmt.Sprintf(" (the customer's phone saw From: %s, To: %s)", c.From, c.To)
		}
		return s
	case "callback connected":
		return "customer answered: agent and customer connected"
	case "callback completed":
		return fmt.Sprintf("callback %s completed (%s)", strings.TrimPrefix(e.Call, "cb-"), e.Text)
	case "flow fault":
		return "flow fault: " + e.Text
	default:
		if e.Source == trace.Callback {
			return fmt.Sprintf("callback %s: %s %s", strings.TrimPrefix(e.Call, "cb-"), e.Kind, e.Text)
		}
	}
	return ""
}

func orBusy(outcome string) string {
	if outcome == "" {
		return "busy"
	}
	return strings.ReplaceAll(outcome, "_", " ")
}

func lastAnswered(calls []e2etest.PhoneCall) (e2etest.PhoneCall, bool) {
	for i := len(calls) - 1; i >= 0; i-- {
		if calls[i].Mode == sipptest.Answer {
			return calls[i], true
		}
	}
	return e2etest.PhoneCall{}, false
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
