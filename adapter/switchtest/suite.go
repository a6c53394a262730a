package switchtest

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/callflow/callflow/adapter"
	"github.com/callflow/callflow/clock"
	"github.com/callflow/callflow/trace"
)

// DigitGap separates the keys of one DTMF step (sim.DigitGap and
// sipptest.DigitSpacing agree on it).
const DigitGap = 250 * time.Millisecond

// StepKind says what a Step does.
type StepKind int

// Step kinds.
const (
	StepPause  StepKind = iota + 1 // silence for D
	StepDTMF                       // RFC 4733 keys, DigitGap apart
	StepAudio                      // speech for D
	StepHangup                     // the caller hangs up; must be last
)

// Step is one event of a caller's timeline.
type Step struct {
	Kind   StepKind
	D      time.Duration
	Digits string
}

// Pause is d of silence.
func Pause(d time.Duration) Step { return Step{Kind: StepPause, D: d} }

// DTMF presses keys (0-9, *, #), DigitGap apart.
func DTMF(keys string) Step { return Step{Kind: StepDTMF, Digits: keys} }

// Audio is d of speech.
func Audio(d time.Duration) Step { return Step{Kind: StepAudio, D: d} }

// Hangup hangs the caller up; it must be the last step.
func Hangup() Step { return Step{Kind: StepHangup} }

// Length is how long the step takes.
func (s Step) Length() time.Duration {
	if s.Kind == StepDTMF {
		return time.Duration(len(s.Digits)) * DigitGap
	}
	return s.D
}

func (s Step) String() string {
	switch s.Kind {
	case StepPause:
		return "Pause(" + s.D.String() + ")"
	case StepDTMF:
		return fmt.Sprintf("DTMF(%q)", s.Digits)
	case StepAudio:
		return "Audio(" + s.D.String() + ")"
	case StepHangup:
		return "Hangup()"
	}
	return "Step(?)"
}

// CallerScript is one inbound call placed by the far end.
type CallerScript struct {
	From string // caller ID (digits, optional leading +)
	To   string // the extension dialled (digits)
	// Steps run from the moment the call is answered. Without a final
	// Hangup the caller stays until the switch hangs up.
	Steps []Step
}

// HangsUp reports whether the script ends with the caller hanging up.
func (cs CallerScript) HangsUp() bool {
	n := len(cs.Steps)
	return n > 0 && cs.Steps[n-1].Kind == StepHangup
}

// Validate checks the timeline.
func (cs CallerScript) Validate() error {
	for i, s := range cs.Steps {
		switch s.Kind {
		case StepPause, StepAudio:
			if s.D <= 0 {
				return fmt.Errorf("switchtest: step %d %v: duration must be positive", i, s)
			}
		case StepDTMF:
			if s.Digits == "" || strings.Trim(s.Digits, "0123456789*#") != "" {
				return fmt.Errorf("switchtest: step %d %v: keys must be 0-9, * or #", i, s)
			}
		case StepHangup:
			if i != len(cs.Steps)-1 {
				return fmt.Errorf("switchtest: step %d: Hangup must be the last step", i)
			}
		default:
			return fmt.Errorf("switchtest: step %d: zero Step", i)
		}
	}
	return nil
}

// Behaviour is how a party treats a call it receives.
type Behaviour int

// Behaviours.
const (
	Answer   Behaviour = iota // answers after AnswerAfter
	Busy                      // rejects busy
	NoAnswer                  // rings until the originator gives up
)

func (b Behaviour) String() string {
	switch b {
	case Answer:
		return "answer"
	case Busy:
		return "busy"
	case NoAnswer:
		return "no_answer"
	}
	return fmt.Sprintf("behaviour(%d)", int(b))
}

// Party is an agent or a customer.
type Party struct {
	// Number is a customer's E.164 number (agents have none).
	Number    string
	Behaviour Behaviour
	// AnswerAfter is the ringing time before an answer.
	AnswerAfter time.Duration
	// Hold is how long the party stays after answering before it hangs up
	// (0: until the switch hangs up). The simulator counts it from joining
	// a mixing bridge with another call, so cases bridge an agent right
	// after it answers.
	Hold time.Duration
}

// Case is one conformance case.
type Case struct {
	Name      string
	Callers   []CallerScript
	Agents    []Party
	Customers []Party
	// Handler runs for each inbound call (identify the caller by
	// Info().CallerNumber when a case has several); it drives the port and
	// records what it sees in Env. A non-nil error fails the case.
	Handler func(ctx context.Context, env *Env, c adapter.Call) error
	// Setup, when set, runs before the first call is served (for example
	// to start a queue engine on env.Switch and Put it for the handlers);
	// the harness calls the returned cleanup after the case. Under the
	// simulator it runs before virtual time starts: it must not block.
	Setup func(ctx context.Context, env *Env) (cleanup func(), err error)
	// Check asserts on the Result.
	Check func(t testing.TB, r *Result)
}

// Env is what a handler works with.
type Env struct {
	Switch adapter.Switch
	// Clock gives time and timers; under the simulator it is its
	// scheduler, so handlers use it instead of time.Now or timers.
	Clock clock.Clock
	Log   *zap.Logger
	// Trace receives timeline events (the queue engine's).
	Trace trace.Sink
	// TempDir is a folder removed after the case (stores, recordings).
	TempDir string
	// Trunk is the dial template that reaches a customer: "{e164}" stands
	// for the number (queue.Trunk.Dial).
	Trunk string

	agent func(i int) string

	mu       sync.Mutex
	observed map[string][]any
	shared   map[string]any
}

// EnvConfig describes an Env.
type EnvConfig struct {
	Switch  adapter.Switch
	Clock   clock.Clock
	Log     *zap.Logger
	Trace   trace.Sink
	TempDir string
	// Agent maps an index into Case.Agents to the switch endpoint.
	Agent func(i int) string
	// Trunk is the customer dial template, e.g. "PJSIP/{e164}@trunk".
	Trunk string
}

// NewEnv returns an Env for a harness.
func NewEnv(cfg EnvConfig) *Env {
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.Trace == nil {
		cfg.Trace = trace.Nop{}
	}
	return &Env{
		Switch: cfg.Switch, Clock: cfg.Clock, Log: cfg.Log, Trace: cfg.Trace, TempDir: cfg.TempDir,
		Trunk: cfg.Trunk, agent: cfg.Agent, observed: map[string][]any{}, shared: map[string]any{},
	}
}

// AgentEndpoint is the endpoint of Case.Agents[i].
func (e *Env) AgentEndpoint(i int) string { return e.agent(i) }

// CustomerEndpoint is the trunk endpoint that reaches e164.
func (e *Env) CustomerEndpoint(e164 string) string {
	return strings.ReplaceAll(e.Trunk, "{e164}", e164)
}

// Record appends v to the observations under key.
func (e *Env) Record(key string, v any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.observed[key] = append(e.observed[key], v)
}

// Put keeps v under key for the case's handlers (what Setup builds).
func (e *Env) Put(key string, v any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.shared[key] = v
}

// Get returns what Put kept under key (nil if nothing).
func (e *Env) Get(key string) any {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.shared[key]
}

// Since is the time elapsed on the Env's clock since t0.
func (e *Env) Since(t0 time.Time) time.Duration { return e.Clock.Now().Sub(t0) }

// Observed returns a copy of everything recorded.
func (e *Env) Observed() map[string][]any {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make(map[string][]any, len(e.observed))
	for k, v := range e.observed {
		out[k] = append([]any(nil), v...)
	}
	return out
}

// HungUpBy says who ended an inbound call.
type HungUpBy string

// Who ended a call.
const (
	BySwitch HungUpBy = "switch" // we (the handler or the driver) hung up
	ByCaller HungUpBy = "caller" // the far end hung up
)

// CallerOutcome is what the far end of an inbound call saw.
type CallerOutcome struct {
	Answered bool
	HungUpBy HungUpBy
	// Cause is the cause the far end was given, CauseUnknown when the
	// switch did not tell it (e.g. a SIP BYE without a Reason header).
	Cause adapter.Cause
	// Detail is harness-specific evidence for failure messages.
	Detail string
}

// PartyCall is one call an agent or customer received.
type PartyCall struct {
	From string // the ANI presented
	To   string // the user dialled (agent name or customer number)
}

// Result is what a harness observed for one case.
type Result struct {
	Harness string
	// Tolerance bounds timing comparisons (0: exact).
	Tolerance time.Duration
	Observed  map[string][]any
	// Callers has one outcome per Case.Callers, in order.
	Callers []CallerOutcome
	// Agents and Customers list the calls each party received, indexed
	// like Case.Agents and Case.Customers.
	Agents, Customers [][]PartyCall
	// Handled counts handler runs; HandlerErrors are the errors they
	// returned.
	Handled       int
	HandlerErrors []error
	// Elapsed is the case's duration on the harness's clock.
	Elapsed time.Duration
}

// Harness runs cases on one switch.
type Harness interface {
	Name() string
	// Run plays c and returns what was observed. It fails t (Fatal) only
	// for problems of the harness itself; Run checks the Result.
	Run(t *testing.T, c Case) *Result
}

// Run runs every case of Cases on h, each as a subtest.
func Run(t *testing.T, h Harness) {
	RunCases(t, h, Cases())
}

// RunCases runs the given cases on h.
func RunCases(t *testing.T, h Harness, cases []Case) {
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			for i, cs := range c.Callers {
				if err := cs.Validate(); err != nil {
					t.Fatalf("caller %d: %v", i, err)
				}
			}
			r := h.Run(t, c)
			t.Logf("%s: %s took %v", h.Name(), c.Name, r.Elapsed.Round(time.Millisecond))
			Verify(t, c, r)
		})
	}
}

// Verify applies the checks every case shares and then the case's own.
func Verify(t testing.TB, c Case, r *Result) {
	t.Helper()
	if r.Handled != len(c.Callers) {
		t.Errorf("handler ran %d times, want %d (one per caller)", r.Handled, len(c.Callers))
	}
	for _, err := range r.HandlerErrors {
		t.Errorf("handler: %v", err)
	}
	if len(r.Callers) != len(c.Callers) {
		t.Fatalf("harness reported %d caller outcomes for %d callers", len(r.Callers), len(c.Callers))
	}
	if c.Check != nil {
		c.Check(t, r)
	}
	if t.Failed() || testing.Verbose() {
		t.Logf("observed: %s", r.dump())
		for i, o := range r.Callers {
			t.Logf("caller %d: %+v", i, o)
		}
	}
}

func (r *Result) dump() string {
	keys := make([]string, 0, len(r.Observed))
	for k := range r.Observed {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "\n  %s = %v", k, r.Observed[k])
	}
	return b.String()
}

// Value returns the single observation under key as a T (the zero T for a
// recorded nil); it fails t when there is not exactly one or its type
// differs.
func Value[T any](t testing.TB, r *Result, key string) T {
	t.Helper()
	var zero T
	vs := r.Observed[key]
	if len(vs) != 1 {
		t.Fatalf("observation %q: got %d values %v, want 1", key, len(vs), vs)
		return zero
	}
	if vs[0] == nil {
		return zero
	}
	v, ok := vs[0].(T)
	if !ok {
		t.Fatalf("observation %q: %T, want %T", key, vs[0], zero)
	}
	return v
}

// NoErr fails t when the error observed under key is not nil.
func NoErr(t testing.TB, r *Result, key string) {
	t.Helper()
	if err := Value[error](t, r, key); err != nil {
		t.Errorf("%s: unexpected error %v", key, err)
	}
}

// ErrIs fails t unless the error observed under key wraps target.
func ErrIs(t testing.TB, r *Result, key string, target error) {
	t.Helper()
	if err := Value[error](t, r, key); !errors.Is(err, target) {
		t.Errorf("%s: error %v, want one wrapping %v", key, err, target)
	}
}

// Near fails t unless the duration observed under key is want within the
// harness's tolerance.
func Near(t testing.TB, r *Result, key string, want time.Duration) {
	t.Helper()
	got := Value[time.Duration](t, r, key)
	if d := got - want; d < -r.Tolerance || d > r.Tolerance {
		t.Errorf("%s: %v, want %v ± %v", key, got, want, r.Tolerance)
	}
}

// Between fails t unless lo-tolerance <= the duration under key <= hi+tolerance.
func Between(t testing.TB, r *Result, key string, lo, hi time.Duration) {
	t.Helper()
	got := Value[time.Duration](t, r, key)
	if got < lo-r.Tolerance || got > hi+r.Tolerance {
		t.Errorf("%s: %v, want between %v and %v (± %v)", key, got, lo, hi, r.Tolerance)
	}
}

// Equal fails t unless the value observed under key equals want.
func Equal[T comparable](t testing.TB, r *Result, key string, want T) {
	t.Helper()
	if got := Value[T](t, r, key); got != want {
		t.Errorf("%s: %v, want %v", key, got, want)
	}
}
