package fstest

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"
)

// startTimeout bounds the lock wait and start inside Require; the wait can
// be long while another package's tests hold the switch lock.
const startTimeout = 15 * time.Minute

// Require starts a FreeSWITCH for t and stops it in t.Cleanup, keeping its
// per-run folder (logs, rendered conf) when t failed. When FreeSWITCH is not
// installed here the test is skipped with the reason, unless the environment
// variable CI is set: then it fails, because CI installs everything.
func Require(t testing.TB, opt Options) *FreeSWITCH {
	t.Helper()
	if opt.Logf == nil {
		opt.Logf = t.Logf
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	f, err := Start(ctx, opt)
	if err != nil {
		if errors.Is(err, ErrUnavailable) {
			if _, ci := os.LookupEnv("CI"); !ci {
				t.Skipf("real FreeSWITCH not available: %v", err)
			}
		}
		t.Fatalf("real FreeSWITCH: %v", err)
	}
	t.Cleanup(func() {
		keep := t.Failed()
		if err := f.Stop(keep); err != nil {
			t.Errorf("%v", err)
		}
		if keep {
			t.Logf("fstest: FreeSWITCH logs kept in %s", f.Dir)
		}
	})
	return f
}
