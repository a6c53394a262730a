package main

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/callflow/callflow/bench/loadgen"
	"github.com/callflow/callflow/bench/measure"
)

func TestParseInts(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []int
		wantErr bool
	}{
		{name: "list", in: "20, 50,100", want: []int{20, 50, 100}},
		{name: "trailing comma", in: "5,", want: []int{5}},
		{name: "zero", in: "0", wantErr: true},
		{name: "word", in: "ten", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseInts(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestCountJSONArray(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want int
	}{
		{name: "empty", in: `[]`, want: 0},
		{name: "nested objects count once", in: `[{"id":"a","caller":{"name":"x"}},{"id":"b","dialplan":{"exten":"}"}}]`, want: 2},
		{name: "braces in strings", in: `[{"name":"{\"[{"}]`, want: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := countJSONArray([]byte(tc.in)); got != tc.want {
				t.Errorf("got %d, want %d", got, tc.want)
			}
		})
	}
}

func result(ok, failed int) loadgen.Result {
	return loadgen.Result{Groups: []loadgen.Group{{
		Kind: loadgen.Presser, Calls: ok + failed,
		Stats: loadgen.Stats{Created: ok + failed, Successful: ok, Failed: failed, PeakConcurrent: ok},
	}}}
}

func TestReportRender(t *testing.T) {
	ctl := runMeasure{name: "control", level: 20, load: result(40, 0), asteriskCPU: 2 * time.Second}
	bad := runMeasure{name: "control", level: 50, load: result(90, 10), asteriskCPU: 5 * time.Second}
	peer := runMeasure{name: "peer", level: 20, load: result(40, 0), appCPU: time.Second, appRSS: 80 << 20,
		asteriskCPU: 4 * time.Second, latency: measure.Latency{Digits: 10, Paired: 10, P50: 3 * time.Millisecond, P99: 12 * time.Millisecond}}
	cf := runMeasure{name: "callflow", level: 20, load: result(40, 0), appCPU: 500 * time.Millisecond, appRSS: 20 << 20,
		asteriskCPU: 4 * time.Second, latency: measure.Latency{Digits: 10, Paired: 10, P50: 2 * time.Millisecond, P99: 6 * time.Millisecond}}
	tests := []struct {
		name string
		rep  report
		want []string
	}{
		{
			name: "both applications",
			rep:  report{started: time.Now(), level: 20, control: []runMeasure{ctl, bad}, apps: []runMeasure{cf, peer}},
			want: []string{
				"20 concurrent: 40/40 calls ok, 0 failed",
				"50 concurrent: 90/100 calls ok, 10 failed",
				"NOT clean",
				"results at 20 concurrent calls",
				// rows: name, control, callflow, peer, callflow/peer
				"app CPU s|-|0.50|1.00|0.50",
				"app peak RSS MiB|-|20.0|80.0|0.25",
				"DTMF→action p99 ms|-|6|12|0.50",
				"app CPU % of Asterisk|-|12.5|25.0|0.50",
				"Asterisk CPU s|2.00|4.00|4.00|1.00",
			},
		},
		{
			name: "profiled callflow",
			rep: report{started: time.Now(), level: 20, control: []runMeasure{ctl}, apps: []runMeasure{func() runMeasure {
				m := cf
				m.profile = &measure.ProfileResult{Base: measure.HeapSample{Calls: 0, HeapAlloc: 4 << 20},
					Samples: []measure.HeapSample{{Calls: 10, HeapAlloc: 4<<20 + 10*16<<10}, {Calls: 20, HeapAlloc: 4<<20 + 20*16<<10}}}
				return m
			}(), peer}},
			want: []string{"heap KiB per call|-|16.0|-|-", "calls at heap peak|-|20|-|-"},
		},
		{
			name: "callflow skipped",
			rep:  report{started: time.Now(), level: 20, control: []runMeasure{ctl}, apps: []runMeasure{{name: "callflow", skipped: "no serve"}, peer}},
			want: []string{"callflow: skipped: no serve", "app CPU s|-|-|1.00|-"},
		},
		{
			name: "no clean level",
			rep:  report{started: time.Now(), control: []runMeasure{bad}},
			want: []string{"no level ran clean"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := tc.rep.render()
			// Table rows compare as cells joined by "|".
			var rows []string
			for _, line := range strings.Split(out, "\n") {
				if name, rest, ok := strings.Cut(strings.TrimSpace(line), "  "); ok {
					rows = append(rows, strings.Join(append([]string{name}, strings.Fields(rest)...), "|"))
				}
			}
			out += "\n" + strings.Join(rows, "\n")
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("report lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestParseFlagsPressAfter(t *testing.T) {
	base := []string{"-ari-pass", "x", "-asterisk-pid", "1", "-run-dir", "/tmp/x"}
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{name: "defaults", args: nil},
		{name: "press before the agent hangs up", args: []string{"-press-after", "3s"}, wantErr: "must be at least 5.5s"},
		{name: "shorter talk allows an earlier press", args: []string{"-press-after", "3s", "-talk", "1s"}},
		{name: "longer talk needs a later press", args: []string{"-talk", "5s"}, wantErr: "must be at least 6.5s"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseFlags(append(append([]string{}, base...), tc.args...))
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("err = %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
}
