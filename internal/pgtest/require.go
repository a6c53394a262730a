package pgtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// SkipEnv is the environment variable that, set to 1, skips the tests that
// need a real PostgreSQL. It is refused under CI=true.
const SkipEnv = "CALLFLOW_SKIP_POSTGRES"

// shared is the cluster of this test binary when Main manages it.
var shared struct {
	mu      sync.Mutex
	managed bool
	c       *Cluster
	err     error
	failed  bool // a test that used the cluster failed: keep its logs
}

// Main runs the tests of a package that calls Require, sharing one cluster
// between all of them (each test gets its own database) and stopping it at
// the end; its folder and log are kept when the run failed:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
//
// Without Main, each Require starts its own cluster and stops it in
// t.Cleanup.
func Main(m *testing.M) int {
	shared.mu.Lock()
	shared.managed = true
	shared.mu.Unlock()
	code := m.Run()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.c != nil {
		keep := code != 0 || shared.failed
		if keep {
			fmt.Fprintf(os.Stderr, "pgtest: kept %s for its log (%s)\n", shared.c.Dir, shared.c.LogPath())
		}
		if err := shared.c.Stop(keep); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: stop: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
		shared.c = nil
	}
	return code
}

// Require returns a running cluster and the DSN of a new empty database
// for t. Outside CI a machine without PostgreSQL binaries skips t (saying
// so); under CI=true it fails t, as does any other failure to start. The
// explicit opt-out SkipEnv=1 skips, and is refused under CI=true.
func Require(t testing.TB) (*Cluster, string) {
	t.Helper()
	if skip, reason := optOut(os.LookupEnv); skip {
		t.Skip(reason)
	} else if reason != "" {
		t.Fatal(reason)
	}
	c := cluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dsn, err := c.CreateDatabase(ctx, dbName(t.Name()))
	if err != nil {
		t.Fatalf("%v (log %s)", err, c.LogPath())
	}
	return c, dsn
}

// RequirePrivate is Require with a cluster of t's own, never the shared
// one, stopped in t.Cleanup: for tests that crash or restart the server.
func RequirePrivate(t testing.TB) (*Cluster, string) {
	t.Helper()
	if skip, reason := optOut(os.LookupEnv); skip {
		t.Skip(reason)
	} else if reason != "" {
		t.Fatal(reason)
	}
	c := own(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dsn, err := c.CreateDatabase(ctx, dbName(t.Name()))
	if err != nil {
		t.Fatalf("%v (log %s)", err, c.LogPath())
	}
	return c, dsn
}

// own starts a cluster for t alone.
func own(t testing.TB) *Cluster {
	t.Helper()
	c, err := Start(context.Background(), Options{Logf: t.Logf})
	if err != nil {
		unavailable(t, err)
	}
	t.Cleanup(func() {
		if err := c.Stop(t.Failed()); err != nil {
			t.Errorf("%v", err)
		}
	})
	return c
}

func cluster(t testing.TB) *Cluster {
	t.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if !shared.managed {
		return own(t)
	}
	if shared.c == nil && shared.err == nil {
		shared.c, shared.err = Start(context.Background(), Options{Logf: verboseLogf})
	}
	if shared.err != nil {
		unavailable(t, shared.err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			shared.mu.Lock()
			shared.failed = true
			shared.mu.Unlock()
		}
	})
	return shared.c
}

var notIdent = regexp.MustCompile(`[^a-z0-9_]+`)

// dbName turns a test name into a database name prefix.
func dbName(test string) string {
	n := notIdent.ReplaceAllString(strings.ToLower(test), "_")
	if len(n) > 40 {
		n = n[:40]
	}
	return "t_" + n
}

// optOut reads SkipEnv and CI: skip=true with the reason when the tests are
// opted out, skip=false with a reason when the opt-out is refused.
func optOut(lookup func(string) (string, bool)) (skip bool, reason string) {
	v, set := lookup(SkipEnv)
	if !set || v == "" || v == "0" {
		return false, ""
	}
	if v != "1" {
		return false, fmt.Sprintf("pgtest: %s=%q: only 1 opts out of the PostgreSQL tests", SkipEnv, v)
	}
	if inCI(lookup) {
		return false, fmt.Sprintf("pgtest: %s=1 refused under CI=true: CI must run the PostgreSQL tests", SkipEnv)
	}
	return true, fmt.Sprintf("real PostgreSQL skipped: %s=1", SkipEnv)
}

func inCI(lookup func(string) (string, bool)) bool {
	ci, _ := lookup("CI")
	return ci == "true"
}

// unavailable skips t when PostgreSQL is not installed outside CI, and
// fails it otherwise.
func unavailable(t testing.TB, err error) {
	t.Helper()
	if errors.Is(err, ErrUnavailable) && !inCI(os.LookupEnv) {
		t.Skipf("real PostgreSQL not installed (CI=true makes this a failure): %v", err)
	}
	t.Fatalf("real PostgreSQL: %v", err)
}

func verboseLogf(format string, args ...any) {
	if testing.Verbose() {
		fmt.Fprintf(os.Stderr, format+"\n", args...)
	}
}
