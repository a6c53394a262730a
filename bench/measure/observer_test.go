package measure

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

func TestObserve(t *testing.T) {
	frames := []string{
		`{"type":"StasisStart","timestamp":"2026-11-25T14:52:27.000+0000","channel":{"id":"c1"}}`,
		`{"type":"ChannelDtmfReceived","timestamp":"2026-11-25T14:52:27.404+0000","digit":"1","channel":{"id":"c1"}}`,
		`not json`,
		`{"type":"ChannelLeftBridge","timestamp":"2026-11-25T14:52:27.420+0000","channel":{"id":"c1"}}`,
	}
	sent := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("subscribeAll") != "true" || r.URL.Path != "/ari/events" {
			http.Error(w, "bad request "+r.URL.String(), http.StatusBadRequest)
			return
		}
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for _, f := range frames {
			if err := c.Write(r.Context(), websocket.MessageText, []byte(f)); err != nil {
				return
			}
		}
		close(sent)
		_, _, _ = c.Read(r.Context()) // until the observer closes
	}))
	defer srv.Close()
	u, err := ObserverURL(srv.URL+"/ari", "obs", "u", "p")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	o, err := Observe(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	<-sent
	// The reader may still be decoding the last frame.
	deadline := time.Now().Add(5 * time.Second)
	for {
		o.mu.Lock()
		n := len(o.evs) + o.bad
		o.mu.Unlock()
		if n == 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	evs, bad, err := o.Close()
	if err != nil {
		t.Fatalf("Close: %v", err)
	}
	if bad != 1 {
		t.Errorf("bad frames = %d, want 1", bad)
	}
	if len(evs) != 2 || evs[0].Type != "ChannelDtmfReceived" || evs[1].Type != "ChannelLeftBridge" {
		t.Fatalf("events = %+v", evs)
	}
	if lat := Pair(evs); lat.P50 != 16*time.Millisecond {
		t.Errorf("latency %v, want 16ms", lat)
	}
}

func TestObserveRefused(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusUnauthorized)
	}))
	defer srv.Close()
	u, _ := ObserverURL(srv.URL+"/ari", "obs", "u", "p")
	_, err := Observe(context.Background(), u)
	if err == nil || !strings.Contains(err.Error(), "observer dial") {
		t.Fatalf("err = %v, want a dial error", err)
	}
}
