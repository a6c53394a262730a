package ari

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/callflow/callflow/internal/tcpproxy"
)

// proxied returns a running client that reaches f through a proxy the
// test can cut, with retry while down set to retry.
func proxied(t *testing.T, f *fakeARI, retry time.Duration) (*Client, *tcpproxy.Proxy) {
	t.Helper()
	f.mux.HandleFunc("POST /ari/channels/{id}/answer", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	f.mux.HandleFunc("POST /ari/channels", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, Channel{ID: "cf-1"}) })
	p, err := tcpproxy.Start(strings.TrimPrefix(f.srv.URL, "http://"), t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	c := newTestClient(t, f, func(cfg *Config) {
		cfg.BaseURL = "http://" + p.Addr() + "/ari"
		cfg.RetryWhileDown = retry
	})
	startClient(t, f, c)
	return c, p
}

func TestRequestRetriedOnceTheConnectionIsBack(t *testing.T) {
	f := newFake(t)
	c, p := proxied(t, f, 10*time.Second)
	p.Cut()
	restored := make(chan struct{})
	// Ends after the restore.
	go func() {
		defer close(restored)
		time.Sleep(300 * time.Millisecond)
		p.Restore()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Answer(ctx, "1747312522.17"); err != nil {
		t.Fatalf("answer across the cut: %v", err)
	}
	<-restored
	st := c.Stats()
	if st.Retries < 1 || st.Disconnects < 1 || st.Connects < 2 {
		t.Errorf("stats %+v: want a retry after a reconnect", st)
	}
	if r := f.lastRequest(); r.Method != "POST" || r.Path != "/ari/channels/1747312522.17/answer" {
		t.Errorf("last request %s %s, want the answer", r.Method, r.Path)
	}
}

func TestOriginateIsNotRetried(t *testing.T) {
	f := newFake(t)
	c, p := proxied(t, f, 10*time.Second)
	p.Cut()
	defer p.Restore()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	_, err := c.Originate(ctx, OriginateRequest{Endpoint: "PJSIP/agent1", ChannelID: "cf-1"})
	if err == nil || !unreachable(err) {
		t.Fatalf("originate while cut: %v, want a transport error", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("originate while cut failed only after %v", d)
	}
	if n := c.Stats().Retries; n != 0 {
		t.Errorf("%d retries, want none", n)
	}
}

func TestRetryGivesUpAfterRetryWhileDown(t *testing.T) {
	f := newFake(t)
	c, p := proxied(t, f, 500*time.Millisecond)
	p.Cut()
	defer p.Restore()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	err := c.Answer(ctx, "1747312522.17")
	if err == nil || !unreachable(err) {
		t.Fatalf("answer while cut: %v, want a transport error", err)
	}
	if d := time.Since(start); d < 400*time.Millisecond || d > 3*time.Second {
		t.Errorf("gave up after %v, want about 500ms", d)
	}
}

func TestUnreachable(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"http status", &Error{Status: 503}, false},
		{"context canceled", context.Canceled, false},
		{"plain", http.ErrServerClosed, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := unreachable(tc.err); got != tc.want {
				t.Errorf("unreachable(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

// originateAcrossReconnect starts OriginateAndWait on c, drops the
// websocket once Asterisk has the originate, lets the client reconnect
// and returns what OriginateAndWait returned.
func originateAcrossReconnect(t *testing.T, f *fakeARI, c *Client) (*StasisStart, error) {
	t.Helper()
	posted := make(chan struct{}, 1)
	f.mux.HandleFunc("POST /ari/channels", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, Channel{ID: "cf-lost", State: "Down"})
		posted <- struct{}{}
	})
	type result struct {
		st  *StasisStart
		err error
	}
	done := make(chan result, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Ends when OriginateAndWait returns (at the latest with ctx).
	go func() {
		st, sub, err := c.OriginateAndWait(ctx, OriginateRequest{Endpoint: "PJSIP/agent1", ChannelID: "cf-lost", Timeout: 5 * time.Second})
		if sub != nil {
			sub.Close()
		}
		done <- result{st, err}
	}()
	select {
	case <-posted:
	case <-time.After(5 * time.Second):
		t.Fatal("no originate")
	}
	// The answer (StasisStart) is lost with the connection.
	f.mu.Lock()
	cur := f.cur
	f.mu.Unlock()
	_ = cur.CloseNow()
	f.conn()
	select {
	case r := <-done:
		return r.st, r.err
	case <-time.After(8 * time.Second):
		t.Fatal("OriginateAndWait still waits after the reconnect")
		return nil, nil
	}
}

func TestOriginateAnsweredWhileDown(t *testing.T) {
	f := newFake(t)
	f.mux.HandleFunc("GET /ari/channels/{id}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, Channel{ID: r.PathValue("id"), State: "Up",
			Dialplan: DialplanCEP{AppName: "Stasis", AppData: "callflow,callflow-originated"}})
	})
	c := newTestClient(t, f, nil)
	startClient(t, f, c)
	st, err := originateAcrossReconnect(t, f, c)
	if err != nil {
		t.Fatal(err)
	}
	if st.Channel.ID != "cf-lost" || len(st.Args) != 1 || st.Args[0] != "callflow-originated" {
		t.Errorf("StasisStart %+v", st)
	}
}

func TestOriginateGoneWhileDown(t *testing.T) {
	f := newFake(t)
	f.mux.HandleFunc("GET /ari/channels/{id}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 404, map[string]string{"message": "Channel not found"})
	})
	c := newTestClient(t, f, nil)
	startClient(t, f, c)
	_, err := originateAcrossReconnect(t, f, c)
	var oe *OriginateError
	if !errors.As(err, &oe) || oe.ChannelID != "cf-lost" {
		t.Fatalf("originate of a channel gone while down: %v, want an *OriginateError", err)
	}
}

func TestStasisApp(t *testing.T) {
	for _, tc := range []struct {
		name, appName, appData, app string
		args                        []string
	}{
		{"originated", "Stasis", "callflow,callflow-originated", "callflow", []string{"callflow-originated"}},
		{"no args", "Stasis", "callflow", "callflow", []string{}},
		{"other application", "Wait", "1", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app, args := stasisApp(Channel{Dialplan: DialplanCEP{AppName: tc.appName, AppData: tc.appData}})
			if app != tc.app || fmt.Sprint(args) != fmt.Sprint(tc.args) {
				t.Errorf("stasisApp = %q %q, want %q %q", app, args, tc.app, tc.args)
			}
		})
	}
}
