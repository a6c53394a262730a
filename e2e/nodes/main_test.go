// Package nodes proves that two callflow nodes on one PostgreSQL share a
// switch as active and standby (docs/nodes.md): the node that holds the
// switch's lease serves it; when it dies (kill -9) the standby takes the
// lease once it expires, connects to the switch and re-adopts the calls
// the dead node left; and a node whose lease was taken dials nothing. Two
// nodes serving two switches (the Asterisk and a FreeSWITCH beside it)
// keep one line order and offer their shared agent one call at a time.
//
// Each test starts its own PostgreSQL cluster (internal/pgtest) and uses
// the shared Asterisk (asterisktest.Main), taking the machine-wide
// Asterisk lock: run the package on its own, go test ./e2e/nodes.
package nodes

import (
	"os"
	"testing"

	"github.com/callflow/callflow/internal/asterisktest"
)

func TestMain(m *testing.M) { os.Exit(asterisktest.Main(m)) }
