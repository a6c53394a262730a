package esl

import (
	"errors"
	"strings"
	"testing"
)

// hostileArgs adds to hostile the characters that mean something inside
// FreeSWITCH arguments: failover '|', broadcast "app::arg", '!' causes,
// parentheses of inline apps, '%' and tabs.
var hostileArgs = append(append([]string(nil), hostile...),
	"a|b", "x::hangup", "!NORMAL_CLEARING", "x) &hangup(", "a\tb", "%(1,2)", "a;b", "=", "a=b", "'", "-", "+1", " lead", "trail ")

// splitArgs splits an argument line as FreeSWITCH's switch_separate_string
// does for api commands: on spaces, with single quotes grouping (and
// removed).
func splitArgs(line string) []string {
	var out []string
	var cur strings.Builder
	quoted, has := false, false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '\'':
			quoted, has = !quoted, true
		case c == ' ' && !quoted:
			if has {
				out = append(out, cur.String())
			}
			cur.Reset()
			has = false
		default:
			cur.WriteByte(c)
			has = true
		}
	}
	if has {
		out = append(out, cur.String())
	}
	return out
}

// parseBlock reads a "{…}" variable block the way FreeSWITCH does: "^^X"
// picks the separator, one pair of single quotes around a value is
// removed.
func parseBlock(t *testing.T, block string) []Var {
	t.Helper()
	if !strings.HasPrefix(block, "{") || !strings.HasSuffix(block, "}") || strings.Count(block, "}") != 1 {
		t.Fatalf("not one variable block: %q", block)
	}
	body := block[1 : len(block)-1]
	sep := ","
	if rest, ok := strings.CutPrefix(body, "^^"); ok {
		sep, body = rest[:1], rest[1:]
	}
	var vars []Var
	for _, kv := range strings.Split(body, sep) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			t.Fatalf("variable without '=' in %q", block)
		}
		if len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'' {
			v = v[1 : len(v)-1]
		}
		vars = append(vars, Var{k, v})
	}
	return vars
}

// TestHostileVarValues: a hostile value either is refused or comes back
// unchanged as the one variable it was meant to be; SanitizeValue makes
// any display text acceptable.
func TestHostileVarValues(t *testing.T) {
	for _, v := range hostileArgs {
		for _, val := range []string{v, SanitizeValue(v)} {
			vars := []Var{{"origination_uuid", "u1"}, {"origination_caller_id_name", val}, {"originate_timeout", "30"}}
			block, err := VarBlock(vars...)
			if err != nil {
				if !errors.Is(err, ErrInvalidValue) {
					t.Errorf("VarBlock(%q): %v is not ErrInvalidValue", val, err)
				}
				if val != v {
					t.Errorf("VarBlock refused the sanitized %q (from %q): %v", val, v, err)
				}
				continue
			}
			got := parseBlock(t, block)
			if len(got) != len(vars) || got[1] != vars[1] || got[0] != vars[0] || got[2] != vars[2] {
				t.Errorf("VarBlock(%q) = %q reads back as %q", val, block, got)
			}
			if args := splitArgs(block + "user/1 &park()"); len(args) != 2 {
				t.Errorf("VarBlock(%q) = %q splits the originate line into %q", val, block, args)
			}
		}
	}
}

// TestHostileOriginateParts: every part of an originate line is refused
// or stays exactly one argument of the intended shape.
func TestHostileOriginateParts(t *testing.T) {
	parts := []struct {
		name string
		make func(v string) Originate
	}{
		{"endpoint", func(v string) Originate { return Originate{Endpoint: v} }},
		{"app", func(v string) Originate { return Originate{Endpoint: "user/1", App: v} }},
		{"app arg", func(v string) Originate { return Originate{Endpoint: "user/1", App: "playback", AppArg: v} }},
		{"exten", func(v string) Originate { return Originate{Endpoint: "user/1", Exten: v} }},
		{"dialplan", func(v string) Originate { return Originate{Endpoint: "user/1", Exten: "100", Dialplan: v} }},
		{"context", func(v string) Originate { return Originate{Endpoint: "user/1", Exten: "100", Context: v} }},
		{"caller name", func(v string) Originate {
			return Originate{Vars: []Var{{"origination_caller_id_name", SanitizeValue(v)}}, Endpoint: "user/1"}
		}},
	}
	for _, p := range parts {
		for _, v := range hostileArgs {
			o := p.make(v)
			line, err := o.Args()
			if err != nil {
				if !errors.Is(err, ErrInvalidValue) {
					t.Errorf("%s %q: %v is not ErrInvalidValue", p.name, v, err)
				}
				continue
			}
			if _, err := (API{Cmd: "originate", Args: line}).Render(); err != nil {
				t.Errorf("%s %q: args %q do not render: %v", p.name, v, line, err)
			}
			args := splitArgs(line)
			want := 2
			if o.Exten != "" {
				want = 2 + min(1, len(o.Dialplan+o.Context)) + min(1, len(o.Context))
			}
			if len(args) != want {
				t.Errorf("%s %q: %q splits into %q, want %d arguments", p.name, v, line, args, want)
				continue
			}
			if o.Exten == "" {
				app := args[1]
				if !strings.HasPrefix(app, "&") || strings.Count(app, "(") != 1 || strings.Count(app, ")") != 1 || !strings.HasSuffix(app, ")") {
					t.Errorf("%s %q: application %q is not one &app(arg)", p.name, v, app)
				}
			}
			if strings.ContainsAny(args[0][strings.LastIndexByte(args[0], '}')+1:], ",|^{}") {
				t.Errorf("%s %q: dial string %q holds another endpoint or block", p.name, v, args[0])
			}
		}
	}
}

// TestHostileAPIArgs: JoinArgs and CheckInlineAppArg refuse a value or
// keep it one argument, unchanged.
func TestHostileAPIArgs(t *testing.T) {
	for _, v := range hostileArgs {
		line, err := JoinArgs("uuid-1", v, "aleg")
		if err == nil {
			if got := splitArgs(line); len(got) != 3 || got[1] != v {
				t.Errorf("JoinArgs(%q) = %q splits into %q", v, line, got)
			}
			if _, err := (API{Cmd: "uuid_broadcast", Args: line}).Render(); err != nil {
				t.Errorf("JoinArgs(%q) = %q does not render: %v", v, line, err)
			}
		} else if !errors.Is(err, ErrInvalidValue) {
			t.Errorf("JoinArgs(%q): %v is not ErrInvalidValue", v, err)
		}
		if err := CheckInlineAppArg(v); err == nil && strings.ContainsAny(v, " \t\n'\"()\\") {
			t.Errorf("CheckInlineAppArg(%q) accepted", v)
		}
	}
}

// TestHostileCommandParts covers the builder fields TestHostileValuesNeverBreakFraming
// leaves out: bgapi command, myevents format, sendmsg call-command, and
// a negative linger.
func TestHostileCommandParts(t *testing.T) {
	builders := []struct {
		name string
		make func(v string) Command
	}{
		{"bgapi cmd", func(v string) Command { return BgAPI{Cmd: v, Args: "x"} }},
		{"myevents format", func(v string) Command { return MyEvents{Format: v} }},
		{"sendmsg call-command", func(v string) Command { return SendMsg{CallCommand: v} }},
		{"event second name", func(v string) Command { return Events{Names: []string{"CHANNEL_ANSWER", v}} }},
	}
	for _, b := range builders {
		for _, v := range hostileArgs {
			out, err := b.make(v).Render()
			if err != nil {
				if !errors.Is(err, ErrInvalidValue) {
					t.Errorf("%s %q: %v is not ErrInvalidValue", b.name, v, err)
				}
				continue
			}
			assertOneFrame(t, out)
			if strings.ContainsAny(v, " \t\n") {
				t.Errorf("%s %q: a value with whitespace was sent: %q", b.name, v, out)
			}
		}
	}
	if _, err := (Linger{Seconds: -1}).Render(); !errors.Is(err, ErrInvalidValue) {
		t.Errorf("linger -1: %v", err)
	}
}
