package e2etest

import (
	"maps"
	"strings"
	"testing"
	"time"
)

func TestParseLine(t *testing.T) {
	day := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	at := func(h, m, s, ms int) time.Time { return time.Date(2026, 11, 25, h, m, s, ms*1e6, time.UTC) }
	tests := []struct {
		name string
		line string
	}{
		{
			name: "flow event with position and attrs",
			line: "15:37:31.515 1795621037.19 flow     record             voicemail-wait.yaml:35:3 message → next [duration=4 recording=recording:1795621037.19-message-1]",
		},
		{
			name: "queue event with text",
			line: "15:37:16.836 1795621032.12 queue    abandoned          hung up while reserved [position=1 queue=support]",
		},
		{
			name: "callback event, short call padded",
			line: "15:29:44.591 cb-1         callback dialing_customer   PJSIP/+420601111222@customer [ani=+420222333444 attempt=1 endpoint=PJSIP/+420601111222@customer queue=support]",
		},
		{
			name: "no call",
			line: "08:00:00.000              callback invalid            premium_rate [origin=api queue=support]",
		},
		{
			name: "no text no attrs",
			line: "00:00:00.000 caller-1     switch   answer",
		},
		{
			name: "attr value with spaces and bracket in text",
			line: "10:00:00.250 c1           flow     log                main.yaml:3:3 done → next [message=hello [x] world reason=a b]",
		},
		{
			name: "long kind without padding",
			line: "00:00:21.250 agent-2      switch   originate-no-answer no answer after 15s",
		},
	}
	wants := []struct {
		at                            time.Time
		call, source, kind, pos, text string
		attrs                         map[string]string
	}{
		{at(15, 37, 31, 515), "1795621037.19", "flow", "record", "voicemail-wait.yaml:35:3", "message → next",
			map[string]string{"duration": "4", "recording": "recording:1795621037.19-message-1"}},
		{at(15, 37, 16, 836), "1795621032.12", "queue", "abandoned", "", "hung up while reserved",
			map[string]string{"position": "1", "queue": "support"}},
		{at(15, 29, 44, 591), "cb-1", "callback", "dialing_customer", "", "PJSIP/+420601111222@customer",
			map[string]string{"ani": "+420222333444", "attempt": "1", "endpoint": "PJSIP/+420601111222@customer", "queue": "support"}},
		{at(8, 0, 0, 0), "", "callback", "invalid", "", "premium_rate", map[string]string{"origin": "api", "queue": "support"}},
		{at(0, 0, 0, 0), "caller-1", "switch", "answer", "", "", nil},
		{at(10, 0, 0, 250), "c1", "flow", "log", "main.yaml:3:3", "done → next", map[string]string{"message": "hello [x] world", "reason": "a b"}},
		{at(0, 0, 21, 250), "agent-2", "switch", "originate-no-answer", "", "no answer after 15s", nil},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseLine(tc.line, day)
			if err != nil {
				t.Fatal(err)
			}
			w := wants[i]
			if !got.At.Equal(w.at) || got.Call != w.call || got.Source != w.source || got.Kind != w.kind || got.Pos != w.pos || got.Text != w.text {
				t.Errorf("got at=%v call=%q source=%q kind=%q pos=%q text=%q\nwant at=%v call=%q source=%q kind=%q pos=%q text=%q",
					got.At, got.Call, got.Source, got.Kind, got.Pos, got.Text, w.at, w.call, w.source, w.kind, w.pos, w.text)
			}
			if !maps.Equal(got.Attrs, w.attrs) {
				t.Errorf("attrs %v, want %v", got.Attrs, w.attrs)
			}
			if got.Raw != tc.line {
				t.Errorf("raw %q", got.Raw)
			}
		})
	}
}

func TestParseLineErrors(t *testing.T) {
	tests := []struct{ name, line string }{
		{"no time", "caller-1 flow answer"},
		{"bad source", "00:00:00.000 caller-1 nosuch answer"},
		{"no kind", "00:00:00.000 caller-1 flow"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParseLine(tc.line, time.Now()); err == nil {
				t.Errorf("ParseLine(%q) succeeded", tc.line)
			}
		})
	}
}

func TestParseTrace(t *testing.T) {
	start := time.Date(2026, 11, 25, 23, 59, 59, 0, time.UTC)
	text := "23:59:59.500 c1           flow     answer             a.yaml:1:1 w → next\n" +
		"\n" +
		"00:00:00.250 c2           flow     answer             a.yaml:1:1 w → next\n" +
		"00:00:00.300 c1           queue    joined             joined [position=1 queue=q]\n" +
		"00:00:00.400 c1           queue    left" // no newline yet: still being written
	evs, err := ParseTrace(strings.NewReader(text), start)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 3 {
		t.Fatalf("%d events, want 3 (the unterminated line skipped): %v", len(evs), evs)
	}
	for i, e := range evs {
		if e.Index != i {
			t.Errorf("event %d has index %d", i, e.Index)
		}
	}
	if want := time.Date(2026, 11, 26, 0, 0, 0, 250e6, time.UTC); !evs[1].At.Equal(want) {
		t.Errorf("after midnight: %v, want %v", evs[1].At, want)
	}
	if got := InboundCalls(evs); len(got) != 2 || got[0] != "c1" || got[1] != "c2" {
		t.Errorf("InboundCalls %v, want [c1 c2]", got)
	}
}

func TestMatch(t *testing.T) {
	e := Event{Index: 3}
	e.Call, e.Source, e.Kind, e.Text = "c1", "queue", "joined", "joined again"
	e.Attrs = map[string]string{"position": "1", "queue": "support"}
	tests := []struct {
		name string
		m    Match
		want bool
	}{
		{"empty matches all", Match{}, true},
		{"all fields", Match{Call: "c1", Source: "queue", Kind: "joined", Text: "again", Attrs: map[string]string{"position": "1"}}, true},
		{"other call", Match{Call: "c2"}, false},
		{"other kind", Match{Kind: "left"}, false},
		{"text not contained", Match{Text: "left"}, false},
		{"attr differs", Match{Attrs: map[string]string{"position": "2"}}, false},
		{"attr missing", Match{Attrs: map[string]string{"agent": ""}}, false},
		{"after earlier index", Match{After: After(2)}, true},
		{"after same index", Match{After: After(3)}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.m.Matches(e); got != tc.want {
				t.Errorf("%v.Matches = %v, want %v", tc.m, got, tc.want)
			}
		})
	}
}

func TestFindSample(t *testing.T) {
	text := `# HELP callflow_queue_abandons_total Callers who hung up.
# TYPE callflow_queue_abandons_total counter
callflow_queue_abandons_total{queue="sales"} 0
callflow_queue_abandons_total{queue="support"} 2
callflow_queue_abandons_total_extra 9
callflow_switch_connected 1
`
	tests := []struct {
		name   string
		metric string
		labels map[string]string
		want   float64
		found  bool
	}{
		{"labelled", "callflow_queue_abandons_total", map[string]string{"queue": "support"}, 2, true},
		{"first of several", "callflow_queue_abandons_total", nil, 0, true},
		{"no labels", "callflow_switch_connected", nil, 1, true},
		{"label value absent", "callflow_queue_abandons_total", map[string]string{"queue": "nope"}, 0, false},
		{"prefix of a longer name", "callflow_queue", nil, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, found, err := findSample(text, tc.metric, tc.labels)
			if err != nil || v != tc.want || found != tc.found {
				t.Errorf("findSample = %v, %v, %v; want %v, %v, nil", v, found, err, tc.want, tc.found)
			}
		})
	}
}
