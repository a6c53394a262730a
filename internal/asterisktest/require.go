package asterisktest

import (
	"context"
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
// left behind; otherwise it is started for t and stopped in t.Cleanup. Any
// failure to install or start Asterisk fails t. The only way to skip is the
// explicit opt-out SkipEnv=1, and it is refused (t fails) when CI=true.
func Require(t testing.TB) *Asterisk {
	t.Helper()
	if skip, reason := optOut(os.LookupEnv); skip {
		t.Skip(reason)
	} else if reason != "" {
		t.Fatal(reason)
	}
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

// SkipEnv is the environment variable that, set to 1, skips the tests that
// need a real Asterisk. Nothing else skips them.
const SkipEnv = "CALLFLOW_SKIP_ASTERISK"

// optOut reads SkipEnv and CI from lookup. It returns skip=true with the
// reason when the tests are opted out, skip=false with a reason when the
// opt-out is refused (CI=true or a value other than 1), and false, "" when
// the tests must run.
func optOut(lookup func(string) (string, bool)) (skip bool, reason string) {
	v, set := lookup(SkipEnv)
	if !set || v == "" || v == "0" {
		return false, ""
	}
	if v != "1" {
		return false, fmt.Sprintf("asterisktest: %s=%q: only 1 opts out of the real-Asterisk tests", SkipEnv, v)
	}
	if ci, _ := lookup("CI"); ci == "true" {
		return false, fmt.Sprintf("asterisktest: %s=1 refused under CI=true: CI must run the real-Asterisk tests", SkipEnv)
	}
	return true, fmt.Sprintf("real Asterisk skipped: %s=1", SkipEnv)
}

// unavailable fails t: a real-Asterisk test whose Asterisk cannot be
// installed or started has failed, it has not been skipped.
func unavailable(t testing.TB, err error) {
	t.Helper()
	t.Fatalf("real Asterisk (set %s=1 to skip outside CI): %v", SkipEnv, err)
}
