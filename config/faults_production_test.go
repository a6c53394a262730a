//go:build !faultinject

package config

import (
	"errors"
	"strings"
	"testing"
)

// TestFaultsRefusedInProduction: a binary built without the tag
// faultinject must refuse a faults: section, at its position, so no config
// can arm the crash switch of a shipped binary.
func TestFaultsRefusedInProduction(t *testing.T) {
	tests := []struct {
		name      string
		yaml      string
		line, col int
	}{
		{name: "flow mapping", yaml: "switch: {type: sim}\nfaults: {kill_after: callback.dialing_customer}\n", line: 2, col: 10},
		{name: "block mapping", yaml: "switch: {type: sim}\nfaults:\n  kill_after: queue.registered\n  count: 2\n", line: 3, col: 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("/etc/callflow/callflow.yaml", []byte(tc.yaml))
			if err == nil {
				t.Fatalf("a production build accepted faults: %+v", c.Faults)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err %T %v, want a *config.Error", err, err)
			}
			if e.File != "/etc/callflow/callflow.yaml" || e.Line != tc.line || e.Col != tc.col {
				t.Errorf("error at %s:%d:%d, want line %d col %d", e.File, e.Line, e.Col, tc.line, tc.col)
			}
			if !strings.Contains(err.Error(), "faults:") || !strings.Contains(err.Error(), "-tags faultinject") {
				t.Errorf("error %q does not say faults: needs a faultinject build", err)
			}
		})
	}
}
