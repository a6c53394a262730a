package flowmap

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/callflow/callflow/flowvm"
	"github.com/callflow/callflow/trace"
)

func demoBoard(t *testing.T, now *time.Time) *Board {
	t.Helper()
	dir := filepath.Join("..", "deploy", "demo", "flows")
	p, err := flowvm.Load(os.DirFS(dir), "ivr-offer.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return New(map[string]*flowvm.Program{"ivr-offer": p}, func() time.Time { return *now })
}

func TestLayoutDrawsEveryNotationOnce(t *testing.T) {
	now := time.Now()
	b := demoBoard(t, &now)
	if len(b.Diagrams()) == 0 {
		t.Fatal("no diagrams")
	}
	for _, d := range b.Diagrams() {
		seen := map[string]bool{}
		boxes := map[[2]int]bool{}
		for _, n := range d.Nodes {
			if seen[n.Key] {
				t.Errorf("%s drawn twice", n.Key)
			}
			seen[n.Key] = true
			if boxes[[2]int{n.X, n.Y}] {
				t.Errorf("%s overlaps another notation at %d,%d", n.Key, n.X, n.Y)
			}
			boxes[[2]int{n.X, n.Y}] = true
			if n.X < 0 || n.Y < 0 || n.X+n.W > d.Width || n.Y+n.H > d.Height {
				t.Errorf("%s at %d,%d outside %dx%d", n.Key, n.X, n.Y, d.Width, d.Height)
			}
		}
		for _, e := range d.Edges {
			if !seen[e.From] || !seen[e.To] || e.Path == "" {
				t.Errorf("edge %+v", e)
			}
		}
	}
}

func TestBoardFollowsCalls(t *testing.T) {
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	b := demoBoard(t, &now)
	var start Node
	var first Edge
	for _, d := range b.Diagrams() {
		if d.Flow != "ivr-offer" {
			continue
		}
		for _, n := range d.Nodes {
			if n.Start {
				start = n
			}
		}
		for _, e := range d.Edges {
			if e.From == start.Key {
				first = e
			}
		}
	}
	if first.Key == "" {
		t.Fatalf("no exit from the start notation %+v", start)
	}
	pos := ""
	for p, nt := range b.byPos {
		if nt.key == start.Key {
			pos = p
		}
	}
	emit := func(call string) {
		b.Emit(trace.Event{At: now, Call: call, Source: trace.Flow, Kind: start.Type, Pos: pos, Text: start.ID + " → " + first.Exit})
	}
	emit("c1")
	emit("c2")
	c := b.Counts()
	if c.At[first.To] != 2 || c.Exits[first.Key] != 2 {
		t.Fatalf("counts %+v, want 2 at %s and 2 on %s", c, first.To, first.Key)
	}
	b.End("c1")
	now = now.Add(Window + time.Second)
	c = b.Counts()
	if c.Exits[first.Key] != 0 {
		t.Errorf("exits older than the window still counted: %+v", c)
	}
	if c.At[first.To] != 1 {
		t.Errorf("at %s: %d, want 1 (c2 still there)", first.To, c.At[first.To])
	}
	now = now.Add(Forget)
	if c = b.Counts(); len(c.At) != 0 {
		t.Errorf("silent call not forgotten: %+v", c)
	}
}
