package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/callflow/callflow/adapter/sim"
	"github.com/callflow/callflow/phone"
	"github.com/callflow/callflow/queue"
	"github.com/callflow/callflow/store"
)

const token = "s3cret-token"

type fixture struct {
	srv     *httptest.Server
	st      *store.SQLite
	eng     *queue.Engine
	healthy atomic.Bool
}

// newFixture runs the API over a real engine (on a simulated switch whose
// scheduler never runs: nothing is dialled) and a real SQLite store.
func newFixture(t *testing.T, tok string) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "api.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sched := sim.NewScheduler(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	eng, err := queue.New(queue.Config{
		Queues: []queue.QueueConfig{{Name: "sales", Callback: queue.CallbackPolicy{ANI: "+420200000000", Dedupe: true,
			NumberPolicy: phone.Policy{DefaultRegion: "CZ"}}}},
	}, queue.Deps{Switch: sim.New(sched, nil, nil, sim.Options{}), Store: st, Clock: sched, Log: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(eng.Stop)
	f := &fixture{st: st, eng: eng}
	f.healthy.Store(true)
	h, err := New(Options{
		Engine: eng, Store: st, Token: tok, Log: zaptest.NewLogger(t),
		Media: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.PathValue("name") != "vm-1" {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Type", "audio/wav")
			_, _ = io.WriteString(w, "RIFF")
		}),
		Metrics: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, "callflow_switch_connected 1\n")
		}),
		Health: func() (bool, string) {
			if f.healthy.Load() {
				return true, "connected"
			}
			return false, "disconnected"
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewServer(h)
	t.Cleanup(f.srv.Close)
	return f
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
	return m
}

// errCode is error.code of an error body.
func (r resp) errCode(t *testing.T) string {
	t.Helper()
	e, _ := r.json(t)["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

func (f *fixture) do(t *testing.T, method, path, tok, ctype, body string) resp {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	res, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

func (f *fixture) get(t *testing.T, path string) resp { return f.do(t, "GET", path, token, "", "") }

func (f *fixture) post(t *testing.T, body string) resp {
	return f.do(t, "POST", "/v1/callbacks", token, "application/json", body)
}

func TestAuth(t *testing.T) {
	f := newFixture(t, token)
	for _, rt := range routes() {
		path := strings.NewReplacer("{id}", "1", "{name}", "sales").Replace(rt.path)
		for _, tc := range []struct {
			name string
			tok  string
		}{{"missing", ""}, {"wrong", "nope"}, {"prefix of the right one", token[:4]}, {"right", token}} {
			if rt.path == "/v1/wallboard/stream" && tc.tok == token {
				continue // an open stream never ends: TestWallboardStream
			}
			t.Run(rt.method+" "+rt.path+" "+tc.name, func(t *testing.T) {
				r := f.do(t, rt.method, path, tc.tok, "application/json", "{}")
				want401 := !rt.public && tc.tok != token
				if (r.status == http.StatusUnauthorized) != want401 {
					t.Fatalf("status %d, want 401: %v (%s)", r.status, want401, r.body)
				}
				if want401 && (r.errCode(t) != "unauthorized" || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer")) {
					t.Fatalf("401 body %s header %v", r.body, r.header)
				}
			})
		}
	}
	// Without a configured token every route is open (loopback only; see TestListenAndServe).
	open := newFixture(t, "")
	if r := open.do(t, "GET", "/v1/queues", "", "", ""); r.status != http.StatusOK {
		t.Fatalf("no token configured: %d", r.status)
	}
}

func TestCallbackLifecycle(t *testing.T) {
	f := newFixture(t, token)
	r := f.post(t, `{"queue":"sales","number":"601 000 001","media":["recording:vm-1"],"priority":5}`)
	if r.status != http.StatusCreated || r.header.Get("Location") != "/v1/callbacks/1" {
		t.Fatalf("create: %d %s %v", r.status, r.body, r.header)
	}
	cb := r.json(t)["callback"].(map[string]any)
	if cb["number"] != "+420601000001" || cb["state"] != "registered" || cb["ani"] != "+420200000000" || cb["priority"] != 5.0 {
		t.Fatalf("created %v", cb)
	}
	// Committed before the answer, and in the line.
	if _, err := f.st.Get(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name       string
		do         func() resp
		wantStatus int
		wantCode   string
		check      func(map[string]any) bool
	}{
		{"duplicate", func() resp { return f.post(t, `{"queue":"sales","number":"+420601000001"}`) }, 409, "duplicate",
			func(m map[string]any) bool { return m["error"].(map[string]any)["callback_id"] == 1.0 }},
		{"premium rate refused", func() resp { return f.post(t, `{"queue":"sales","number":"+420900123456"}`) }, 422, "invalid_number",
			func(m map[string]any) bool { return m["error"].(map[string]any)["reason"] == "type" }},
		{"invalid number", func() resp { return f.post(t, `{"queue":"sales","number":"12"}`) }, 422, "invalid_number",
			func(m map[string]any) bool { return m["error"].(map[string]any)["reason"] != "" }},
		{"queue shows it", func() resp { return f.get(t, "/v1/queues/sales") }, 200, "",
			func(m map[string]any) bool {
				en := m["entries"].([]any)
				e0 := en[0].(map[string]any)
				return len(en) == 1 && e0["kind"] == "callback" && e0["position"] == 1.0 && e0["callback_id"] == 1.0 && e0["state"] == "registered"
			}},
		{"queues summary", func() resp { return f.get(t, "/v1/queues") }, 200, "",
			func(m map[string]any) bool {
				q := m["queues"].([]any)[0].(map[string]any)
				return q["name"] == "sales" && q["length"] == 1.0 && q["callbacks"] == 1.0
			}},
		{"list", func() resp { return f.get(t, "/v1/callbacks?queue=sales&state=registered,retry_wait") }, 200, "",
			func(m map[string]any) bool { return len(m["callbacks"].([]any)) == 1 }},
		{"list other state", func() resp { return f.get(t, "/v1/callbacks?state=cancelled") }, 200, "",
			func(m map[string]any) bool { return len(m["callbacks"].([]any)) == 0 }},
		{"list by number", func() resp { return f.get(t, "/v1/callbacks?number=%2B420601000001&limit=1") }, 200, "",
			func(m map[string]any) bool { return len(m["callbacks"].([]any)) == 1 && m["next_cursor"] == nil }},
		{"list bad limit", func() resp { return f.get(t, "/v1/callbacks?limit=5000") }, 400, "bad_request", nil},
		{"list bad state", func() resp { return f.get(t, "/v1/callbacks?state=ringing") }, 400, "bad_request", nil},
		{"list bad number", func() resp { return f.get(t, "/v1/callbacks?number=601000001") }, 400, "bad_request", nil},
		{"list bad time", func() resp { return f.get(t, "/v1/callbacks?created_from=yesterday") }, 400, "bad_request", nil},
		{"get", func() resp { return f.get(t, "/v1/callbacks/1") }, 200, "",
			func(m map[string]any) bool {
				c := m["callback"].(map[string]any)
				return c["id"] == 1.0 && c["attempts"] != nil && c["media"].([]any)[0] == "recording:vm-1"
			}},
		{"get unknown", func() resp { return f.get(t, "/v1/callbacks/999") }, 404, "not_found", nil},
		{"get bad id", func() resp { return f.get(t, "/v1/callbacks/abc") }, 400, "bad_request", nil},
		{"cancel", func() resp { return f.do(t, "DELETE", "/v1/callbacks/1", token, "", "") }, 200, "",
			func(m map[string]any) bool { return m["callback"].(map[string]any)["state"] == "cancelled" }},
		{"cancel again", func() resp { return f.do(t, "DELETE", "/v1/callbacks/1", token, "", "") }, 409, "callback_closed", nil},
		{"cancel unknown", func() resp { return f.do(t, "DELETE", "/v1/callbacks/77", token, "", "") }, 404, "not_found", nil},
		{"line empty after cancel", func() resp { return f.get(t, "/v1/queues/sales") }, 200, "",
			func(m map[string]any) bool { return len(m["entries"].([]any)) == 0 }},
		{"unknown queue", func() resp { return f.get(t, "/v1/queues/nope") }, 404, "not_found", nil},
		{"recreate after cancel", func() resp { return f.post(t, `{"queue":"sales","number":"+420601000001"}`) }, 201, "", nil},
	}
	for _, s := range steps {
		r := s.do()
		if r.status != s.wantStatus {
			t.Fatalf("%s: status %d, want %d: %s", s.name, r.status, s.wantStatus, r.body)
		}
		if s.wantCode != "" && r.errCode(t) != s.wantCode {
			t.Fatalf("%s: code %q, want %q: %s", s.name, r.errCode(t), s.wantCode, r.body)
		}
		if s.check != nil && !s.check(r.json(t)) {
			t.Fatalf("%s: unexpected body %s", s.name, r.body)
		}
	}
	all, err := f.st.ListAll(context.Background())
	if err != nil || len(all) != 2 {
		t.Fatalf("stored %d callbacks (%v), want 2: refused numbers must not be stored", len(all), err)
	}
}

func TestCreateValidation(t *testing.T) {
	f := newFixture(t, token)
	big := `{"queue":"sales","number":"+420601000001","media":["sound:` + strings.Repeat("a", MaxBody) + `"]}`
	tests := []struct {
		name       string
		ctype      string
		body       string
		wantStatus int
		wantCode   string
	}{
		{"no content type", "", `{"queue":"sales","number":"+420601000001"}`, 415, "unsupported_media_type"},
		{"form content type", "application/x-www-form-urlencoded", `queue=sales`, 415, "unsupported_media_type"},
		{"too large", "application/json", big, 413, "body_too_large"},
		{"malformed", "application/json", `{"queue":`, 400, "bad_json"},
		{"unknown field", "application/json", `{"queue":"sales","number":"+420601000001","colour":"red"}`, 400, "bad_json"},
		{"two objects", "application/json", `{"queue":"sales","number":"+420601000001"}{}`, 400, "bad_json"},
		{"missing queue", "application/json", `{"number":"+420601000001"}`, 422, "missing_field"},
		{"missing number", "application/json", `{"queue":"sales"}`, 422, "missing_field"},
		{"unknown queue", "application/json", `{"queue":"nope","number":"+420601000001"}`, 422, "unknown_queue"},
		{"bad media scheme", "application/json", `{"queue":"sales","number":"+420601000001","media":["http://x/y"]}`, 422, "invalid_media"},
		{"media with space", "application/json", `{"queue":"sales","number":"+420601000001","media":["sound:a b"]}`, 422, "invalid_media"},
		{"bad ani", "application/json", `{"queue":"sales","number":"+420601000001","ani":"12;drop"}`, 422, "invalid_ani"},
		{"window inverted", "application/json", `{"queue":"sales","number":"+420601000001","not_before":"2026-03-02T10:00:00Z","not_after":"2026-03-02T09:00:00Z"}`, 422, "invalid_window"},
		{"bad time", "application/json", `{"queue":"sales","number":"+420601000001","not_before":"tomorrow"}`, 400, "bad_json"},
		{"priority out of range", "application/json", `{"queue":"sales","number":"+420601000001","priority":100000}`, 422, "invalid_priority"},
		{"control characters", "application/json", `{"queue":"sales","number":"+420\u0000601"}`, 422, "invalid_number"},
		{"json with charset", "application/json; charset=utf-8", `{"queue":"sales","number":"+420601000009"}`, 201, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := f.do(t, "POST", "/v1/callbacks", token, tc.ctype, tc.body)
			if r.status != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", r.status, tc.wantStatus, r.body)
			}
			if tc.wantCode != "" && r.errCode(t) != tc.wantCode {
				t.Fatalf("code %q, want %q", r.errCode(t), tc.wantCode)
			}
			if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Fatalf("content type %q", ct)
			}
		})
	}
}

// TestCreateRefusesUnplayableMedia: media no switch can play (a malformed
// value, an unknown scheme) is refused with 422 invalid_media naming the bad
// prompt and why, and nothing is stored; the same prompt check the flow
// loader uses (media.ParsePrompt). Before it, number:abc was accepted and
// redialled the agent without end.
func TestCreateRefusesUnplayableMedia(t *testing.T) {
	f := newFixture(t, token)
	tests := []struct {
		name  string
		media string
		want  []string // substrings of error.message
	}{
		{"number not an integer", `["number:abc"]`, []string{`"number:abc"`, "not an integer"}},
		{"digits with a letter", `["digits:x1"]`, []string{`"digits:x1"`, "0-9"}},
		{"unknown scheme", `["foo:bar"]`, []string{`"foo:bar"`, `unknown kind "foo"`}},
		{"no scheme", `["hello"]`, []string{`"hello"`, "KIND:VALUE"}},
		{"silence of zero", `["silence:0"]`, []string{`"silence:0"`}},
		{"recording path", `["recording:../x"]`, []string{`"recording:../x"`}},
		{"every bad one named", `["sound:ok", "number:1.5", "tone:BEEP"]`, []string{`"number:1.5"`, `"tone:BEEP"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := f.post(t, `{"queue":"sales","number":"+420601000001","media":`+tc.media+`}`)
			if r.status != 422 || r.errCode(t) != "invalid_media" {
				t.Fatalf("status %d code %q, want 422 invalid_media: %s", r.status, r.errCode(t), r.body)
			}
			e, _ := r.json(t)["error"].(map[string]any)
			msg, _ := e["message"].(string)
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q lacks %s", msg, w)
				}
			}
		})
	}
	all, err := f.st.ListAll(context.Background())
	if err != nil || len(all) != 0 {
		t.Fatalf("stored %d callbacks (%v), want none", len(all), err)
	}
	// Good media of every scheme is accepted, spaces around it trimmed.
	r := f.post(t, `{"queue":"sales","number":"+420601000001","media":[" sound:callback-whisper ","recording:vm-1","digits:+420601","number:-42","silence:0.5","tone:beep"]}`)
	if r.status != 201 {
		t.Fatalf("good media: status %d: %s", r.status, r.body)
	}
	cb, _ := r.json(t)["callback"].(map[string]any)
	if m, _ := cb["media"].([]any); len(m) != 6 || m[0] != "sound:callback-whisper" {
		t.Fatalf("stored media %v", cb["media"])
	}
}

func TestEventsRoute(t *testing.T) {
	f := newFixture(t, token)
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	if err := f.st.AppendEvents(context.Background(), []store.Event{
		{At: t0, Kind: "joined", Queue: "sales", CallID: "c1"},
		{At: t0.Add(time.Minute), Kind: "abandon", Queue: "sales", CallID: "c1", Detail: map[string]string{"position": "1"}},
		{At: t0.Add(2 * time.Minute), Kind: "joined", Queue: "sales", CallID: "c2"},
	}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		query      string
		wantStatus int
		wantKinds  string
		wantNext   string
	}{
		{"all", "", 200, "joined,abandon,joined", ""},
		{"kind", "?kind=abandon", 200, "abandon", ""},
		{"since", "?since=2026-03-02T09:01:00Z", 200, "abandon,joined", ""},
		{"page", "?limit=2", 200, "joined,abandon", "2"},
		{"next page", "?limit=2&cursor=2", 200, "joined", ""},
		{"bad since", "?since=now", 400, "", ""},
		{"bad cursor", "?cursor=-1", 400, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := f.get(t, "/v1/events"+tc.query)
			if r.status != tc.wantStatus {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			if r.status != 200 {
				return
			}
			var out struct {
				Events []struct {
					Kind   string            `json:"kind"`
					Detail map[string]string `json:"detail"`
				} `json:"events"`
				Next string `json:"next_cursor"`
			}
			if err := json.Unmarshal(r.body, &out); err != nil {
				t.Fatal(err)
			}
			var kinds []string
			for _, e := range out.Events {
				kinds = append(kinds, e.Kind)
			}
			if strings.Join(kinds, ",") != tc.wantKinds || out.Next != tc.wantNext {
				t.Fatalf("kinds %v next %q, want %s next %q", kinds, out.Next, tc.wantKinds, tc.wantNext)
			}
		})
	}
}

func TestHealthMetricsRecordingsWallboard(t *testing.T) {
	f := newFixture(t, token)
	if r := f.do(t, "GET", "/healthz", "", "", ""); r.status != 200 || r.json(t)["switch"] != "connected" {
		t.Fatalf("healthz up: %d %s", r.status, r.body)
	}
	f.healthy.Store(false)
	if r := f.do(t, "GET", "/healthz", "", "", ""); r.status != 503 || r.json(t)["switch"] != "disconnected" || r.json(t)["status"] != "unavailable" {
		t.Fatalf("healthz down: %d %s", r.status, r.body)
	}
	if r := f.get(t, "/metrics"); r.status != 200 || !strings.Contains(string(r.body), "callflow_switch_connected") {
		t.Fatalf("metrics: %d %s", r.status, r.body)
	}
	if r := f.get(t, "/v1/recordings/vm-1"); r.status != 200 || string(r.body) != "RIFF" {
		t.Fatalf("recording: %d %s", r.status, r.body)
	}
	if r := f.get(t, "/v1/recordings/other"); r.status != 404 {
		t.Fatalf("missing recording: %d", r.status)
	}
	r := f.do(t, "GET", "/", "", "", "")
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") ||
		!strings.Contains(r.header.Get("Content-Security-Policy"), "script-src 'sha256-") {
		t.Fatalf("wallboard: %d %v", r.status, r.header)
	}
	if strings.Contains(string(r.body), "innerHTML") {
		t.Fatal("the wallboard must render values as text")
	}
}

func TestFallback(t *testing.T) {
	f := newFixture(t, token)
	tests := []struct {
		method, path string
		wantStatus   int
		wantAllow    string
	}{
		{"PUT", "/v1/callbacks", 405, "GET, POST"},
		{"POST", "/v1/queues/sales", 405, "GET"},
		{"GET", "/v2/nothing", 404, ""},
		{"GET", "/index.html", 404, ""},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			r := f.do(t, tc.method, tc.path, token, "", "")
			if r.status != tc.wantStatus || r.header.Get("Allow") != tc.wantAllow || r.errCode(t) == "" {
				t.Fatalf("%d allow %q body %s", r.status, r.header.Get("Allow"), r.body)
			}
		})
	}
}

func TestListenAndServe(t *testing.T) {
	h, err := New(Options{Engine: newFixture(t, "").eng, Store: newFixture(t, "").st})
	if err != nil {
		t.Fatal(err)
	}
	if err := ListenAndServe(context.Background(), "0.0.0.0:0", h); err == nil || !strings.Contains(err.Error(), "without a token") {
		t.Fatalf("served without a token on every interface: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, h) }() // ends with cancel below
	res, err := http.Get("http://" + ln.Addr().String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("healthz %d", res.StatusCode)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no graceful shutdown")
	}
}

func mustRequest(t *testing.T, method, path string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, "http://127.0.0.1"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}
