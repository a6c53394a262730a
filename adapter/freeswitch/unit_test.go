package freeswitch

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/callflow/callflow/adapter"
	"github.com/callflow/callflow/esl"
)

func TestMediaSteps(t *testing.T) {
	s, err := New(Config{Inbound: "127.0.0.1:8021", Password: "pw", OutboundListen: "127.0.0.1:8084", RecordDir: "/var/rec/", Language: "de"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		prompt adapter.Prompt
		want   []step // nil: refused
	}{
		{"sound without extension", "sound:ivr/ivr-welcome_to_freeswitch", []step{{"playback", "ivr/ivr-welcome_to_freeswitch.wav"}}},
		{"sound with extension", "sound:custom/x.sln16", []step{{"playback", "custom/x.sln16"}}},
		{"dot only in a folder", "sound:v1.2/hello", []step{{"playback", "v1.2/hello.wav"}}},
		{"recording", "recording:vm-1", []step{{"playback", "/var/rec/vm-1.wav"}}},
		{"digits", "digits:0*#", []step{{"playback", "digits/0.wav"}, {"playback", "digits/star.wav"}, {"playback", "digits/pound.wav"}}},
		{"number", "number:-15", []step{{"say", "de number pronounced -15"}}},
		{"silence seconds", "silence:2", []step{{"playback", "silence_stream://2000"}}},
		{"silence fraction", "silence:0.25", []step{{"playback", "silence_stream://250"}}},
		{"beep", "tone:beep", []step{{"playback", "tone_stream://%(500,0,800)"}}},
		{"busy tone", "tone:busy", []step{{"playback", "tone_stream://%(500,500,480,620)"}}},
		{"unknown tone", "tone:warble", nil},
		{"unknown kind", "http://x", nil},
		{"bad number", "number:4x", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.mediaSteps([]adapter.Prompt{tc.prompt})
			if tc.want == nil {
				if err == nil {
					t.Errorf("%q accepted as %v", tc.prompt, got)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Errorf("%q → %v, %v; want %v", tc.prompt, got, err, tc.want)
			}
			for _, st := range got {
				if _, err := (esl.SendMsg{AppName: st.app, AppArg: st.arg}).Render(); err != nil {
					t.Errorf("step %v does not render: %v", st, err)
				}
			}
		})
	}
}

func TestParseCause(t *testing.T) {
	cases := []struct {
		name, fs, q850 string
		want           adapter.Cause
	}{
		{"normal", "NORMAL_CLEARING", "", adapter.CauseNormal},
		{"busy", "USER_BUSY", "17", adapter.CauseBusy},
		{"no answer", "NO_ANSWER", "", adapter.CauseNoAnswer},
		{"no user response keeps its code", "NO_USER_RESPONSE", "", adapter.CauseFromQ850(18)},
		{"rejected", "CALL_REJECTED", "", adapter.CauseRejected},
		{"unallocated", "UNALLOCATED_NUMBER", "", adapter.CauseUnallocated},
		{"congestion", "NORMAL_CIRCUIT_CONGESTION", "", adapter.CauseCongestion},
		{"temporary failure", "NORMAL_TEMPORARY_FAILURE", "", adapter.CauseFailure},
		{"freeswitch-only with q850 variable", "ORIGINATOR_CANCEL", "16", adapter.CauseNormal},
		{"freeswitch-only without q850", "USER_NOT_REGISTERED", "", adapter.CauseUnallocated},
		{"manager request", "MANAGER_REQUEST", "", adapter.CauseNormal},
		{"unknown name, q850 given", "SOMETHING_NEW", "34", adapter.CauseCongestion},
		{"unknown everything", "SOMETHING_NEW", "", adapter.CauseFailure},
		{"garbage q850", "SOMETHING_NEW", "999", adapter.CauseFailure},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := ParseCause(tc.fs, tc.q850); got != tc.want {
				t.Errorf("ParseCause(%q, %q) = %v, want %v", tc.fs, tc.q850, got, tc.want)
			}
		})
	}
}

func TestCauseNameRoundTrip(t *testing.T) {
	for _, c := range []adapter.Cause{adapter.CauseUnallocated, adapter.CauseNormal, adapter.CauseBusy, adapter.CauseNoAnswer,
		adapter.CauseRejected, adapter.CauseCongestion, adapter.CauseFailure, adapter.CauseFromQ850(27), adapter.CauseFromQ850(44)} {
		t.Run(c.String(), func(t *testing.T) {
			name, ok := CauseName(c)
			if !ok || ParseCause(name, "") != c {
				t.Errorf("%v → %q (%v) → %v", c, name, ok, ParseCause(name, ""))
			}
		})
	}
	if name, ok := CauseName(adapter.CauseFromQ850(200)); ok || name != "NORMAL_CLEARING" {
		t.Errorf("unnamed code → %q, %v", name, ok)
	}
}

func TestOriginateErr(t *testing.T) {
	cases := []struct {
		cause string
		want  error
	}{
		{"USER_BUSY", adapter.ErrBusy},
		{"NO_ANSWER", adapter.ErrNoAnswer},
		{"NO_USER_RESPONSE", adapter.ErrNoAnswer},
		{"ORIGINATOR_CANCEL", adapter.ErrNoAnswer},
		{"PROGRESS_TIMEOUT", adapter.ErrNoAnswer},
		{"CALL_REJECTED", adapter.ErrFailed},
		{"NORMAL_TEMPORARY_FAILURE", adapter.ErrFailed},
		{"USER_NOT_REGISTERED", adapter.ErrFailed},
		{"CHAN_NOT_IMPLEMENTED", adapter.ErrFailed},
		{"", adapter.ErrFailed},
	}
	for _, tc := range cases {
		t.Run(tc.cause, func(t *testing.T) {
			if got := originateErr(tc.cause); got != tc.want {
				t.Errorf("originateErr(%q) = %v, want %v", tc.cause, got, tc.want)
			}
		})
	}
}

func TestConfig(t *testing.T) {
	ok := Config{Inbound: "127.0.0.1:8021", Password: "pw", OutboundListen: "127.0.0.1:8084"}
	cases := []struct {
		name   string
		change func(*Config)
		errHas string // "" = valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"no inbound", func(c *Config) { c.Inbound = "" }, "inbound"},
		{"bad outbound", func(c *Config) { c.OutboundListen = "8084" }, "outbound_listen"},
		{"empty password", func(c *Config) { c.Password = "" }, "password"},
		{"password with a newline", func(c *Config) { c.Password = "pw\napi shutdown" }, "password"},
		{"relative record dir", func(c *Config) { c.RecordDir = "rec" }, "record_dir"},
		{"record dir with a space", func(c *Config) { c.RecordDir = "/var/my rec" }, "record_dir"},
		{"hold music with a space", func(c *Config) { c.HoldMusic = "local_stream://moh aleg" }, "hold_music"},
		{"hold music as a broadcast app", func(c *Config) { c.HoldMusic = "hangup::NORMAL_CLEARING" }, "hold_music"},
		{"hold music with a hang-up cause", func(c *Config) { c.HoldMusic = "!USER_BUSY" }, "hold_music"},
		{"negative timeout", func(c *Config) { c.DefaultOriginateTimeout = -time.Second }, "negative"},
		{"bad language", func(c *Config) { c.Language = "en us" }, "language"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.change(&c)
			s, err := New(c, nil)
			if tc.errHas == "" {
				if err != nil {
					t.Fatal(err)
				}
				if s.Name() != "freeswitch" || s.cfg.DefaultOriginateTimeout != DefaultOriginateTimeout || s.cfg.HoldMusic != DefaultHoldMusic ||
					s.cfg.RecordDir != DefaultRecordDir || s.cfg.CommandTimeout != DefaultCommandTimeout || s.cfg.Language != "en" {
					t.Errorf("defaults not applied: %+v", s.cfg)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.errHas) {
				t.Errorf("error %v, want one about %s", err, tc.errHas)
			}
		})
	}
}

func TestSplitArgs(t *testing.T) {
	cases := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"main", []string{"main"}},
		{"main, sales ,x", []string{"main", "sales", "x"}},
	}
	for _, tc := range cases {
		if got := splitArgs(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("splitArgs(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestRecordDuration(t *testing.T) {
	ev := func(h ...string) *esl.Event {
		e := &esl.Event{}
		for i := 0; i+1 < len(h); i += 2 {
			e.Headers = append(e.Headers, esl.Header{Name: h[i], Value: h[i+1]})
		}
		return e
	}
	t0 := time.Unix(100, 0)
	cases := []struct {
		name       string
		done, stop *esl.Event
		want       time.Duration
	}{
		{"record_ms on completion", ev("variable_record_ms", "2345", "variable_record_seconds", "2"), nil, 2345 * time.Millisecond},
		{"record_seconds on completion", ev("variable_record_seconds", "3"), nil, 3 * time.Second},
		{"from RECORD_STOP", nil, ev("variable_record_ms", "700"), 700 * time.Millisecond},
		{"wall clock", ev(), ev(), 1500 * time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := recordDuration(tc.done, tc.stop, t0, t0.Add(1500*time.Millisecond)); got != tc.want {
				t.Errorf("duration %v, want %v", got, tc.want)
			}
		})
	}
}
