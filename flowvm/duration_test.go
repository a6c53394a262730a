package flowvm

import (
	"errors"
	"strings"
	"testing"
)

// TestFlowDurationGrammar: flows read durations with the grammar shared
// with the configuration and scenarios (internal/duration).
func TestFlowDurationGrammar(t *testing.T) {
	for _, c := range []struct{ d, err string }{
		{"30", ""}, {"1.5", ""}, {`"2"`, ""}, {"1m30s", ""}, {`" 5s "`, ""},
		{"-1", `negative duration "-1"`},
		{"2d", `bad duration "2d": want seconds such as 30`},
		{"1e10", "longer than 1000000000 s"},
		{"[1]", "want a duration"},
	} {
		t.Run(c.d, func(t *testing.T) {
			src := "start: a\nnotations:\n  a: {type: wait, duration: " + c.d + "}\n"
			_, err := Load(mapFS(map[string]string{"main": src}), "main")
			if c.err == "" {
				if err != nil {
					t.Fatalf("duration %s: %v", c.d, err)
				}
				return
			}
			var list ErrorList
			if !errors.As(err, &list) || len(list) != 1 || list[0].Line != 3 || list[0].Col != 29 || !strings.Contains(list[0].Error(), c.err) {
				t.Errorf("duration %s: err = %v, want one error at main.yaml:3:29 containing %q", c.d, err, c.err)
			}
		})
	}
}
