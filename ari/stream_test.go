package ari

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"
)

func dtmf(ch string, seq int) string {
	return fmt.Sprintf(`{"type":"ChannelDtmfReceived","timestamp":"2025-05-15T12:35:27.840+0000","digit":"1","duration_ms":%d,"channel":{"id":%q,"name":"PJSIP/sipp-1","state":"Up"},"asterisk_id":"52:54:00:6a:1f:0c","application":"callflow"}`, seq, ch)
}

func TestOrderedLosslessSlowConsumer(t *testing.T) {
	f := newFake(t)
	c := newTestClient(t, f, func(cfg *Config) { cfg.BacklogWarn = 100 })
	slow := c.Subscribe(ChannelKey("c1"))
	defer slow.Close()
	other := c.Subscribe(ChannelKey("c2"))
	defer other.Close()
	all := c.Subscribe(AllKey)
	defer all.Close()
	startClient(t, f, c)
	if _, ok := next(t, all).(*Resynced); !ok {
		t.Fatal("first event is not Resynced")
	}

	const n = 3000
	go func() {
		msgs := make([]string, 0, 2*n)
		for i := range n {
			msgs = append(msgs, dtmf("c1", i), dtmf("c2", i))
		}
		f.send(msgs...)
	}()
	// The fast subscriber is not held up by the slow one.
	for i := range n {
		e := next(t, other).(*ChannelDtmfReceived)
		if e.DurationMs != i {
			t.Fatalf("c2: event %d has seq %d", i, e.DurationMs)
		}
	}
	for i := range n {
		if i%500 == 0 {
			time.Sleep(20 * time.Millisecond) // a slow consumer
		}
		e := next(t, slow).(*ChannelDtmfReceived)
		if e.DurationMs != i || e.Channel.ID != "c1" {
			t.Fatalf("c1: event %d has seq %d channel %s", i, e.DurationMs, e.Channel.ID)
		}
	}
	for i := range 2 * n {
		if _, ok := next(t, all).(*ChannelDtmfReceived); !ok {
			t.Fatalf("all: event %d wrong type", i)
		}
	}
	st := c.Stats()
	if st.Events != 2*n || st.SlowSubscriber == 0 {
		t.Errorf("stats %+v: want %d events and a slow-subscriber fault", st, 2*n)
	}
}

func TestUnknownAndMalformedTolerated(t *testing.T) {
	f := newFake(t)
	c := newTestClient(t, f, nil)
	all := c.Subscribe(AllKey)
	defer all.Close()
	startClient(t, f, c)
	next(t, all) // Resynced
	f.send(
		fixture(t, "unknown_ChannelTalkingStarted"),
		`{"type":`,
		`[1,2,3]`,
		`{"type":"ChannelDestroyed","cause":"x","channel":{"id":"c1"}}`,
		fixture(t, "StasisStart"),
	)
	if u, ok := next(t, all).(*UnknownEvent); !ok || u.Type != "ChannelTalkingStarted" || u.Err != nil {
		t.Fatalf("want unknown event, got %#v", u)
	}
	if u, ok := next(t, all).(*UnknownEvent); !ok || u.Type != "ChannelDestroyed" || u.Err == nil {
		t.Fatalf("want invalid event, got %#v", u)
	}
	if _, ok := next(t, all).(*StasisStart); !ok {
		t.Fatal("connection did not survive")
	}
	st := c.Stats()
	if st.Unknown != 1 || st.Invalid != 1 || st.Malformed != 2 || st.Disconnects != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestSubscribeBeforeExecute(t *testing.T) {
	const ch = "1747312522.17"
	pbEvent := func(typ, id, state string) string {
		return fmt.Sprintf(`{"type":%q,"timestamp":"2025-05-15T12:35:23.010+0000","playback":{"id":%q,"media_uri":"sound:welcome","target_uri":"channel:%s","language":"en","state":%q},"asterisk_id":"x","application":"callflow"}`, typ, id, ch, state)
	}
	tests := []struct {
		name      string
		events    func(id string) []string
		opt       PlayOptions
		wantErr   error
		wantDigit string
	}{
		{"finished before http answer", func(id string) []string {
			return []string{pbEvent("PlaybackStarted", id, "playing"), pbEvent("PlaybackFinished", id, "done")}
		}, PlayOptions{}, nil, ""},
		{"other playback ignored", func(id string) []string {
			return []string{pbEvent("PlaybackFinished", "pb-other", "done"), pbEvent("PlaybackStarted", id, "playing"), pbEvent("PlaybackFinished", id, "done")}
		}, PlayOptions{}, nil, ""},
		{"failed playback", func(id string) []string {
			return []string{pbEvent("PlaybackStarted", id, "playing"), pbEvent("PlaybackFinished", id, "failed")}
		}, PlayOptions{}, ErrPlaybackFailed, ""},
		{"hang-up", func(id string) []string {
			return []string{pbEvent("PlaybackStarted", id, "playing"), fixture(t, "StasisEnd")}
		}, PlayOptions{}, ErrHangup, ""},
		{"barge-in digit", func(id string) []string {
			return []string{pbEvent("PlaybackStarted", id, "playing"), dtmf(ch, 1)}
		}, PlayOptions{StopOnDTMF: true}, nil, "1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			f.mux.HandleFunc("POST /ari/channels/{id}/play", func(w http.ResponseWriter, r *http.Request) {
				id := r.URL.Query().Get("playbackId")
				// As measured on Asterisk 22: the events reach the websocket
				// before the HTTP answer; give the client time to read them.
				f.send(tc.events(id)...)
				time.Sleep(50 * time.Millisecond)
				writeJSON(w, 201, Playback{ID: id, MediaURI: "sound:welcome", TargetURI: "channel:" + ch, State: "queued"})
			})
			f.mux.HandleFunc("DELETE /ari/playbacks/{id}", func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(204)
				f.send(pbEvent("PlaybackFinished", r.PathValue("id"), "done"))
			})
			c := newTestClient(t, f, nil)
			startClient(t, f, c)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			res, err := c.PlayAndWait(ctx, ch, []string{"sound:welcome"}, tc.opt)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if res.Digit != tc.wantDigit {
				t.Errorf("digit %q, want %q", res.Digit, tc.wantDigit)
			}
			if tc.wantErr == nil && res.Playback.State != PlaybackStateDone {
				t.Errorf("playback %+v", res.Playback)
			}
		})
	}
}

func TestPlayAndWaitContextStopsPlayback(t *testing.T) {
	f := newFake(t)
	stopped := make(chan string, 1)
	f.mux.HandleFunc("POST /ari/channels/{id}/play", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 201, Playback{ID: r.URL.Query().Get("playbackId"), State: "queued"})
	})
	f.mux.HandleFunc("DELETE /ari/playbacks/{id}", func(w http.ResponseWriter, r *http.Request) {
		stopped <- r.PathValue("id")
		w.WriteHeader(204)
	})
	c := newTestClient(t, f, nil)
	startClient(t, f, c)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := c.PlayAndWait(ctx, "c1", []string{"sound:x"}, PlayOptions{PlaybackID: "pb-ctx"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
	select {
	case id := <-stopped:
		if id != "pb-ctx" {
			t.Errorf("stopped %q", id)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("playback not stopped")
	}
}

func recEvent(typ, name, state, cause string) string {
	return fmt.Sprintf(`{"type":%q,"timestamp":"2025-05-15T12:35:40.100+0000","recording":{"name":%q,"format":"wav","target_uri":"channel:c1","state":%q,"duration":3,"cause":%q},"asterisk_id":"x","application":"callflow"}`, typ, name, state, cause)
}

func TestRecordAndWait(t *testing.T) {
	end := `{"type":"StasisEnd","timestamp":"2025-05-15T12:35:41.000+0000","channel":{"id":"c1"},"application":"callflow"}`
	tests := []struct {
		name    string
		events  func(n string) []string
		wantErr error
		wantDur int
	}{
		{"finished", func(n string) []string {
			return []string{recEvent("RecordingStarted", n, "recording", ""), recEvent("RecordingFinished", n, "done", "")}
		}, nil, 3},
		{"failed", func(n string) []string {
			return []string{recEvent("RecordingFailed", n, "failed", "No such file or directory")}
		}, ErrRecordingFailed, 3},
		{"hang-up then finished keeps audio", func(n string) []string {
			return []string{recEvent("RecordingStarted", n, "recording", ""), end, recEvent("RecordingFinished", n, "done", "")}
		}, ErrHangup, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			f.mux.HandleFunc("POST /ari/channels/{id}/record", func(w http.ResponseWriter, r *http.Request) {
				n := r.URL.Query().Get("name")
				f.send(tc.events(n)...)
				time.Sleep(30 * time.Millisecond)
				writeJSON(w, 201, LiveRecording{Name: n, Format: "wav", State: "queued", TargetURI: "channel:c1"})
			})
			c := newTestClient(t, f, nil)
			startClient(t, f, c)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			rec, err := c.RecordAndWait(ctx, "c1", RecordRequest{Name: "vm-1", MaxDurationSeconds: 3, Beep: true})
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if rec.Name != "vm-1" || rec.Duration != tc.wantDur {
				t.Errorf("recording %+v", rec)
			}
		})
	}
}

func TestOriginateAndWait(t *testing.T) {
	destroyed := func(id string, cause int, txt string) string {
		return fmt.Sprintf(`{"type":"ChannelDestroyed","timestamp":"2025-05-15T12:35:40.100+0000","cause":%d,"cause_txt":%q,"channel":{"id":%q,"state":"Down"},"asterisk_id":"x","application":"callflow"}`, cause, txt, id)
	}
	dial := func(id, status string) string {
		return fmt.Sprintf(`{"type":"Dial","timestamp":"2025-05-15T12:35:40.000+0000","peer":{"id":%q},"dialstring":"agent1","dialstatus":%q,"application":"callflow"}`, id, status)
	}
	start := func(id string) string {
		return fmt.Sprintf(`{"type":"StasisStart","timestamp":"2025-05-15T12:35:41.000+0000","args":["agent"],"channel":{"id":%q,"state":"Up"},"application":"callflow"}`, id)
	}
	tests := []struct {
		name      string
		events    func(id string) []string
		wantCause int
		wantDial  string
	}{
		{"answered", func(id string) []string { return []string{dial(id, ""), dial(id, "ANSWER"), start(id), dtmf(id, 7)} }, 0, ""},
		{"busy", func(id string) []string {
			return []string{dial(id, ""), dial(id, "BUSY"), destroyed(id, 17, "User busy")}
		}, 17, "BUSY"},
		{"no answer", func(id string) []string { return []string{destroyed(id, 19, "No user responding")} }, 19, ""},
		{"unreachable", func(id string) []string {
			return []string{dial(id, "CHANUNAVAIL"), destroyed(id, 20, "Subscriber absent")}
		}, 20, "CHANUNAVAIL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			f.mux.HandleFunc("POST /ari/channels", func(w http.ResponseWriter, r *http.Request) {
				id := r.URL.Query().Get("channelId")
				f.send(tc.events(id)...)
				time.Sleep(30 * time.Millisecond)
				writeJSON(w, 200, Channel{ID: id, State: "Down"})
			})
			c := newTestClient(t, f, nil)
			startClient(t, f, c)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			st, sub, err := c.OriginateAndWait(ctx, OriginateRequest{Endpoint: "PJSIP/agent1", CallerID: "+420111222333", AppArgs: "agent"})
			if tc.wantCause == 0 {
				if err != nil {
					t.Fatal(err)
				}
				defer sub.Close()
				if st.Channel.State != "Up" || st.Args[0] != "agent" {
					t.Errorf("start %+v", st)
				}
				// The returned subscription continues without a gap.
				if e, ok := next(t, sub).(*ChannelDtmfReceived); !ok || e.DurationMs != 7 {
					t.Errorf("next event %#v", e)
				}
				return
			}
			var oe *OriginateError
			if !errors.As(err, &oe) || !errors.Is(err, ErrOriginateFailed) || oe.Cause != tc.wantCause || oe.DialStatus != tc.wantDial || sub != nil {
				t.Fatalf("err = %v (%+v)", err, oe)
			}
		})
	}
}

func TestAcceptIncoming(t *testing.T) {
	f := newFake(t)
	c := newTestClient(t, f, nil)
	acc := c.Accept()
	defer acc.Close()
	claimed := c.Subscribe(ChannelKey("out-1"))
	defer claimed.Close()
	startClient(t, f, c)
	start := func(id string) string {
		return fmt.Sprintf(`{"type":"StasisStart","timestamp":"2025-05-15T12:35:41.000+0000","args":["inbound"],"channel":{"id":%q,"state":"Ring"},"application":"callflow"}`, id)
	}
	// The call's later events follow at once: the per-call subscription
	// must exist before they are routed.
	f.send(start("out-1"), start("in-1"), dtmf("in-1", 1), dtmf("in-1", 2), fixture(t, "StasisStart"))
	in := next(t, acc).(*Incoming)
	if in.Start.Channel.ID != "in-1" || in.Start.Args[0] != "inbound" {
		t.Fatalf("incoming %+v", in.Start)
	}
	defer in.Sub.Close()
	for want := 1; want <= 2; want++ {
		if e := next(t, in.Sub).(*ChannelDtmfReceived); e.DurationMs != want {
			t.Fatalf("dtmf seq %d, want %d", e.DurationMs, want)
		}
	}
	in2 := next(t, acc).(*Incoming)
	defer in2.Sub.Close()
	if in2.Start.Channel.ID != "1747312522.17" {
		t.Fatalf("second incoming %+v", in2.Start)
	}
	if e := next(t, claimed).(*StasisStart); e.Channel.ID != "out-1" {
		t.Fatalf("claimed channel got %+v", e)
	}
}

func TestReconnectResync(t *testing.T) {
	f := newFake(t)
	f.channels = []Channel{{ID: "1747312522.17", State: "Up"}}
	f.bridges = []Bridge{{ID: "q-support", BridgeType: "holding", Channels: []string{"1747312522.17"}}}
	var mu sync.Mutex
	var states []State
	c := newTestClient(t, f, func(cfg *Config) {
		cfg.OnStateChange = func(_, s State) {
			mu.Lock()
			states = append(states, s)
			mu.Unlock()
		}
	})
	all := c.Subscribe(AllKey)
	defer all.Close()
	startClient(t, f, c)
	r1 := next(t, all).(*Resynced)
	if r1.Reconnect || len(r1.Channels) != 1 || len(r1.Bridges) != 1 {
		t.Fatalf("first resync %+v", r1)
	}
	f.send(dtmf("1747312522.17", 1))
	next(t, all)

	// Asterisk restarts: the socket drops; a channel is gone meanwhile.
	f.mu.Lock()
	f.channels = nil
	cur := f.cur
	f.mu.Unlock()
	_ = cur.CloseNow()
	f.conn()
	r2 := next(t, all).(*Resynced)
	if !r2.Reconnect || len(r2.Channels) != 0 || len(r2.Bridges) != 1 || r2.Bridges[0].ID != "q-support" {
		t.Fatalf("second resync %+v", r2)
	}
	f.send(dtmf("1747312522.17", 2))
	if e := next(t, all).(*ChannelDtmfReceived); e.DurationMs != 2 {
		t.Fatalf("after reconnect %+v", e)
	}
	if st := c.Stats(); st.Connects != 2 || st.Disconnects != 1 {
		t.Errorf("stats %+v", st)
	}
	if c.State() != Connected {
		t.Errorf("state %v", c.State())
	}
	mu.Lock()
	got := fmt.Sprint(states)
	mu.Unlock()
	if want := "[connecting connected disconnected connecting connected]"; got != want {
		t.Errorf("states %s, want %s", got, want)
	}
}

func TestReconnectAfterRefusedAttempts(t *testing.T) {
	f := newFake(t)
	f.failLists = 3
	c := newTestClient(t, f, nil)
	all := c.Subscribe(AllKey)
	defer all.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	r := next(t, all).(*Resynced)
	if r.Reconnect {
		t.Error("first successful connection marked as reconnect")
	}
	if st := c.Stats(); st.Disconnects != 3 || st.Connects != 1 {
		t.Errorf("stats %+v", st)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run returned %v", err)
	}
	// Shutdown closes subscriptions and new ones.
	if _, ok := <-all.C(); ok {
		t.Error("subscription still open after Run returned")
	}
	late := c.Subscribe(AllKey)
	if _, ok := <-late.C(); ok {
		t.Error("late subscription delivered an event")
	}
	if c.State() != Stopped {
		t.Errorf("state %v", c.State())
	}
	if err := c.Run(context.Background()); err == nil {
		t.Error("second Run accepted")
	}
}

func TestBackoff(t *testing.T) {
	tests := []struct {
		name     string
		n        int
		min, max time.Duration
	}{
		{"first", 0, 50 * time.Millisecond, 100 * time.Millisecond},
		{"third", 2, 200 * time.Millisecond, 400 * time.Millisecond},
		{"capped", 30, 5 * time.Second, 10 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for range 200 {
				d := backoff(100*time.Millisecond, 10*time.Second, tc.n)
				if d < tc.min || d > tc.max {
					t.Fatalf("backoff %v outside [%v, %v]", d, tc.min, tc.max)
				}
			}
		})
	}
}

// TestTypeKey: a subscription on event types gets those types, Resynced
// included, in order, and nothing else.
func TestTypeKey(t *testing.T) {
	f := newFake(t)
	c := newTestClient(t, f, nil)
	typed := c.Subscribe(TypeKey("Resynced"), TypeKey("ChannelDestroyed"))
	defer typed.Close()
	all := c.Subscribe(AllKey)
	defer all.Close()
	startClient(t, f, c)
	if _, ok := next(t, typed).(*Resynced); !ok {
		t.Fatal("first event on the type subscription is not Resynced")
	}
	next(t, all) // Resynced
	f.send(dtmf("c1", 1),
		`{"type":"ChannelDestroyed","cause":16,"channel":{"id":"c1"}}`,
		dtmf("c2", 2),
		`{"type":"ChannelDestroyed","cause":17,"channel":{"id":"c2"}}`)
	for range 4 {
		next(t, all) // every event routed before the checks below
	}
	for _, want := range []string{"c1", "c2"} {
		e, ok := next(t, typed).(*ChannelDestroyed)
		if !ok || e.Channel.ID != want {
			t.Fatalf("type subscription: got %#v, want ChannelDestroyed of %s", e, want)
		}
	}
	select {
	case ev := <-typed.C():
		t.Fatalf("type subscription got %#v, want nothing more", ev)
	case <-time.After(50 * time.Millisecond):
	}
}
