package agi

import (
	"errors"
	"testing"
)

func TestParseReply(t *testing.T) {
	tests := []struct {
		name    string
		line    string
		want    Reply
		wantErr error
		anyErr  bool
	}{
		{name: "plain", line: "200 result=0\n", want: Reply{Code: 200, Result: 0, Text: "0", EndPos: -1}},
		{name: "digit", line: "200 result=49", want: Reply{Code: 200, Result: 49, Text: "49", EndPos: -1}},
		{name: "timeout data", line: "200 result=0 (timeout)", want: Reply{Code: 200, Text: "0", Data: "timeout", EndPos: -1}},
		{name: "get data timeout", line: "200 result= (timeout)", want: Reply{Code: 200, Data: "timeout", EndPos: -1}},
		{name: "get data zeros", line: "200 result=007", want: Reply{Code: 200, Result: 7, Text: "007", EndPos: -1}},
		{name: "record endpos", line: "200 result=0 (timeout) endpos=16000", want: Reply{Code: 200, Text: "0", Data: "timeout", EndPos: 16000}},
		{name: "record failed", line: "200 result=-1 (writefile)", want: Reply{Code: 200, Result: -1, Text: "-1", Data: "writefile", EndPos: -1}},
		{name: "stream endpos", line: "200 result=0 endpos=8000", want: Reply{Code: 200, Text: "0", EndPos: 8000}},
		{name: "variable data", line: "200 result=1 (a b (c))", want: Reply{Code: 200, Result: 1, Text: "1", Data: "a b (c)", EndPos: -1}},
		{name: "failure", line: "200 result=-1", want: Reply{Code: 200, Result: -1, Text: "-1", EndPos: -1}},
		{name: "hangup word", line: "HANGUP", want: Reply{Code: 511, Result: -1, EndPos: -1}, wantErr: ErrHangup},
		{name: "dead channel", line: "511 Command Not Permitted on a dead channel or intercepted channel", want: Reply{Code: 511, Result: -1, EndPos: -1}, wantErr: ErrHangup},
		{name: "invalid command", line: "510 Invalid or unknown command", anyErr: true},
		{name: "usage", line: "520-Invalid command syntax.  Proper usage follows:", anyErr: true},
		{name: "garbage", line: "hello", anyErr: true},
		{name: "empty", line: "", anyErr: true},
		{name: "unclosed", line: "200 result=1 (abc", anyErr: true},
		{name: "bad result", line: "200 result=x", anyErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseReply(tt.line)
			if tt.anyErr {
				if err == nil {
					t.Fatalf("ParseReply(%q) = %+v, want error", tt.line, got)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("ParseReply(%q) error = %v, want %v", tt.line, err, tt.wantErr)
			}
			got.Raw = ""
			if got != tt.want {
				t.Fatalf("ParseReply(%q) = %+v, want %+v", tt.line, got, tt.want)
			}
		})
	}
}

func FuzzParseReply(f *testing.F) {
	for _, s := range []string{"200 result=0", "200 result=0 (timeout) endpos=16000", "HANGUP",
		"511 Command Not Permitted on a dead channel", "200 result=1 (a (b))", "520-usage"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		r, err := ParseReply(line)
		if err == nil && r.Code != 200 {
			t.Fatalf("ParseReply(%q) succeeded with code %d", line, r.Code)
		}
		if errors.Is(err, ErrHangup) && r.Result != -1 {
			t.Fatalf("hang-up reply %q with result %d", line, r.Result)
		}
	})
}
