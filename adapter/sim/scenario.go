package sim

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"

	"github.com/callflow/callflow/internal/duration"
)

// Scenario is what happens around the flows in one simulation: who calls
// when and presses what, and how agents and customers answer. All times
// are relative to the moment the Switch was created (normally the
// scheduler's start).
type Scenario struct {
	Name string
	// PromptDuration is the default length of a prompt (0: Options').
	PromptDuration time.Duration
	// Prompts overrides the length per prompt URI.
	Prompts   map[string]time.Duration
	Callers   []Caller
	Agents    []Party
	Customers []Party
}

// Caller is one inbound call.
type Caller struct {
	ID       string // "caller-N" (N = 1-based index) unless set
	At       time.Duration
	From     string
	Name     string
	To       string
	Args     []string
	DTMF     []DTMF
	Speak    *time.Duration // nil: talks until terminator, max duration or hang-up
	HangupAt *time.Duration // nil: stays until the flow ends the call
}

// DTMF is digits pressed at At after the caller's start; several digits
// arrive DigitGap apart.
type DTMF struct {
	At     time.Duration
	Digits string
}

// DigitGap separates the digits of one DTMF item.
const DigitGap = 250 * time.Millisecond

// Behaviour is how a party answers an originated call.
type Behaviour string

// Behaviours.
const (
	Answer   Behaviour = "answer"    // answers after AnswerAfter
	Busy     Behaviour = "busy"      // ErrBusy after 1 s
	NoAnswer Behaviour = "no_answer" // ErrNoAnswer after the request's timeout
	Fail     Behaviour = "fail"      // ErrFailed at once
)

// Behaviours lists every behaviour.
var Behaviours = []Behaviour{Answer, Busy, NoAnswer, Fail}

func (b Behaviour) valid() bool { return slices.Contains(Behaviours, b) }

// Step changes a party's behaviour from At on.
type Step struct {
	At        time.Duration
	Behaviour Behaviour
}

// Party is an agent (matched by exact Endpoint) or a customer (matched
// when the originated endpoint contains Number).
type Party struct {
	Endpoint    string
	Number      string
	AnswerAfter time.Duration // default 2s
	Talk        time.Duration // default 30s: hangs up this long after joining a mixing bridge with another call
	Behaviour   Behaviour     // default answer; in force before the first Schedule step
	Schedule    []Step
	Attempts    []Behaviour // n-th originate uses the n-th item, the last repeating
}

// behaviourAt picks the behaviour for the attempt-th originate (1-based)
// started at elapsed.
func (p *Party) behaviourAt(elapsed time.Duration, attempt int) Behaviour {
	if len(p.Attempts) > 0 {
		return p.Attempts[min(attempt, len(p.Attempts))-1]
	}
	b := p.Behaviour
	for _, st := range p.Schedule {
		if st.At > elapsed {
			break
		}
		b = st.Behaviour
	}
	return b
}

// Defaults for parties.
const (
	DefaultAnswerAfter = 2 * time.Second
	DefaultTalk        = 30 * time.Second
)

// LoadScenario reads a scenario file.
func LoadScenario(path string) (*Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sim: load scenario: %w", err)
	}
	return ParseScenario(path, data)
}

// PosError is a scenario error at a position of its file.
type PosError struct {
	File      string
	Line, Col int
	Msg       string
}

func (e *PosError) Error() string {
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
}

// ParseScenario parses a scenario; name is the file name used in errors.
// Every validation error is reported (joined), each as a *PosError.
func ParseScenario(name string, data []byte) (*Scenario, error) {
	var raw rawScenario
	if err := yaml.UnmarshalWithOptions(data, &raw, yaml.DisallowUnknownField()); err != nil {
		return nil, yamlError(name, err)
	}
	v := validator{file: name}
	sc := v.scenario(name, &raw)
	if len(v.errs) > 0 {
		return nil, errors.Join(v.errs...)
	}
	return sc, nil
}

func yamlError(file string, err error) error {
	var ye yaml.Error
	if errors.As(err, &ye) && ye.GetToken() != nil {
		p := ye.GetToken().Position
		return &PosError{File: file, Line: p.Line, Col: p.Column, Msg: ye.GetMessage()}
	}
	var pe *PosError
	if errors.As(err, &pe) {
		out := *pe
		out.File = file
		return &out
	}
	return fmt.Errorf("%s: %w", file, err)
}

// at is a decoded value with the position of its node.
type at[T any] struct {
	V         T
	Line, Col int
	Set       bool
	bad       string // why a duration did not parse; reported by validator.dur
}

func (p *at[T]) UnmarshalYAML(ctx context.Context, n ast.Node) error {
	tok := n.GetToken()
	if m, ok := n.(*ast.MappingNode); ok && len(m.Values) > 0 {
		tok = m.Values[0].Key.GetToken() // a mapping's own token is its first colon
	}
	if tok != nil {
		p.Line, p.Col = tok.Position.Line, tok.Position.Column
	}
	p.Set = true
	if dp, isDur := any(&p.V).(*time.Duration); isDur {
		// A bad duration is kept for the validator, so that it is reported
		// with every other error instead of ending the decoding.
		d, err := duration.Node(n)
		if err != nil {
			p.bad = err.Error()
		}
		*dp = d
		return nil
	}
	if sp, isStr := any(&p.V).(*string); isStr {
		switch n.Type() {
		case ast.IntegerType, ast.FloatType:
			// Keep numbers as written: +420…, 0601…, 200.
			*sp = n.GetToken().Value
			return nil
		case ast.NullType:
			*sp = ""
			return nil
		}
	}
	err := yaml.NodeToValue(n, &p.V, yaml.DisallowUnknownField())
	var ye yaml.Error
	var pe *PosError
	if err != nil && !errors.As(err, &ye) && !errors.As(err, &pe) {
		return &PosError{Line: p.Line, Col: p.Col, Msg: err.Error()}
	}
	return err
}

// The raw types are the scenario file's keys: ParseScenario decodes them
// (unknown keys are errors) and ScenarioJSONSchema reflects them. Tags
// besides yaml feed the schema: doc describes a key; required marks a key
// the validator requires; positive marks a duration that must be more than
// 0; enum:"behaviour" limits a value to the behaviours; pattern is a
// regular expression a value matches; on a list of parties, require names
// the keys each item needs and forbid the ones it must not have; nonempty
// refuses an empty list; without names keys this one cannot be combined
// with. TestScenarioSchemaMatchesLoader checks them against the validator.
type rawScenario struct {
	PromptDuration at[time.Duration]            `yaml:"prompt_duration" positive:"true" doc:"default length of every prompt (default: the simulator's)"`
	Prompts        map[string]at[time.Duration] `yaml:"prompts" doc:"length of a prompt by its URI (silence:N plays N seconds)"`
	Callers        []at[rawCaller]              `yaml:"callers" doc:"inbound calls"`
	Agents         []at[rawParty]               `yaml:"agents" require:"endpoint" forbid:"number" doc:"agents, matched by exact endpoint"`
	Customers      []at[rawParty]               `yaml:"customers" require:"number" forbid:"endpoint" doc:"customers called back, matched when the dialled endpoint contains the number"`
}

type rawDTMF struct {
	At     at[time.Duration] `yaml:"at" doc:"when the digits are pressed, after the caller's start"`
	Digits at[string]        `yaml:"digits" required:"true" pattern:"^[0-9*#ABCD]+$" doc:"digits pressed 250 ms apart (0-9 * # A-D)"`
}

type rawCaller struct {
	ID       at[string]        `yaml:"id" pattern:"\\S" doc:"caller id (default caller-N)"`
	At       at[time.Duration] `yaml:"at" doc:"when the call arrives (default 0)"`
	From     at[string]        `yaml:"from" doc:"caller number"`
	Name     at[string]        `yaml:"name" doc:"caller name"`
	To       at[string]        `yaml:"to" doc:"dialled number"`
	Args     []string          `yaml:"args" doc:"hand-over arguments (the first names the flow)"`
	DTMF     []rawDTMF         `yaml:"dtmf" doc:"digits the caller presses"`
	Speak    at[time.Duration] `yaml:"speak" doc:"how long the caller talks when recorded (default: until the terminator, the maximum or hang-up)"`
	HangupAt at[time.Duration] `yaml:"hangup_at" doc:"when the caller hangs up, after their start (default: when the flow ends the call)"`
}

type rawStep struct {
	At        at[time.Duration] `yaml:"at" doc:"from when the behaviour holds"`
	Behaviour at[string]        `yaml:"behaviour" required:"true" enum:"behaviour" doc:"how the party answers from then on"`
}

type rawParty struct {
	Endpoint    at[string]        `yaml:"endpoint" doc:"an agent's endpoint, e.g. PJSIP/agent1"`
	Number      at[string]        `yaml:"number" doc:"a customer's number"`
	AnswerAfter at[time.Duration] `yaml:"answer_after" doc:"how long it rings before answering (default 2s)"`
	Talk        at[time.Duration] `yaml:"talk" positive:"true" doc:"how long the party talks once bridged (default 30s)"`
	Behaviour   at[string]        `yaml:"behaviour" enum:"behaviour" doc:"how the party answers (default answer)"`
	Schedule    at[[]rawStep]     `yaml:"schedule" doc:"behaviour changes in increasing time order"`
	Attempts    at[[]at[string]]  `yaml:"attempts" enum:"behaviour" nonempty:"true" without:"behaviour,schedule" doc:"behaviour of the n-th call, the last repeating; not with behaviour or schedule"`
}

type validator struct {
	file string
	errs []error
}

func (v *validator) errf(line, col int, format string, args ...any) {
	v.errs = append(v.errs, &PosError{File: v.file, Line: line, Col: col, Msg: fmt.Sprintf(format, args...)})
}

func (v *validator) dur(d at[time.Duration], what string, positive bool) time.Duration {
	switch {
	case d.bad != "":
		v.errf(d.Line, d.Col, "%s: %s", what, d.bad)
	case d.Set && positive && d.V == 0:
		v.errf(d.Line, d.Col, "%s must be positive, got 0s", what)
	}
	return d.V
}

func (v *validator) scenario(name string, raw *rawScenario) *Scenario {
	sc := &Scenario{Name: name, Prompts: map[string]time.Duration{}}
	sc.PromptDuration = v.dur(raw.PromptDuration, "prompt_duration", true)
	uris := make([]string, 0, len(raw.Prompts))
	for uri := range raw.Prompts {
		uris = append(uris, uri)
	}
	sort.Strings(uris)
	for _, uri := range uris {
		sc.Prompts[uri] = v.dur(raw.Prompts[uri], "prompt "+uri, false)
	}
	ids := map[string]bool{}
	for i, rc := range raw.Callers {
		c := v.caller(i, rc)
		if ids[c.ID] {
			line, col := rc.Line, rc.Col
			if rc.V.ID.Set {
				line, col = rc.V.ID.Line, rc.V.ID.Col
			}
			v.errf(line, col, "duplicate caller id %q", c.ID)
		}
		ids[c.ID] = true
		sc.Callers = append(sc.Callers, c)
	}
	endpoints := map[string]bool{}
	for _, ra := range raw.Agents {
		p := v.party(&ra.V)
		ep := ra.V.Endpoint
		p.Endpoint = strings.TrimSpace(ep.V)
		switch {
		case ra.V.Number.Set:
			v.errf(ra.V.Number.Line, ra.V.Number.Col, "an agent has an endpoint, not a number")
		case p.Endpoint == "":
			v.errf(ra.Line, ra.Col, "agent needs an endpoint")
		case endpoints[p.Endpoint]:
			v.errf(ep.Line, ep.Col, "duplicate agent endpoint %q", p.Endpoint)
		}
		endpoints[p.Endpoint] = true
		sc.Agents = append(sc.Agents, p)
	}
	numbers := map[string]bool{}
	for _, rcu := range raw.Customers {
		p := v.party(&rcu.V)
		num := rcu.V.Number
		p.Number = strings.TrimSpace(num.V)
		switch {
		case rcu.V.Endpoint.Set:
			v.errf(rcu.V.Endpoint.Line, rcu.V.Endpoint.Col, "a customer has a number, not an endpoint")
		case p.Number == "":
			v.errf(rcu.Line, rcu.Col, "customer needs a number")
		case numbers[p.Number]:
			v.errf(num.Line, num.Col, "duplicate customer number %q", p.Number)
		}
		numbers[p.Number] = true
		sc.Customers = append(sc.Customers, p)
	}
	return sc
}

func (v *validator) caller(i int, rc at[rawCaller]) Caller {
	r := rc.V
	c := Caller{
		ID:   fmt.Sprintf("caller-%d", i+1),
		At:   v.dur(r.At, "at", false),
		From: r.From.V, Name: r.Name.V, To: r.To.V, Args: r.Args,
	}
	if r.ID.Set {
		c.ID = strings.TrimSpace(r.ID.V)
		if c.ID == "" {
			v.errf(r.ID.Line, r.ID.Col, "caller id must not be empty")
		}
	}
	if r.Speak.Set {
		d := v.dur(r.Speak, "speak", false)
		c.Speak = &d
	}
	if r.HangupAt.Set {
		d := v.dur(r.HangupAt, "hangup_at", false)
		c.HangupAt = &d
	}
	for _, rd := range r.DTMF {
		d := DTMF{At: v.dur(rd.At, "dtmf at", false), Digits: rd.Digits.V}
		if !rd.Digits.Set || d.Digits == "" {
			line, col := rd.At.Line, rd.At.Col
			if rd.Digits.Set {
				line, col = rd.Digits.Line, rd.Digits.Col
			}
			v.errf(line, col, "dtmf item needs digits")
		}
		if bad := strings.TrimLeft(d.Digits, "0123456789*#ABCD"); bad != "" {
			v.errf(rd.Digits.Line, rd.Digits.Col, "invalid DTMF digit %q (want 0-9 * # A-D)", bad[:1])
		}
		c.DTMF = append(c.DTMF, d)
	}
	return c
}

func (v *validator) behaviour(b at[string]) Behaviour {
	bh := Behaviour(strings.TrimSpace(b.V))
	if !bh.valid() {
		v.errf(b.Line, b.Col, "unknown behaviour %q (want answer, busy, no_answer or fail)", b.V)
	}
	return bh
}

func (v *validator) party(r *rawParty) Party {
	p := Party{AnswerAfter: DefaultAnswerAfter, Talk: DefaultTalk, Behaviour: Answer}
	if r.AnswerAfter.Set {
		p.AnswerAfter = v.dur(r.AnswerAfter, "answer_after", false)
	}
	if r.Talk.Set {
		p.Talk = v.dur(r.Talk, "talk", true)
	}
	if r.Behaviour.Set {
		p.Behaviour = v.behaviour(r.Behaviour)
	}
	var last time.Duration = -1
	for _, st := range r.Schedule.V {
		s := Step{At: v.dur(st.At, "schedule at", false), Behaviour: v.behaviour(st.Behaviour)}
		if !st.Behaviour.Set {
			v.errf(st.At.Line, st.At.Col, "schedule step needs a behaviour")
		}
		if s.At <= last {
			v.errf(st.At.Line, st.At.Col, "schedule steps must be in increasing time order")
		}
		last = s.At
		p.Schedule = append(p.Schedule, s)
	}
	for _, a := range r.Attempts.V {
		p.Attempts = append(p.Attempts, v.behaviour(a))
	}
	if r.Attempts.Set && len(p.Attempts) == 0 {
		v.errf(r.Attempts.Line, r.Attempts.Col, "attempts must not be empty")
	}
	if r.Attempts.Set && (r.Schedule.Set || r.Behaviour.Set) {
		v.errf(r.Attempts.Line, r.Attempts.Col, "attempts cannot be combined with behaviour or schedule")
	}
	return p
}
