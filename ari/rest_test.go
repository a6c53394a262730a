package ari

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestRESTRequests(t *testing.T) {
	f := newFake(t)
	f.mux.HandleFunc("/ari/", func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/play"):
			writeJSON(w, 200, Playback{ID: r.URL.Query().Get("playbackId"), State: "queued"})
		case strings.HasSuffix(r.URL.Path, "/variable") && r.Method == "GET":
			writeJSON(w, 200, map[string]string{"value": "v1"})
		case r.Method == "GET" || r.URL.Path == "/ari/bridges" || strings.HasSuffix(r.URL.Path, "/record") || r.URL.Path == "/ari/channels":
			writeJSON(w, 200, map[string]any{})
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	})
	c := newTestClient(t, f, nil)
	ctx := context.Background()
	tests := []struct {
		name   string
		call   func() error
		method string
		path   string
		query  url.Values
	}{
		{"get channel", func() error { _, err := c.GetChannel(ctx, "1747.1"); return err }, "GET", "/ari/channels/1747.1", nil},
		{"answer", func() error { return c.Answer(ctx, "1747.1") }, "POST", "/ari/channels/1747.1/answer", nil},
		{"hangup reason", func() error { return c.Hangup(ctx, "1747.1", "busy") }, "DELETE", "/ari/channels/1747.1", url.Values{"reason": {"busy"}}},
		{"hangup code", func() error { return c.HangupCode(ctx, "1747.1", 21) }, "DELETE", "/ari/channels/1747.1", url.Values{"reason_code": {"21"}}},
		{"play", func() error {
			_, err := c.Play(ctx, "1747.1", PlayRequest{PlaybackID: "pb-1", Media: []string{"sound:hello-world", "digits:123"}, Lang: "cs"})
			return err
		}, "POST", "/ari/channels/1747.1/play", url.Values{"media": {"sound:hello-world,digits:123"}, "playbackId": {"pb-1"}, "lang": {"cs"}}},
		{"record", func() error {
			_, err := c.Record(ctx, "1747.1", RecordRequest{Name: "vm-1", MaxDurationSeconds: 30, MaxSilenceSeconds: 5, Beep: true, TerminateOn: "#", IfExists: "overwrite"})
			return err
		}, "POST", "/ari/channels/1747.1/record", url.Values{"name": {"vm-1"}, "format": {"wav"}, "maxDurationSeconds": {"30"}, "maxSilenceSeconds": {"5"}, "beep": {"true"}, "terminateOn": {"#"}, "ifExists": {"overwrite"}}},
		{"originate", func() error {
			_, err := c.Originate(ctx, OriginateRequest{Endpoint: "PJSIP/agent1", AppArgs: "agent,q1", CallerID: "+420111222333", Timeout: 25 * time.Second, ChannelID: "cf-1"})
			return err
		}, "POST", "/ari/channels", url.Values{"endpoint": {"PJSIP/agent1"}, "app": {"callflow"}, "appArgs": {"agent,q1"}, "callerId": {"+420111222333"}, "timeout": {"25"}, "channelId": {"cf-1"}}},
		{"continue", func() error { return c.Continue(ctx, "1747.1", "from-sipp", "300", 2) }, "POST", "/ari/channels/1747.1/continue", url.Values{"context": {"from-sipp"}, "extension": {"300"}, "priority": {"2"}}},
		{"set var", func() error { return c.SetVar(ctx, "1747.1", "CALLERID(num)", "+420") }, "POST", "/ari/channels/1747.1/variable", url.Values{"variable": {"CALLERID(num)"}, "value": {"+420"}}},
		{"get var", func() error { _, err := c.GetVar(ctx, "1747.1", "X"); return err }, "GET", "/ari/channels/1747.1/variable", url.Values{"variable": {"X"}}},
		{"ring", func() error { return c.Ring(ctx, "1747.1") }, "POST", "/ari/channels/1747.1/ring", nil},
		{"ring stop", func() error { return c.RingStop(ctx, "1747.1") }, "DELETE", "/ari/channels/1747.1/ring", nil},
		{"dtmf", func() error { return c.SendDTMF(ctx, "1747.1", "12#", 100*time.Millisecond) }, "POST", "/ari/channels/1747.1/dtmf", url.Values{"dtmf": {"12#"}, "between": {"100"}}},
		{"moh", func() error { return c.StartMOH(ctx, "1747.1", "default") }, "POST", "/ari/channels/1747.1/moh", url.Values{"mohClass": {"default"}}},
		{"moh stop", func() error { return c.StopMOH(ctx, "1747.1") }, "DELETE", "/ari/channels/1747.1/moh", nil},
		{"create bridge", func() error { _, err := c.CreateBridge(ctx, "q-support", BridgeHolding, "support"); return err }, "POST", "/ari/bridges", url.Values{"type": {"holding"}, "bridgeId": {"q-support"}, "name": {"support"}}},
		{"get bridge", func() error { _, err := c.GetBridge(ctx, "q-support"); return err }, "GET", "/ari/bridges/q-support", nil},
		{"add channel", func() error { return c.AddChannel(ctx, "q-support", "1747.1") }, "POST", "/ari/bridges/q-support/addChannel", url.Values{"channel": {"1747.1"}}},
		{"remove channel", func() error { return c.RemoveChannel(ctx, "q-support", "1747.1") }, "POST", "/ari/bridges/q-support/removeChannel", url.Values{"channel": {"1747.1"}}},
		{"bridge moh", func() error { return c.StartBridgeMOH(ctx, "q-support", "") }, "POST", "/ari/bridges/q-support/moh", nil},
		{"bridge moh stop", func() error { return c.StopBridgeMOH(ctx, "q-support") }, "DELETE", "/ari/bridges/q-support/moh", nil},
		{"bridge play", func() error {
			_, err := c.PlayOnBridge(ctx, "q-support", PlayRequest{PlaybackID: "pb-2", Media: []string{"sound:queue-periodic-announce"}})
			return err
		}, "POST", "/ari/bridges/q-support/play", url.Values{"media": {"sound:queue-periodic-announce"}, "playbackId": {"pb-2"}}},
		{"destroy bridge", func() error { return c.DestroyBridge(ctx, "q-support") }, "DELETE", "/ari/bridges/q-support", nil},
		{"stop playback", func() error { return c.StopPlayback(ctx, "pb-1") }, "DELETE", "/ari/playbacks/pb-1", nil},
		{"get playback", func() error { _, err := c.GetPlayback(ctx, "pb-1"); return err }, "GET", "/ari/playbacks/pb-1", nil},
		{"stop recording", func() error { return c.StopRecording(ctx, "vm-1") }, "POST", "/ari/recordings/live/vm-1/stop", nil},
		{"cancel recording", func() error { return c.CancelRecording(ctx, "vm-1") }, "DELETE", "/ari/recordings/live/vm-1", nil},
		{"get stored", func() error { _, err := c.GetStoredRecording(ctx, "vm-1"); return err }, "GET", "/ari/recordings/stored/vm-1", nil},
		{"delete stored", func() error { return c.DeleteStoredRecording(ctx, "vm-1") }, "DELETE", "/ari/recordings/stored/vm-1", nil},
		{"info", func() error { _, err := c.Info(ctx); return err }, "GET", "/ari/asterisk/info", nil},
		{"escaped id", func() error { return c.Answer(ctx, "a b?#%") }, "POST", "/ari/channels/a%20b%3F%23%25/answer", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); err != nil {
				t.Fatal(err)
			}
			r := f.lastRequest()
			if r.Method != tc.method || r.Path != tc.path {
				t.Errorf("request %s %s, want %s %s", r.Method, r.Path, tc.method, tc.path)
			}
			q, err := url.ParseQuery(r.RawQuery)
			if err != nil {
				t.Fatal(err)
			}
			if tc.query == nil {
				tc.query = url.Values{}
			}
			if q.Encode() != tc.query.Encode() {
				t.Errorf("query %s, want %s", q.Encode(), tc.query.Encode())
			}
			if r.User != "cf" || r.Pass != "secret" {
				t.Errorf("basic auth %q:%q", r.User, r.Pass)
			}
		})
	}
}

func TestQueryEncodingHostileValues(t *testing.T) {
	hostile := []struct{ name, v string }{
		{"spaces", "John Smith <100>"},
		{"ampersand", "a&endpoint=PJSIP/evil&x=1"},
		{"hash", "#1#?x=y"},
		{"unicode", "Jiří Novák ☎ 東京"},
		{"newline", "line1\r\nX-Injected: yes"},
		{"percent and plus", "%41+%2B 100%"},
	}
	for _, h := range hostile {
		t.Run(h.name, func(t *testing.T) {
			f := newFake(t)
			var got url.Values
			f.mux.HandleFunc("POST /ari/channels", func(w http.ResponseWriter, r *http.Request) {
				got = r.URL.Query()
				writeJSON(w, 200, Channel{ID: got.Get("channelId")})
			})
			f.mux.HandleFunc("POST /ari/channels/{id}/variable", func(w http.ResponseWriter, r *http.Request) {
				got = r.URL.Query()
				w.WriteHeader(204)
			})
			c := newTestClient(t, f, nil)
			ctx := context.Background()
			if _, err := c.Originate(ctx, OriginateRequest{Endpoint: "PJSIP/100", CallerID: h.v, AppArgs: h.v, ChannelID: "cf-1"}); err != nil {
				t.Fatal(err)
			}
			if got.Get("callerId") != h.v || got.Get("appArgs") != h.v || got.Get("endpoint") != "PJSIP/100" || len(got) != 5 {
				t.Errorf("server saw %q", got)
			}
			if err := c.SetVar(ctx, "1747.1", "CALLERID(name)", h.v); err != nil {
				t.Fatal(err)
			}
			if got.Get("value") != h.v || len(got) != 2 {
				t.Errorf("server saw %q", got)
			}
		})
	}
}

func TestInvalidArguments(t *testing.T) {
	f := newFake(t)
	c := newTestClient(t, f, nil)
	ctx := context.Background()
	tests := []struct {
		name string
		call func() error
	}{
		{"empty channel id", func() error { return c.Answer(ctx, "") }},
		{"slash in channel id", func() error { return c.Answer(ctx, "../bridges/x") }},
		{"dot dot", func() error { return c.Answer(ctx, "..") }},
		{"newline in id", func() error { return c.Answer(ctx, "a\nb") }},
		{"nul in bridge id", func() error { return c.DestroyBridge(ctx, "a\x00") }},
		{"backslash", func() error { return c.StopPlayback(ctx, `a\b`) }},
		{"comma in media", func() error { _, err := c.Play(ctx, "1", PlayRequest{Media: []string{"sound:a,b"}}); return err }},
		{"no media", func() error { _, err := c.Play(ctx, "1", PlayRequest{}); return err }},
		{"bad terminateOn", func() error { _, err := c.Record(ctx, "1", RecordRequest{Name: "r", TerminateOn: "5"}); return err }},
		{"slash in recording", func() error { _, err := c.Record(ctx, "1", RecordRequest{Name: "../../etc/passwd"}); return err }},
		{"bad hangup reason", func() error { return c.Hangup(ctx, "1", "because") }},
		{"bad dtmf", func() error { return c.SendDTMF(ctx, "1", "12x", 0) }},
		{"bad bridge type", func() error { _, err := c.CreateBridge(ctx, "b", "party", ""); return err }},
		{"comma channel in bridge", func() error { return c.AddChannel(ctx, "b", "1,2") }},
		{"newline in endpoint", func() error { _, err := c.Originate(ctx, OriginateRequest{Endpoint: "PJSIP/1\n"}); return err }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(f.requests())
			if err := tc.call(); !errors.Is(err, ErrInvalidArgument) {
				t.Fatalf("err = %v, want ErrInvalidArgument", err)
			}
			if len(f.requests()) != before {
				t.Error("a request was sent")
			}
		})
	}
}

func TestErrorMapping(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   error
		msg    string
	}{
		{"not found", 404, `{"message":"Channel not found"}`, ErrNotFound, "Channel not found"},
		{"conflict", 409, `{"message":"Channel not in Stasis application"}`, ErrConflict, "Channel not in Stasis application"},
		{"unprocessable", 422, `{"message":"Recording with the same name already exists"}`, ErrUnprocessable, "Recording with the same name already exists"},
		{"precondition", 412, `{"message":"Channel in invalid state"}`, ErrPrecondition, "Channel in invalid state"},
		{"bad request", 400, `{"message":"missing parameter"}`, ErrBadRequest, "missing parameter"},
		{"unauthorized", 401, `{"message":"Authentication required"}`, ErrUnauthorized, "Authentication required"},
		{"server non-json", 500, "boom\n", ErrServer, "boom"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			f.mux.HandleFunc("POST /ari/channels/{id}/answer", func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			})
			c := newTestClient(t, f, nil)
			err := c.Answer(context.Background(), "1747.1")
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			var ae *Error
			if !errors.As(err, &ae) || ae.Status != tc.status || ae.Message != tc.msg || ae.Method != "POST" || ae.Path != "/channels/1747.1/answer" {
				t.Fatalf("error %#v", ae)
			}
			for _, other := range []error{ErrNotFound, ErrConflict, ErrUnprocessable, ErrPrecondition, ErrBadRequest, ErrUnauthorized, ErrServer} {
				if other != tc.want && errors.Is(err, other) {
					t.Errorf("also matches %v", other)
				}
			}
		})
	}
}

func TestRequestTimeout(t *testing.T) {
	f := newFake(t)
	release := make(chan struct{})
	defer close(release)
	f.mux.HandleFunc("POST /ari/channels/{id}/answer", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	c := newTestClient(t, f, func(cfg *Config) { cfg.RequestTimeout = 100 * time.Millisecond })
	start := time.Now()
	err := c.Answer(context.Background(), "1747.1")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v", d)
	}
	// A caller's own, shorter deadline wins too.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Answer(ctx, "1747.1"); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want canceled", err)
	}
}

func TestOriginateVariablesBody(t *testing.T) {
	f := newFake(t)
	f.mux.HandleFunc("POST /ari/channels", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, Channel{ID: r.URL.Query().Get("channelId"), State: "Down"})
	})
	c := newTestClient(t, f, nil)
	ch, err := c.Originate(context.Background(), OriginateRequest{Endpoint: "PJSIP/agent1", Variables: map[string]string{"CALLFLOW_CB": "cb-1", "CALLERID(name)": "Queue support"}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(ch.ID, "cf-") {
		t.Errorf("channel id %q not generated", ch.ID)
	}
	var body struct{ Variables map[string]string }
	if err := json.Unmarshal(f.lastRequest().Body, &body); err != nil {
		t.Fatal(err)
	}
	if body.Variables["CALLFLOW_CB"] != "cb-1" || body.Variables["CALLERID(name)"] != "Queue support" {
		t.Errorf("body %+v", body)
	}
}

func TestDownloadRecording(t *testing.T) {
	f := newFake(t)
	audio := bytes.Repeat([]byte("RIFF-wav-data"), 10000)
	f.mux.HandleFunc("GET /ari/recordings/stored/{name}/file", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("name") != "vm 1" {
			writeJSON(w, 404, map[string]string{"message": "Recording not found"})
			return
		}
		w.Header().Set("Content-Type", "audio/wav")
		_, _ = w.Write(audio)
	})
	c := newTestClient(t, f, nil)
	var buf bytes.Buffer
	n, err := c.DownloadRecording(context.Background(), "vm 1", &buf)
	if err != nil || n != int64(len(audio)) || !bytes.Equal(buf.Bytes(), audio) {
		t.Fatalf("n=%d err=%v equal=%v", n, err, bytes.Equal(buf.Bytes(), audio))
	}
	if _, err := c.DownloadRecording(context.Background(), "gone", &buf); !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no scheme", Config{BaseURL: "127.0.0.1:8088/ari", App: "callflow"}},
		{"ws scheme", Config{BaseURL: "ws://127.0.0.1:8088/ari", App: "callflow"}},
		{"query", Config{BaseURL: "http://127.0.0.1:8088/ari?x=1", App: "callflow"}},
		{"no app", Config{BaseURL: "http://127.0.0.1:8088/ari"}},
		{"comma app", Config{BaseURL: "http://127.0.0.1:8088/ari", App: "a,b"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.cfg, nil); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	c, err := New(Config{BaseURL: "https://pbx.example:8089/ari/", User: "u", Pass: "p&q", App: "callflow"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.wsURL != "wss://pbx.example:8089/ari/events?api_key=u%3Ap%26q&app=callflow" {
		t.Errorf("ws url %s", c.wsURL)
	}
}
