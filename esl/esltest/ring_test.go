package esltest

import (
	"testing"
	"time"
)

// TestRingTimeWholeSeconds: as FreeSWITCH 1.10.12 (switch_ivr_originate.c
// compares truncated epoch seconds), an unanswered originate ends at the
// first second boundary at least originate_timeout seconds on. Measured on
// the real switch (esl/testdata/originate-ring-timeout.txt):
// originate_timeout=2 sent 0.85 s into a second gave NO_ANSWER after
// 1.18 s.
func TestRingTimeWholeSeconds(t *testing.T) {
	for _, tc := range []struct {
		now, timeout, want time.Duration
	}{
		{1000 * time.Second, 2 * time.Second, 2 * time.Second},
		{1000*time.Second + 850*time.Millisecond, 2 * time.Second, 1150 * time.Millisecond},
		{1000*time.Second + 50*time.Millisecond, 3 * time.Second, 2950 * time.Millisecond},
	} {
		if got := ringTimeAt(tc.now, tc.timeout); got != tc.want {
			t.Errorf("started at %v, originate_timeout %v: rings %v, want %v", tc.now, tc.timeout, got, tc.want)
		}
	}
}
