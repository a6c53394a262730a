package ari

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"go.uber.org/zap"
)

// TestRequestsReuseConnections: concurrent requests reuse idle keep-alive
// connections instead of opening one per request (net/http's default
// transport keeps only two idle connections per host).
func TestRequestsReuseConnections(t *testing.T) {
	const workers, perWorker = 16, 20
	tests := []struct {
		name     string
		client   *http.Client // nil: the package default
		maxConns int64
		minConns int64
	}{
		// About one connection per worker; racing dials on a loaded machine
		// open a few more (22 seen in CI).
		{name: "default transport keeps connections", maxConns: 2 * workers},
		// Through net/http's defaults (2 idle connections per host) the
		// same load opened 61-101 connections under the race detector but
		// as few as 16 without it, so no lower bound holds (the churn is
		// logged for comparison; TestTransportKeepsIdleConnections pins the
		// setting). The upper bound does: a request dials at most once, so
		// more connections than requests means the client dials extra ones
		// (a retry or a leaked body).
		{name: "net/http defaults (for comparison)", client: &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}, maxConns: workers * perWorker},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var opened atomic.Int64
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, 200, []Channel{{ID: "1", Name: "PJSIP/a-1", State: "Up"}})
			}))
			srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
				if s == http.StateNew {
					opened.Add(1)
				}
			}
			srv.Start()
			defer srv.Close()
			c, err := New(Config{BaseURL: srv.URL + "/ari", User: "cf", Pass: "secret", App: "callflow", HTTPClient: tc.client}, zap.NewNop())
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			errs := make(chan error, workers*perWorker)
			for range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range perWorker {
						if _, err := c.ListChannels(context.Background()); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			n := opened.Load()
			t.Logf("%d requests opened %d connections", workers*perWorker, n)
			if tc.maxConns > 0 && n > tc.maxConns {
				t.Errorf("%d connections opened, want ≤ %d", n, tc.maxConns)
			}
			if tc.minConns > 0 && n < tc.minConns {
				t.Errorf("%d connections opened, want ≥ %d", n, tc.minConns)
			}
		})
	}
}

// TestTransportKeepsIdleConnections: the client's transport keeps enough
// idle connections for every concurrent call's requests; net/http's
// default of 2 made Asterisk start a thread per request under load.
func TestTransportKeepsIdleConnections(t *testing.T) {
	if tr := newTransport(); tr.MaxIdleConnsPerHost < 64 {
		t.Fatalf("MaxIdleConnsPerHost = %d, want ≥ 64", tr.MaxIdleConnsPerHost)
	}
}
