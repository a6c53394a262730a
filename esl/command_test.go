package esl

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"testing"
)

// TestCommandBytesMatchTranscripts renders commands and compares them with
// frames actually sent in the captures.
func TestCommandBytesMatchTranscripts(t *testing.T) {
	const b = "ffac7e0b-493d-41b2-af63-d91749f0fa05"
	cases := []struct {
		name string
		file string
		cmd  Command
	}{
		{"auth", "inbound-auth-and-api.txt", Auth{Password: "ClueCon"}},
		{"api no args", "inbound-auth-and-api.txt", API{Cmd: "status"}},
		{"api args", "inbound-auth-and-api.txt", API{Cmd: "uuid_getvar", Args: "00000000-0000-0000-0000-000000000000 foo"}},
		{"bgapi fs job uuid", "inbound-auth-and-api.txt", BgAPI{Cmd: "status"}},
		{"bgapi our job uuid", "inbound-auth-and-api.txt", BgAPI{Cmd: "version", JobUUID: "199110be-68bf-4bc6-bb8d-b02650b85280"}},
		{"event plain", "inbound-auth-and-api.txt", Events{Format: "plain", Names: []string{"BACKGROUND_JOB"}}},
		{"event custom", "inbound-auth-and-api.txt", Events{Format: "plain", Names: []string{"CUSTOM", "esl::capture"}}},
		{"event json", "inbound-auth-and-api.txt", Events{Format: "json", Names: []string{"BACKGROUND_JOB"}}},
		{"filter", "inbound-auth-and-api.txt", Filter{Header: "Event-Subclass", Value: "esl::capture"}},
		{"filter delete", "inbound-auth-and-api.txt", FilterDelete{Header: "Event-Subclass", Value: "esl::capture"}},
		{"nixevent", "inbound-auth-and-api.txt", NixEvent{Names: []string{"BACKGROUND_JOB"}}},
		{"noevents", "inbound-auth-and-api.txt", NoEvents{}},
		{"exit", "inbound-auth-and-api.txt", Exit{}},
		{"raw log", "inbound-auth-and-api.txt", Raw{Line: "log info"}},
		{"filter regex", "inbound-filter-semantics.txt", FilterExact("Caller-Caller-ID-Number", "+420111222333")},
		{"bgapi originate", "bridge-and-originate.txt", BgAPI{Cmd: "originate",
			Args:    "{origination_uuid=b4d04f08-89da-48f2-8cf3-8cd735fa2ad4,origination_caller_id_number=+420111222333,origination_caller_id_name=Caller}loopback/9666/default &park()",
			JobUUID: "e036b3d4-197f-4004-af58-ae6f2304ac17"}},
		{"sendmsg event-lock uuid", "inbound-events-plain.txt", SendMsg{UUID: b, AppName: "playback",
			AppArg: "tone_stream://%(200,100,440)", EventLock: true, EventUUID: "9bc1de55-3bf0-47ee-bcab-6920dc85870b"}},
		{"sendmsg arg in body", "inbound-events-plain.txt", SendMsg{UUID: b, AppName: "playback", AppArg: "silence_stream://300", ArgInBody: true}},
		{"connect", "outbound-socket.txt", Connect{}},
		{"myevents", "outbound-socket.txt", MyEvents{}},
		{"linger", "outbound-socket.txt", Linger{}},
		{"linger 3", "outbound-socket-linger-timeout.txt", Linger{Seconds: 3}},
		{"divert", "outbound-socket.txt", DivertEvents{}},
		{"event 4 names", "outbound-socket.txt", Events{Names: []string{"PLAYBACK_START", "PLAYBACK_STOP", "RECORD_START", "RECORD_STOP"}}},
		{"sendmsg answer", "outbound-socket.txt", SendMsg{CallCommand: "execute", AppName: "answer", EventLock: true}},
		{"sendmsg pagd", "outbound-socket.txt", SendMsg{AppName: "play_and_get_digits",
			AppArg:    `1 4 1 5000 # tone_stream://%(300,100,440) silence_stream://250 pagd_digits \d+ 3000`,
			EventLock: true, EventUUID: "93dcb152-eb95-4e86-b00f-ef278ce80012"}},
		{"sendmsg hangup", "outbound-socket.txt", SendMsg{CallCommand: "hangup", HangupCause: "NORMAL_CLEARING"}},
		{"sendmsg hangup app", "outbound-socket-nolinger.txt", SendMsg{AppName: "hangup", AppArg: "USER_BUSY"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.cmd.Render()
			if err != nil {
				t.Fatal(err)
			}
			for _, blk := range readTranscript(t, c.file) {
				if blk.sent && bytes.Equal(blk.data, got) {
					return
				}
			}
			t.Fatalf("%q was never sent in %s", got, c.file)
		})
	}
}

var hostile = []string{
	"a\nb", "a\r\nb", "x\n\nexit", "a b", "'q'", `"q"`, "{a=b}", "a,b", "a&b", "^^:x", "a\x00b",
	"x\nJob-UUID: y", "\n", "a}b{", "1\ncall-command: hangup",
}

// TestHostileValuesNeverBreakFraming feeds hostile values through every
// builder: each render either fails with ErrInvalidValue or produces
// exactly one frame whose command line and headers are the intended ones.
func TestHostileValuesNeverBreakFraming(t *testing.T) {
	builders := []struct {
		name string
		make func(v string) Command
	}{
		{"auth", func(v string) Command { return Auth{Password: v} }},
		{"api cmd", func(v string) Command { return API{Cmd: v} }},
		{"api args", func(v string) Command { return API{Cmd: "uuid_kill", Args: v} }},
		{"bgapi args", func(v string) Command { return BgAPI{Cmd: "originate", Args: v, JobUUID: "j"} }},
		{"bgapi job", func(v string) Command { return BgAPI{Cmd: "status", JobUUID: v} }},
		{"event name", func(v string) Command { return Events{Names: []string{v}} }},
		{"event format", func(v string) Command { return Events{Format: v, Names: []string{"ALL"}} }},
		{"filter header", func(v string) Command { return Filter{Header: v, Value: "x"} }},
		{"filter value", func(v string) Command { return Filter{Header: "Unique-ID", Value: v} }},
		{"filter exact", func(v string) Command { return FilterExact("Unique-ID", v) }},
		{"filter delete", func(v string) Command { return FilterDelete{Header: "Unique-ID", Value: v} }},
		{"nixevent", func(v string) Command { return NixEvent{Names: []string{v}} }},
		{"myevents", func(v string) Command { return MyEvents{UUID: v} }},
		{"sendmsg uuid", func(v string) Command { return SendMsg{UUID: v, AppName: "answer"} }},
		{"sendmsg app", func(v string) Command { return SendMsg{AppName: v} }},
		{"sendmsg arg", func(v string) Command { return SendMsg{AppName: "playback", AppArg: v} }},
		{"sendmsg event uuid", func(v string) Command { return SendMsg{AppName: "answer", EventUUID: v} }},
		{"sendmsg cause", func(v string) Command { return SendMsg{CallCommand: "hangup", HangupCause: v} }},
		{"raw", func(v string) Command { return Raw{Line: v} }},
	}
	for _, b := range builders {
		for _, v := range hostile {
			t.Run(b.name+"/"+strings.ReplaceAll(v, "\n", `\n`), func(t *testing.T) {
				out, err := b.make(v).Render()
				if err != nil {
					if !errors.Is(err, ErrInvalidValue) {
						t.Fatalf("error %v is not ErrInvalidValue", err)
					}
					return
				}
				assertOneFrame(t, out)
			})
		}
	}
}

// assertOneFrame checks out is exactly one command frame: header lines up
// to the first blank line, then exactly Content-Length bytes.
func assertOneFrame(t *testing.T, out []byte) {
	t.Helper()
	head, body, ok := bytes.Cut(out, []byte("\n\n"))
	if !ok {
		t.Fatalf("no frame end in %q", out)
	}
	lines := strings.Split(string(head), "\n")
	cl := -1
	for _, l := range lines[1:] {
		name, v, ok := strings.Cut(l, ": ")
		if !ok {
			t.Fatalf("smuggled line %q in %q", l, out)
		}
		switch strings.ToLower(name) {
		case "job-uuid", "call-command", "execute-app-name", "execute-app-arg", "event-lock", "event-uuid",
			"hangup-cause", "content-type", "loops":
		case "content-length":
			cl = len(v)
			if n := len(body); v != strconv.Itoa(n) {
				t.Fatalf("Content-Length %s but body is %d bytes", v, n)
			}
		default:
			t.Fatalf("unexpected header %q in %q", name, out)
		}
	}
	if cl < 0 && len(body) != 0 {
		t.Fatalf("bytes after the frame: %q", body)
	}
}

func TestVarBlock(t *testing.T) {
	cases := []struct {
		name string
		vars []Var
		want string
		bad  bool
	}{
		{"plain", []Var{{"origination_uuid", "u1"}, {"origination_caller_id_number", "+420111222333"}}, "{origination_uuid=u1,origination_caller_id_number=+420111222333}", false},
		{"space quoted", []Var{{"origination_caller_id_name", "John Doe"}}, "{origination_caller_id_name='John Doe'}", false},
		{"comma switches delimiter", []Var{{"a", "x,y"}, {"b", "z"}}, "{^^;a=x,y;b=z}", false},
		{"comma and semicolon", []Var{{"a", "x,y;"}, {"b", "z"}}, "{^^:a=x,y;:b=z}", false},
		{"ampersand ok", []Var{{"a", "x&y"}}, "{a=x&y}", false},
		{"newline", []Var{{"a", "x\ny"}}, "", true},
		{"quote", []Var{{"a", "O'Brien"}}, "", true},
		{"brace", []Var{{"a", "x}y"}}, "", true},
		{"bad name", []Var{{"a=b", "x"}}, "", true},
		{"caret prefix", []Var{{"a", "^^:x"}}, "", true},
		{"empty", nil, "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := VarBlock(c.vars...)
			if c.bad {
				if !errors.Is(err, ErrInvalidValue) {
					t.Fatalf("want ErrInvalidValue, got %q, %v", got, err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("got %q, %v; want %q", got, err, c.want)
			}
		})
	}
}

func TestOriginateArgs(t *testing.T) {
	cases := []struct {
		name string
		o    Originate
		want string
		bad  bool
	}{
		{"capture shape", Originate{Vars: []Var{{"origination_uuid", "u"}, {"origination_caller_id_number", "+420111222333"}}, Endpoint: "loopback/9665/default"},
			"{origination_uuid=u,origination_caller_id_number=+420111222333}loopback/9665/default &park()", false},
		{"exten", Originate{Endpoint: "user/1001", Exten: "9999", Context: "default"}, "user/1001 9999 XML default", false},
		{"endpoint with space", Originate{Endpoint: "user/1 &hangup()"}, "", true},
		{"endpoint with brace", Originate{Endpoint: "{x=y}user/1"}, "", true},
		{"app arg smuggling", Originate{Endpoint: "user/1", App: "playback", AppArg: "x) &hangup("}, "", true},
		{"app name", Originate{Endpoint: "user/1", App: "park()&x"}, "", true},
		{"exten smuggling", Originate{Endpoint: "user/1", Exten: "1 &park()"}, "", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.o.Args()
			if c.bad {
				if !errors.Is(err, ErrInvalidValue) {
					t.Fatalf("want ErrInvalidValue, got %q, %v", got, err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("got %q, %v; want %q", got, err, c.want)
			}
		})
	}
	for _, v := range hostile {
		if err := CheckArg(v); err == nil && strings.ContainsAny(v, " \n'\"") {
			t.Fatalf("CheckArg(%q) accepted", v)
		}
	}
}
