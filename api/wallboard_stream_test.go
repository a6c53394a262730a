package api

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// readEvent reads the next "state" event of a wallboard stream.
func readEvent(t *testing.T, sc *bufio.Scanner) boardState {
	t.Helper()
	event := ""
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: ") && event == "state":
			var st boardState
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &st); err != nil {
				t.Fatalf("state %s: %v", line, err)
			}
			return st
		}
	}
	t.Fatalf("stream ended: %v", sc.Err())
	return boardState{}
}

func TestWallboardStream(t *testing.T) {
	f := newFixture(t, token)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", f.srv.URL+"/v1/wallboard/stream", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("status %d, content type %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	sc := bufio.NewScanner(res.Body)
	st := readEvent(t, sc)
	if len(st.Queues) != 1 || st.Queues[0].Name != "sales" || len(st.Queues[0].Lines) != 0 {
		t.Fatalf("first state %+v", st)
	}
	// A change is pushed without the client asking.
	if r := f.post(t, `{"queue":"sales","number":"601 000 001"}`); r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	st = readEvent(t, sc)
	q := st.Queues[0]
	if len(q.Lines) != 1 || q.Lines[0].Kind != "callback" || q.Lines[0].Number != "+420601000001" || q.CallbacksDue != 1 || q.CallbacksInFlight != 0 {
		t.Fatalf("after a callback: %+v", q)
	}
}

func TestWallboardStreamEndsOnClose(t *testing.T) {
	f := newFixture(t, token)
	req, _ := http.NewRequest("GET", f.srv.URL+"/v1/wallboard/stream", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	readEvent(t, sc)
	f.srv.Config.Handler.(*Handler).Close()
	done := make(chan struct{})
	go func() { // ends when the stream ends
		for sc.Scan() {
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("stream still open after Close")
	}
}
