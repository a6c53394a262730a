package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseChannelCount(t *testing.T) {
	for _, tc := range []struct {
		out  string
		want int
		err  bool
	}{
		{"\n0 total.\n", 0, false},
		{"\n12 total.\n", 12, false},
		{"-ERR no reply\n", -1, true},
		{"", -1, true},
	} {
		n, err := parseChannelCount(tc.out)
		if n != tc.want || (err != nil) != tc.err {
			t.Errorf("parseChannelCount(%q) = %d, %v; want %d, error %v", tc.out, n, err, tc.want, tc.err)
		}
	}
}

func TestCountCallers(t *testing.T) {
	// "show channels as json" as FreeSWITCH 1.10 prints it (fields cut).
	out := `{"row_count":3,"rows":[{"uuid":"a","name":"sofia/callflow/42001@127.0.0.1:5060"},` +
		`{"uuid":"b","name":"sofia/callflow/agent1@127.0.0.1:15101"},{"uuid":"c","name":"sofia/callflow/42002@127.0.0.1:5060"}]}`
	if n, err := countCallers(out); err != nil || n != 2 {
		t.Errorf("countCallers = %d, %v; want 2", n, err)
	}
	if n, err := countCallers(`{"row_count":0}`); err != nil || n != 0 {
		t.Errorf("countCallers(no rows) = %d, %v; want 0", n, err)
	}
	if _, err := countCallers("-ERR"); err == nil {
		t.Error("countCallers(-ERR): no error")
	}
}

func TestTCPListening(t *testing.T) {
	// /proc/net/tcp lines: 127.0.0.1:18084 (0x46A4) listening, :8021 (0x1F55) established.
	table := `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:46A4 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0
   1: 0100007F:1F55 0100007F:A000 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0 20 4 30 10 -1
`
	path := filepath.Join(t.TempDir(), "tcp")
	if err := os.WriteFile(path, []byte(table), 0o644); err != nil {
		t.Fatal(err)
	}
	for port, want := range map[int]bool{18084: true, 8021: false, 5060: false} {
		got, err := tcpListening(path, port)
		if err != nil || got != want {
			t.Errorf("tcpListening(%d) = %v, %v; want %v", port, got, err, want)
		}
	}
}

func TestParseFlagsSwitch(t *testing.T) {
	base := []string{"-run-dir", "/tmp/x", "-switch-pid", "1"}
	for _, tc := range []struct {
		name, wantErr string
		args          []string
	}{
		{name: "freeswitch", args: []string{"-switch", "freeswitch", "-esl-pass", "p"}},
		{name: "freeswitch without password", args: []string{"-switch", "freeswitch"}, wantErr: "-esl-pass is required"},
		{name: "asterisk without password", args: nil, wantErr: "-ari-pass is required"},
		{name: "unknown switch", args: []string{"-switch", "yate"}, wantErr: `-switch "yate"`},
	} {
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
