package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

// seedQuery writes 6 callbacks: ids 1..6, created a minute apart, in two
// queues, with numbers alternating, and moves some to other states.
func seedQuery(t *testing.T, s *SQLite) {
	t.Helper()
	ctx := context.Background()
	for i := int64(1); i <= 6; i++ {
		q := "sales"
		if i%2 == 0 {
			q = "support"
		}
		cb := newCB(q, fmt.Sprintf("+42060100000%d", i%3), i)
		cb.CreatedAt = t0.Add(time.Duration(i) * time.Minute)
		if _, _, err := s.Register(ctx, cb, false); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []int64{2, 5} {
		if _, err := s.Transition(ctx, id, Registered, Cancelled, Change{At: t0}); err != nil {
			t.Fatal(err)
		}
	}
}

func ids(cbs []Callback) []int64 {
	out := []int64{}
	for _, cb := range cbs {
		out = append(out, cb.ID)
	}
	return out
}

func TestQueryCallbacks(t *testing.T) {
	s, _ := openTemp(t)
	seedQuery(t, s)
	tests := []struct {
		name     string
		f        CallbackFilter
		want     []int64
		wantNext int64
		wantErr  error
	}{
		{name: "all newest first", want: []int64{6, 5, 4, 3, 2, 1}},
		{name: "queue", f: CallbackFilter{Queue: "support"}, want: []int64{6, 4, 2}},
		{name: "state", f: CallbackFilter{States: []State{Cancelled}}, want: []int64{5, 2}},
		{name: "several states", f: CallbackFilter{States: []State{Registered, Cancelled}, Queue: "sales"}, want: []int64{5, 3, 1}},
		{name: "number", f: CallbackFilter{Number: "+420601000001"}, want: []int64{4, 1}},
		{name: "created between", f: CallbackFilter{CreatedFrom: t0.Add(2 * time.Minute), CreatedTo: t0.Add(4 * time.Minute)}, want: []int64{3, 2}},
		{name: "first page", f: CallbackFilter{Limit: 4}, want: []int64{6, 5, 4, 3}, wantNext: 3},
		{name: "second page", f: CallbackFilter{Limit: 4, Before: 3}, want: []int64{2, 1}},
		{name: "exact last page has no next", f: CallbackFilter{Limit: 2, Before: 3}, want: []int64{2, 1}},
		{name: "nothing", f: CallbackFilter{Queue: "nope"}, want: []int64{}},
		{name: "limit too big", f: CallbackFilter{Limit: MaxLimit + 1}, wantErr: ErrBadFilter},
		{name: "negative limit", f: CallbackFilter{Limit: -1}, wantErr: ErrBadFilter},
		{name: "unknown state", f: CallbackFilter{States: []State{"ringing"}}, wantErr: ErrBadFilter},
		{name: "negative cursor", f: CallbackFilter{Before: -4}, wantErr: ErrBadFilter},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			page, err := s.QueryCallbacks(context.Background(), tc.f)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr != nil {
				return
			}
			if got := ids(page.Callbacks); !slices.Equal(got, tc.want) || page.Next != tc.wantNext {
				t.Fatalf("ids %v next %d, want %v next %d", got, page.Next, tc.want, tc.wantNext)
			}
		})
	}
}

func TestQueryEvents(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	seedQuery(t, s) // callback ids for the foreign key
	batch := []Event{
		{At: t0, Kind: "joined", Queue: "sales", CallID: "c1"},
		{At: t0.Add(time.Minute), Kind: "abandon", Queue: "sales", CallID: "c1", Detail: map[string]string{"position": "1"}},
		{At: t0.Add(2 * time.Minute), Kind: "callback_registered", Queue: "support", CallbackID: 2},
		{At: t0.Add(3 * time.Minute), Kind: "joined", Queue: "support", CallID: "c2"},
	}
	if err := s.AppendEvents(ctx, batch); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendEvents(ctx, []Event{{Kind: "joined"}, {Kind: ""}}); err == nil {
		t.Fatal("an event without a kind was accepted")
	}
	tests := []struct {
		name     string
		f        EventFilter
		want     []string // kind/queue
		wantNext int64
		wantErr  error
	}{
		{name: "all oldest first", want: []string{"joined/sales", "abandon/sales", "callback_registered/support", "joined/support"}},
		{name: "kind", f: EventFilter{Kinds: []string{"joined"}}, want: []string{"joined/sales", "joined/support"}},
		{name: "kinds and queue", f: EventFilter{Kinds: []string{"joined", "abandon"}, Queue: "sales"}, want: []string{"joined/sales", "abandon/sales"}},
		{name: "callback", f: EventFilter{CallbackID: 2}, want: []string{"callback_registered/support"}},
		{name: "since until", f: EventFilter{Since: t0.Add(time.Minute), Until: t0.Add(3 * time.Minute)}, want: []string{"abandon/sales", "callback_registered/support"}},
		{name: "page", f: EventFilter{Limit: 3}, want: []string{"joined/sales", "abandon/sales", "callback_registered/support"}, wantNext: 3},
		{name: "after cursor", f: EventFilter{After: 3}, want: []string{"joined/support"}},
		{name: "bad limit", f: EventFilter{Limit: MaxLimit + 1}, wantErr: ErrBadFilter},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			page, err := s.QueryEvents(ctx, tc.f)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr != nil {
				return
			}
			got := []string{}
			for _, ev := range page.Events {
				got = append(got, ev.Kind+"/"+ev.Queue)
			}
			if !slices.Equal(got, tc.want) || page.Next != tc.wantNext {
				t.Fatalf("got %v next %d, want %v next %d", got, page.Next, tc.want, tc.wantNext)
			}
		})
	}
	page, err := s.QueryEvents(ctx, EventFilter{Kinds: []string{"abandon"}})
	if err != nil || len(page.Events) != 1 || page.Events[0].Detail["position"] != "1" || !page.Events[0].At.Equal(t0.Add(time.Minute)) {
		t.Fatalf("abandon round trip: %+v %v", page, err)
	}
}
