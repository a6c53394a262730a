package flowvm

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/callflow/callflow/adapter"
	"github.com/callflow/callflow/trace"
)

func mapFS(files map[string]string) fstest.MapFS {
	fsys := fstest.MapFS{}
	for name, src := range files {
		fsys[name+".yaml"] = &fstest.MapFile{Data: []byte(src)}
	}
	return fsys
}

func mustLoad(t testing.TB, files map[string]string, entry string, inQueue ...string) *Program {
	t.Helper()
	fsys := fstest.MapFS{}
	for name, src := range files {
		fsys[name+".yaml"] = &fstest.MapFile{Data: []byte(src)}
	}
	p, err := Load(fsys, entry, inQueue...)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return p
}

// lines renders trace events as "kind text [k=v …]".
func lines(evs []trace.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		s := e.Kind + " " + e.Text
		if len(e.Attrs) > 0 {
			keys := make([]string, 0, len(e.Attrs))
			for k := range e.Attrs {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				s += " " + k + "=" + e.Attrs[k]
			}
		}
		out[i] = s
	}
	return out
}

func TestNotations(t *testing.T) {
	sub := map[string]string{"sub": `
start: s1
notations:
  s1: {type: set, vars: {x: 'x + 1'}, next: s2}
  s2: {type: return}
`}
	cases := []struct {
		name    string
		flow    string
		extra   map[string]string
		digits  []string
		setup   func(c *fakeCall, q *fakeQueues, s *fakeSwitch)
		want    []string
		wantOps []string // a subset of call ops that must appear in order
		wantQ   []string
		wantErr string
	}{
		{
			name: "answer play hangup",
			flow: `
start: a
notations:
  a: {type: answer, next: p}
  p: {type: play, prompts: ["sound:hello", "number:${1+1}"], next: h}
  h: {type: hangup, cause: busy}
`,
			want:    []string{"answer a → next", "play p → next", "hangup h → end cause=busy"},
			wantOps: []string{"answer", "play [sound:hello number:2]", "hangup busy"},
		},
		{
			name:   "play barge-in sets digits",
			flow:   "start: p\nnotations:\n  p: {type: play, prompts: [\"sound:x\"], barge_in: true, next: l}\n  l: {type: log, message: 'got ${digits}'}\n",
			digits: []string{"5"},
			want:   []string{"play p → next digits=5", "log l → next message=got 5"},
		},
		{
			name:   "gather into variable",
			flow:   "start: g\nnotations:\n  g: {type: gather, min_digits: 2, max_digits: 4, into: pin, next: l}\n  l: {type: log, message: 'pin=${pin} digits=${digits}'}\n",
			digits: []string{"1234"},
			want:   []string{"gather g → next digits=1234", "log l → next message=pin=1234 digits=1234"},
		},
		{
			name:   "gather retries then invalid",
			flow:   "start: g\nnotations:\n  g: {type: gather, min_digits: 3, attempts: 2, exits: {invalid: bad, timeout: none}}\n  bad: {type: hangup}\n  none: {type: hangup}\n",
			digits: []string{"", "12"},
			want:   []string{"gather g → invalid digits=12", "hangup bad → end cause=normal"},
		},
		{
			name:   "gather timeout",
			flow:   "start: g\nnotations:\n  g: {type: gather, attempts: 2, exits: {invalid: bad, timeout: none}}\n  bad: {type: hangup}\n  none: {type: hangup}\n",
			digits: []string{"", ""},
			want:   []string{"gather g → timeout", "hangup none → end cause=normal"},
		},
		{
			name: "menu option after invalid digit",
			flow: `
start: m
notations:
  m:
    type: menu
    prompt: ["sound:menu"]
    options: {"1": one, "2": two}
    invalid_prompt: ["sound:invalid"]
    exits: {invalid: bye, timeout: bye}
  one: {type: hangup}
  two: {type: hangup}
  bye: {type: hangup}
`,
			digits:  []string{"9", "2"},
			want:    []string{"menu m → option_2 digits=2", "hangup two → end cause=normal"},
			wantOps: []string{"gather [sound:menu]", "play [sound:invalid]", "gather [sound:menu]"},
		},
		{
			name:   "menu timeout after retries",
			flow:   "start: m\nnotations:\n  m: {type: menu, prompt: [\"sound:m\"], options: {\"1\": bye}, retries: 1, exits: {timeout: to}}\n  bye: {type: hangup}\n  to: {type: hangup, cause: failure}\n",
			digits: []string{"", ""},
			want:   []string{"menu m → timeout", "hangup to → end cause=failure"},
		},
		{
			name: "set and branch",
			flow: `
start: s
vars: {n: 0}
notations:
  s: {type: set, vars: {n: 'n + 2', big: 'n > 1'}, next: b}
  b:
    type: branch
    conditions:
      - {when: 'n == 1', goto: one}
      - {when: big, goto: two}
    exits: {default: one}
  one: {type: hangup}
  two: {type: goto, target: end}
  end: {type: log, message: "n=${n}"}
`,
			want: []string{"set s → next big=true n=2", "branch b → when_2", "goto two → next", "log end → next message=n=2"},
		},
		{
			name:  "call and return share variables",
			flow:  "start: c\nvars: {x: 1}\nnotations:\n  c: {type: call, flow: sub, next: l}\n  l: {type: log, message: 'x=${x}'}\n",
			extra: sub,
			want:  []string{"call c → sub", "set s1 → next x=2", "return s2 → end", "log l → next message=x=2"},
		},
		{
			name: "wait",
			flow: "start: w\nnotations:\n  w: {type: wait, duration: 2s}\n",
			want: []string{"wait w → next"}, wantOps: []string{"wait 2s"},
		},
		{
			name: "validate number valid and invalid",
			flow: `
start: v
vars: {raw: "601 123 456"}
notations:
  v: {type: validate_number, number: raw, default_region: CZ, into: e164, exits: {valid: v2, invalid: bad}}
  v2: {type: validate_number, number: '"+44 909 879 0000"', exits: {valid: ok, invalid: bad}}
  ok: {type: hangup}
  bad: {type: log, message: '${e164} ${number_reason}'}
`,
			want: []string{"validate_number v → valid e164=+420601123456 type=mobile", "validate_number v2 → invalid number=+44 909 879 0000 reason=type", "log bad → next message=+420601123456 type"},
		},
		{
			name: "record names are deterministic",
			flow: "start: r\nnotations:\n  r: {type: record, next: r2}\n  r2: {type: record, next: l}\n  l: {type: log, message: '${recording} ${recording_duration}'}\n",
			want: []string{"record r → next duration=5 recording=recording:c1-r-1", "record r2 → next duration=5 recording=recording:c1-r2-1", "log l → next message=recording:c1-r2-1 5"},
		},
		{
			name: "record error exit",
			flow: "start: r\nnotations:\n  r: {type: record, exits: {next: l, error: e}}\n  l: {type: hangup}\n  e: {type: hangup, cause: failure}\n",
			setup: func(c *fakeCall, q *fakeQueues, s *fakeSwitch) {
				c.fail = map[string]error{"record": errors.New("disk full")}
			},
			want: []string{"record r → error error=record c1-r-1: disk full", "hangup e → end cause=failure"},
		},
		{
			name: "io error without error exit fails the run",
			flow: "start: a\nnotations:\n  a: {type: answer}\n",
			setup: func(c *fakeCall, q *fakeQueues, s *fakeSwitch) {
				c.fail = map[string]error{"answer": errors.New("switch gone")}
			},
			wantErr: "main.yaml:3:3: switch gone",
			wantOps: []string{"answer", "hangup failure"},
		},
		{
			// The media comes from a variable, so only the run time can
			// check it: the bad prompt is the notation's error, and no
			// callback is registered with it (the reservation stays open
			// for the flow to decline).
			name: "register_callback refuses unplayable media from a variable",
			flow: `
start: s
vars: {m: "number:abc"}
notations:
  s: {type: start_callback, queue: support, next: r}
  r: {type: register_callback, media: ["sound:whisper", "${m}"], exits: {registered: ok, duplicate: d, invalid: d, error: d}}
  d: {type: decline_callback, next: bye}
  ok: {type: play, prompts: ["sound:registered"], next: bye}
  bye: {type: hangup}
`,
			want: []string{
				"start_callback s → next queue=support",
				"register_callback r → error error=prompt \"number:abc\": number \"abc\" is not an integer",
				"decline_callback d → next", "hangup bye → end cause=normal",
			},
			wantQ: []string{"start support", "decline hangup-next"},
		},
		{
			name:    "play refuses an unplayable prompt from a variable",
			flow:    "start: p\nvars: {m: \"foo:bar\"}\nnotations:\n  p: {type: play, prompts: ['${m}']}\n",
			wantErr: `main.yaml:4:3: prompt "foo:bar": unknown kind "foo" (want one of sound, recording, digits, number, silence, tone)`,
			wantOps: []string{"hangup failure"},
		},
		{
			name: "dial answered",
			flow: "start: d\nnotations:\n  d: {type: dial, endpoint: 'PJSIP/${dnis}', caller_id: '+420222', exits: {answered: bye}}\n  bye: {type: hangup}\n",
			setup: func(c *fakeCall, q *fakeQueues, s *fakeSwitch) {
				s.far = newCall("far")
			},
			want: []string{"dial d → answered endpoint=PJSIP/100 talk=0s", "hangup bye → end cause=normal"},
		},
		{
			name:  "dial busy",
			flow:  "start: d\nnotations:\n  d: {type: dial, endpoint: 'PJSIP/x', exits: {answered: bye, busy: b}}\n  bye: {type: hangup}\n  b: {type: hangup, cause: busy}\n",
			setup: func(c *fakeCall, q *fakeQueues, s *fakeSwitch) { s.err = fmt.Errorf("x: %w", adapter.ErrBusy) },
			want:  []string{"dial d → busy endpoint=PJSIP/x", "hangup b → end cause=busy"},
		},
		{
			name: "queue with in-queue flow registering a callback",
			flow: `
start: q
notations:
  q: {type: queue, queue: support, in_queue: inq, exits: {connected: bye, callback: cb, timeout: bye}}
  bye: {type: hangup}
  cb: {type: log, message: "cb ${callback_id}"}
`,
			extra: map[string]string{"inq": `
start: pos
notations:
  pos: {type: announce_position, next: ewt}
  ewt: {type: announce_wait, next: m}
  m: {type: menu, prompt: ["sound:press-1"], options: {"1": s}, retries: 0, exits: {timeout: hold}}
  hold: {type: wait, duration: 1s}
  s: {type: start_callback, next: r}
  r: {type: register_callback, media: ["sound:whisper"], not_before: 60, exits: {registered: ok, duplicate: d, invalid: d}}
  d: {type: decline_callback, next: hold}
  ok: {type: play, prompts: ["sound:registered"]}
`},
			digits: []string{"1"},
			setup: func(c *fakeCall, q *fakeQueues, s *fakeSwitch) {
				q.outcome = Callback
				q.status = QueueStatus{Queue: "support", Position: 3, EWT: 150e9}
				q.register = []RegisterOutcome{Duplicate, Registered}
			},
			want: []string{
				"announce_position pos → next position=3", "announce_wait ewt → next minutes=3", "menu m → option_1 digits=1",
				"start_callback s → next", "register_callback r → duplicate callback=cb-1 outcome=duplicate", "decline_callback d → next",
				"wait hold → next", "queue q → callback agent=PJSIP/agent1 outcome=callback queue=support", "log cb → next message=cb cb-1",
			},
			wantQ: []string{"enter support prio=0 max_wait=0s", "start ", "register +420601123456 media=[sound:whisper] nb=true", "decline"},
		},
		{
			name:  "agent answers while the in-queue flow runs",
			flow:  "start: q\nnotations:\n  q: {type: queue, queue: support, in_queue: inq, exits: {connected: bye, callback: bye, timeout: bye}}\n  bye: {type: hangup}\n",
			extra: map[string]string{"inq": "start: w\nnotations:\n  w: {type: wait, duration: 1s, next: w}\n"},
			setup: func(c *fakeCall, q *fakeQueues, s *fakeSwitch) { q.outcome, q.agent = Connected, true },
			want:  []string{"queue q → connected agent=PJSIP/agent1 outcome=connected queue=support", "hangup bye → end cause=normal"},
		},
		{
			name:  "default in-queue flow from queue config",
			flow:  "start: q\nnotations:\n  q: {type: queue, queue: support, exits: {connected: bye, callback: bye, timeout: bye}}\n  bye: {type: hangup}\n",
			extra: map[string]string{"music": "start: w\nnotations:\n  w: {type: wait, duration: 1s}\n"},
			setup: func(c *fakeCall, q *fakeQueues, s *fakeSwitch) {
				q.outcome, q.info = Timeout, map[string]QueueInfo{"support": {Name: "support", InQueueFlow: "music"}}
			},
			want: []string{"wait w → next", "queue q → timeout agent=PJSIP/agent1 outcome=timeout queue=support", "hangup bye → end cause=normal"},
		},
		{
			name:   "caller hangs up: run ends quietly and releases",
			flow:   "start: g\nnotations:\n  g: {type: gather, next: g}\n",
			digits: []string{"1", "2"},
			setup:  func(c *fakeCall, q *fakeQueues, s *fakeSwitch) { c.hangupWhenDone = true },
			want:   []string{"gather g → next digits=1", "gather g → next digits=2"},
		},
		{
			name: "hangup while reserved is a released abandon",
			flow: "start: s\nnotations:\n  s: {type: start_callback, queue: support, next: g}\n  g: {type: gather, exits: {next: d, timeout: d, invalid: d}}\n  d: {type: decline_callback}\n",
			setup: func(c *fakeCall, q *fakeQueues, s *fakeSwitch) {
				c.hangupWhenDone = true
			},
			want: []string{"start_callback s → next queue=support", "fault callback reservation open at end of run, released as abandon"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string]string{"main": tc.flow}
			var inq []string
			for k, v := range tc.extra {
				files[k] = v
				if k == "music" {
					inq = append(inq, k)
				}
			}
			p := mustLoad(t, files, "main", inq...)
			call := newCall("c1", tc.digits...)
			q := &fakeQueues{}
			sw := &fakeSwitch{}
			if tc.setup != nil {
				tc.setup(call, q, sw)
			}
			if sw.far != nil {
				sw.far.hangupWhenDone = true
			}
			var swi adapter.Switch = sw
			if sw.far != nil {
				swi = &farSwitch{sw}
			}
			rec := &trace.Recorder{}
			err := p.Run(context.Background(), call, Runtime{Switch: swi, Queues: q, Trace: rec})
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("err = %v, want %s", err, tc.wantErr)
				}
			} else if err != nil {
				t.Fatalf("run: %v", err)
			}
			if got := lines(rec.Events()); tc.want != nil && !slices.Equal(got, tc.want) {
				t.Errorf("trace:\n got %q\nwant %q", got, tc.want)
			}
			if !subseq(call.ops(), tc.wantOps) {
				t.Errorf("call ops %q do not contain %q", call.ops(), tc.wantOps)
			}
			if tc.wantQ != nil && !slices.Equal(q.log, tc.wantQ) {
				t.Errorf("queue ops:\n got %q\nwant %q", q.log, tc.wantQ)
			}
			if q.released != 1 {
				t.Errorf("Release called %d times, want 1", q.released)
			}
		})
	}
}

// farSwitch answers with a far end that hangs up when waited on.
type farSwitch struct{ *fakeSwitch }

func (s *farSwitch) Originate(ctx context.Context, req adapter.OriginateRequest) (adapter.Call, error) {
	if _, err := s.fakeSwitch.Originate(ctx, req); err != nil {
		return nil, err
	}
	return farCall{s.far}, nil
}

func subseq(have, want []string) bool {
	i := 0
	for _, h := range have {
		if i < len(want) && h == want[i] {
			i++
		}
	}
	return i == len(want)
}

func TestStepBudget(t *testing.T) {
	p := mustLoad(t, map[string]string{"main": "start: a\nnotations:\n  a: {type: goto, target: b}\n  b:\n    type: branch\n    conditions: [{when: 'true', goto: a}]\n    exits: {default: a}\n"}, "main")
	call := newCall("c1")
	err := p.Run(context.Background(), call, Runtime{MaxSteps: 100})
	if !errors.Is(err, ErrStepBudget) {
		t.Fatalf("err = %v, want ErrStepBudget", err)
	}
	if want := "main.yaml:5:3: step budget of 100 steps without blocking exceeded"; err.Error() != want && err.Error() != "main.yaml:3:3: step budget of 100 steps without blocking exceeded" {
		t.Errorf("err = %q, want %q", err, want)
	}
	if call.Cause() != adapter.CauseFailure {
		t.Errorf("cause = %v, want failure", call.Cause())
	}
}

func TestStepBudgetResetByIO(t *testing.T) {
	// 3 non-blocking steps between blocking ones stay under a budget of 3.
	p := mustLoad(t, map[string]string{"main": "start: g\nnotations:\n  g: {type: gather, next: a}\n  a: {type: goto, target: b}\n  b: {type: goto, target: c}\n  c: {type: goto, target: g}\n"}, "main")
	call := newCall("c1", "1", "2", "3", "4")
	call.hangupWhenDone = true
	if err := p.Run(context.Background(), call, Runtime{MaxSteps: 3}); err != nil {
		t.Fatalf("run: %v", err)
	}
}

func TestPanicRecovery(t *testing.T) {
	p := mustLoad(t, map[string]string{"main": "start: a\nnotations:\n  a: {type: answer, next: p}\n  p: {type: play, prompts: [\"sound:x\"]}\n"}, "main")
	call := newCall("c1")
	call.panicOn = "play"
	q := &fakeQueues{}
	err := p.Run(context.Background(), call, Runtime{Queues: q})
	var pe *PanicError
	if !errors.As(err, &pe) || !strings.HasPrefix(err.Error(), "main.yaml:4:3: panic: boom in play") {
		t.Fatalf("err = %v, want a positioned panic", err)
	}
	if call.Cause() != adapter.CauseFailure || q.released != 1 {
		t.Errorf("cause %v released %d, want failure and 1", call.Cause(), q.released)
	}
}

func TestCancel(t *testing.T) {
	p := mustLoad(t, map[string]string{"main": "start: a\nnotations:\n  a: {type: goto, target: a}\n"}, "main")
	ctx, cancel := context.WithCancelCause(context.Background())
	cause := errors.New("shutdown")
	cancel(cause)
	if err := p.Run(ctx, newCall("c1"), Runtime{}); !errors.Is(err, cause) {
		t.Fatalf("err = %v, want the cancel cause", err)
	}
}

func TestConcurrentRuns(t *testing.T) {
	p := mustLoad(t, map[string]string{"main": `
start: g
vars: {n: 0}
notations:
  g: {type: gather, into: d, next: s}
  s: {type: set, vars: {n: 'n + int(d)'}, next: b}
  b:
    type: branch
    conditions: [{when: 'n >= 10', goto: done}]
    exits: {default: g}
  done: {type: log, message: 'sum ${n} ${call.id}'}
`}, "main")
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			call := newCall(fmt.Sprintf("c%d", i), "3", "3", "3", "3")
			rec := &trace.Recorder{}
			if err := p.Run(context.Background(), call, Runtime{Trace: rec}); err != nil {
				t.Error(err)
				return
			}
			evs := rec.Events()
			if last := evs[len(evs)-1]; last.Attrs["message"] != fmt.Sprintf("sum 12 c%d", i) {
				t.Errorf("last event %+v", last)
			}
		}()
	}
	wg.Wait()
}

// TestStepBudgetNonBlockingIO: an I/O notation that did not block (answer
// of an answered call, a record that failed at once into its error exit)
// must not reset the step budget, or such a loop spins forever.
func TestStepBudgetNonBlockingIO(t *testing.T) {
	tests := []struct {
		name string
		flow string
		fail map[string]error
	}{
		{name: "answer loop", flow: "start: a\nnotations:\n  a: {type: answer, next: a}\n"},
		{name: "failing record into its error exit", flow: "start: r\nnotations:\n  r: {type: record, exits: {next: r, error: r}}\n",
			fail: map[string]error{"record": errors.New("media store full")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := mustLoad(t, map[string]string{"main": tc.flow}, "main")
			call := newCall("c1")
			call.fail = tc.fail
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := p.Run(ctx, call, Runtime{MaxSteps: 100})
			if !errors.Is(err, ErrStepBudget) {
				t.Fatalf("err = %v, want ErrStepBudget", err)
			}
			// 100 steps (101 for a failing blocking notation, whose failure
			// counts after it ran) and the hang-up.
			if n := len(call.ops()); n > 102 {
				t.Errorf("%d call operations, want at most 102 with a budget of 100", n)
			}
		})
	}
}
