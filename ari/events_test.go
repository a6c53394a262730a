package ari

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestDecodeEventFixtures(t *testing.T) {
	const chID = "1747312522.17"
	tests := []struct {
		name  string
		check func(t *testing.T, ev Event)
		keys  []Key
	}{
		{"StasisStart", func(t *testing.T, ev Event) {
			e := ev.(*StasisStart)
			if !slices.Equal(e.Args, []string{"inbound"}) || e.Channel.ID != chID || e.Channel.Caller.Number != "+420601234567" ||
				e.Channel.Dialplan.Exten != "200" || e.Channel.Dialplan.AppData != "callflow,inbound" || e.Channel.State != "Ring" {
				t.Errorf("got %+v", e)
			}
			want := time.Date(2025, 5, 15, 12, 35, 22, 301e6, time.UTC)
			if !e.Channel.CreationTime.Equal(want) {
				t.Errorf("creationtime %v, want %v", e.Channel.CreationTime, want)
			}
		}, []Key{ChannelKey(chID)}},
		{"StasisEnd", func(t *testing.T, ev Event) { _ = ev.(*StasisEnd) }, []Key{ChannelKey(chID)}},
		{"ChannelCreated", func(t *testing.T, ev Event) {
			if e := ev.(*ChannelCreated); e.Channel.ID != "cf-7d2c0a9e51b3" || e.Channel.State != "Down" {
				t.Errorf("got %+v", e)
			}
		}, []Key{ChannelKey("cf-7d2c0a9e51b3")}},
		{"ChannelDestroyed", func(t *testing.T, ev Event) {
			if e := ev.(*ChannelDestroyed); e.Cause != 16 || e.CauseText != "Normal Clearing" {
				t.Errorf("got %+v", e)
			}
		}, []Key{ChannelKey(chID)}},
		{"ChannelHangupRequest", func(t *testing.T, ev Event) {
			if e := ev.(*ChannelHangupRequest); e.Cause != 16 || e.Soft {
				t.Errorf("got %+v", e)
			}
		}, []Key{ChannelKey(chID)}},
		{"ChannelStateChange", func(t *testing.T, ev Event) {
			if e := ev.(*ChannelStateChange); e.Channel.State != "Up" {
				t.Errorf("got %+v", e)
			}
		}, []Key{ChannelKey(chID)}},
		{"ChannelDtmfReceived", func(t *testing.T, ev Event) {
			if e := ev.(*ChannelDtmfReceived); e.Digit != "1" || e.DurationMs != 160 {
				t.Errorf("got %+v", e)
			}
		}, []Key{ChannelKey(chID)}},
		{"ChannelEnteredBridge", func(t *testing.T, ev Event) {
			e := ev.(*ChannelEnteredBridge)
			if e.Bridge.ID != "q-support" || e.Bridge.BridgeType != "holding" || e.Channel == nil || e.Channel.ID != chID {
				t.Errorf("got %+v", e)
			}
		}, []Key{BridgeKey("q-support"), ChannelKey(chID)}},
		{"ChannelLeftBridge", func(t *testing.T, ev Event) {
			if e := ev.(*ChannelLeftBridge); len(e.Bridge.Channels) != 0 || e.Channel.ID != chID {
				t.Errorf("got %+v", e)
			}
		}, []Key{BridgeKey("q-support"), ChannelKey(chID)}},
		{"ChannelVarset", func(t *testing.T, ev Event) {
			if e := ev.(*ChannelVarset); e.Variable != "CALLFLOW_FLOW" || e.Value != "inbound" || e.Channel == nil {
				t.Errorf("got %+v", e)
			}
		}, []Key{ChannelKey(chID)}},
		{"Dial", func(t *testing.T, ev Event) {
			if e := ev.(*Dial); e.Dialstatus != "BUSY" || e.Peer.ID != "cf-7d2c0a9e51b3" || e.Caller != nil {
				t.Errorf("got %+v", e)
			}
		}, []Key{ChannelKey("cf-7d2c0a9e51b3")}},
		{"BridgeCreated", func(t *testing.T, ev Event) { _ = ev.(*BridgeCreated) }, []Key{BridgeKey("q-support")}},
		{"BridgeDestroyed", func(t *testing.T, ev Event) {
			if e := ev.(*BridgeDestroyed); e.Bridge.Name != "support" {
				t.Errorf("got %+v", e)
			}
		}, []Key{BridgeKey("q-support")}},
		{"PlaybackStarted", func(t *testing.T, ev Event) {
			if e := ev.(*PlaybackStarted); e.Playback.ID != "pb-5f3a9c" || e.Playback.State != PlaybackStatePlaying || e.Playback.NextMediaURI != "sound:beep" {
				t.Errorf("got %+v", e)
			}
		}, []Key{PlaybackKey("pb-5f3a9c"), ChannelKey(chID)}},
		{"PlaybackContinuing", func(t *testing.T, ev Event) { _ = ev.(*PlaybackContinuing) }, []Key{PlaybackKey("pb-5f3a9c"), ChannelKey(chID)}},
		{"PlaybackFinished", func(t *testing.T, ev Event) {
			if e := ev.(*PlaybackFinished); e.Playback.State != PlaybackStateDone {
				t.Errorf("got %+v", e)
			}
		}, []Key{PlaybackKey("pb-5f3a9c"), ChannelKey(chID)}},
		{"RecordingStarted", func(t *testing.T, ev Event) {
			if e := ev.(*RecordingStarted); e.Recording.Name != "vm-7d2c0a9e" || e.Recording.State != "recording" {
				t.Errorf("got %+v", e)
			}
		}, []Key{RecordingKey("vm-7d2c0a9e"), ChannelKey(chID)}},
		{"RecordingFinished", func(t *testing.T, ev Event) {
			if e := ev.(*RecordingFinished); e.Recording.Duration != 3 || e.Recording.Format != "wav" {
				t.Errorf("got %+v", e)
			}
		}, []Key{RecordingKey("vm-7d2c0a9e"), ChannelKey(chID)}},
		{"RecordingFailed", func(t *testing.T, ev Event) {
			if e := ev.(*RecordingFailed); !strings.Contains(e.Recording.Cause, "No such file") {
				t.Errorf("got %+v", e)
			}
		}, []Key{RecordingKey("vm-7d2c0a9e"), ChannelKey(chID)}},
		{"ApplicationReplaced", func(t *testing.T, ev Event) { _ = ev.(*ApplicationReplaced) }, nil},
		{"unknown_ChannelTalkingStarted", func(t *testing.T, ev Event) {
			e := ev.(*UnknownEvent)
			if e.Type != "ChannelTalkingStarted" || e.Err != nil || !json.Valid(e.Raw) {
				t.Errorf("got %+v", e)
			}
		}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw := fixture(t, tc.name)
			ev, err := DecodeEvent([]byte(raw))
			if err != nil {
				t.Fatal(err)
			}
			h := ev.Header()
			wantType := strings.TrimPrefix(tc.name, "unknown_")
			if h.Type != wantType || h.Application != "callflow" || h.AsteriskID != "52:54:00:6a:1f:0c" || h.Timestamp.IsZero() {
				t.Errorf("header %+v", h)
			}
			tc.check(t, ev)
			if got := ev.routeKeys(nil); !slices.Equal(got, tc.keys) {
				t.Errorf("route keys %v, want %v", got, tc.keys)
			}
		})
	}
}

func TestDecodeEventRejects(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		malformed bool
		invalid   bool // known type, bad fields → *UnknownEvent with Err
	}{
		{"empty", "", true, false},
		{"null", "null", true, false},
		{"array", `[{"type":"StasisStart"}]`, true, false},
		{"truncated", `{"type":"StasisStart","channel":{`, true, false},
		{"no type", `{"application":"callflow"}`, true, false},
		{"type not a string", `{"type":5}`, true, false},
		{"bad cause", `{"type":"ChannelDestroyed","cause":"sixteen","channel":{"id":"1"}}`, false, true},
		{"channel is a string", `{"type":"StasisStart","channel":"x"}`, false, true},
		{"bad timestamp tolerated", `{"type":"StasisEnd","timestamp":"yesterday","channel":{"id":"1"}}`, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := DecodeEvent([]byte(tc.in))
			if tc.malformed {
				if !errors.Is(err, ErrMalformed) || ev != nil {
					t.Fatalf("got %v, %v; want ErrMalformed", ev, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			u, isUnknown := ev.(*UnknownEvent)
			if tc.invalid != (isUnknown && u.Err != nil) {
				t.Fatalf("got %#v", ev)
			}
		})
	}
}

// TestDecodeCapturedAsterisk22 decodes every event captured from Asterisk
// 22.10 (a subscribeAll websocket during originate, bridge, play, record,
// hang-up and an unanswered originate).
func TestDecodeCapturedAsterisk22(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "events", "asterisk22", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no captured events: %v", err)
	}
	for _, p := range files {
		t.Run(filepath.Base(p), func(t *testing.T) {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			ev, err := DecodeEvent(b)
			if err != nil {
				t.Fatal(err)
			}
			if ev.Header().Timestamp.IsZero() || ev.Header().AsteriskID == "" {
				t.Errorf("header %+v", ev.Header())
			}
			u, unknown := ev.(*UnknownEvent)
			if unknown && (u.Err != nil || newEvent(u.Type) != nil) {
				t.Errorf("known type %s not decoded: %v", u.Type, u.Err)
			}
			if !unknown && len(ev.routeKeys(nil)) == 0 {
				t.Errorf("%s routes nowhere", ev.Header().Type)
			}
		})
	}
}

func TestTimeUnmarshal(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want time.Time
	}{
		{"asterisk layout", `"2025-05-15T12:35:22.301+0200"`, time.Date(2025, 5, 15, 10, 35, 22, 301e6, time.UTC)},
		{"no millis", `"2025-05-15T12:35:22-0100"`, time.Date(2025, 5, 15, 13, 35, 22, 0, time.UTC)},
		{"rfc3339", `"2025-05-15T12:35:22Z"`, time.Date(2025, 5, 15, 12, 35, 22, 0, time.UTC)},
		{"empty", `""`, time.Time{}},
		{"null", `null`, time.Time{}},
		{"garbage", `"soon"`, time.Time{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var v Time
			if err := json.Unmarshal([]byte(tc.in), &v); err != nil {
				t.Fatal(err)
			}
			if !v.Equal(tc.want) {
				t.Errorf("got %v, want %v", v.Time, tc.want)
			}
		})
	}
}

func TestTimeRoundTrip(t *testing.T) {
	in := Time{time.Date(2025, 5, 15, 12, 35, 22, 301e6, time.UTC)}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `"2025-05-15T12:35:22.301+0000"` {
		t.Fatalf("marshal %s", b)
	}
	var out Time
	if err := json.Unmarshal(b, &out); err != nil || !out.Equal(in.Time) {
		t.Fatalf("round trip %v %v", out, err)
	}
}

func FuzzDecodeEvent(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "events", "*.json"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := DecodeEvent(data)
		if err != nil {
			if ev != nil || !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v with event %v", err, ev)
			}
			return
		}
		if ev == nil || ev.Header().Type == "" {
			t.Fatalf("nil event or empty type without error: %#v", ev)
		}
		_ = ev.routeKeys(nil)
	})
}

func BenchmarkDecodeEvent(b *testing.B) {
	for _, name := range []string{"ChannelDtmfReceived", "StasisStart"} {
		raw := []byte(fixture(b, name))
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				if _, err := DecodeEvent(raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestKnownEventTypesDecode keeps the filter's list of known types and the
// decoder's switch in step: a type on one and not the other would either be
// refused in a filter or decoded but never allowed through.
func TestKnownEventTypesDecode(t *testing.T) {
	for _, typ := range KnownEventTypes() {
		if newEvent(typ) == nil {
			t.Errorf("%s is listed as known but newEvent does not decode it", typ)
		}
	}
	if err := checkEventTypes([]string{"StasisStart", "ChannelDtmfRecieved"}); err == nil {
		t.Error("a misspelt event type passed the filter check")
	}
}
