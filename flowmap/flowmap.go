// Package flowmap draws the loaded flows as diagrams and follows live
// calls through them: which notation each call is at and which exits were
// taken in the last hour. The wallboard's flow view reads it.
//
// A Board is a trace.Sink: the flow VM's events ("ID → exit" at a
// notation's file:line:col) move each call along the diagram. A call
// leaves the board when its flow ends (an exit that is not wired, End, or
// no event for Forget).
package flowmap

import (
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/callflow/callflow/flowvm"
	"github.com/callflow/callflow/trace"
)

// Layout sizes in SVG user units.
const (
	nodeW, nodeH = 190, 46
	colGap       = 40
	rowGap       = 56
	margin       = 20
)

// Window is how far back exits are counted.
const Window = time.Hour

// Forget drops a call whose flow has sent no event for this long (a
// hang-up in the middle of a notation sends none).
const Forget = 2 * time.Hour

// Diagram is one flow laid out for drawing.
type Diagram struct {
	Flow   string `json:"flow"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
	Nodes  []Node `json:"nodes"`
	Edges  []Edge `json:"edges"`
}

// Node is a notation's box; Key ("flow/id") names it in Counts.
type Node struct {
	Key   string `json:"key"`
	ID    string `json:"id"`
	Type  string `json:"type"`
	Start bool   `json:"start"`
	Runs  string `json:"runs,omitempty"`
	X     int    `json:"x"`
	Y     int    `json:"y"`
	W     int    `json:"w"`
	H     int    `json:"h"`
}

// Edge is an arrow for the wired exits of one notation that lead to the
// same notation: Exits are their names and Keys ("flow/id/exit") name them
// in Counts; Key and Exit are the first. Path is an SVG path; LX, LY place
// its label.
type Edge struct {
	Key   string   `json:"key"`
	From  string   `json:"from"`
	To    string   `json:"to"`
	Exit  string   `json:"exit"`
	Exits []string `json:"exits"`
	Keys  []string `json:"keys"`
	Path  string   `json:"path"`
	LX    int      `json:"lx"`
	LY    int      `json:"ly"`
}

// Counts are the live numbers: calls at each notation (by node key) and
// exits taken in the last Window (by edge key; unwired exits too).
type Counts struct {
	At    map[string]int `json:"at"`
	Exits map[string]int `json:"exits"`
}

// Board follows calls through the flows. Safe for concurrent use.
type Board struct {
	diagrams []Diagram
	byPos    map[string]notation
	now      func() time.Time

	mu    sync.Mutex
	calls map[string]callAt      // call id → where it is
	taken map[string][]time.Time // edge key → times, oldest first
}

type notation struct {
	key   string
	exits map[string]string // exit name → target node key ("" = ends)
	runs  string            // start node key of the flow it runs
}

type callAt struct {
	key  string
	seen time.Time
}

var _ trace.Sink = (*Board)(nil)

// New lays out every flow of the programs (a flow shared by several
// programs is drawn once). now is the clock (nil: time.Now).
func New(progs map[string]*flowvm.Program, now func() time.Time) *Board {
	if now == nil {
		now = time.Now
	}
	b := &Board{byPos: map[string]notation{}, now: now, calls: map[string]callAt{}, taken: map[string][]time.Time{}}
	names := make([]string, 0, len(progs))
	for n := range progs {
		names = append(names, n)
	}
	sort.Strings(names)
	drawn := map[string]bool{}
	for _, name := range names {
		ns := progs[name].Notations()
		starts := map[string]string{}
		for _, n := range ns {
			if n.Start {
				starts[n.Flow] = n.Flow + "/" + n.ID
			}
		}
		byFlow := map[string][]int{}
		var order []string
		for i, n := range ns {
			if _, ok := byFlow[n.Flow]; !ok {
				order = append(order, n.Flow)
			}
			byFlow[n.Flow] = append(byFlow[n.Flow], i)
			if _, ok := b.byPos[n.Pos]; ok {
				continue
			}
			nt := notation{key: n.Flow + "/" + n.ID, exits: map[string]string{}, runs: starts[n.Runs]}
			for _, e := range n.Exits {
				if e.Target >= 0 {
					nt.exits[e.Name] = ns[e.Target].Flow + "/" + ns[e.Target].ID
				} else {
					nt.exits[e.Name] = ""
				}
			}
			b.byPos[n.Pos] = nt
		}
		for _, f := range order {
			if drawn[f] {
				continue
			}
			drawn[f] = true
			b.diagrams = append(b.diagrams, layout(f, ns, byFlow[f]))
		}
	}
	sort.Slice(b.diagrams, func(i, j int) bool { return b.diagrams[i].Flow < b.diagrams[j].Flow })
	return b
}

// Diagrams returns the laid-out flows, sorted by name.
func (b *Board) Diagrams() []Diagram { return b.diagrams }

// Emit implements trace.Sink: a flow event moves its call to where the
// exit leads.
func (b *Board) Emit(ev trace.Event) {
	if ev.Source != trace.Flow || ev.Pos == "" || ev.Call == "" {
		return
	}
	nt, ok := b.byPos[ev.Pos]
	if !ok {
		return
	}
	_, exit, ok := strings.Cut(ev.Text, " → ")
	if !ok {
		return
	}
	at := ev.At
	if at.IsZero() {
		at = b.now()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	next, wired := nt.exits[exit]
	if wired {
		ek := nt.key + "/" + exit
		b.taken[ek] = append(b.taken[ek], at)
	}
	switch {
	case wired && next != "":
		b.calls[ev.Call] = callAt{key: next, seen: at}
	case nt.runs != "" && !wired:
		// A call notation's jump: the call is now in the flow it runs.
		b.calls[ev.Call] = callAt{key: nt.runs, seen: at}
	default:
		delete(b.calls, ev.Call) // the flow ended
	}
}

// End removes a call whose flow run has returned.
func (b *Board) End(call string) {
	b.mu.Lock()
	delete(b.calls, call)
	b.mu.Unlock()
}

// Counts returns the live numbers now, dropping what is older than the
// window.
func (b *Board) Counts() Counts {
	now := b.now()
	c := Counts{At: map[string]int{}, Exits: map[string]int{}}
	b.mu.Lock()
	defer b.mu.Unlock()
	for id, ca := range b.calls {
		if now.Sub(ca.seen) > Forget {
			delete(b.calls, id)
			continue
		}
		c.At[ca.key]++
	}
	for k, ts := range b.taken {
		i := sort.Search(len(ts), func(i int) bool { return now.Sub(ts[i]) <= Window })
		ts = ts[i:]
		if len(ts) == 0 {
			delete(b.taken, k)
			continue
		}
		b.taken[k] = ts
		c.Exits[k] = len(ts)
	}
	return c
}
