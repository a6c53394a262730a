package flowvm

import (
	"errors"
	"strings"
	"testing"
)

// TestWaitNotPositive: a wait of zero or less would spin without blocking,
// so it is refused at load with the notation's file:line:col.
func TestWaitNotPositive(t *testing.T) {
	for _, d := range []string{"0", "0s", "-5s"} {
		t.Run(d, func(t *testing.T) {
			src := "start: a\nnotations:\n  a: {type: wait, duration: " + d + ", next: a}\n"
			_, err := Load(mapFS(map[string]string{"main": src}), "main")
			var list ErrorList
			if !errors.As(err, &list) || len(list) != 1 {
				t.Fatalf("err = %v, want one load error", err)
			}
			e := list[0]
			if e.File != "main.yaml" || e.Line != 3 || !strings.Contains(e.Error(), "duration") {
				t.Errorf("error = %v (at %s:%d:%d), want a duration error on main.yaml:3", e, e.File, e.Line, e.Col)
			}
		})
	}
}
