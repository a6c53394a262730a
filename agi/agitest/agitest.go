// Package agitest plays Asterisk's side of a FastAGI session recorded from a
// real Asterisk 22 (agi/testdata/*.txt), against a FastAGI server under
// test: it connects like AGI(agi://...) does, sends the recorded
// environment, checks that every command the server sends is the recorded
// one and answers with the recorded reply, HANGUP lines included.
package agitest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// Line is one transcript line: sent by Asterisk, or by the application.
type Line struct {
	FromAsterisk bool
	Text         string
}

// Transcript is a recorded session.
type Transcript struct {
	Name  string
	Lines []Line
}

// Parse reads a transcript: "< " lines came from Asterisk, "> " lines from
// the application, "#" lines are comments.
func Parse(name string, r io.Reader) (Transcript, error) {
	t := Transcript{Name: name}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		l := sc.Text()
		switch {
		case strings.HasPrefix(l, "#"), l == "":
		case l == "<" || strings.HasPrefix(l, "< "):
			t.Lines = append(t.Lines, Line{FromAsterisk: true, Text: strings.TrimPrefix(strings.TrimPrefix(l, "<"), " ")})
		case strings.HasPrefix(l, "> "):
			t.Lines = append(t.Lines, Line{Text: l[2:]})
		default:
			return t, fmt.Errorf("agitest: %s:%d: bad line %q", name, n, l)
		}
	}
	return t, sc.Err()
}

// Load reads agi/testdata/NAME.txt of this repository.
func Load(name string) (Transcript, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return Transcript{}, errors.New("agitest: cannot locate the testdata folder")
	}
	f, err := os.Open(filepath.Join(filepath.Dir(file), "..", "testdata", name+".txt"))
	if err != nil {
		return Transcript{}, fmt.Errorf("agitest: %w", err)
	}
	defer f.Close()
	return Parse(name, f)
}

// Env returns the environment lines of t (through the blank line).
func (t Transcript) Env() []string {
	var out []string
	for _, l := range t.Lines {
		if !l.FromAsterisk {
			break
		}
		out = append(out, l.Text)
		if l.Text == "" {
			break
		}
	}
	return out
}

// Replace returns a copy of t with old replaced by new in every line (for
// values chosen at run time, such as a hand-over token).
func (t Transcript) Replace(old, new string) Transcript {
	c := Transcript{Name: t.Name, Lines: make([]Line, len(t.Lines))}
	for i, l := range t.Lines {
		c.Lines[i] = Line{FromAsterisk: l.FromAsterisk, Text: strings.ReplaceAll(l.Text, old, new)}
	}
	return c
}

// Any in a recorded command matches any text without spaces or quotes:
// put it where the application chooses a value at run time (a hand-over
// token), with Replace.
const Any = "{any}"

// Match reports whether a command the application sent matches the
// recorded one, Any standing for one run-time value.
func Match(want, got string) bool {
	pre, post, ok := strings.Cut(want, Any)
	if !ok {
		return want == got
	}
	if len(got) < len(pre)+len(post) || !strings.HasPrefix(got, pre) || !strings.HasSuffix(got, post) {
		return false
	}
	v := got[len(pre) : len(got)-len(post)]
	return v != "" && !strings.ContainsAny(v, " \"\\")
}

// Play connects to addr and plays t. It returns nil when the transcript
// ran to its end, or the first difference. At the end it closes the
// connection, as Asterisk does when AGI() returns.
func Play(ctx context.Context, addr string, t Transcript) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("agitest: %w", err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	r := bufio.NewReader(conn)
	for i, l := range t.Lines {
		if l.FromAsterisk {
			if _, err := io.WriteString(conn, l.Text+"\n"); err != nil {
				return fmt.Errorf("agitest: %s line %d: write: %w", t.Name, i, err)
			}
			continue
		}
		got, err := r.ReadString('\n')
		if err != nil {
			return fmt.Errorf("agitest: %s: want command %q, read: %w", t.Name, l.Text, err)
		}
		if got = strings.TrimRight(got, "\n"); !Match(l.Text, got) {
			return fmt.Errorf("agitest: %s: command %q, want %q", t.Name, got, l.Text)
		}
	}
	return nil
}
