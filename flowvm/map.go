package flowvm

// Notation describes one compiled notation for tools that draw or follow
// flows (the wallboard's flow view): where it is, what it is and where each
// exit leads.
type Notation struct {
	Flow  string // the flow's name
	ID    string // the notation's id in its flow
	Type  string // notation type (play, menu, queue, …)
	Pos   string // file:line:col, as in the trace events it emits
	Start bool   // the flow's start notation
	Exits []NotationExit
	// Runs names the flow a call or queue notation runs (in-queue flow),
	// "" for others.
	Runs string
}

// NotationExit is one exit of a notation: Target is the index in the
// slice Notations returns, -1 when the exit is not wired (it ends the
// flow).
type NotationExit struct {
	Name   string
	Target int
}

// Notations lists every notation of every flow of the program, flow by
// flow in load order, each flow's notations in file order. The trace text
// of a notation that took an exit is "ID → exit".
func (p *Program) Notations() []Notation {
	out := make([]Notation, 0, len(p.code))
	for pc := range p.code {
		in := &p.code[pc]
		f := p.flows[in.flow]
		n := Notation{Flow: f.name, ID: in.id, Type: in.typ, Pos: in.posStr, Start: pc == f.start}
		for _, e := range in.exits {
			n.Exits = append(n.Exits, NotationExit{Name: e.name, Target: e.target})
		}
		n.Runs, _ = flowTarget(in.op)
		out = append(out, n)
	}
	return out
}
