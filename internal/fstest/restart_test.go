package fstest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/callflow/callflow/esl"
)

// TestRestart kills FreeSWITCH and starts it again: a new process on the
// same event socket with the same password, and the per-run folder kept.
func TestRestart(t *testing.T) {
	fs := Require(t, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pid := fs.PID
	if err := fs.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if fs.PID == pid {
		t.Errorf("pid %d after the restart, want a new process", fs.PID)
	}
	t.Logf("restart: event socket ready %v after the new start", fs.StartTime.Round(time.Millisecond))
	conn, err := esl.Dial(ctx, fs.ESLAddress, fs.Password, esl.Options{})
	if err != nil {
		t.Fatalf("esl dial %s after the restart: %v", fs.ESLAddress, err)
	}
	defer conn.Close()
	if out, err := conn.API(ctx, esl.API{Cmd: "status"}); err != nil || !strings.Contains(out, "is ready") {
		t.Fatalf("api status after the restart: %q, %v", out, err)
	}
}
