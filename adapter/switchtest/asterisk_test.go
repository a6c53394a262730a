package switchtest_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/callflow/callflow/adapter/asterisk"
	"github.com/callflow/callflow/adapter/switchtest"
	"github.com/callflow/callflow/adapter/switchtest/sippharness"
	"github.com/callflow/callflow/ari"
	"github.com/callflow/callflow/clock"
	"github.com/callflow/callflow/internal/asterisktest"
	"github.com/callflow/callflow/media"
)

func TestMain(m *testing.M) { os.Exit(asterisktest.Main(m)) }

// AsteriskTolerance bounds timing comparisons on the real switch: SIP and
// RTP set-up, DTMF event latency and ARI round trips on a loaded 2-core
// machine (measured: at most 130 ms late, record max aside).
const AsteriskTolerance = 500 * time.Millisecond

// asteriskCaseTimeout bounds one case (sipp callers, UAS, handlers).
const asteriskCaseTimeout = 45 * time.Second

// asteriskTrunk reaches the customer UAS through the test Asterisk's trunk.
const asteriskTrunk = "PJSIP/{e164}@customer"

// TestAsterisk plays every case on the real Asterisk: sipp callers dial the
// Stasis extension, sipp UAS answer as agents and as the customer trunk.
// One Switch serves the whole run (one Stasis websocket).
func TestAsterisk(t *testing.T) {
	if testing.Short() {
		t.Skip("real Asterisk: skipped with -short")
	}
	a := asterisktest.Require(t)
	log := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	// A media store, as the service always has: recordings are fetched
	// and their duration read from the WAV. Without one the driver has
	// only ARI's whole seconds, and a 0.9 s recording reads as 0 s.
	store, err := media.Open(t.TempDir(), 0, clock.Real{})
	if err != nil {
		t.Fatal(err)
	}
	sw, err := asterisk.New(asterisk.Config{
		ARI:   ari.Config{BaseURL: a.ARIURL, User: a.User, Pass: a.Pass, App: a.App, RequestTimeout: 5 * time.Second},
		Media: store,
	}, log)
	if err != nil {
		t.Fatalf("asterisk: %v", err)
	}
	h := sippharness.New(sippharness.Config{
		Name: "asterisk", Switch: sw, Log: log, SIPPort: a.SIPPort,
		AgentPorts: a.AgentPorts, CustomerPort: a.CustomerPort,
		Agent: func(i, _ int) string { return fmt.Sprintf("PJSIP/agent%d", i+1) },
		Trunk: func(int) string { return asteriskTrunk },
		Reset: a.Reset, Tolerance: AsteriskTolerance, CaseTimeout: asteriskCaseTimeout,
	})
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	// Serve ends when stop is called in Cleanup.
	go func() { served <- sw.Serve(ctx, h.Route) }()
	t.Cleanup(func() {
		stop()
		if err := <-served; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("serve: %v", err)
		}
	})
	wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := sw.WaitConnected(wctx); err != nil {
		t.Fatalf("asterisk: connect: %v", err)
	}
	t0 := time.Now()
	switchtest.Run(t, h)
	t.Logf("asterisk: whole suite took %v", time.Since(t0).Round(time.Millisecond))
}
