package flowvm

import (
	"strings"
)

// Reservation states tracked by the validator (a set of them per point).
const (
	resClosed uint8 = 1 << iota // no callback reservation open
	resOpen                     // a reservation from start_callback is open
	// resUnknown follows the error exit of decline_callback: the engine
	// failed to put the caller back, so the graph proves nothing about the
	// reservation; the run-time check releases it (Program.Run).
	resUnknown
)

// checkGraph checks starts, exit targets, reachability, sub-flow cycles and
// the callback reservation lifecycle (docs/architecture.md, Reservations).
func (l *loader) checkGraph() {
	for _, f := range l.order {
		if !f.parsed {
			continue
		}
		if f.start != "" && f.byID[f.start] == nil {
			l.errs.add(f.startPos, "start: unknown notation %q", f.start)
		}
		if f.resume != "" && f.byID[f.resume] == nil {
			l.errs.add(f.resumePos, "resume: unknown notation %q", f.resume)
		}
		for _, n := range f.nodes {
			for _, e := range n.edges {
				if f.byID[e.target] == nil {
					l.errs.add(e.pos, "exit %q: unknown notation %q", e.exit, e.target)
				}
			}
		}
		reach := map[*nnode]bool{}
		var visit func(n *nnode)
		visit = func(n *nnode) {
			if n == nil || reach[n] {
				return
			}
			reach[n] = true
			for _, e := range n.edges {
				visit(f.byID[e.target])
			}
		}
		visit(f.byID[f.start])
		if f.byID[f.start] != nil {
			for _, n := range f.nodes {
				if !reach[n] {
					l.errs.add(n.pos, "unreachable notation %q", n.id)
				}
			}
		}
	}
	if l.checkCycles() {
		return // the reservation analysis needs an acyclic call graph
	}
	a := &analysis{l: l, memo: map[summaryKey]uint8{}}
	for _, f := range l.order {
		if f.parsed && (f.root || f.inQueue) {
			a.flow(f, f.inQueue, resClosed, true)
		}
	}
}

// checkCycles reports sub-flow cycles (call across files); true if any.
func (l *loader) checkCycles() bool {
	const (
		white = iota
		grey
		black
	)
	color := map[*flowSrc]int{}
	type frame struct {
		f   *flowSrc
		pos Pos // of the call that leaves f (set while it is explored)
	}
	var stack []frame
	found := false
	var dfs func(f *flowSrc)
	dfs = func(f *flowSrc) {
		color[f] = grey
		stack = append(stack, frame{f: f})
		for _, n := range f.nodes {
			ref, ok := n.vals["flow"].(flowRef)
			if !ok || n.spec != callSpec {
				continue
			}
			g := l.flows[ref.name]
			if g == nil {
				continue
			}
			stack[len(stack)-1].pos = ref.pos
			switch color[g] {
			case grey:
				i := 0
				for stack[i].f != g {
					i++
				}
				cyc := stack[i:]
				// Report at every call of the cycle, each starting at its own flow.
				for j := range cyc {
					names := make([]string, 0, len(cyc)+1)
					for k := range len(cyc) + 1 {
						names = append(names, cyc[(j+k)%len(cyc)].f.name)
					}
					l.errs.add(cyc[j].pos, "sub-flow cycle: %s", strings.Join(names, " → "))
				}
				found = true
			case white:
				dfs(g)
			}
		}
		stack = stack[:len(stack)-1]
		color[f] = black
	}
	for _, f := range l.order {
		if color[f] == white {
			dfs(f)
		}
	}
	return found
}

type summaryKey struct {
	f     *flowSrc
	inQ   bool
	entry uint8
	top   bool
}

// analysis is the reservation dataflow: for each notation the set of
// reservation states it can be reached in, through call/return with
// per-flow summaries. Every exit is taken as possible.
type analysis struct {
	l    *loader
	memo map[summaryKey]uint8
}

// flow analyses f entered in state entry and returns the states in which
// it can end (return or an unwired exit). top: f is a run's outermost flow
// (entry or in-queue flow), where ending with a reservation open is an error.
func (a *analysis) flow(f *flowSrc, inQ bool, entry uint8, top bool) uint8 {
	key := summaryKey{f, inQ, entry, top}
	if out, ok := a.memo[key]; ok {
		return out
	}
	a.memo[key] = resClosed | resOpen | resUnknown // guard; the call graph is acyclic
	start := f.byID[f.start]
	if start == nil {
		return a.memo[key]
	}
	in := map[*nnode]uint8{start: entry}
	work := []*nnode{start}
	var end uint8
	for len(work) > 0 {
		n := work[len(work)-1]
		work = work[:len(work)-1]
		s := in[n]
		if n.spec == nil {
			continue
		}
		wired := map[string]*nnode{}
		for _, e := range n.edges {
			wired[e.exit] = f.byID[e.target]
		}
		exits := a.transfer(n, inQ, s)
		for _, x := range exits {
			if x.stop {
				continue
			}
			t, ok := wired[x.exit]
			if x.end || !ok {
				if !ok && x.exit == "error" {
					continue // an unhandled error aborts the run
				}
				end |= x.state
				if top && x.state&resOpen != 0 {
					if x.end {
						a.l.errs.add(n.pos, "end of flow with a callback reservation open (%s %q)", n.spec.typ, n.id)
					} else {
						a.l.errs.add(n.pos, "end of flow with a callback reservation open (exit %q of %q is not wired)", x.exit, n.id)
					}
				}
				continue
			}
			if t == nil {
				continue
			}
			if in[t]|x.state != in[t] {
				in[t] |= x.state
				work = append(work, t)
			}
		}
	}
	a.memo[key] = end
	return end
}

// flowExit is one way out of a notation in the analysis.
type flowExit struct {
	exit  string
	state uint8
	end   bool // ends the flow (return)
	stop  bool // ends the run (hangup)
}

// transfer applies a notation to the reservation states s, reporting the
// misuses it can prove, and lists its exits with their states.
func (a *analysis) transfer(n *nnode, inQ bool, s uint8) []flowExit {
	l := a.l
	var out []flowExit
	all := func(st uint8) {
		for _, e := range n.spec.exits {
			out = append(out, flowExit{exit: e.name, state: st})
		}
		for _, e := range n.edges {
			if e.dyn {
				out = append(out, flowExit{exit: e.exit, state: st})
			}
		}
	}
	open := s&resOpen != 0
	closed := s&resClosed != 0
	switch n.spec {
	case startCallbackSpec:
		if open {
			l.errs.add(n.pos, "start_callback %q with a callback reservation already open", n.id)
		}
		if q, _ := n.vals["queue"].(string); q == "" && !inQ {
			l.errs.add(n.pos, "start_callback %q outside a queue needs parameter \"queue\"", n.id)
		}
		out = append(out, flowExit{exit: "next", state: resOpen}, flowExit{exit: "error", state: s})
	case declineCallbackSpec:
		if closed {
			l.errs.add(n.pos, "decline_callback %q is reachable without a prior start_callback", n.id)
		}
		out = append(out, flowExit{exit: "next", state: resClosed}, flowExit{exit: "error", state: resUnknown})
	case registerCallbackSpec:
		if closed {
			l.errs.add(n.pos, "register_callback %q is reachable without a prior start_callback", n.id)
		}
		out = append(out, flowExit{exit: "registered", state: resClosed})
		for _, x := range []string{"duplicate", "invalid", "error"} {
			out = append(out, flowExit{exit: x, state: s})
		}
	case queueSpec, dialSpec:
		if open {
			l.errs.add(n.pos, "%s %q with a callback reservation open (register_callback or decline_callback first)", n.spec.typ, n.id)
		}
		if n.spec == queueSpec && inQ {
			l.errs.add(n.pos, "queue %q inside an in-queue flow", n.id)
		}
		if ref, ok := n.vals["in_queue"].(flowRef); ok && n.spec == queueSpec {
			if g := l.flows[ref.name]; g != nil && g.parsed {
				a.flow(g, true, resClosed, true)
			}
		}
		all(resClosed)
	case hangupSpec:
		if open {
			l.errs.add(n.pos, "hangup %q with a callback reservation open (register_callback or decline_callback first)", n.id)
		}
		out = append(out, flowExit{stop: true})
	case returnSpec:
		out = append(out, flowExit{end: true, state: s})
	case callSpec:
		var st uint8
		if ref, ok := n.vals["flow"].(flowRef); ok {
			if g := l.flows[ref.name]; g != nil && g.parsed {
				for _, e := range []uint8{resClosed, resOpen, resUnknown} {
					if s&e != 0 {
						st |= a.flow(g, inQ, e, false)
					}
				}
			}
		}
		if st != 0 {
			all(st)
		}
	default:
		all(s)
	}
	return out
}
