package ari

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/zap/zaptest"
)

// fakeARI is an ARI server for tests: REST handlers on a ServeMux and an
// events websocket whose connections the test drives.
type fakeARI struct {
	t     testing.TB
	srv   *httptest.Server
	mux   *http.ServeMux
	conns chan *websocket.Conn

	mu       sync.Mutex
	reqs     []recorded
	channels []Channel
	bridges  []Bridge
	cur      *websocket.Conn
	// failLists makes that many GET /bridges fail with 503 (a re-sync
	// failure; the client must drop the connection and retry).
	failLists int
}

type recorded struct {
	Method, Path, RawQuery, User, Pass string
	Body                               []byte
}

func newFake(t testing.TB) *fakeARI {
	t.Helper()
	f := &fakeARI{t: t, mux: http.NewServeMux(), conns: make(chan *websocket.Conn, 16)}
	f.mux.HandleFunc("GET /ari/events", f.events)
	f.mux.HandleFunc("GET /ari/channels", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		writeJSON(w, 200, append([]Channel{}, f.channels...))
	})
	f.mux.HandleFunc("GET /ari/bridges", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.failLists > 0 {
			f.failLists--
			writeJSON(w, 503, map[string]string{"message": "starting"})
			return
		}
		writeJSON(w, 200, append([]Bridge{}, f.bridges...))
	})
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, _ := r.BasicAuth()
		var body []byte
		if r.Body != nil {
			body, _ = io.ReadAll(r.Body)
		}
		f.mu.Lock()
		f.reqs = append(f.reqs, recorded{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, u, p, body})
		f.mu.Unlock()
		f.mux.ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fakeARI) events(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("app") != "callflow" || r.URL.Query().Get("api_key") != "cf:secret" {
		http.Error(w, `{"message":"Authentication required"}`, http.StatusUnauthorized)
		return
	}
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	// CloseRead answers the client's pings until the connection ends.
	ctx := c.CloseRead(context.Background())
	f.mu.Lock()
	f.cur = c
	f.mu.Unlock()
	f.conns <- c
	<-ctx.Done()
}

// conn waits for the next accepted websocket.
func (f *fakeARI) conn() *websocket.Conn {
	f.t.Helper()
	select {
	case c := <-f.conns:
		return c
	case <-time.After(5 * time.Second):
		f.t.Fatal("no websocket connection")
		return nil
	}
}

// send writes raw event messages on the current websocket.
func (f *fakeARI) send(msgs ...string) {
	f.t.Helper()
	f.mu.Lock()
	c := f.cur
	f.mu.Unlock()
	if c == nil {
		f.t.Fatal("send: no websocket")
	}
	for _, m := range msgs {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := c.Write(ctx, websocket.MessageText, []byte(m))
		cancel()
		if err != nil {
			f.t.Errorf("send: %v", err)
			return
		}
	}
}

func (f *fakeARI) requests() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recorded(nil), f.reqs...)
}

// lastRequest returns the last request other than the resync listings.
func (f *fakeARI) lastRequest() recorded {
	f.t.Helper()
	rs := f.requests()
	for i := len(rs) - 1; i >= 0; i-- {
		if rs[i].Path != "/ari/events" && !(rs[i].Method == "GET" && (rs[i].Path == "/ari/channels" || rs[i].Path == "/ari/bridges")) {
			return rs[i]
		}
	}
	f.t.Fatal("no request recorded")
	return recorded{}
}

func fixture(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "events", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// newTestClient returns a client for f (not running).
func newTestClient(t testing.TB, f *fakeARI, mod func(*Config)) *Client {
	t.Helper()
	cfg := Config{
		BaseURL: f.srv.URL + "/ari", User: "cf", Pass: "secret", App: "callflow",
		RequestTimeout: 2 * time.Second, ReconnectMin: 10 * time.Millisecond, ReconnectMax: 50 * time.Millisecond,
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// startClient runs c until the test ends and waits for the connection.
func startClient(t testing.TB, f *fakeARI, c *Client) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	f.conn()
	wctx, wcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer wcancel()
	if err := c.WaitState(wctx, Connected); err != nil {
		t.Fatal(err)
	}
}

// next receives one event or fails after 5 s.
func next(t testing.TB, s *Subscription) Event {
	t.Helper()
	select {
	case ev, ok := <-s.C():
		if !ok {
			t.Fatal("subscription closed")
		}
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5 s")
		return nil
	}
}
