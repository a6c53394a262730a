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
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // Asterisk cannot start: the first step fails at once
	err := run(ctx, io.Discard, "", t.TempDir(), false, false)
	if err == nil {
		t.Fatal("run succeeded with a cancelled context")
	}
	if want := "FAILED starting Asterisk: "; !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("error %q, want prefix %q", err, want)
	}
}
