package duration

import (
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

func TestParse(t *testing.T) {
	for _, c := range []struct {
		in   string
		want time.Duration
		err  string // substring of the error; "" = no error
	}{
		{"30", 30 * time.Second, ""},
		{"0", 0, ""},
		{"1.5", 1500 * time.Millisecond, ""},
		{"0.3", 300 * time.Millisecond, ""},
		{".5", 500 * time.Millisecond, ""},
		{"+2", 2 * time.Second, ""},
		{"2e3", 2000 * time.Second, ""},
		{" 5s ", 5 * time.Second, ""},
		{"1m30s", 90 * time.Second, ""},
		{"500ms", 500 * time.Millisecond, ""},
		{"720h", 720 * time.Hour, ""},
		{"0s", 0, ""},
		{"1000000000", Max, ""},
		{"-5", 0, `negative duration "-5"`},
		{"-1h", 0, `negative duration "-1h"`},
		{"1000000001", 0, "longer than 1000000000 s"},
		{"1e400", 0, "longer than"},
		{"300000h", 0, "longer than"},
		{"soon", 0, `bad duration "soon": want seconds such as 30`},
		{"5 s", 0, "bad duration"},
		{"1d", 0, "bad duration"},
		{"", 0, "bad duration"},
		{"0x10", 0, "bad duration"},
		{"inf", 0, "bad duration"},
		{".inf", 0, "bad duration"},
		{"NaN", 0, "bad duration"},
	} {
		got, err := Parse(c.in)
		switch {
		case c.err == "" && (err != nil || got != c.want):
			t.Errorf("Parse(%q) = %v, %v; want %v", c.in, got, err, c.want)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("Parse(%q) = %v, %v; want error containing %q", c.in, got, err, c.err)
		}
	}
}

func TestNode(t *testing.T) {
	for _, c := range []struct {
		src  string
		want time.Duration
		err  string
	}{
		{"d: 30", 30 * time.Second, ""},
		{"d: 2.5", 2500 * time.Millisecond, ""},
		{`d: "30"`, 30 * time.Second, ""},
		{"d: 1m", time.Minute, ""},
		{"d: !!str 5s", 5 * time.Second, ""},
		{"d: &x 7", 7 * time.Second, ""},
		{"d: -3", 0, "negative duration"},
		{"d: .inf", 0, "bad duration"},
		{"d: true", 0, "bad duration"},
		{"d: {a: 1}", 0, "got a mapping"},
		{"d: [1]", 0, "got a list"},
		{"d:", 0, "got nothing"},
	} {
		f, err := parser.ParseBytes([]byte(c.src), 0)
		if err != nil {
			t.Fatalf("%q: %v", c.src, err)
		}
		v := f.Docs[0].Body
		if m, ok := v.(*ast.MappingNode); ok {
			v = m.Values[0]
		}
		got, err := Node(v.(*ast.MappingValueNode).Value)
		switch {
		case c.err == "" && (err != nil || got != c.want):
			t.Errorf("%q: %v, %v; want %v", c.src, got, err, c.want)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%q: %v, %v; want error containing %q", c.src, got, err, c.err)
		}
	}
}
