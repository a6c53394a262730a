package flowvm

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

var wantRe = regexp.MustCompile(`#\s*want:\s*(\d+:\d+: .*)$`)

// TestBadFlows loads every fixture in testdata/bad; the reported errors of
// each file must equal the "# want: L:C: msg" comments in it exactly.
func TestBadFlows(t *testing.T) {
	files, err := filepath.Glob("testdata/bad/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			want := map[string][]string{}
			for _, f := range files {
				data, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				for _, line := range strings.Split(string(data), "\n") {
					if m := wantRe.FindStringSubmatch(line); m != nil {
						want[f] = append(want[f], f+":"+strings.TrimRight(m[1], " "))
					}
				}
			}
			_, err := LoadFiles(file)
			var list ErrorList
			if !errors.As(err, &list) {
				t.Fatalf("err = %v, want an ErrorList", err)
			}
			var got, exp []string
			touched := map[string]bool{}
			for _, e := range list {
				got = append(got, strings.TrimRight(e.Error(), " "))
				touched[e.File] = true
			}
			for f := range touched {
				exp = append(exp, want[f]...)
			}
			exp = append(exp, want[file]...)
			slices.Sort(exp)
			exp = slices.Compact(exp)
			slices.Sort(got)
			if !slices.Equal(got, exp) {
				t.Errorf("errors:\n got:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(exp, "\n  "))
			}
		})
	}
}

func TestGoodFlows(t *testing.T) {
	p, err := Load(os.DirFS("testdata/good"), "main")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := p.Flows(), []string{"main", "ask_number", "waiting"}; !slices.Equal(got, want) {
		t.Errorf("flows %v, want %v", got, want)
	}
	if _, err := LoadFiles("testdata/good/main.yaml", "testdata/good/waiting.yaml"); err != nil {
		t.Errorf("LoadFiles: %v", err)
	}
}

// TestReservationAnalysis checks the validator's reservation tracking on
// small flows: ok flows load, bad ones report the wanted message.
func TestReservationAnalysis(t *testing.T) {
	const sub = `
start: r
notations:
  r: {type: register_callback, exits: {registered: done, duplicate: dec, invalid: dec, error: dec}}
  dec: {type: decline_callback, next: done}
  done: {type: return}
`
	cases := []struct {
		name  string
		flows map[string]string
		want  string // substring of the error, "" = loads
	}{
		{"register after start", map[string]string{"main": `
start: s
notations:
  s: {type: start_callback, queue: q, next: r}
  r: {type: register_callback, exits: {registered: bye, duplicate: d, invalid: d, error: d}}
  d: {type: decline_callback, next: bye}
  bye: {type: hangup}
`}, ""},
		{"decline without start", map[string]string{"main": "start: d\nnotations:\n  d: {type: decline_callback}\n"},
			`decline_callback "d" is reachable without a prior start_callback`},
		{"register on one path without start", map[string]string{"main": `
start: m
notations:
  m: {type: menu, prompt: ["sound:x"], options: {"1": s, "2": r}}
  s: {type: start_callback, queue: q, next: r}
  r: {type: register_callback, exits: {registered: bye, duplicate: bye, invalid: bye}}
  bye: {type: hangup}
`}, `register_callback "r" is reachable without a prior start_callback`},
		{"duplicate leaves it open until hangup", map[string]string{"main": `
start: s
notations:
  s: {type: start_callback, queue: q, next: r}
  r: {type: register_callback, exits: {registered: bye, duplicate: bye, invalid: bye}}
  bye: {type: hangup}
`}, `hangup "bye" with a callback reservation open`},
		{"decline error exit proves nothing", map[string]string{"main": `
start: s
notations:
  s: {type: start_callback, queue: q, next: d}
  d: {type: decline_callback, exits: {next: bye, error: bye}}
  bye: {type: hangup}
`}, ""},
		{"through call and return", map[string]string{"main": `
start: s
notations:
  s: {type: start_callback, queue: q, next: c}
  c: {type: call, flow: sub, next: q}
  q: {type: queue, queue: q, exits: {connected: bye, callback: bye, timeout: bye}}
  bye: {type: hangup}
`, "sub": sub}, ""},
		{"sub-flow leaves it open", map[string]string{"main": `
start: s
notations:
  s: {type: start_callback, queue: q, next: c}
  c: {type: call, flow: sub2, next: bye}
  bye: {type: hangup}
`, "sub2": "start: w\nnotations:\n  w: {type: wait, duration: 1s}\n"}, `hangup "bye" with a callback reservation open`},
		{"sub-flow without start in the IVR", map[string]string{"main": "start: c\nnotations:\n  c: {type: call, flow: sub}\n", "sub": sub},
			`register_callback "r" is reachable without a prior start_callback`},
		{"in-queue flow ends reserved", map[string]string{"main": `
start: q
notations:
  q: {type: queue, queue: q, in_queue: inq, exits: {connected: bye, callback: bye, timeout: bye}}
  bye: {type: hangup}
`, "inq": "start: s\nnotations:\n  s: {type: start_callback, next: w}\n  w: {type: wait, duration: 1s}\n"},
			`end of flow with a callback reservation open (exit "next" of "w" is not wired)`},
		{"start twice", map[string]string{"main": `
start: s
notations:
  s: {type: start_callback, queue: q, next: s2}
  s2: {type: start_callback, queue: q, next: d}
  d: {type: decline_callback}
`}, `start_callback "s2" with a callback reservation already open`},
		{"unwired error exit aborts, not an end", map[string]string{"main": `
start: s
notations:
  s: {type: start_callback, queue: q, next: r}
  r: {type: register_callback, exits: {registered: bye, duplicate: d, invalid: d}}
  d: {type: decline_callback}
  bye: {type: hangup}
`}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fsys := mapFS(tc.flows)
			_, err := Load(fsys, "main")
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestErrorPositions(t *testing.T) {
	_, err := Load(mapFS(map[string]string{"main": "start: a\nnotations:\n  a: {type: set, vars: {x: '1 +'}}\n"}), "main")
	var list ErrorList
	if !errors.As(err, &list) || len(list) != 1 {
		t.Fatalf("err = %v", err)
	}
	if e := list[0]; e.File != "main.yaml" || e.Line != 3 || e.Col != 28 {
		t.Errorf("error at %s:%d:%d, want main.yaml:3:28", e.File, e.Line, e.Col)
	}
}
