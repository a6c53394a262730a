package freeswitch

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/callflow/callflow/adapter"
	"github.com/callflow/callflow/esl"
	"github.com/callflow/callflow/internal/fstest"
	"github.com/callflow/callflow/internal/sipptest"
)

// realAdopt: a call handed to a first "process" (a bare esl listener at
// the dialplan's socket address) that answers it, starts hold music and
// lets go of it, the way a killed callflow does, is parked by the shipped
// dialplan, and a new driver lists it (Survivors) and controls it (Adopt):
// a prompt, then the hang-up when the handler returns. A call whose
// socket found nobody listening is parked unanswered and is adopted too.
func realAdopt(t *testing.T, fs *fstest.FreeSWITCH) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ctl, err := esl.Dial(ctx, fs.ESLAddress, fs.Password, esl.Options{})
	if err != nil {
		t.Fatalf("control connection: %v", err)
	}
	defer ctl.Close()
	if err := resetChannels(ctx, ctl); err != nil {
		t.Fatal(err)
	}
	call := func(from string) <-chan sipptest.Result {
		done := make(chan sipptest.Result, 1)
		go func() { // ends with the sipp run
			res, err := sipptest.RunCaller(ctx, sipptest.Caller{Extension: "200", From: from,
				Events: []sipptest.Step{sipptest.Pause(40 * time.Second), sipptest.Hangup()}}, fs.SIPPort)
			if err != nil {
				t.Logf("caller %s: %v", from, err)
			}
			done <- res
		}()
		return done
	}

	// The first process: answer, music, then let go (the socket closes).
	handed := make(chan string, 1)
	lctx, stopOld := context.WithCancel(ctx)
	old, err := esl.Listen(lctx, fs.SocketAddress, func(ctx context.Context, s *esl.Session) {
		if err := s.MyEvents(ctx); err != nil {
			t.Errorf("old process: myevents: %v", err)
			return
		}
		if _, err := s.Execute(ctx, "answer", ""); err != nil {
			t.Errorf("old process: answer: %v", err)
			return
		}
		if _, err := s.API(ctx, esl.API{Cmd: "uuid_broadcast", Args: s.UUID() + " local_stream://moh aleg"}); err != nil {
			t.Errorf("old process: music: %v", err)
			return
		}
		handed <- s.UUID()
		s.Close() // the socket drops, as when the process is killed
	}, esl.ServerOptions{CommandTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	answered := call("+420601000001")
	var first string
	select {
	case first = <-handed:
	case <-time.After(30 * time.Second):
		t.Fatal("no outbound session for the first call")
	}
	stopOld()
	if err := old.Wait(); err != nil {
		t.Logf("old listener: %v", err)
	}
	// Nobody listens now: the second call's socket fails and the dialplan
	// parks it, unanswered.
	unanswered := call("+420601000002")
	var second string
	deadline := time.Now().Add(20 * time.Second)
	for second == "" && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		out, err := ctl.API(ctx, esl.API{Cmd: "show", Args: "channels"})
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(out, "\n") {
			f := strings.Split(line, ",")
			if len(f) > 10 && f[0] != first && f[0] != "uuid" && strings.Contains(line, ",park,") {
				second = f[0]
			}
		}
	}
	if second == "" {
		t.Fatal("the call placed while nobody listened was not parked")
	}
	// The first call is still up and parked by the dialplan once the
	// music broadcast ends; it still plays the music now.
	if out, err := ctl.API(ctx, esl.API{Cmd: "uuid_exists", Args: first}); err != nil || strings.TrimSpace(out) != "true" {
		t.Fatalf("the call let go by the first process is gone: %q %v", out, err)
	}

	// The new process.
	log := zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel))
	sw, err := New(Config{Inbound: fs.ESLAddress, Password: fs.Password, OutboundListen: fs.SocketAddress,
		RecordDir: fs.RecordingsDir(), CommandTimeout: 5 * time.Second}, log)
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() {
		served <- sw.Serve(sctx, func(context.Context, adapter.Call) { t.Error("unexpected new call") })
	}()
	defer func() {
		stop()
		if err := <-served; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("serve: %v", err)
		}
	}()
	t0 := time.Now()
	infos, err := sw.Survivors(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("survivors listed in %v: %+v", time.Since(t0).Round(time.Millisecond), infos)
	var ids []string
	for _, in := range infos {
		ids = append(ids, in.ID)
		if in.Direction != adapter.Inbound || in.Dialed != "200" || !slices.Equal(in.Args, []string{"main"}) {
			t.Errorf("survivor %+v: want inbound, dialed 200, args [main]", in)
		}
	}
	slices.Sort(ids)
	want := []string{first, second}
	slices.Sort(want)
	if !slices.Equal(ids, want) {
		t.Fatalf("survivors %q, want %q", ids, want)
	}

	type outcome struct {
		id      string
		info    adapter.CallInfo
		err     error
		playFor time.Duration
	}
	// What the first process asked for can start after the adoption's
	// break (seen once: its hold music began 280 ms after the break and
	// held the new flow's prompts for ever). The hook starts music on the
	// answered call right after the break, as that late broadcast did;
	// the adoption must stop it before the flow's prompts.
	adoptBroken = func(id string) {
		if id != first {
			return
		}
		if _, err := ctl.API(ctx, esl.API{Cmd: "uuid_broadcast", Args: id + " local_stream://moh aleg"}); err != nil {
			t.Errorf("late broadcast: %v", err)
		}
		time.Sleep(300 * time.Millisecond) // it plays by then (frames every 30 ms)
	}
	defer func() { adoptBroken = nil }()
	results := make(chan outcome, 2)
	for _, id := range want {
		err := sw.Adopt(ctx, id, func(ctx context.Context, c adapter.Call) {
			o := outcome{id: c.ID(), info: c.Info()}
			if o.err = c.Answer(ctx); o.err == nil {
				t1 := time.Now()
				_, o.err = c.Play(ctx, []adapter.Prompt{"tone:beep", "silence:1"}, adapter.PlayOptions{})
				o.playFor = time.Since(t1)
			}
			results <- o
		})
		if err != nil {
			t.Fatalf("adopt %s: %v", id, err)
		}
	}
	if err := sw.Adopt(ctx, first, func(context.Context, adapter.Call) {}); err == nil {
		t.Error("a second Adopt of the same call succeeded")
	}
	if err := sw.Adopt(ctx, "00000000-0000-4000-8000-000000000000", func(context.Context, adapter.Call) {}); !errors.Is(err, adapter.ErrNotFound) {
		t.Errorf("adopt of an unknown channel: %v, want ErrNotFound", err)
	}
	for range want {
		select {
		case o := <-results:
			if o.err != nil {
				t.Errorf("adopted call %s: %v", o.id, o.err)
			}
			// The prompts last 1.5 s: the music the first process
			// started was stopped, or Play would not have ended.
			if o.playFor < time.Second {
				t.Errorf("adopted call %s: prompts took %v, want about 1.5 s", o.id, o.playFor)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("an adopted call's handler did not finish")
		}
	}
	for name, done := range map[string]<-chan sipptest.Result{"answered": answered, "unanswered": unanswered} {
		select {
		case res := <-done:
			if res.HungUpBy != "remote" {
				t.Errorf("%s caller: hung up by %q, want remote (the adopted handler's end hangs up)", name, res.HungUpBy)
			}
			if res.Dir != "" {
				res.Cleanup()
			}
		case <-time.After(45 * time.Second):
			t.Errorf("%s caller still running", name)
		}
	}
}
