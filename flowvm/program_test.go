package flowvm

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

const allFlow = `
start: a
vars: {n: 0}
notations:
  a: {type: answer, next: p}
  p: {type: play, prompts: ["sound:hi"], barge_in: true, next: g}
  g: {type: gather, into: x, exits: {next: m, timeout: m, invalid: m}}
  m: {type: menu, prompt: ["sound:m"], options: {"1": s, "2": dl}, exits: {invalid: s, timeout: s}}
  s: {type: set, vars: {n: n + 1}, next: b}
  b: {type: branch, conditions: [{when: n > 1, goto: gt}], exits: {default: c}}
  gt: {type: goto, target: c}
  c: {type: call, flow: sub, next: w}
  w: {type: wait, duration: 1s, next: l}
  l: {type: log, message: "n=${n}", level: warn, next: v}
  v: {type: validate_number, number: x, default_region: CZ, into: e, exits: {valid: r, invalid: r}}
  r: {type: record, next: dl}
  dl: {type: dial, endpoint: "PJSIP/${e}", exits: {answered: sc, busy: sc}}
  sc: {type: start_callback, queue: support, next: rc}
  rc: {type: register_callback, number: e, media: ["${recording}"], priority: 5, exits: {registered: q, duplicate: dc, invalid: dc}}
  dc: {type: decline_callback, next: q}
  q: {type: queue, queue: support, in_queue: inq, exits: {connected: h, callback: h, timeout: h}}
  h: {type: hangup}
`

func allFiles() map[string]string {
	return map[string]string{
		"main": allFlow,
		"sub":  "start: r\nnotations:\n  r: {type: return}\n",
		"inq":  "start: ap\nnotations:\n  ap: {type: announce_position, next: aw}\n  aw: {type: announce_wait}\n",
	}
}

// TestDisasm covers every notation type in the listing and the graph.
func TestDisasm(t *testing.T) {
	p := mustLoad(t, allFiles(), "main")
	var dis, graph bytes.Buffer
	if err := p.Disasm(&dis); err != nil {
		t.Fatal(err)
	}
	if err := p.Graph(&graph); err != nil {
		t.Fatal(err)
	}
	for _, typ := range specNames() {
		if !strings.Contains(dis.String(), " "+typ+" ") && !strings.Contains(dis.String(), " "+typ+"\n") {
			t.Errorf("disasm lacks %s:\n%s", typ, dis.String())
		}
		if !strings.Contains(graph.String(), ": "+typ+"\"") {
			t.Errorf("graph lacks %s", typ)
		}
	}
	for _, want := range []string{
		"0001 main.yaml:6:3        p                play               prompts=[\"sound:hi\"] barge_in=true next→0002",
		"branch             when=[\"n > 1\"] default→0007 when_1→0006",
		"register_callback  number=\"e\" queue= media=[\"${recording}\"] priority=5 registered→0016",
		"in-queue flow inq (inq.yaml) start",
	} {
		if !strings.Contains(dis.String(), want) {
			t.Errorf("disasm lacks %q:\n%s", want, dis.String())
		}
	}
	for _, want := range []string{"flowchart TD", "main__m -->|option_1| main__s", "main__c -.->|call| sub__r", "main__q -.->|in queue| inq__ap", "subgraph flow__inq[\"inq\"]"} {
		if !strings.Contains(graph.String(), want) {
			t.Errorf("graph lacks %q:\n%s", want, graph.String())
		}
	}
}

// genFlow generates a valid flow of n notations (set, branch, play, log, gather, goto).
func genFlow(n int) string {
	var b strings.Builder
	b.WriteString("flow: main\nstart: n0\nvars: {count: 0, name: \"x\"}\nnotations:\n")
	for i := range n {
		next := fmt.Sprintf("n%d", i+1)
		if i == n-1 {
			next = "end"
		}
		switch i % 6 {
		case 0:
			fmt.Fprintf(&b, "  n%d:\n    type: set\n    vars:\n      count: count + %d\n    next: %s\n", i, i, next)
		case 1:
			fmt.Fprintf(&b, "  n%d:\n    type: branch\n    conditions:\n      - when: 'count > %d && caller.number startsWith \"+420\"'\n        goto: %s\n    exits: {default: %s}\n", i, i, next, next)
		case 2:
			fmt.Fprintf(&b, "  n%d:\n    type: play\n    prompts: [\"sound:hello\", \"number:${count}\"]\n    next: %s\n", i, next)
		case 3:
			fmt.Fprintf(&b, "  n%d:\n    type: log\n    message: \"step %d ${name} ${call.id}\"\n    next: %s\n", i, i, next)
		case 4:
			fmt.Fprintf(&b, "  n%d:\n    type: gather\n    prompts: [\"sound:enter\"]\n    max_digits: 4\n    exits: {next: %s, timeout: %s, invalid: %s}\n", i, next, next, next)
		case 5:
			fmt.Fprintf(&b, "  n%d:\n    type: goto\n    target: %s\n", i, next)
		}
	}
	b.WriteString("  end:\n    type: hangup\n")
	return b.String()
}

func TestGenFlowLoads(t *testing.T) {
	p := mustLoad(t, map[string]string{"main": genFlow(200)}, "main")
	if len(p.code) != 201 {
		t.Fatalf("%d instrs", len(p.code))
	}
}
