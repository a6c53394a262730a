package asterisktest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"
)

// shared is the Asterisk of this test binary when Main manages it.
var shared struct {
	mu      sync.Mutex
	managed bool // Main runs: one Asterisk for the whole binary
	ast     *Asterisk
	err     error
}

// startTimeout bounds install + lock wait + start inside Require. The lock
// wait can be long when another package's tests hold Asterisk.
const startTimeout = 15 * time.Minute

// Main runs the tests of a package that calls Require, sharing one Asterisk
// between all of them and stopping it at the end:
//
//	func TestMain(m *testing.M) { os.Exit(asterisktest.Main(m)) }
//
// Without Main, each Require starts its own Asterisk and stops it in
// t.Cleanup (about half a second each).
func Main(m *testing.M) int {
	shared.mu.Lock()
	shared.managed = true
	shared.mu.Unlock()
	code := m.Run()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.ast != nil {
		if err := shared.ast.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "asterisktest: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
		shared.ast = nil
	}
	return code
}

// Require returns a running Asterisk for t. Under Main it is shared by the
// test binary and every later call first hangs up channels a previous test
// left behind; otherwise it is started for t and stopped in t.Cleanup. When
// Asterisk is unavailable here (not root, chroot cannot be built) the test is
// skipped with the reason, unless the environment variable CI is set: then it
// fails, because CI installs everything.
func Require(t testing.TB) *Asterisk {
	t.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if !shared.managed {
		a, err := startFor(t.Logf)
		if err != nil {
			unavailable(t, err)
		}
		t.Cleanup(func() {
			if err := a.Stop(); err != nil {
				t.Errorf("%v", err)
			}
		})
		return a
	}
	if shared.ast == nil && shared.err == nil {
		// The first test ends long before Main stops Asterisk, so its
		// t.Logf cannot be kept: log to stderr under -v instead.
		shared.ast, shared.err = startFor(verboseLogf)
	}
	if shared.err != nil {
		unavailable(t, shared.err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := shared.ast.Reset(ctx); err != nil {
		t.Fatalf("asterisktest: shared asterisk unusable: %v", err)
	}
	return shared.ast
}

// Reset checks that ARI answers and hangs up every channel, so a test starts
// with no calls left over from the one before.
func (a *Asterisk) Reset(ctx context.Context) error {
	if _, err := a.Info(ctx); err != nil {
		return err
	}
	if _, err := a.CLI(ctx, "channel request hangup all"); err != nil {
		return err
	}
	return nil
}

func startFor(logf func(string, ...any)) (*Asterisk, error) {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	return Start(ctx, Options{Logf: logf})
}

func verboseLogf(format string, args ...any) {
	if testing.Verbose() {
		fmt.Fprintf(os.Stderr, format+"\n", args...)
	}
}

func unavailable(t testing.TB, err error) {
	t.Helper()
	if errors.Is(err, ErrUnavailable) {
		if _, ci := os.LookupEnv("CI"); !ci {
			t.Skipf("real Asterisk not available: %v", err)
		}
	}
	t.Fatalf("real Asterisk: %v", err)
}
