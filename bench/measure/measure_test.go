package measure

import (
	"bufio"
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	tests := []struct {
		name    string
		line    string
		want    time.Duration
		wantErr bool
	}{
		{
			name: "plain",
			line: "1234 (node) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 7 3 20 0 11 0 100 1000 200 18446744073709551615",
			want: 3100 * time.Millisecond,
		},
		{
			name: "name with spaces and parens",
			line: "99 (my (odd) app) R 1 99 99 0 -1 0 0 0 0 0 1 2 3 4 20 0 1 0 1 1 1 0",
			want: 100 * time.Millisecond,
		},
		{name: "no name", line: "99 R 1 2", wantErr: true},
		{name: "short", line: "99 (x) R 1 2 3", wantErr: true},
		{name: "bad number", line: "1 (x) S 1 1 1 0 -1 0 0 0 0 0 a 0 0 0 20 0 1 0", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseStatCPU([]byte(tc.line))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestParseHWM(t *testing.T) {
	tests := []struct {
		name    string
		status  string
		want    int64
		wantErr bool
	}{
		{name: "present", status: "Name:\tnode\nVmPeak:\t 999 kB\nVmHWM:\t   77624 kB\nVmRSS:\t 100 kB\n", want: 77624 * 1024},
		{name: "missing", status: "Name:\tkthreadd\n", wantErr: true},
		{name: "bad unit", status: "VmHWM:\t 5 MB\n", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseHWM(bufio.NewScanner(strings.NewReader(tc.status)))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("got %d, want %d", got, tc.want)
			}
		})
	}
}

func TestSelf(t *testing.T) {
	cpu, err := CPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	rss, err := PeakRSS(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if cpu < 0 || rss < 1<<20 {
		t.Errorf("cpu %v rss %d: implausible for a running test binary", cpu, rss)
	}
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name    string
		frame   string
		want    Event
		ok      bool
		wantErr bool
	}{
		{
			name:  "dtmf",
			frame: `{"type":"ChannelDtmfReceived","timestamp":"2026-11-25T14:52:27.404+0000","digit":"1","duration_ms":140,"channel":{"id":"c1","name":"PJSIP/caller-1"},"application":"observer"}`,
			want:  Event{Type: "ChannelDtmfReceived", Time: time.Date(2026, 11, 25, 14, 52, 27, 404e6, time.UTC), Channel: "c1", Digit: "1"},
			ok:    true,
		},
		{
			name:  "playback on channel",
			frame: `{"type":"PlaybackStarted","timestamp":"2026-11-25T15:52:27.410+0100","playback":{"id":"p","target_uri":"channel:c1"}}`,
			want:  Event{Type: "PlaybackStarted", Time: time.Date(2026, 11, 25, 14, 52, 27, 410e6, time.UTC), Channel: "c1"},
			ok:    true,
		},
		{
			name:  "playback on bridge is not a channel action",
			frame: `{"type":"PlaybackStarted","timestamp":"2026-11-25T14:52:27.410+0000","playback":{"id":"p","target_uri":"bridge:b1"}}`,
		},
		{
			name:  "recording",
			frame: `{"type":"RecordingStarted","timestamp":"2026-11-25T14:52:28.000+0000","recording":{"name":"m","target_uri":"channel:c2"}}`,
			want:  Event{Type: "RecordingStarted", Time: time.Date(2026, 11, 25, 14, 52, 28, 0, time.UTC), Channel: "c2"},
			ok:    true,
		},
		{
			name:  "left bridge",
			frame: `{"type":"ChannelLeftBridge","timestamp":"2026-11-25T14:52:28.000+0000","bridge":{"id":"b"},"channel":{"id":"c3"}}`,
			want:  Event{Type: "ChannelLeftBridge", Time: time.Date(2026, 11, 25, 14, 52, 28, 0, time.UTC), Channel: "c3"},
			ok:    true,
		},
		{name: "other event", frame: `{"type":"StasisStart","timestamp":"x","channel":{"id":"c"}}`},
		{name: "bad json", frame: `{`, wantErr: true},
		{name: "bad timestamp", frame: `{"type":"ChannelDtmfReceived","timestamp":"yesterday","channel":{"id":"c"}}`, wantErr: true},
		{name: "dtmf without channel", frame: `{"type":"ChannelDtmfReceived","timestamp":"2026-11-25T14:52:28.000+0000"}`, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok, err := decode([]byte(tc.frame))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			if ok && (got.Type != tc.want.Type || !got.Time.Equal(tc.want.Time) || got.Channel != tc.want.Channel || got.Digit != tc.want.Digit) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestPair(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	dtmf := func(ch string, ms int) Event {
		return Event{Type: "ChannelDtmfReceived", Channel: ch, Digit: "1", Time: at(ms)}
	}
	act := func(typ, ch string, ms int) Event { return Event{Type: typ, Channel: ch, Time: at(ms)} }
	tests := []struct {
		name string
		evs  []Event
		want Latency
	}{
		{name: "none", want: Latency{}},
		{
			name: "each digit pairs with the next action on its own channel",
			evs: []Event{
				act("PlaybackStarted", "a", 0), // before any digit: ignored
				dtmf("a", 100), dtmf("b", 110),
				act("ChannelLeftBridge", "b", 130),
				act("ChannelLeftBridge", "a", 150),
				act("RecordingStarted", "a", 160), // second action: nothing pending
			},
			want: Latency{Digits: 2, Paired: 2, P50: 20 * time.Millisecond, P99: 50 * time.Millisecond, Max: 50 * time.Millisecond},
		},
		{
			name: "two digits before one action both pair with it",
			evs:  []Event{dtmf("a", 0), dtmf("a", 40), act("PlaybackStarted", "a", 100)},
			want: Latency{Digits: 2, Paired: 2, P50: 60 * time.Millisecond, P99: 100 * time.Millisecond, Max: 100 * time.Millisecond},
		},
		{
			name: "digit without action is unpaired",
			evs:  []Event{dtmf("a", 0), act("PlaybackStarted", "b", 5), dtmf("c", 7)},
			want: Latency{Digits: 2, Unpaired: 2},
		},
		{
			name: "clock skew never gives a negative latency",
			evs:  []Event{dtmf("a", 10), act("ChannelLeftBridge", "a", 9)},
			want: Latency{Digits: 1, Paired: 1},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Pair(tc.evs); got != tc.want {
				t.Errorf("Pair = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestPercentile(t *testing.T) {
	ds := make([]time.Duration, 100)
	for i := range ds {
		ds[i] = time.Duration(i+1) * time.Millisecond
	}
	tests := []struct {
		name string
		ds   []time.Duration
		p    float64
		want time.Duration
	}{
		{name: "empty", p: 50, want: 0},
		{name: "single", ds: ds[:1], p: 99, want: time.Millisecond},
		{name: "p50 of 100", ds: ds, p: 50, want: 50 * time.Millisecond},
		{name: "p99 of 100", ds: ds, p: 99, want: 99 * time.Millisecond},
		{name: "p100", ds: ds, p: 100, want: 100 * time.Millisecond},
		{name: "p0 is the minimum", ds: ds, p: 0, want: time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Percentile(tc.ds, tc.p); got != tc.want {
				t.Errorf("Percentile(%v) = %v, want %v", tc.p, got, tc.want)
			}
		})
	}
}

func TestObserverURL(t *testing.T) {
	tests := []struct {
		name, in, want string
		wantErr        bool
	}{
		{name: "http", in: "http://127.0.0.1:8088/ari", want: "ws://127.0.0.1:8088/ari/events?api_key=u%3Ap%21&app=obs&subscribeAll=true"},
		{name: "https trailing slash", in: "https://pbx:8089/ari/", want: "wss://pbx:8089/ari/events?api_key=u%3Ap%21&app=obs&subscribeAll=true"},
		{name: "bad scheme", in: "ftp://x/ari", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ObserverURL(tc.in, "obs", "u", "p!")
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
