// Package e2e holds the end-to-end tests of the five example experiences:
// real SIP calls from sipp through a real Asterisk 22 to `callflow serve`
// (a subprocess), asserting on the service's trace, its HTTP API and what
// the agents' and customers' phones (sipp UAS) saw. They need root to run
// Asterisk in its chroot; they fail when Asterisk cannot run and are
// skipped only on CALLFLOW_SKIP_ASTERISK=1 outside CI (internal/asterisktest
// decides).
package e2e

import (
	"os"
	"testing"

	"github.com/callflow/callflow/internal/asterisktest"
)

func TestMain(m *testing.M) { os.Exit(asterisktest.Main(m)) }
