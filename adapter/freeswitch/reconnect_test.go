package freeswitch

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/callflow/callflow/adapter"
	"github.com/callflow/callflow/esl/esltest"
	"github.com/callflow/callflow/internal/tcpproxy"
)

// startProxied runs a driver whose inbound connection reaches a new
// esltest server through a proxy the test can cut.
func startProxied(t *testing.T) (*Switch, *esltest.Server, *tcpproxy.Proxy, context.Context) {
	t.Helper()
	srv, err := esltest.NewServer(esltest.Options{Password: "S3cret-pw"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	p, err := tcpproxy.Start(srv.Addr(), t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	sw, err := New(Config{Inbound: p.Addr(), Password: "S3cret-pw", OutboundListen: "127.0.0.1:0",
		RecordDir: "/srv/callflow/rec", CommandTimeout: 2 * time.Second}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	served := make(chan error, 1)
	go func() { // ends with ctx (test cleanup)
		served <- sw.Serve(ctx, func(ctx context.Context, c adapter.Call) { t.Errorf("unexpected inbound call %s", c.ID()) })
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("serve: %v", err)
		}
	})
	select {
	case <-sw.Ready():
	case <-time.After(5 * time.Second):
		t.Fatal("driver not ready")
	}
	return sw, srv, p, ctx
}

// waitBgAPI waits until the server has received an originate.
func waitBgAPI(t *testing.T, srv *esltest.Server) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		for _, l := range srv.ReceivedLines() {
			if strings.HasPrefix(l, "bgapi originate") {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("no bgapi originate")
}

// The far end answers while the inbound connection is cut: the
// BACKGROUND_JOB is lost, and the re-sync after the redial finds the
// channel answered, so Originate returns the call at the reconnect instead
// of killing it at its ring timeout.
func TestOriginateAnsweredWhileCut(t *testing.T) {
	const ep = "sofia/gateway/gw/+420222333444"
	sw, srv, p, ctx := startProxied(t)
	srv.Script(ep, esltest.Fate{Outcome: esltest.Answer, After: 300 * time.Millisecond})
	type result struct {
		c   adapter.Call
		err error
	}
	done := make(chan result, 1)
	start := time.Now()
	go func() { // ends when Originate returns (within its ring timeout and grace)
		c, err := sw.Originate(ctx, adapter.OriginateRequest{Endpoint: ep, CallerID: "+420111222333", Timeout: 8 * time.Second, Tag: "agent"})
		done <- result{c, err}
	}()
	waitBgAPI(t, srv)
	p.Cut()
	time.Sleep(time.Second) // the answer comes in the gap
	p.Restore()
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatalf("originate answered in the gap: %v", r.err)
		}
		if d := time.Since(start); d > 6*time.Second {
			t.Errorf("originate returned after %v, want at the reconnect", d)
		}
		if info, ok := srv.Channel(r.c.(*call).uuid); !ok || !info.Answered || info.HungUp {
			t.Errorf("answered channel %+v (known %v)", info, ok)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("originate did not return")
	}
}

// An originate sent while the connection is cut waits for the redial and
// is sent then; the re-sync that follows the redial must not take the
// channel, which does not exist yet, for one that went away.
func TestOriginateSentAfterRedial(t *testing.T) {
	const ep = "sofia/gateway/gw/+420222333444"
	sw, srv, p, ctx := startProxied(t)
	srv.Script(ep, esltest.Fate{Outcome: esltest.Answer, After: 200 * time.Millisecond})
	p.Cut()
	deadline := time.Now().Add(5 * time.Second)
	for sw.Connected() {
		if time.Now().After(deadline) {
			t.Fatal("the driver did not notice the cut")
		}
		time.Sleep(5 * time.Millisecond)
	}
	done := make(chan error, 1)
	go func() { // ends when Originate returns
		_, err := sw.Originate(ctx, adapter.OriginateRequest{Endpoint: ep, CallerID: "+420111222333", Timeout: 5 * time.Second, Tag: "agent"})
		done <- err
	}()
	time.Sleep(500 * time.Millisecond)
	p.Restore()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("originate sent after the redial: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("originate did not return")
	}
}

// A busy far end dialled right after the redial is reported busy: the
// re-sync must not end the originate as a channel gone while down.
func TestOriginateBusyAfterRedial(t *testing.T) {
	const ep = "sofia/gateway/gw/+420222333444"
	sw, srv, p, ctx := startProxied(t)
	srv.Script(ep, esltest.Fate{Outcome: esltest.Busy})
	p.Cut()
	deadline := time.Now().Add(5 * time.Second)
	for sw.Connected() {
		if time.Now().After(deadline) {
			t.Fatal("the driver did not notice the cut")
		}
		time.Sleep(5 * time.Millisecond)
	}
	done := make(chan error, 1)
	go func() { // ends when Originate returns
		_, err := sw.Originate(ctx, adapter.OriginateRequest{Endpoint: ep, CallerID: "+420111222333", Timeout: 5 * time.Second, Tag: "agent"})
		done <- err
	}()
	time.Sleep(300 * time.Millisecond)
	p.Restore()
	select {
	case err := <-done:
		if !errors.Is(err, adapter.ErrBusy) {
			t.Fatalf("busy originate sent after the redial: %v, want busy", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("originate did not return")
	}
}
