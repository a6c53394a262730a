package flowvm

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/expr-lang/expr/vm"
	"go.uber.org/zap"

	"github.com/callflow/callflow/adapter"
	"github.com/callflow/callflow/clock"
	"github.com/callflow/callflow/media"
	"github.com/callflow/callflow/trace"
)

// DefaultMaxSteps is the default budget of consecutive steps without real
// blocking (see run.step).
const DefaultMaxSteps = 10000

// Runtime is what a run uses besides the call.
type Runtime struct {
	Switch adapter.Switch // for dial
	Queues Queues         // for queue and callback notations (nil: those notations fail)
	Clock  clock.Clock    // nil: clock.Real{}
	Trace  trace.Sink     // nil: trace.Nop{}
	Log    *zap.Logger    // nil: no logging
	// MaxSteps is the budget of consecutive steps without a blocking
	// notation that completed (a goto/branch loop, or one through answer
	// or a failing notation); 0 = DefaultMaxSteps.
	MaxSteps int
}

// run is the state of one call's run of a Program. It is owned by the
// goroutine that runs the call (the in-queue flow runs while the queue
// notation waits in Queues.Enter, never concurrently with it).
type run struct {
	p      *Program
	call   adapter.Call
	rt     Runtime
	log    *zap.Logger
	callID string
	env    map[string]any
	queuem map[string]any
	vm     vm.VM
	steps  int
	frames []int // pcs of call notations waiting for their sub-flow
	jump   int
	attrs  map[string]string
	recN   map[int]int
	// reserved: a callback reservation is open (as far as this run knows).
	reserved  bool
	queueName string // queue the caller waits in, "" in the IVR
	stopped   bool   // hangup ran
	// inQueueErr receives a run-time fault of the in-queue flow.
	inQueueErr *error
}

var errStop = errors.New("run stopped")

// Run runs the entry flow on call until it ends, the call hangs up or ctx
// is done. A hang-up ends the run with a nil error. Any other failure is a
// *RunError at the failing notation's position, after which the call is
// hung up with cause failure. At the end of every run the call's queue
// state is released; an open reservation is logged as a run-time fault.
func (p *Program) Run(ctx context.Context, call adapter.Call, rt Runtime) (err error) {
	return p.runAt(ctx, call, rt, p.flows[p.entry].start)
}

// Resume runs a call a restarted process took back, as Run does but from
// point: "" is the entry flow's resume notation (its `resume:` key,
// default its start); "flow/notation" names a notation of a loaded flow,
// such as the queue notation a caller waited in. A point in a sub-flow
// runs that sub-flow to its end, which ends the run (the frames of the
// calls that led there are not known after a restart). An unknown point
// falls back to the entry flow's resume notation and reports false.
func (p *Program) Resume(ctx context.Context, call adapter.Call, rt Runtime, point string) (known bool, err error) {
	pc, known := p.ResumePC(point)
	return known, p.runAt(ctx, call, rt, pc)
}

// ResumePC resolves a resume point (see Resume) to a pc.
func (p *Program) ResumePC(point string) (int, bool) {
	if point == "" {
		return p.flows[p.entry].resume, true
	}
	flow, id, ok := strings.Cut(point, "/")
	if fi, found := p.byName[flow]; ok && found {
		f := p.flows[fi]
		for pc := f.first; pc < f.end; pc++ {
			if p.code[pc].id == id {
				return pc, true
			}
		}
	}
	return p.flows[p.entry].resume, false
}

func (p *Program) runAt(ctx context.Context, call adapter.Call, rt Runtime, pc int) (err error) {
	r := p.newRun(call, rt)
	defer func() {
		clean := context.WithoutCancel(ctx)
		if err != nil {
			if herr := call.Hangup(clean, adapter.CauseFailure); herr != nil && !errors.Is(herr, adapter.ErrHangup) {
				r.log.Warn("hang up after flow error", zap.Error(herr))
			}
		}
		if r.rt.Queues != nil && r.rt.Queues.Release(clean, call) {
			r.fault("callback reservation open at end of run, released as abandon")
		}
	}()
	err = r.loop(ctx, pc, 0)
	switch {
	case err == nil, errors.Is(err, errStop), errors.Is(err, adapter.ErrHangup):
		return nil
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		return fmt.Errorf("flow %s: %w", p.flows[p.entry].name, context.Cause(ctx))
	}
	return err
}

func (p *Program) newRun(call adapter.Call, rt Runtime) *run {
	if rt.Clock == nil {
		rt.Clock = clock.Real{}
	}
	if rt.Trace == nil {
		rt.Trace = trace.Nop{}
	}
	if rt.Log == nil {
		rt.Log = zap.NewNop()
	}
	if rt.MaxSteps <= 0 {
		rt.MaxSteps = DefaultMaxSteps
	}
	info := call.Info()
	r := &run{p: p, call: call, rt: rt, callID: call.ID()}
	r.log = rt.Log.With(zap.String("call_id", r.callID), zap.String("flow", p.flows[p.entry].name))
	args := info.Args
	if args == nil {
		args = []string{}
	}
	r.queuem = map[string]any{"name": "", "position": 0, "ewt": 0}
	r.env = make(map[string]any, len(p.vars)+8)
	r.env["caller"] = map[string]any{"number": info.CallerNumber, "name": info.CallerName}
	r.env["call"] = map[string]any{"id": call.ID()}
	r.env["dnis"] = info.Dialed
	r.env["args"] = args
	r.env["queue"] = r.queuem
	for _, v := range p.vars {
		r.env[v.name] = v.init
	}
	return r
}

// loop runs from pc until the flow started at frame depth base ends.
func (r *run) loop(ctx context.Context, pc, base int) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		in := &r.p.code[pc]
		x, err := r.step(ctx, in)
		if err != nil {
			var re *RunError
			switch {
			case errors.Is(err, adapter.ErrHangup), errors.As(err, &re):
				return err
			case ctx.Err() != nil:
				return ctx.Err()
			case in.errExit >= 0:
				r.detail("error", err.Error())
				r.emit(in, in.exits[in.errExit].text)
				x = in.errExit
			default:
				return &RunError{Pos: in.pos, Err: err}
			}
		}
		switch x {
		case exitStop:
			return errStop
		case exitJump:
			pc = r.jump
			continue
		case exitReturn:
			pc = -1
		default:
			pc = in.exits[x].target
		}
		if pc < 0 {
			if pc = r.ret(base); pc < 0 {
				return nil
			}
		}
	}
}

// ret pops finished sub-flows and returns the pc to continue at, -1 when
// the flow at depth base has ended.
func (r *run) ret(base int) int {
	for len(r.frames) > base {
		callPC := r.frames[len(r.frames)-1]
		r.frames = r.frames[:len(r.frames)-1]
		if t := r.p.code[callPC].exits[0].target; t >= 0 {
			return t
		}
	}
	return -1
}

// step runs one notation: budget, queue variables, exec, panic recovery, trace.
func (r *run) step(ctx context.Context, in *instr) (x int, err error) {
	// The budget counts steps since the last real blocking: a blocking
	// notation that ended without error resets it; any other notation,
	// I/O that returned at once (answer, a record failing into its error
	// exit) included, counts one step.
	if !in.blocks {
		r.steps++
	}
	if r.steps > r.rt.MaxSteps {
		return 0, &RunError{Pos: in.pos, Err: &budgetError{max: r.rt.MaxSteps}}
	}
	defer func() {
		if in.blocks {
			if err == nil {
				r.steps = 0
			} else {
				r.steps++ // it did not block
			}
		}
	}()
	defer func() {
		if v := recover(); v != nil {
			r.log.Error("notation panicked", zap.String("pos", in.posStr), zap.Any("panic", v), zap.Stack("stack"))
			x, err = 0, &RunError{Pos: in.pos, Err: &PanicError{Value: v}}
		}
	}()
	if in.queueRx {
		r.refreshQueue()
	}
	x, err = in.op.exec(ctx, r, in)
	if err != nil {
		return x, err
	}
	switch x {
	case exitStop, exitReturn:
		r.emit(in, in.endText)
	case exitJump:
		r.emit(in, in.jumpText)
	default:
		r.emit(in, in.exits[x].text)
	}
	return x, nil
}

func (r *run) emit(in *instr, text string) {
	r.rt.Trace.Emit(trace.Event{
		At: r.rt.Clock.Now(), Call: r.callID, Source: trace.Flow, Kind: in.typ,
		Pos: in.posStr, Text: text, Attrs: r.attrs,
	})
	r.attrs = nil
}

// detail adds a machine-readable detail to the next trace event.
func (r *run) detail(k, v string) {
	if r.attrs == nil {
		r.attrs = make(map[string]string, 2)
	}
	r.attrs[k] = v
}

// fault logs and traces a run-time fault that does not stop the run.
func (r *run) fault(msg string) {
	r.log.Error("flow run-time fault: " + msg)
	r.rt.Trace.Emit(trace.Event{At: r.rt.Clock.Now(), Call: r.callID, Source: trace.Flow, Kind: "fault", Text: msg})
}

func (r *run) refreshQueue() {
	if r.rt.Queues == nil {
		return
	}
	st, ok := r.rt.Queues.Status(r.call)
	if !ok {
		r.queuem["name"], r.queuem["position"], r.queuem["ewt"] = r.queueName, 0, 0
		return
	}
	r.queuem["name"], r.queuem["position"], r.queuem["ewt"] = st.Queue, st.Position, int(st.EWT.Seconds())
}

// eval evaluates an expression against the run's variables.
func (r *run) eval(e *cexpr) (any, error) {
	if e.isConst {
		return e.constVal, nil
	}
	if e.varName != "" {
		if v, ok := r.env[e.varName]; ok {
			return v, nil
		}
	}
	v, err := r.vm.Run(e.prog, r.env)
	if err != nil {
		return nil, fmt.Errorf("expression %q: %w", e.src, err)
	}
	if err := e.checkValue(v); err != nil {
		return nil, err
	}
	return v, nil
}

func (r *run) evalBool(e *cexpr) (bool, error) {
	v, err := r.eval(e)
	if err != nil {
		return false, err
	}
	b, ok := v.(bool)
	if !ok {
		return false, fmt.Errorf("expression %q is %T, want bool", e.src, v)
	}
	return b, nil
}

func (r *run) evalString(e *cexpr) (string, error) {
	v, err := r.eval(e)
	if err != nil {
		return "", err
	}
	return textOf(v), nil
}

func textOf(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case int:
		return strconv.Itoa(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

// render expands a template.
func (r *run) render(t *tmpl) (string, error) {
	if len(t.parts) == 1 && t.parts[0].e == nil {
		return t.parts[0].lit, nil
	}
	var b strings.Builder
	for _, p := range t.parts {
		if p.e == nil {
			b.WriteString(p.lit)
			continue
		}
		v, err := r.eval(p.e)
		if err != nil {
			return "", err
		}
		b.WriteString(textOf(v))
	}
	return b.String(), nil
}

func (r *run) prompts(ts []*tmpl) ([]adapter.Prompt, error) {
	out := make([]adapter.Prompt, 0, len(ts))
	for _, t := range ts {
		s, err := r.render(t)
		if err != nil {
			return nil, err
		}
		if s == "" {
			continue // an empty value (${recording} before any recording) plays nothing
		}
		// The rendered prompt gets the load-time check (media.ParsePrompt):
		// a bad one is this notation's error, never sent to a switch or
		// stored with a callback.
		p, err := media.ParsePrompt(s)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// setVar assigns a variable, converting to its declared type.
func (r *run) setVar(name string, rt reflect.Type, v any) error {
	if rt != nil && v != nil && reflect.TypeOf(v) != rt {
		rv := reflect.ValueOf(v)
		if !rv.CanConvert(rt) || rv.Kind() == reflect.String || rt.Kind() == reflect.String {
			return fmt.Errorf("cannot assign %T to %q of type %s", v, name, rt)
		}
		v = rv.Convert(rt).Interface()
	}
	r.env[name] = v
	return nil
}

// move hands a call that cannot be bridged where it runs (FastAGI) to the
// driver that can, before a notation that bridges or originates; the run
// goes on with the same call.
func (r *run) move(ctx context.Context) error {
	m, ok := r.call.(adapter.Mover)
	if !ok {
		return nil
	}
	return m.Move(ctx)
}

// queues returns the queue engine or an error when the runtime has none.
func (r *run) queues() (Queues, error) {
	if r.rt.Queues == nil {
		return nil, errors.New("no queue engine configured")
	}
	return r.rt.Queues, nil
}

// promptArgs renders templates for Disasm.
func tmplArgs(ts []*tmpl) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = strconv.Quote(t.src)
	}
	return "[" + strings.Join(s, " ") + "]"
}
