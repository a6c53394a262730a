package flowvm

import (
	"context"
	"errors"
	"testing"
	"testing/fstest"

	"github.com/callflow/callflow/trace"
)

// BenchmarkLoad200 is the whole load of a 200-notation flow: YAML parse,
// checks and expression compile, then compile to a Program.
func BenchmarkLoad200(b *testing.B) {
	fsys := fstest.MapFS{"main.yaml": &fstest.MapFile{Data: []byte(genFlow(200))}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Load(fsys, "main"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCompile200 is the compile step alone: checked AST → Program.
func BenchmarkCompile200(b *testing.B) {
	src := []byte(genFlow(200))
	l := newLoader(func(*flowSrc, string) (string, []byte, error) { return "main.yaml", src, nil })
	l.loadRoot("main", false, Pos{File: "main.yaml", Line: 1, Col: 1})
	l.resolveFlows()
	l.declare()
	l.compileExprs()
	l.checkGraph()
	if err := l.errs.result(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = l.compile()
	}
}

// benchSteps runs a goto/branch loop until the step budget (1<<20) ends each
// Run and reports the steps that actually ran per second.
func benchSteps(b *testing.B, cond string) {
	p := mustLoad(b, map[string]string{"main": `
start: a
vars: {flag: true, n: 3}
notations:
  a: {type: goto, target: b}
  b:
    type: branch
    conditions: [{when: '` + cond + `', goto: a}]
    exits: {default: a}
`}, "main")
	call := newCall("bench")
	var count stepCounter
	rt := Runtime{Trace: &count, MaxSteps: 1 << 20}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		err := p.Run(context.Background(), call, rt)
		if !errors.Is(err, ErrStepBudget) {
			b.Fatalf("loop ended by %v, want the step budget", err)
		}
	}
	if count.n == 0 {
		b.Fatal("no steps ran")
	}
	b.ReportMetric(float64(count.n)/b.Elapsed().Seconds(), "steps/s")
}

// stepCounter counts the notations that ran: every completed step emits one
// flow event, whatever ends the run.
type stepCounter struct{ n int }

func (c *stepCounter) Emit(e trace.Event) {
	if e.Source == trace.Flow && e.Kind != "fault" {
		c.n++
	}
}

// BenchmarkSteps: a branch on a boolean variable, evaluated without the
// expression VM — the VM's own dispatch.
func BenchmarkSteps(b *testing.B) { benchSteps(b, "flag") }

// BenchmarkStepsConst: a branch on a constant condition.
func BenchmarkStepsConst(b *testing.B) { benchSteps(b, "true") }

// BenchmarkStepsExpr: a branch on an expression run by expr-lang's VM.
func BenchmarkStepsExpr(b *testing.B) { benchSteps(b, "n > 2 && flag") }
