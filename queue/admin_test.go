package queue

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/callflow/callflow/adapter"
	"github.com/callflow/callflow/adapter/sim"
	"github.com/callflow/callflow/flowvm"
	"github.com/callflow/callflow/phone"
	"github.com/callflow/callflow/store"
	"github.com/callflow/callflow/trace"
)

// at runs f as a simulator activity d after the start.
func (h *harness) at(d time.Duration, f func(ctx context.Context)) {
	h.sched.AfterFunc(d, func() { f(context.Background()) })
}

// originates lists the endpoints the simulated switch was asked to dial.
func (h *harness) originates() []string {
	var out []string
	for _, e := range h.rec.Events() {
		if e.Source == trace.Switch && e.Kind == "originate" {
			out = append(out, e.Text)
		}
	}
	return out
}

func TestCreateCallback(t *testing.T) {
	tests := []struct {
		name       string
		reqs       []CreateRequest
		want       []flowvm.RegisterOutcome
		wantReason phone.Reason // of the last request when Invalid
		wantStored int
	}{
		{name: "premium rate refused at creation",
			reqs: []CreateRequest{{Queue: "sales", Number: "+420900123456"}},
			want: []flowvm.RegisterOutcome{flowvm.Invalid}, wantReason: phone.ReasonType},
		{name: "unparsable refused",
			reqs: []CreateRequest{{Queue: "sales", Number: "call me"}},
			want: []flowvm.RegisterOutcome{flowvm.Invalid}, wantReason: phone.ReasonUnparsable},
		{name: "national number normalised and registered",
			reqs: []CreateRequest{{Queue: "sales", Number: "601 000 001"}},
			want: []flowvm.RegisterOutcome{flowvm.Registered}, wantStored: 1},
		{name: "dedupe returns the open one",
			reqs: []CreateRequest{{Queue: "sales", Number: "+420601000001"}, {Queue: "sales", Number: "601000001"}},
			want: []flowvm.RegisterOutcome{flowvm.Registered, flowvm.Duplicate}, wantStored: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, baseConfig(), &sim.Scenario{}, nil) // no agents: callbacks wait
			var got []CreateResult
			h.at(time.Second, func(ctx context.Context) {
				for _, r := range tc.reqs {
					res, err := h.eng.CreateCallback(ctx, r)
					if err != nil {
						t.Errorf("create %q: %v", r.Number, err)
						return
					}
					if res.Outcome != flowvm.Invalid {
						// Committed before CreateCallback returned.
						if _, err := h.st.Get(ctx, res.Callback.ID); err != nil {
							t.Errorf("callback %d not in the store on return: %v", res.Callback.ID, err)
						}
					}
					got = append(got, res)
				}
			})
			h.run(nil, time.Minute)
			if len(got) != len(tc.want) {
				t.Fatalf("%d results, want %d", len(got), len(tc.want))
			}
			for i, w := range tc.want {
				if got[i].Outcome != w {
					t.Fatalf("request %d: %v, want %v", i, got[i].Outcome, w)
				}
			}
			last := got[len(got)-1]
			if last.Outcome == flowvm.Invalid && (last.Rejection == nil || last.Rejection.Reason != tc.wantReason) {
				t.Fatalf("rejection %+v, want reason %s", last.Rejection, tc.wantReason)
			}
			if last.Outcome == flowvm.Duplicate && last.Callback.ID != got[0].Callback.ID {
				t.Fatalf("duplicate id %d, want %d", last.Callback.ID, got[0].Callback.ID)
			}
			all, err := h.st.ListAll(context.Background())
			if err != nil || len(all) != tc.wantStored {
				t.Fatalf("stored %d callbacks (%v), want %d", len(all), err, tc.wantStored)
			}
			for _, cb := range all {
				if cb.Number != "+420601000001" || cb.ANI != queueANI || cb.State != store.Registered {
					t.Fatalf("stored %+v", cb)
				}
			}
			if len(h.originates()) != 0 {
				t.Fatalf("dialled %v without agents", h.originates())
			}
		})
	}
}

func TestCreateCallbackErrors(t *testing.T) {
	h := newHarness(t, baseConfig(), &sim.Scenario{}, nil)
	ctx := context.Background()
	if _, err := h.eng.CreateCallback(ctx, CreateRequest{Queue: "sales", Number: "+420601000001"}); !errors.Is(err, ErrNotStarted) {
		t.Fatalf("before start: %v, want ErrNotStarted", err)
	}
	h.at(0, func(ctx context.Context) {
		if _, err := h.eng.CreateCallback(ctx, CreateRequest{Queue: "nope", Number: "+420601000001"}); !errors.Is(err, ErrUnknownQueue) {
			t.Errorf("unknown queue: %v", err)
		}
		_, err := h.eng.CreateCallback(ctx, CreateRequest{Queue: "sales", Number: "+420601000001",
			NotBefore: simStart.Add(time.Hour), NotAfter: simStart})
		if err == nil || !strings.Contains(err.Error(), "not_after") {
			t.Errorf("inverted window: %v", err)
		}
	})
	h.run(nil, time.Second)
}

// An API-created callback is dispatched like any other: agent first, the
// queue's ANI, and it takes its place in line after earlier entries.
func TestCreatedCallbackIsDialled(t *testing.T) {
	sc := &sim.Scenario{
		Agents:    []sim.Party{{Endpoint: "PJSIP/agent1", Behaviour: sim.Answer, AnswerAfter: 2 * time.Second, Talk: time.Minute}},
		Customers: []sim.Party{{Number: "+420601000001", Behaviour: sim.Answer, AnswerAfter: 3 * time.Second, Talk: 20 * time.Second}},
	}
	h := newHarness(t, baseConfig("PJSIP/agent1"), sc, nil)
	var id int64
	h.at(time.Second, func(ctx context.Context) {
		res, err := h.eng.CreateCallback(ctx, CreateRequest{Queue: "sales", Number: "+420601000001",
			Media: []adapter.Prompt{"sound:note"}, ANI: "+420200000999"})
		if err != nil || res.Outcome != flowvm.Registered {
			t.Errorf("create: %+v %v", res, err)
			return
		}
		id = res.Callback.ID
	})
	h.run(nil, 10*time.Minute)
	if id == 0 {
		t.Fatal("not created")
	}
	cb := h.callback(id)
	if cb.State != store.Completed || cb.Attempts != 1 {
		t.Fatalf("stored %s after %d attempts, want completed after 1\n%s", cb.State, cb.Attempts, h.dump())
	}
	got := h.originates()
	want := []string{"PJSIP/agent1", "PJSIP/+420601000001@trunk"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("originated %v, want %v", got, want)
	}
	dial, _ := h.mustFind(cbName(id), trace.Callback, "dialing_customer")
	if dial.Attrs["ani"] != "+420200000999" {
		t.Fatalf("ani %q", dial.Attrs["ani"])
	}
	if _, _, ok := h.find(cbName(id), trace.Callback, "registered"); !ok {
		t.Fatalf("no registered event\n%s", h.dump())
	}
}

// A number the policy refuses that reaches the line anyway (written to
// the store directly, or accepted under an older policy) is refused right
// before the originate and never dialled; the agent reserved for it is not
// dialled either.
func TestStoredInvalidNumberNeverDialled(t *testing.T) {
	tests := []struct {
		name   string
		number string
	}{
		{name: "premium rate", number: "+420900123456"},
		{name: "not a valid number", number: "+42012"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sc := &sim.Scenario{
				Agents:    []sim.Party{{Endpoint: "PJSIP/agent1", Behaviour: sim.Answer, AnswerAfter: time.Second, Talk: time.Minute}},
				Customers: []sim.Party{{Number: tc.number, Behaviour: sim.Answer, AnswerAfter: time.Second, Talk: time.Minute}},
			}
			h := newHarness(t, baseConfig("PJSIP/agent1"), sc, nil)
			cb, _, err := h.st.Register(context.Background(), store.Callback{
				Queue: "sales", Number: tc.number, ANI: queueANI, JoinedAt: simStart, CreatedAt: simStart,
			}, false)
			if err != nil {
				t.Fatal(err)
			}
			h.run(nil, 10*time.Minute)
			if got := h.callback(cb.ID); got.State != store.Failed || got.Attempts != 0 {
				t.Fatalf("stored %s attempts %d, want failed 0\n%s", got.State, got.Attempts, h.dump())
			}
			if o := h.originates(); len(o) != 0 {
				t.Fatalf("originated %v\n%s", o, h.dump())
			}
			ev, _ := h.mustFind(cbName(cb.ID), trace.Callback, "failed")
			if !strings.Contains(ev.Text, "number refused") {
				t.Fatalf("failed because %q", ev.Text)
			}
			atts, err := h.st.Attempts(context.Background(), cb.ID)
			if err != nil || len(atts) != 0 {
				t.Fatalf("attempts %+v %v", atts, err)
			}
		})
	}
}

func TestCancelCallback(t *testing.T) {
	tests := []struct {
		name string
		// agent rings this long; 0 = no agents in the queue.
		agentRing time.Duration
		customer  sim.Behaviour
		cancelAt  time.Duration
		wantErr   error
		wantState store.State
	}{
		{name: "registered cancels", cancelAt: 5 * time.Second, wantState: store.Cancelled},
		{name: "dialing refused", agentRing: 8 * time.Second, cancelAt: 5 * time.Second,
			wantErr: ErrCallbackBusy, wantState: store.Completed},
		{name: "retry_wait cancels", agentRing: time.Second, customer: sim.Busy, cancelAt: 30 * time.Second,
			wantState: store.Cancelled},
		{name: "completed is closed", agentRing: time.Second, cancelAt: 5 * time.Minute,
			wantErr: ErrCallbackClosed, wantState: store.Completed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cust := tc.customer
			if cust == "" {
				cust = sim.Answer
			}
			sc := &sim.Scenario{Customers: []sim.Party{{Number: "+420601000001", Behaviour: cust, AnswerAfter: time.Second, Talk: 10 * time.Second}}}
			var cfg Config
			if tc.agentRing > 0 {
				sc.Agents = []sim.Party{{Endpoint: "PJSIP/agent1", Behaviour: sim.Answer, AnswerAfter: tc.agentRing, Talk: time.Minute}}
				cfg = baseConfig("PJSIP/agent1")
			} else {
				cfg = baseConfig()
			}
			h := newHarness(t, cfg, sc, nil)
			var id int64
			h.at(time.Second, func(ctx context.Context) {
				res, err := h.eng.CreateCallback(ctx, CreateRequest{Queue: "sales", Number: "+420601000001"})
				if err != nil {
					t.Errorf("create: %v", err)
				}
				id = res.Callback.ID
			})
			var cerr error
			cancelled := false
			h.at(tc.cancelAt, func(ctx context.Context) {
				var cb store.Callback
				cb, cerr = h.eng.CancelCallback(ctx, id)
				cancelled = cerr == nil && cb.State == store.Cancelled
			})
			h.run(nil, 10*time.Minute)
			if !errors.Is(cerr, tc.wantErr) || (tc.wantErr == nil) != cancelled {
				t.Fatalf("cancel: %v (cancelled %v), want %v\n%s", cerr, cancelled, tc.wantErr, h.dump())
			}
			if got := h.callback(id); got.State != tc.wantState {
				t.Fatalf("stored %s, want %s\n%s", got.State, tc.wantState, h.dump())
			}
			if tc.wantState == store.Cancelled {
				snap, _ := h.eng.Snapshot("sales")
				if len(snap.Entries) != 0 {
					t.Fatalf("line after cancel: %+v", snap.Entries)
				}
				// Nothing is dialled after the cancel.
				for _, e := range h.rec.Events() {
					if e.Source == trace.Switch && e.Kind == "originate" && !e.At.Before(simStart.Add(tc.cancelAt)) {
						t.Fatalf("dialled %s after the cancel\n%s", e.Text, h.dump())
					}
				}
			}
		})
	}
}

func TestCancelUnknownAndStoredOnly(t *testing.T) {
	h := newHarness(t, Config{Queues: []QueueConfig{{Name: "sales"}}}, &sim.Scenario{}, nil)
	ctx := context.Background()
	// An open callback of a queue this engine does not serve: cancelled in the store.
	cb, _, err := h.st.Register(ctx, store.Callback{Queue: "gone", Number: "+420601000001", ANI: queueANI}, false)
	if err != nil {
		t.Fatal(err)
	}
	h.at(0, func(ctx context.Context) {
		if _, err := h.eng.CancelCallback(ctx, 999); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("unknown id: %v", err)
		}
		got, err := h.eng.CancelCallback(ctx, cb.ID)
		if err != nil || got.State != store.Cancelled {
			t.Errorf("stored-only cancel: %+v %v", got, err)
		}
		if _, err := h.eng.CancelCallback(ctx, cb.ID); !errors.Is(err, ErrCallbackClosed) {
			t.Errorf("second cancel: %v", err)
		}
	})
	h.run(nil, time.Second)
	if names := h.eng.QueueNames(); len(names) != 1 || names[0] != "sales" {
		t.Fatalf("queue names %v", names)
	}
}
