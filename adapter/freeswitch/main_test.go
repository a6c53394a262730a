package freeswitch

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/callflow/callflow/adapter"
	"github.com/callflow/callflow/esl/esltest"
)

// env is one esltest server and a serving driver.
type env struct {
	srv  *esltest.Server
	sw   *Switch
	logs *observer.ObservedLogs
	ctx  context.Context // ends with the test
}

type envOpt func(*esltest.Options, *Config)

func withPlayback(d time.Duration) envOpt {
	return func(o *esltest.Options, _ *Config) { o.PlaybackLength = d }
}

func withCommandTimeout(d time.Duration) envOpt {
	return func(_ *esltest.Options, c *Config) { c.CommandTimeout = d }
}

// start runs a driver against a new esltest server; h handles inbound
// calls (nil: none expected).
func start(t *testing.T, h adapter.Handler, opts ...envOpt) *env {
	t.Helper()
	so := esltest.Options{Password: "S3cret-pw"}
	cfg := Config{Password: "S3cret-pw", OutboundListen: "127.0.0.1:0", RecordDir: "/srv/callflow/rec",
		CommandTimeout: 2 * time.Second}
	for _, o := range opts {
		o(&so, &cfg)
	}
	srv, err := esltest.NewServer(so)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	cfg.Inbound = srv.Addr()
	core, logs := observer.New(zapcore.DebugLevel)
	log := zap.New(zapcore.NewTee(untilCleanup(t, zaptest.NewLogger(t).Core()), core))
	sw, err := New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	if h == nil {
		h = func(ctx context.Context, c adapter.Call) { t.Errorf("unexpected inbound call %s", c.ID()) }
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	served := make(chan error, 1)
	go func() { served <- sw.Serve(ctx, h) }() // ends with ctx (test cleanup)
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("serve: %v", err)
		}
	})
	select {
	case <-sw.Ready():
	case err := <-served:
		t.Fatalf("serve ended early: %v", err)
	case <-ctx.Done():
		t.Fatal("driver not ready")
	}
	return &env{srv: srv, sw: sw, logs: logs, ctx: ctx}
}

// dial hands a call to the driver's outbound socket.
func (e *env) dial(t *testing.T, caller esltest.Caller) *esltest.OutboundCall {
	t.Helper()
	oc, err := e.srv.DialOutbound(e.ctx, e.sw.OutboundAddr(), caller)
	if err != nil {
		t.Fatal(err)
	}
	return oc
}

// sent renders the commands received so far, one string each: the
// command line, then "name: value" headers, then the body, '|'-joined.
func (e *env) sent() []string {
	var out []string
	for _, c := range e.srv.Received() {
		parts := []string{c.Line}
		for _, h := range c.Headers {
			if h.Name == "Event-UUID" || h.Name == "Job-UUID" {
				h.Value = "ID"
			}
			parts = append(parts, h.Name+": "+h.Value)
		}
		if len(c.Body) > 0 {
			parts = append(parts, string(c.Body))
		}
		out = append(out, strings.Join(parts, "|"))
	}
	return out
}

// waitSent waits until a received command matches re and returns it.
func (e *env) waitSent(t *testing.T, re string) string {
	t.Helper()
	rx := regexp.MustCompile(re)
	for {
		for _, s := range e.sent() {
			if rx.MatchString(s) {
				return s
			}
		}
		select {
		case <-e.ctx.Done():
			t.Fatalf("no command matching %q; sent:\n%s", re, strings.Join(e.sent(), "\n"))
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// after returns the commands sent after the first one matching re.
func (e *env) after(t *testing.T, re string) []string {
	t.Helper()
	rx := regexp.MustCompile(re)
	all := e.sent()
	for i, s := range all {
		if rx.MatchString(s) {
			return all[i+1:]
		}
	}
	t.Fatalf("no command matching %q; sent:\n%s", re, strings.Join(all, "\n"))
	return nil
}

// await waits for one value from ch.
func await[T any](t *testing.T, e *env, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-e.ctx.Done():
		t.Fatalf("timed out; sent:\n%s", strings.Join(e.sent(), "\n"))
	}
	var zero T
	return zero
}

// execLine is how a session execute shows in sent().
func execLine(app, arg string) string {
	s := "sendmsg|call-command: execute|execute-app-name: " + app
	if arg != "" {
		s += "|execute-app-arg: " + arg
	}
	return s + "|event-lock: true|Event-UUID: ID"
}

func equalLines(t *testing.T, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("commands:\n got  %q\n want %q", got, want)
	}
}

// untilCleanup passes log entries to core until t's cleanups run: the
// goroutine of an attached call may log its end after the test returned,
// and testing reports a write to a finished test as a data race.
func untilCleanup(t *testing.T, core zapcore.Core) zapcore.Core {
	q := &quietCore{Core: core, mu: new(sync.RWMutex), off: new(bool)}
	t.Cleanup(func() {
		q.mu.Lock()
		*q.off = true
		q.mu.Unlock()
	})
	return q
}

type quietCore struct {
	zapcore.Core
	mu  *sync.RWMutex
	off *bool
}

func (q *quietCore) With(f []zapcore.Field) zapcore.Core {
	return &quietCore{Core: q.Core.With(f), mu: q.mu, off: q.off}
}

func (q *quietCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if q.Enabled(e.Level) {
		return ce.AddCore(e, q)
	}
	return ce
}

func (q *quietCore) Write(e zapcore.Entry, f []zapcore.Field) error {
	q.mu.RLock()
	defer q.mu.RUnlock()
	if *q.off {
		return nil
	}
	return q.Core.Write(e, f)
}
