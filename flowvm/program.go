package flowvm

import (
	"bufio"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
)

// Program is a loaded, checked and compiled set of flows. It is immutable
// and safe for concurrent Runs.
type Program struct {
	flows  []flowInfo
	byName map[string]int
	code   []instr
	entry  int
	vars   []*varInfo // variables with their initial values
}

type flowInfo struct {
	name, file string
	start      int // pc of the start notation
	resume     int // pc of the resume notation (start when none is declared)
	first, end int // code range [first, end)
	inQueue    bool
}

// instr is one compiled notation.
type instr struct {
	id, typ  string
	pc       int
	pos      Pos
	posStr   string
	flow     int
	op       op
	exits    []exit
	errExit  int // index of the wired "error" exit, -1 if none
	io       bool
	blocks   bool   // spec.blocks: a run of it without error resets the step budget
	queueRx  bool   // refresh queue.* before running
	endText  string // trace text when the notation ends the flow or run
	jumpText string // trace text of a call
}

// exit is one exit of an instr.
type exit struct {
	name   string
	target int // pc; -1 = not wired (ends the flow)
	text   string
}

// compiler builds a Program from checked flows.
type compiler struct {
	l *loader
	p *Program
}

// compile turns the checked flows into a Program (AST → Program).
func (l *loader) compile() *Program {
	p := &Program{byName: make(map[string]int, len(l.order))}
	pc := 0
	for _, f := range l.order {
		for _, n := range f.nodes {
			n.pc = pc
			pc++
		}
	}
	p.code = make([]instr, 0, pc)
	c := &compiler{l: l, p: p}
	for i, f := range l.order {
		p.byName[f.name] = i
		fi := flowInfo{name: f.name, file: f.file, first: len(p.code), inQueue: f.inQueue}
		fi.start = f.byID[f.start].pc
		fi.resume = fi.start
		if f.resume != "" {
			fi.resume = f.byID[f.resume].pc
		}
		for _, n := range f.nodes {
			p.code = append(p.code, c.instr(n))
		}
		fi.end = len(p.code)
		p.flows = append(p.flows, fi)
	}
	for _, v := range l.env.vars {
		if !v.readonly {
			p.vars = append(p.vars, v)
		}
	}
	slices.SortFunc(p.vars, func(a, b *varInfo) int { return strings.Compare(a.name, b.name) })
	for i := range p.code {
		if lk, ok := p.code[i].op.(interface{ link(p *Program) }); ok {
			lk.link(p)
		}
	}
	return p
}

func (c *compiler) instr(n *nnode) instr {
	in := instr{
		id: n.id, typ: n.spec.typ, pc: n.pc, pos: n.pos, posStr: n.pos.String(), flow: n.flow.index,
		io: n.spec.io, blocks: n.spec.blocks, queueRx: n.queueRx, errExit: -1,
		endText: n.id + " → end",
	}
	wired := make(map[string]int, len(n.edges))
	for _, e := range n.edges {
		wired[e.exit] = n.flow.byID[e.target].pc
	}
	add := func(name string) {
		t, ok := wired[name]
		if !ok {
			t = -1
		}
		if name == "error" && ok {
			in.errExit = len(in.exits)
		}
		in.exits = append(in.exits, exit{name: name, target: t, text: n.id + " → " + name})
	}
	for _, e := range n.spec.exits {
		add(e.name)
	}
	for _, e := range n.edges {
		if e.dyn {
			add(e.exit)
		}
	}
	in.op = n.spec.build(c, n)
	if co, ok := in.op.(*callOp); ok {
		in.jumpText = n.id + " → " + co.flow
	}
	return in
}

// varType is the declared type of a variable (nil = any).
func (c *compiler) varType(name string) reflect.Type {
	if v, ok := c.l.env.vars[name]; ok {
		return v.rt
	}
	return nil
}

// Entry is the name of the entry flow.
func (p *Program) Entry() string { return p.flows[p.entry].name }

// Flows lists the names of the loaded flows, entry first.
func (p *Program) Flows() []string {
	names := make([]string, len(p.flows))
	for i, f := range p.flows {
		names[i] = f.name
	}
	return names
}

// HasFlow reports whether a flow of that name is loaded (e.g. a queue's
// default in-queue flow).
func (p *Program) HasFlow(name string) bool {
	_, ok := p.byName[name]
	return ok
}

// Disasm writes a listing of the compiled code: one line per notation with
// its pc, position, id, type, parameters and exits.
func (p *Program) Disasm(w io.Writer) error {
	bw := bufio.NewWriter(w)
	for _, f := range p.flows {
		role := "flow"
		if f.inQueue {
			role = "in-queue flow"
		}
		fmt.Fprintf(bw, "%s %s (%s) start %04d\n", role, f.name, f.file, f.start)
		for pc := f.first; pc < f.end; pc++ {
			in := &p.code[pc]
			var line strings.Builder
			fmt.Fprintf(&line, "  %04d %-20s %-16s %-18s", pc, in.posStr, in.id, in.typ)
			if a := in.op.args(); a != "" {
				fmt.Fprintf(&line, " %s", a)
			}
			for _, e := range in.exits {
				if e.target < 0 {
					if e.name != "error" {
						fmt.Fprintf(&line, " %s→end", e.name)
					}
					continue
				}
				fmt.Fprintf(&line, " %s→%04d", e.name, e.target)
			}
			bw.WriteString(strings.TrimRight(line.String(), " ") + "\n")
		}
	}
	return bw.Flush()
}

// Graph writes the flows as a Mermaid flowchart: one node per notation
// labelled "id: type", exits as labelled edges, each flow a subgraph and
// sub-flow calls and in-queue flows as dotted edges to their start.
func (p *Program) Graph(w io.Writer) error {
	bw := bufio.NewWriter(w)
	node := func(pc int) string {
		in := &p.code[pc]
		return mermaidID(p.flows[in.flow].name + "__" + in.id)
	}
	bw.WriteString("flowchart TD\n")
	for _, f := range p.flows {
		fmt.Fprintf(bw, "  subgraph %s[\"%s\"]\n", mermaidID("flow__"+f.name), mermaidText(f.name))
		for pc := f.first; pc < f.end; pc++ {
			in := &p.code[pc]
			shape := "[\"%s\"]"
			if pc == f.start {
				shape = "([\"%s\"])"
			}
			fmt.Fprintf(bw, "    %s"+shape+"\n", node(pc), mermaidText(in.id+": "+in.typ))
		}
		bw.WriteString("  end\n")
	}
	for pc := range p.code {
		in := &p.code[pc]
		for _, e := range in.exits {
			if e.target >= 0 {
				fmt.Fprintf(bw, "  %s -->|%s| %s\n", node(pc), mermaidText(e.name), node(e.target))
			}
		}
		if t, label := flowTarget(in.op); t != "" {
			if fi, ok := p.byName[t]; ok {
				fmt.Fprintf(bw, "  %s -.->|%s| %s\n", node(pc), label, node(p.flows[fi].start))
			}
		}
	}
	return bw.Flush()
}

// flowTarget reports the flow a call or queue notation runs.
func flowTarget(o op) (string, string) {
	switch v := o.(type) {
	case *callOp:
		return v.flow, "call"
	case *queueOp:
		return v.inQueue, "in queue"
	}
	return "", ""
}

func mermaidID(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			fmt.Fprintf(&b, "_%x_", r)
		}
	}
	return b.String()
}

func mermaidText(s string) string {
	r := strings.NewReplacer(`"`, "#quot;", "|", "#124;", "<", "#lt;", ">", "#gt;")
	return r.Replace(s)
}
