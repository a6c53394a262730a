package switchtest_test

import (
	"testing"

	"go.uber.org/zap/zaptest"

	"github.com/callflow/callflow/adapter/switchtest"
)

func TestSim(t *testing.T) {
	switchtest.Run(t, switchtest.NewSim(zaptest.NewLogger(t)))
}
