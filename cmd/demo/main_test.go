package main

import (
	"context"
	"io"
	"strings"
	"testing"
)

// A failure of the demo names the step that failed, so `make demo` never
// ends with a bare error status.
func TestRunNamesFailingStep(t *testing.T) {
	for sw, want := range map[string]string{"asterisk": "FAILED starting Asterisk: ", "freeswitch": "FAILED starting FreeSWITCH: "} {
		t.Run(sw, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel() // the switch cannot start: the first step fails at once
			err := run(ctx, io.Discard, "", t.TempDir(), sw, false, false)
			if err == nil {
				t.Fatal("run succeeded with a cancelled context")
			}
			if !strings.HasPrefix(err.Error(), want) {
				t.Fatalf("error %q, want prefix %q", err, want)
			}
		})
	}
}
