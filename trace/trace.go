// Package trace records what happened on calls as a timeline: notations
// the flow VM ran, switch operations, queue and callback events. The
// simulator prints it; tests compare it with golden files.
package trace

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"
)

// Sources of events.
const (
	Flow     = "flow"     // the flow VM
	Switch   = "switch"   // a switch operation or event
	Queue    = "queue"    // queue line changes
	Callback = "callback" // callback registration and dispatch
)

// Event is one line of a trace.
type Event struct {
	At     time.Time `json:"at"`
	Call   string    `json:"call,omitempty"`
	Source string    `json:"source"`
	Kind   string    `json:"kind"`
	// Pos is the flow position (file:line:col) for flow events.
	Pos string `json:"pos,omitempty"`
	// Text is the human-readable detail.
	Text string `json:"text,omitempty"`
	// Attrs are machine-readable details.
	Attrs map[string]string `json:"attrs,omitempty"`
}

// Sink receives events. Implementations must be safe for concurrent use.
type Sink interface {
	Emit(Event)
}

// Nop discards events.
type Nop struct{}

func (Nop) Emit(Event) {}

// Recorder keeps events in memory in the order they were emitted.
type Recorder struct {
	mu     sync.Mutex
	events []Event
}

func (r *Recorder) Emit(e Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

// Events returns a copy of the recorded events.
func (r *Recorder) Events() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.events...)
}

// WriteText writes events as aligned text lines, times relative to start:
//
//	00:00:05.000 caller-1  flow     menu        main.yaml:12:3 → option_1
func WriteText(w io.Writer, start time.Time, events []Event) error {
	for _, e := range events {
		d := e.At.Sub(start)
		if d < 0 {
			d = 0
		}
		line := fmt.Sprintf("%s %-12s %-8s %-18s", fmtDur(d), e.Call, e.Source, e.Kind)
		if e.Pos != "" {
			line += " " + e.Pos
		}
		if e.Text != "" {
			line += " " + e.Text
		}
		if len(e.Attrs) > 0 {
			keys := make([]string, 0, len(e.Attrs))
			for k := range e.Attrs {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			parts := make([]string, len(keys))
			for i, k := range keys {
				parts[i] = k + "=" + e.Attrs[k]
			}
			line += " [" + strings.Join(parts, " ") + "]"
		}
		if _, err := io.WriteString(w, strings.TrimRight(line, " ")+"\n"); err != nil {
			return err
		}
	}
	return nil
}

// WriteJSON writes events as JSON lines.
func WriteJSON(w io.Writer, events []Event) error {
	enc := json.NewEncoder(w)
	for _, e := range events {
		if err := enc.Encode(e); err != nil {
			return err
		}
	}
	return nil
}

func fmtDur(d time.Duration) string {
	ms := d.Milliseconds()
	h := ms / 3600000
	m := ms / 60000 % 60
	s := ms / 1000 % 60
	return fmt.Sprintf("%02d:%02d:%02d.%03d", h, m, s, ms%1000)
}
