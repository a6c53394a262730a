package loadgen

import (
	"strings"
	"testing"
)

const statsHeader = "StartTime;CurrentTime;TotalCallCreated;CurrentCall;SuccessfulCall(P);SuccessfulCall(C);FailedCall(P);FailedCall(C);FailedTimeoutOnRecv(P);FailedTimeoutOnRecv(C);FailedUnexpectedMessage(C);Retransmissions(C);\n"

func TestParseStats(t *testing.T) {
	tests := []struct {
		name    string
		csv     string
		want    Stats
		reasons string
		wantErr string
	}{
		{
			name: "cumulative counters from the last row, peak from all",
			csv: statsHeader +
				"t0;t1;10;7;3;3;0;0;0;0;0;0;\n" +
				"t0;t2;20;9;5;8;1;1;1;1;0;2;\n" +
				"t0;t3;20;0;10;18;1;2;0;1;1;2;\n",
			want:    Stats{Created: 20, Successful: 18, Failed: 2, PeakConcurrent: 9, Retransmissions: 2},
			reasons: "TimeoutOnRecv=1 UnexpectedMessage=1",
		},
		{name: "clean", csv: statsHeader + "a;b;5;0;5;5;0;0;0;0;0;0;\n", want: Stats{Created: 5, Successful: 5}},
		{name: "no rows", csv: statsHeader, wantErr: "no data rows"},
		{name: "ragged row", csv: statsHeader + "a;b;5\n", wantErr: "fields"},
		{name: "missing column", csv: "TotalCallCreated;CurrentCall\n3;1\n", wantErr: "SuccessfulCall(C)"},
		{name: "not a number", csv: statsHeader + "a;b;x;0;5;5;0;0;0;0;0;0;\n", wantErr: "TotalCallCreated"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseStats(strings.NewReader(tc.csv))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Created != tc.want.Created || got.Successful != tc.want.Successful || got.Failed != tc.want.Failed ||
				got.PeakConcurrent != tc.want.PeakConcurrent || got.Retransmissions != tc.want.Retransmissions {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
			if r := got.Reasons(); r != tc.reasons {
				t.Errorf("reasons %q, want %q", r, tc.reasons)
			}
		})
	}
}

func TestPlan(t *testing.T) {
	tests := []struct {
		name    string
		load    Load
		want    []Group
		wantErr string
	}{
		{
			name: "half pressers",
			load: Load{Concurrency: 50, PressShare: 0.5, Rounds: 3, Timing: DefaultTiming},
			want: []Group{{Kind: Presser, Limit: 25, Calls: 75, Rate: 2.5}, {Kind: Waiter, Limit: 25, Calls: 75, Rate: 2.5}},
		},
		{
			name: "waiters only, slow ramp",
			load: Load{Concurrency: 20, Rounds: 1, Timing: DefaultTiming, Ramp: 40e9},
			want: []Group{{Kind: Waiter, Limit: 20, Calls: 20, Rate: 0.5}},
		},
		{name: "zero concurrency", load: Load{Rounds: 1, Timing: DefaultTiming}, wantErr: "concurrency"},
		{name: "share above one", load: Load{Concurrency: 5, PressShare: 1.5, Rounds: 1, Timing: DefaultTiming}, wantErr: "press share"},
		{name: "no rounds", load: Load{Concurrency: 5, Timing: DefaultTiming}, wantErr: "rounds"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.load.Plan()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("groups %+v, want %+v", got, tc.want)
			}
			for i := range got {
				g, w := got[i], tc.want[i]
				if g.Kind != w.Kind || g.Limit != w.Limit || g.Calls != w.Calls || g.Rate != w.Rate {
					t.Errorf("group %d = %+v, want %+v", i, got[i], tc.want[i])
				}
			}
			if d := tc.load.MaxDuration(); d < tc.load.Timing.MaxWait {
				t.Errorf("MaxDuration %v shorter than one call", d)
			}
		})
	}
}

func TestResultClean(t *testing.T) {
	ok := Group{Kind: Presser, Calls: 2, Stats: Stats{Created: 2, Successful: 2}}
	tests := []struct {
		name string
		r    Result
		want bool
	}{
		{name: "all ok", r: Result{Groups: []Group{ok, ok}}, want: true},
		{name: "empty", r: Result{}, want: false},
		{name: "a failed call", r: Result{Groups: []Group{ok, {Calls: 2, ExitCode: 1, Stats: Stats{Created: 2, Successful: 1, Failed: 1}}}}, want: false},
		{name: "calls missing", r: Result{Groups: []Group{{Calls: 3, Stats: Stats{Created: 2, Successful: 2}}}}, want: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.r.Clean(); got != tc.want {
				t.Errorf("Clean = %v, want %v", got, tc.want)
			}
		})
	}
}
