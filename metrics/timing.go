package metrics

import (
	"strconv"
	"strings"
	"time"

	"github.com/callflow/callflow/trace"
)

// maxTracked bounds the per-call timing maps; past it, entries older than
// staleAfter are pruned (calls whose end was never traced).
const (
	maxTracked = 50000
	staleAfter = 24 * time.Hour
)

// timing derives wait and handle times from the trace: a caller's wait
// runs from the first joined (or reserved) event of the call to its
// connected event; a conversation from connected to conversation_end (live
// callers, whose event carries the talk time) or to completed (callbacks).
// Not safe for concurrent use: its owner locks.
type timing struct {
	joined map[string]time.Time // by call id
	talk   map[string]time.Time // by call id or cb-N
}

func newTiming() *timing {
	return &timing{joined: map[string]time.Time{}, talk: map[string]time.Time{}}
}

// measure is what one event closes.
type measure struct {
	wait, handle       time.Duration
	hasWait, hasHandle bool
}

func (t *timing) observe(ev trace.Event) measure {
	var m measure
	switch ev.Source {
	case trace.Queue:
		switch ev.Kind {
		case "joined", "reserved":
			if _, ok := t.joined[ev.Call]; !ok {
				t.put(t.joined, ev.Call, ev.At)
			}
		case "connected":
			if at, ok := t.joined[ev.Call]; ok {
				m.wait, m.hasWait = ev.At.Sub(at), true
				delete(t.joined, ev.Call)
			}
			t.put(t.talk, ev.Call, ev.At)
		case "conversation_end":
			if d, err := time.ParseDuration(ev.Attrs["talk"]); err == nil {
				m.handle, m.hasHandle = d, true
			} else if at, ok := t.talk[ev.Call]; ok {
				m.handle, m.hasHandle = ev.At.Sub(at), true
			}
			delete(t.talk, ev.Call)
		case "abandoned", "timeout", "left", "registered":
			delete(t.joined, ev.Call)
		}
	case trace.Callback:
		switch ev.Kind {
		case "connected":
			t.put(t.talk, ev.Call, ev.At)
		case "completed":
			if at, ok := t.talk[ev.Call]; ok {
				m.handle, m.hasHandle = ev.At.Sub(at), true
			}
			delete(t.talk, ev.Call)
		case "failed", "expired", "cancelled":
			delete(t.talk, ev.Call)
		}
	}
	return m
}

func (t *timing) put(m map[string]time.Time, key string, at time.Time) {
	if len(m) >= maxTracked {
		for k, v := range m {
			if at.Sub(v) > staleAfter {
				delete(m, k)
			}
		}
	}
	m[key] = at
}

// callbackID reads the id of a callback event ("cb-12") or of an event
// whose attrs name it.
func callbackID(ev trace.Event) int64 {
	if s, ok := strings.CutPrefix(ev.Call, "cb-"); ok && ev.Source == trace.Callback {
		if id, err := strconv.ParseInt(s, 10, 64); err == nil {
			return id
		}
	}
	if id, err := strconv.ParseInt(ev.Attrs["id"], 10, 64); err == nil {
		return id
	}
	return 0
}
