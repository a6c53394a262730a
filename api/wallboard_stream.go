package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/callflow/callflow/flowmap"
	"github.com/callflow/callflow/queue"
	"github.com/callflow/callflow/store"
)

// Wallboard stream timings.
const (
	// streamCheck is how often a stream compares the state with what it
	// sent last; a change is pushed at the next check.
	streamCheck = 200 * time.Millisecond
	// streamPing keeps proxies from closing an idle stream.
	streamPing = 15 * time.Second
)

// boardState is one "state" event of the wallboard stream. Waits are not
// sent as numbers that change every second: a line carries the time it
// joined and the page counts from the server's clock (Now), so the stream
// only pushes real changes.
type boardState struct {
	Now    time.Time    `json:"now"`
	Queues []boardQueue `json:"queues"`
	// Flows are the live counts of the flow view (absent without one).
	Flows *flowmap.Counts `json:"flows,omitempty"`
}

type boardQueue struct {
	Name       string       `json:"name"`
	EWTSeconds float64      `json:"ewt_seconds"`
	Abandons   int          `json:"abandons"`
	Lines      []boardLine  `json:"lines"`
	Agents     []boardAgent `json:"agents"`
	// Callbacks due (registered or waiting for a retry) and in flight
	// (being dialled or connected).
	CallbacksDue      int `json:"callbacks_due"`
	CallbacksInFlight int `json:"callbacks_in_flight"`
}

type boardLine struct {
	Position   int       `json:"position"`
	Kind       string    `json:"kind"`
	State      string    `json:"state"`
	Call       string    `json:"call,omitempty"`
	CallbackID int64     `json:"callback_id,omitempty"`
	Number     string    `json:"number,omitempty"`
	Since      time.Time `json:"since"`
}

type boardAgent struct {
	Endpoint string `json:"endpoint"`
	State    string `json:"state"`
}

// boardQueues reads every queue's snapshot.
func (h *Handler) boardQueues() []boardQueue {
	out := []boardQueue{}
	for _, name := range h.opt.Engine.QueueNames() {
		s, ok := h.opt.Engine.Snapshot(name)
		if !ok {
			continue
		}
		out = append(out, boardOf(s))
	}
	return out
}

func boardOf(s queue.QueueSnapshot) boardQueue {
	q := boardQueue{Name: s.Name, Abandons: s.Abandons, Lines: []boardLine{}, Agents: []boardAgent{},
		EWTSeconds: queue.EWT(len(s.Entries)+1, s.MeanHandle, len(s.Agents)).Seconds()}
	for _, en := range s.Entries {
		q.Lines = append(q.Lines, boardLine{Position: en.Position, Kind: en.Kind, State: en.State, Call: en.CallID,
			CallbackID: en.CallbackID, Number: en.Number, Since: en.JoinedAt.UTC()})
		if en.Kind == "callback" {
			switch store.State(en.State) {
			case store.Dialing, store.Connected:
				q.CallbacksInFlight++
			default:
				q.CallbacksDue++
			}
		}
	}
	for _, a := range s.Agents {
		q.Agents = append(q.Agents, boardAgent{Endpoint: a.Endpoint, State: a.State})
	}
	return q
}

// wallboardStream pushes the wallboard's state as server-sent events: an
// "state" event at once and whenever the queues or the flow counts change,
// a comment line as a keep-alive. It ends when the client goes away or
// the server shuts down.
func (h *Handler) wallboardStream(w http.ResponseWriter, r *http.Request) error {
	rc := http.NewResponseController(w)
	// The server's write timeout is for ordinary answers; a stream lives
	// as long as the page.
	if err := rc.SetWriteDeadline(time.Time{}); err != nil {
		return fmt.Errorf("api: stream: %w", err)
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	var last []byte
	check := time.NewTicker(streamCheck)
	defer check.Stop()
	lastWrite := time.Time{}
	for {
		st := boardState{Now: time.Now().UTC(), Queues: h.boardQueues()}
		if h.opt.Flows != nil {
			c := h.opt.Flows.Counts()
			st.Flows = &c
		}
		// Compare without the clock, which always changes.
		cmp, err := json.Marshal(boardState{Queues: st.Queues, Flows: st.Flows})
		if err != nil {
			return fmt.Errorf("api: stream: %w", err)
		}
		var out []byte
		switch {
		case !bytes.Equal(cmp, last):
			data, err := json.Marshal(st)
			if err != nil {
				return fmt.Errorf("api: stream: %w", err)
			}
			out = fmt.Appendf(nil, "event: state\ndata: %s\n\n", data)
			last = cmp
		case time.Since(lastWrite) >= streamPing:
			out = []byte(": ping\n\n")
		}
		if out != nil {
			if _, err := w.Write(out); err != nil {
				return nil // the client went away
			}
			if err := rc.Flush(); err != nil {
				return nil
			}
			lastWrite = time.Now()
		}
		select {
		case <-r.Context().Done():
			return nil
		case <-h.closing:
			return nil
		case <-check.C:
		}
	}
}

// wallboardFlows returns the flow view's diagrams (an empty list without
// a flow view); the page draws them and the stream updates their counts.
func (h *Handler) wallboardFlows(w http.ResponseWriter, _ *http.Request) error {
	out := struct {
		Flows []flowmap.Diagram `json:"flows"`
	}{Flows: []flowmap.Diagram{}}
	if h.opt.Flows != nil {
		out.Flows = h.opt.Flows.Diagrams()
	}
	writeJSON(w, ok200, out)
	return nil
}
