package sipptest

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the scenarios in testdata/sipp")

func needPcaps(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(SourcePcapDir, "g711a.pcap")); err != nil {
		if _, ci := os.LookupEnv("CI"); ci {
			t.Fatalf("sipp captures missing: %v", err)
		}
		t.Skipf("sipp captures missing (install sip-tester): %v", err)
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("..", "..", "testdata", "sipp", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the generated scenario (run go test -update and review):\n%s", name, got)
	}
}

func TestCallerValidate(t *testing.T) {
	tests := []struct {
		name    string
		c       Caller
		want    []Step // nil when an error is expected
		wantErr string
	}{
		{name: "hangup appended", c: Caller{Extension: "200", Events: []Step{Pause(time.Second)}}, want: []Step{Pause(time.Second), Hangup()}},
		{name: "empty timeline", c: Caller{Extension: "200"}, want: []Step{Hangup()}},
		{name: "expect bye kept", c: Caller{Extension: "+4202", Events: []Step{DTMF("1"), ExpectBye()}}, want: []Step{DTMF("1"), ExpectBye()}},
		{name: "no extension", c: Caller{}, wantErr: "bad extension"},
		{name: "bad from", c: Caller{Extension: "1", From: "a b"}, wantErr: "bad From user"},
		{name: "name with a line break", c: Caller{Extension: "1", FromName: "a\r\nX-Evil: 1"}, wantErr: "bad From display name"},
		{name: "name closing cdata", c: Caller{Extension: "1", FromName: "a]]>b"}, wantErr: "bad From display name"},
		{name: "hostile name kept", c: Caller{Extension: "1", FromName: `x" \ HANGUP`}, want: []Step{Hangup()}},
		{name: "bad key", c: Caller{Extension: "1", Events: []Step{DTMF("1A")}}, wantErr: "no DTMF capture"},
		{name: "empty dtmf", c: Caller{Extension: "1", Events: []Step{DTMF("")}}, wantErr: "no keys"},
		{name: "zero pause", c: Caller{Extension: "1", Events: []Step{Pause(0)}}, wantErr: "must be positive"},
		{name: "step after hangup", c: Caller{Extension: "1", Events: []Step{Hangup(), Pause(time.Second)}}, wantErr: "must be the last step"},
		{name: "zero step", c: Caller{Extension: "1", Events: []Step{{}}}, wantErr: "zero Step"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.c.validate()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("steps %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("step %d = %v, want %v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestCallerScenarioGolden(t *testing.T) {
	needPcaps(t)
	c := Caller{Extension: "200", From: "+420777888999", Events: []Step{Audio(time.Second), DTMF("1#"), Pause(2 * time.Second), ExpectBye()}}
	steps, err := c.validate()
	if err != nil {
		t.Fatal(err)
	}
	xml, pcaps, err := buildCaller(c, steps, 0x11223344)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "caller_example.xml", []byte(xml))
	var names []string
	for n := range pcaps {
		names = append(names, n)
		if !strings.Contains(xml, `play_pcap_audio="`+n+`"`) {
			t.Errorf("scenario does not play %s", n)
		}
	}
	sort.Strings(names)
	if len(names) != 3 {
		t.Errorf("captures %v, want 3 (audio and two keys)", names)
	}
}

func TestStreamIsContinuous(t *testing.T) {
	needPcaps(t)
	c := Caller{Extension: "1", Events: []Step{DTMF("11"), Audio(100 * time.Millisecond), DTMF("5")}}
	steps, err := c.validate()
	if err != nil {
		t.Fatal(err)
	}
	_, pcaps, err := buildCaller(c, steps, 0xcafe0001)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var all [][]packet
	for i := 1; i <= len(pcaps); i++ {
		name := filepath.Join("pcap", "step0"+string(rune('0'+i))+".pcap")
		if err := writePcap(filepath.Join(dir, name), pcaps[name]); err != nil {
			t.Fatal(err)
		}
		back, err := readPcap(filepath.Join(dir, name)) // round trip through the file format
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, back)
	}
	if len(all) != 4 {
		t.Fatalf("%d captures, want 4", len(all))
	}
	if n := len(all[2]); n != 4 {
		t.Errorf("100 ms of 30 ms audio packets: %d packets, want 4", n)
	}
	eventTS := map[uint32]bool{}
	var lastSeq uint16
	for i, pkts := range all {
		for j, p := range pkts {
			if ssrc := uint32(p.data[p.rtp+8])<<24 | uint32(p.data[p.rtp+9])<<16 | uint32(p.data[p.rtp+10])<<8 | uint32(p.data[p.rtp+11]); ssrc != 0xcafe0001 {
				t.Fatalf("capture %d packet %d: ssrc %x", i, j, ssrc)
			}
			if (i > 0 || j > 0) && p.seq() != lastSeq && p.seq() != lastSeq+1 {
				t.Fatalf("capture %d packet %d: seq %d after %d", i, j, p.seq(), lastSeq)
			}
			lastSeq = p.seq()
		}
		if i != 2 {
			eventTS[pkts[0].ts()] = true
		}
	}
	if len(eventTS) != 3 {
		t.Errorf("three key presses share timestamps %v: Asterisk would merge them", eventTS)
	}
}

func TestUASScenarioGolden(t *testing.T) {
	tests := []struct {
		name string
		opt  UASOptions
		want []string
	}{
		{name: "uas_agent.xml", opt: UASOptions{Mode: Answer, RingFor: time.Second}, want: []string{"180 Ringing", "200 OK", `<recv request="BYE"/>`}},
		{name: "uas_customer.xml", opt: UASOptions{Mode: Answer, Hold: 5 * time.Second}, want: []string{`timeout="5000" ontimeout="hangup"`, "Reason: Q.850;cause=16"}},
		{name: "uas_busy.xml", opt: UASOptions{Mode: Busy}, want: []string{"486 Busy Here"}},
		{name: "uas_noanswer.xml", opt: UASOptions{Mode: NoAnswer}, want: []string{`<recv request="CANCEL"/>`, "487 Request Terminated", "CSeq: [$invite_cseq] INVITE"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			xml := buildUAS(tc.opt)
			for _, w := range append(tc.want, "CALLFLOW-CALL from=[$from_user]") {
				if !strings.Contains(xml, w) {
					t.Errorf("scenario lacks %q", w)
				}
			}
			golden(t, tc.name, []byte(xml))
		})
	}
}

func TestParseCalls(t *testing.T) {
	tests := []struct {
		name string
		log  string
		want []UASCall
	}{
		{name: "empty", log: "", want: nil},
		{name: "two calls and noise", log: "2026-01-01\t10:00:00.1\t1.1: CALLFLOW-CALL from=+420222333444 to=+420601111222 callid=abc@h\nsomething else\n" +
			"x: CALLFLOW-END callid=abc@h by=remote\ny: CALLFLOW-CALL from= to=agent1 callid=d-e\n",
			want: []UASCall{{From: "+420222333444", To: "+420601111222", CallID: "abc@h"}, {To: "agent1", CallID: "d-e"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := parseCalls(strings.NewReader(tc.log))
			if len(got) != len(tc.want) {
				t.Fatalf("calls %+v, want %+v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("call %d = %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestHungUpBy(t *testing.T) {
	tests := []struct{ name, log, want string }{
		{name: "remote", log: "t: CALLFLOW-END callid=1 by=remote\n", want: "remote"},
		{name: "local", log: "t: CALLFLOW-END callid=1 by=local", want: "local"},
		{name: "none", log: "t: other\n", want: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := hungUpBy(tc.log); got != tc.want {
				t.Errorf("hungUpBy = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestReadPcapRejects(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		data    []byte
		wantErr string
	}{
		{name: "not pcap", data: []byte("hello world, not a capture file"), wantErr: "not a little-endian"},
		{name: "empty capture", data: append([]byte{0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0}, append(make([]byte, 12), 1, 0, 0, 0)...), wantErr: "no frames"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.name)
			if err := os.WriteFile(p, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := readPcap(p); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestCallerFromNameQuoted(t *testing.T) {
	xml, _, err := buildCaller(Caller{Extension: "1", From: "2", FromName: `x" \ y`}, []Step{Hangup()}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if want := `From: "x\" \\ y" <sip:2@`; !strings.Contains(xml, want) {
		t.Fatalf("scenario lacks %q:\n%s", want, xml)
	}
}
