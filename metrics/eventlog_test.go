package metrics

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/callflow/callflow/store"
	"github.com/callflow/callflow/trace"
)

func TestEventLogFromEngine(t *testing.T) {
	st := openStore(t)
	el := NewEventLog(st, zaptest.NewLogger(t))
	run(t, st, el)
	if err := el.Close(); err != nil {
		t.Fatal(err)
	}
	evs, err := st.ListEvents(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	byKind := map[string]store.Event{}
	for _, ev := range evs {
		kinds = append(kinds, ev.Kind)
		if _, ok := byKind[ev.Kind]; !ok {
			byKind[ev.Kind] = ev
		}
	}
	want := []string{"joined", "joined", "connected", "abandon", "callback_registered", "callback_invalid",
		"conversation_end", "callback_connected", "callback_completed"}
	if !slices.Equal(kinds, want) {
		t.Fatalf("event log kinds\n got %v\nwant %v", kinds, want)
	}
	checks := []struct {
		name string
		ok   bool
	}{
		{"connected wait", byKind["connected"].Detail["wait_ms"] == "2000" && byKind["connected"].CallID == "caller-1"},
		{"conversation handle", byKind["conversation_end"].Detail["handle_ms"] == "30000"},
		{"registered via api", byKind["callback_registered"].Detail["origin"] == "api" && byKind["callback_registered"].CallbackID == 1 &&
			byKind["callback_registered"].Detail["number"] == "+420601000003"},
		{"invalid reason", byKind["callback_invalid"].Detail["reason"] == "type"},
		{"completed handle", byKind["callback_completed"].Detail["handle_ms"] == "20000" && byKind["callback_completed"].CallbackID == 1},
		{"queue", byKind["abandon"].Queue == "sales" && byKind["callback_connected"].Queue == "sales"},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: %+v", c.name, evs)
		}
	}
}

// flaky fails its first n batches.
type flaky struct {
	mu    sync.Mutex
	fail  int
	calls int
	got   []store.Event
}

func (f *flaky) AppendEvents(_ context.Context, evs []store.Event) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.fail > 0 {
		f.fail--
		return errors.New("disk full")
	}
	f.got = append(f.got, evs...)
	return nil
}

func TestEventLogFailures(t *testing.T) {
	joined := trace.Event{At: simStart, Call: "c1", Source: trace.Queue, Kind: "joined", Attrs: map[string]string{"queue": "q"}}
	ignored := trace.Event{At: simStart, Call: "c1", Source: trace.Switch, Kind: "originate"}
	tests := []struct {
		name     string
		fail     int
		wantLost int64
		wantGot  int
	}{
		{name: "written", fail: 0, wantGot: 1},
		{name: "retried after a failure", fail: 1, wantGot: 1},
		{name: "lost at close while the store keeps failing", fail: 1 << 30, wantLost: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &flaky{fail: tc.fail}
			el := NewEventLog(f, zaptest.NewLogger(t))
			el.Emit(joined)
			el.Emit(ignored)
			if tc.fail > 0 && tc.fail < 100 {
				// Let the retry happen before Close.
				deadline := time.Now().Add(5 * time.Second)
				for {
					f.mu.Lock()
					n := len(f.got)
					f.mu.Unlock()
					if n > 0 || time.Now().After(deadline) {
						break
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
			err := el.Close()
			el.Emit(joined) // after Close: counted
			wantLost := tc.wantLost
			if wantLost == 0 {
				wantLost = 1
			}
			if el.Lost() != wantLost || (tc.wantLost > 0) != (err != nil) {
				t.Fatalf("lost %d (close err %v), want %d", el.Lost(), err, wantLost)
			}
			if len(f.got) != tc.wantGot {
				t.Fatalf("written %d, want %d", len(f.got), tc.wantGot)
			}
		})
	}
}
