package agi

import (
	"bufio"
	"strings"
	"testing"
)

func TestReadEnv(t *testing.T) {
	block := "agi_network: yes\nagi_request: agi://127.0.0.1:4573/main\nagi_callerid: \"; HANGUP\nagi_arg_1: a\nagi_arg_2: b,c\n\nrest"
	env, err := ReadEnv(bufio.NewReader(strings.NewReader(block)))
	if err != nil {
		t.Fatal(err)
	}
	if env["request"] != "agi://127.0.0.1:4573/main" || env["callerid"] != `"; HANGUP` {
		t.Fatalf("env = %v", env)
	}
	if got := env.Args(); len(got) != 2 || got[1] != "b,c" {
		t.Fatalf("Args() = %q", got)
	}
	if _, err := ReadEnv(bufio.NewReader(strings.NewReader("agi_x: 1\n"))); err == nil {
		t.Fatal("unterminated block accepted")
	}
}

func TestCommandLine(t *testing.T) {
	tests := []struct {
		name string
		cmd  Command
		want string
	}{
		{"answer", Answer{}, "ANSWER\n"},
		{"stream", StreamFile{File: "hello-world", Escape: "#"}, "STREAM FILE \"hello-world\" \"#\"\n"},
		{"get data", GetData{File: "beep", TimeoutMS: 5000, Max: 4}, "GET DATA \"beep\" 5000 4\n"},
		{"hostile value", SetVariable{Name: "X", Value: "a\"\nHANGUP"}, "SET VARIABLE \"X\" \"a\\\"HANGUP\"\n"},
		{"exec", Exec{App: "Stasis", Args: "callflow,tok"}, "EXEC Stasis \"callflow,tok\"\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.cmd.Line(); got != tt.want {
				t.Fatalf("Line() = %q, want %q", got, tt.want)
			}
		})
	}
}
