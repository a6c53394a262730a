package sipptest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/callflow/callflow/internal/asterisktest"
)

// ariEvent is the part of an ARI event the tests look at.
type ariEvent struct {
	Type  string   `json:"type"`
	Args  []string `json:"args"`
	Digit string   `json:"digit"`
	// DurationMs is a ChannelDtmfReceived's key press length.
	DurationMs int `json:"duration_ms"`
	Cause      int `json:"cause"`
	Channel    struct {
		ID     string `json:"id"`
		Caller struct {
			Number string `json:"number"`
		} `json:"caller"`
	} `json:"channel"`
}

// events connects to the ARI websocket of app "callflow". The reader
// goroutine ends when the connection closes in t.Cleanup; a full channel
// fails the test instead of dropping an event.
func events(t *testing.T, a *asterisktest.Asterisk) <-chan ariEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, a.EventsURL(a.App), nil)
	if err != nil {
		t.Fatalf("ari websocket: %v", err)
	}
	conn.SetReadLimit(1 << 20)
	ch := make(chan ariEvent, 256)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(ch)
		for {
			_, data, err := conn.Read(context.Background())
			if err != nil {
				return
			}
			var ev ariEvent
			if err := json.Unmarshal(data, &ev); err != nil {
				t.Errorf("ari event %s: %v", data, err)
				return
			}
			select {
			case ch <- ev:
			default:
				t.Errorf("ari event buffer full, event %s lost", ev.Type)
				return
			}
		}
	}()
	t.Cleanup(func() {
		conn.Close(websocket.StatusNormalClosure, "test done")
		<-done
	})
	return ch
}

// waitEvent returns the next event of type typ (skipping others).
func waitEvent(t *testing.T, ch <-chan ariEvent, typ string, d time.Duration) ariEvent {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatalf("ari websocket closed while waiting for %s", typ)
			}
			if ev.Type == typ {
				return ev
			}
		case <-timeout:
			t.Fatalf("no %s within %v", typ, d)
		}
	}
}

func ari(t *testing.T, a *asterisktest.Asterisk, method, path string, q url.Values) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	u := a.ARIURL + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(a.User, a.Pass)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %s: %s", method, path, resp.Status, body)
	}
	return body
}

func originate(t *testing.T, a *asterisktest.Asterisk, endpoint, callerID string, timeout int) string {
	t.Helper()
	id := fmt.Sprintf("test-%d", time.Now().UnixNano())
	ari(t, a, http.MethodPost, "/channels", url.Values{
		"endpoint": {endpoint}, "app": {a.App}, "appArgs": {"dialed"},
		"callerId": {callerID}, "channelId": {id}, "timeout": {fmt.Sprint(timeout)},
	})
	return id
}

func TestMain(m *testing.M) { os.Exit(asterisktest.Main(m)) }
