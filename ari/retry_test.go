package ari

import (
	"context"
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
