package freeswitch

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/callflow/callflow/adapter/switchtest"
	"github.com/callflow/callflow/adapter/switchtest/sippharness"
	"github.com/callflow/callflow/esl"
	"github.com/callflow/callflow/internal/fstest"
)

// RealTolerance bounds timing comparisons on the real FreeSWITCH: SIP and
// RTP set-up, DTMF event latency and ESL round trips on a loaded 2-core
// machine.
const RealTolerance = 500 * time.Millisecond

// serveRealFS starts a driver on fs for t, serving the sipp harness it
// returns; the driver stops at t's end.
func serveRealFS(t *testing.T, fs *fstest.FreeSWITCH) *sippharness.Harness {
	t.Helper()
	log := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	sw, err := New(Config{Inbound: fs.ESLAddress, Password: fs.Password, OutboundListen: fs.SocketAddress,
		RecordDir: fs.RecordingsDir(), CommandTimeout: 5 * time.Second}, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	ctl, err := esl.Dial(ctx, fs.ESLAddress, fs.Password, esl.Options{})
	if err != nil {
		stop()
		t.Fatalf("control connection: %v", err)
	}
	h := sippharness.New(sippharness.Config{
		Name: "freeswitch", Switch: sw, Log: log, SIPPort: fs.SIPPort,
		Agent: func(i, port int) string {
			return fmt.Sprintf("sofia/%s/agent%d@127.0.0.1:%d", fstest.SIPProfile, i+1, port)
		},
		Trunk: func(port int) string { return fmt.Sprintf("sofia/%s/{e164}@127.0.0.1:%d", fstest.SIPProfile, port) },
		Reset: hangUpAll(ctl), Tolerance: RealTolerance, CaseTimeout: 45 * time.Second,
	})
	served := make(chan error, 1)
	go func() { served <- sw.Serve(ctx, h.Route) }() // ends with stop (Cleanup)
	t.Cleanup(func() {
		stop()
		ctl.Close()
		if err := <-served; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("serve: %v", err)
		}
	})
	select {
	case <-sw.Ready():
	case err := <-served:
		t.Fatalf("serve: %v", err)
	case <-time.After(15 * time.Second):
		t.Fatal("driver not ready")
	}
	return h
}

// hangUpAll returns a reset that hangs up every channel a previous case
// left behind and waits until FreeSWITCH lists none.
func hangUpAll(ctl *esl.Conn) func(ctx context.Context) error {
	return func(ctx context.Context) error { return resetChannels(ctx, ctl) }
}

func resetChannels(ctx context.Context, ctl *esl.Conn) error {
	if _, err := ctl.API(ctx, esl.API{Cmd: "hupall", Args: "NORMAL_CLEARING"}); err != nil {
		return err
	}
	for {
		out, err := ctl.API(ctx, esl.API{Cmd: "show", Args: "channels count"})
		if err != nil {
			return err
		}
		if strings.HasPrefix(strings.TrimSpace(out), "0 total") {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("channels left after hupall: %s", out)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TestRealFreeSWITCH starts one real FreeSWITCH 1.10 with deploy/freeswitch
// (fstest.Require: skipped where it is not installed, a failure under CI)
// and runs on it, in order: the conformance suite, the ring-timeout trial,
// the hostile-input calls and the re-adoption of calls a process let go.
func TestRealFreeSWITCH(t *testing.T) {
	if testing.Short() {
		t.Skip("real FreeSWITCH: skipped with -short")
	}
	fs := fstest.Require(t, fstest.Options{})
	t0 := time.Now()
	t.Run("conformance", func(t *testing.T) { realConformance(t, fs) })
	t.Run("ring timeout", func(t *testing.T) { realRingTimeout(t, fs) })
	t.Run("hostile input", func(t *testing.T) { realHostileInput(t, fs) })
	t.Run("adopt", func(t *testing.T) { realAdopt(t, fs) })
	t.Logf("freeswitch: all real-switch tests took %v", time.Since(t0).Round(time.Millisecond))
}

// realConformance runs every switchtest case on the real FreeSWITCH: sipp
// callers dial extension 200 (the socket hand-off), sipp UAS answer as the
// agents (sofia/callflow/agentN@127.0.0.1:PORT) and as the customer trunk.
func realConformance(t *testing.T, fs *fstest.FreeSWITCH) {
	h := serveRealFS(t, fs)
	t0 := time.Now()
	switchtest.Run(t, h)
	t.Logf("freeswitch: whole suite took %v", time.Since(t0).Round(time.Millisecond))
}
