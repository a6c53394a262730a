package freeswitch

import (
	"go/ast"
	"go/token"
	"strconv"
	"strings"
	"testing"

	"github.com/callflow/callflow/internal/srcscan"
)

// TestSessionEventsCoverDriver reads the non-test source of this package
// and of the esl package and collects every event name written as a string
// literal (the names the code compares an event's Event-Name with). None
// may be one that sessions drop with nixevent (sessionDropped), or the
// driver would wait for an event FreeSWITCH no longer sends it.
func TestSessionEventsCoverDriver(t *testing.T) {
	used := map[string]string{} // name → where
	fset, files := srcscan.Files(t, ".", "../../esl")
	for _, file := range files {
		ast.Inspect(file, func(n ast.Node) bool {
			switch x := n.(type) {
			case *ast.ValueSpec:
				for _, name := range x.Names {
					if name.Name == "sessionDropped" {
						return false // the list itself
					}
				}
			case *ast.BasicLit:
				if x.Kind != token.STRING {
					return true
				}
				v, err := strconv.Unquote(x.Value)
				if err != nil || !isEventName(v) {
					return true
				}
				if _, seen := used[v]; !seen {
					used[v] = fset.Position(x.Pos()).String()
				}
			}
			return true
		})
	}
	for _, want := range []string{"CHANNEL_EXECUTE_COMPLETE", "CHANNEL_HANGUP", "DTMF", "RECORD_STOP"} {
		if _, ok := used[want]; !ok {
			t.Fatalf("the scan did not find %s in the source (found %v): it is broken", want, used)
		}
	}
	for _, name := range sessionDropped {
		if !isEventName(name) {
			t.Errorf("sessionDropped: %q is not an event name", name)
		}
		if where, ok := used[name]; ok {
			t.Errorf("%s: the driver names %s, which sessions drop (nixevent)", where, name)
		}
	}
}

// isEventName: the FreeSWITCH event names the driver could wait for.
func isEventName(s string) bool {
	switch s {
	case "DTMF", "RECORD_START", "RECORD_STOP", "PLAYBACK_START", "PLAYBACK_STOP", "BACKGROUND_JOB", "CALL_UPDATE":
		return true
	}
	return strings.HasPrefix(s, "CHANNEL_") && strings.Trim(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_") == ""
}
