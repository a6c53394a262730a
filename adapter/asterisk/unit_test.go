package asterisk

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/callflow/callflow/adapter"
	"github.com/callflow/callflow/ari"
	"github.com/callflow/callflow/clock"
	"github.com/callflow/callflow/media"
)

func TestMediaURIs(t *testing.T) {
	tests := []struct {
		name    string
		in      []adapter.Prompt
		want    []string
		wantErr bool
	}{
		{name: "pass through", in: []adapter.Prompt{"sound:hello-world", "recording:msg-1", "digits:12#", "number:42", "tone:ring"},
			want: []string{"sound:hello-world", "recording:msg-1", "digits:12#", "number:42", "tone:ring"}},
		{name: "beep tone is the beep sound", in: []adapter.Prompt{"tone:beep"}, want: []string{"sound:beep"}},
		{name: "short silence", in: []adapter.Prompt{"silence:0.2"}, want: []string{"sound:silence/1"}},
		{name: "silence rounds", in: []adapter.Prompt{"silence:2.6"}, want: []string{"sound:silence/3"}},
		{name: "long silence is split", in: []adapter.Prompt{"silence:25"}, want: []string{"sound:silence/10", "sound:silence/10", "sound:silence/5"}},
		{name: "empty", in: nil, want: []string{}},
		{name: "unknown scheme", in: []adapter.Prompt{"http://evil/x.wav"}, wantErr: true},
		{name: "comma would split ARI media", in: []adapter.Prompt{"sound:a,sound:b"}, wantErr: true},
		{name: "path climbing", in: []adapter.Prompt{"sound:../../etc/passwd"}, wantErr: true},
		{name: "bad recording name", in: []adapter.Prompt{"recording:a/b"}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := mediaURIs(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v, want error %v", err, tc.wantErr)
			}
			if !tc.wantErr && !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestCallerID(t *testing.T) {
	tests := []struct {
		name, number, cname, want string
		wantErr                   bool
	}{
		{name: "number only", number: "+420222333444", want: "+420222333444"},
		{name: "with name", number: "+420222333444", cname: "Support", want: `"Support" <+420222333444>`},
		{name: "hostile name", number: "100", cname: "Ev\"il <sip:x@y>\r\nX: 1 & #1 \\ čeština",
			want: `"Evil sipxy X 1 & #1 čeština" <100>`},
		{name: "name of spaces only", number: "100", cname: " \t\n", want: "100"},
		{name: "long name is cut", number: "1", cname: string(make([]byte, 0)) + "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij",
			want: `"abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcd" <1>`},
		{name: "nothing", want: ""},
		{name: "name without number", cname: "x", wantErr: true},
		{name: "quote in number", number: `1"2`, wantErr: true},
		{name: "space in number", number: "+420 222", wantErr: true},
		{name: "angle in number", number: "1<2>", wantErr: true},
		{name: "newline in number", number: "1\n2", wantErr: true},
		{name: "ampersand in number", number: "1&2", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := callerID(tc.number, tc.cname)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v, want error %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestCheckEndpoint(t *testing.T) {
	tests := []struct {
		ep string
		ok bool
	}{
		{"PJSIP/agent1", true},
		{"PJSIP/+420601111222@customer", true},
		{"Local/100@callflow-in/n", true},
		{"PJSIP", false},
		{"/agent1", false},
		{"PJSIP/", false},
		{"PJSIP/agent1&PJSIP/agent2", false},
		{"PJSIP/a b", false},
		{"PJSIP/a,b", false},
		{"PJSIP/a\nb", false},
		{"PJ SIP/a", false},
		{"PJSIP/agent1;transport=tcp", false},
		{"PJSIP/čeština", false},
	}
	for _, tc := range tests {
		t.Run(tc.ep, func(t *testing.T) {
			if err := checkEndpoint(tc.ep); (err == nil) != tc.ok {
				t.Errorf("checkEndpoint(%q) = %v, want ok %v", tc.ep, err, tc.ok)
			}
		})
	}
}

func TestOriginateErr(t *testing.T) {
	tests := []struct {
		name string
		oe   ari.OriginateError
		want error
	}{
		{"busy cause", ari.OriginateError{Cause: 17}, adapter.ErrBusy},
		{"busy dialstatus", ari.OriginateError{Cause: 0, DialStatus: "BUSY"}, adapter.ErrBusy},
		{"no user responding", ari.OriginateError{Cause: 18}, adapter.ErrNoAnswer},
		{"no answer", ari.OriginateError{Cause: 19}, adapter.ErrNoAnswer},
		{"no answer dialstatus", ari.OriginateError{Cause: 16, DialStatus: "NOANSWER"}, adapter.ErrNoAnswer},
		{"rejected", ari.OriginateError{Cause: 21}, adapter.ErrFailed},
		{"congestion", ari.OriginateError{Cause: 34, DialStatus: "CONGESTION"}, adapter.ErrFailed},
		{"unallocated", ari.OriginateError{Cause: 1}, adapter.ErrFailed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := originateErr(&tc.oe); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRecordParams(t *testing.T) {
	tests := []struct {
		name    string
		opt     adapter.RecordOptions
		want    ari.RecordRequest
		wantErr bool
	}{
		{name: "defaults", opt: adapter.RecordOptions{Name: "m1"},
			want: ari.RecordRequest{Name: "m1", Format: "wav", TerminateOn: "none", IfExists: "overwrite"}},
		{name: "all set", opt: adapter.RecordOptions{Name: "m.2_x-y", Format: "gsm", MaxDuration: 2500 * time.Millisecond, SilenceTimeout: 3 * time.Second, Beep: true, Terminator: "#"},
			want: ari.RecordRequest{Name: "m.2_x-y", Format: "gsm", MaxDurationSeconds: 3, MaxSilenceSeconds: 3, Beep: true, TerminateOn: "#", IfExists: "overwrite"}},
		{name: "star", opt: adapter.RecordOptions{Name: "m", Terminator: "*"},
			want: ari.RecordRequest{Name: "m", Format: "wav", TerminateOn: "*", IfExists: "overwrite"}},
		{name: "digit terminator unsupported", opt: adapter.RecordOptions{Name: "m", Terminator: "5"}, wantErr: true},
		{name: "path in name", opt: adapter.RecordOptions{Name: "../x"}, wantErr: true},
		{name: "slash in name", opt: adapter.RecordOptions{Name: "a/b"}, wantErr: true},
		{name: "query in name", opt: adapter.RecordOptions{Name: "a?b=1&c"}, wantErr: true},
		{name: "unknown format", opt: adapter.RecordOptions{Name: "m", Format: "exe"}, wantErr: true},
		{name: "negative", opt: adapter.RecordOptions{Name: "m", MaxDuration: -time.Second}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := recordParams(tc.opt)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v, want error %v", err, tc.wantErr)
			}
			if !tc.wantErr && got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestCauseOf(t *testing.T) {
	tests := []struct {
		code int
		want adapter.Cause
	}{
		{0, adapter.CauseNormal}, {16, adapter.CauseNormal}, {17, adapter.CauseBusy},
		{19, adapter.CauseNoAnswer}, {34, adapter.CauseCongestion}, {127, adapter.Cause(127)},
	}
	for _, tc := range tests {
		if got := causeOf(tc.code); got != tc.want {
			t.Errorf("causeOf(%d) = %v, want %v", tc.code, got, tc.want)
		}
	}
}

// TestResyncedMarksVanishedCalls checks the reconnect rule without Asterisk:
// a call whose channel is not listed after a reconnect is hung up.
func TestResyncedMarksVanishedCalls(t *testing.T) {
	sw, err := New(Config{ARI: ari.Config{BaseURL: "http://127.0.0.1:1/ari", User: "u", Pass: "p", App: "callflow"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	gone := sw.newCall(adapter.CallInfo{ID: "ch-gone"}, sw.client.Subscribe(ari.ChannelKey("ch-gone")), true)
	kept := sw.newCall(adapter.CallInfo{ID: "ch-kept"}, sw.client.Subscribe(ari.ChannelKey("ch-kept")), true)
	l := kept.listen()
	defer kept.unlisten(l)
	waitErr := make(chan error, 1)
	go func() { waitErr <- gone.Wait(context.Background(), 0) }()

	sw.resynced(&ari.Resynced{Reconnect: true, Channels: []ari.Channel{{ID: "ch-kept"}}})

	select {
	case err := <-waitErr:
		if !errors.Is(err, adapter.ErrHangup) {
			t.Errorf("wait on vanished call: %v, want ErrHangup", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("wait on vanished call did not return")
	}
	if c := gone.Cause(); c != adapter.CauseNormal {
		t.Errorf("vanished call cause %v, want normal", c)
	}
	if c := kept.Cause(); c != adapter.CauseUnknown {
		t.Errorf("kept call cause %v, want unknown (still up)", c)
	}
	select {
	case <-l.resync:
	default:
		t.Error("running operation of the kept call was not told about the resync")
	}
	if _, err := gone.Play(context.Background(), []adapter.Prompt{"sound:beep"}, adapter.PlayOptions{}); !errors.Is(err, adapter.ErrHangup) {
		t.Errorf("play on vanished call: %v, want ErrHangup", err)
	}
}

func TestOriginateNeedsServe(t *testing.T) {
	sw, err := New(Config{ARI: ari.Config{BaseURL: "http://127.0.0.1:1/ari", User: "u", Pass: "p", App: "callflow"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sw.Name() != "asterisk" {
		t.Errorf("name %q", sw.Name())
	}
	_, err = sw.Originate(context.Background(), adapter.OriginateRequest{Endpoint: "PJSIP/agent1"})
	if !errors.Is(err, adapter.ErrClosed) {
		t.Errorf("originate before serve: %v, want ErrClosed", err)
	}
}

func TestCopyRecording(t *testing.T) {
	dir := t.TempDir()
	st, err := media.Open(t.TempDir(), 0, clock.Real{})
	if err != nil {
		t.Fatal(err)
	}
	audio := bytes.Repeat([]byte{1, 2, 3, 4}, 100)
	if err := os.WriteFile(filepath.Join(dir, "msg-1.wav"), audio, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	n, err := copyRecording(ctx, st, dir, "msg-1", "wav")
	if err != nil || n != int64(len(audio)) {
		t.Fatalf("copy: %d bytes, %v", n, err)
	}
	f, _, err := st.Open("msg-1")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(f)
	f.Close()
	if err != nil || !bytes.Equal(got, audio) {
		t.Fatalf("stored %d bytes (%v), want the file's %d", len(got), err, len(audio))
	}
	// A missing file reports not-exist (fetch then downloads over ARI) and
	// stores nothing.
	if _, err := copyRecording(ctx, st, dir, "msg-2", "wav"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v, want not-exist", err)
	}
	if _, _, err := st.Open("msg-2"); err == nil {
		t.Fatal("a missing recording was stored")
	}
	for _, name := range []string{"", "../msg-1", "a/b", ".hidden", `a\b`} {
		if _, err := copyRecording(ctx, st, dir, name, "wav"); err == nil || errors.Is(err, os.ErrNotExist) {
			t.Errorf("name %q: %v, want a refusal", name, err)
		}
	}
}

// TestRemoveGoneCall: taking a call whose end was seen out of a bridge asks
// Asterisk nothing (it left every bridge when it left Stasis); a call still
// up is taken out with one request.
func TestRemoveGoneCall(t *testing.T) {
	var mu sync.Mutex
	var reqs []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		reqs = append(reqs, r.Method+" "+r.URL.Path)
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	sw, err := New(Config{ARI: ari.Config{BaseURL: srv.URL + "/ari", User: "u", Pass: "p", App: "callflow"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	gone := sw.newCall(adapter.CallInfo{ID: "ch-gone"}, sw.client.Subscribe(ari.ChannelKey("ch-gone")), true)
	up := sw.newCall(adapter.CallInfo{ID: "ch-up"}, sw.client.Subscribe(ari.ChannelKey("ch-up")), true)
	gone.markGone(adapter.ErrHangup, adapter.CauseNormal, true)
	b := &bridge{sw: sw, id: "br-1", kind: adapter.Holding}
	ctx := context.Background()
	if err := b.Remove(ctx, gone); err != nil {
		t.Errorf("remove gone call: %v", err)
	}
	if err := b.Remove(ctx, up); err != nil {
		t.Errorf("remove call: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"POST /ari/bridges/br-1/removeChannel"}; !slices.Equal(reqs, want) {
		t.Errorf("requests %q, want %q", reqs, want)
	}
}
