package esltest

import (
	"testing"
	"time"
)

// TestRingTimeWholeSeconds: as FreeSWITCH 1.10.12 (switch_ivr_originate.c
// compares truncated epoch seconds), an unanswered originate ends at the
// first second boundary at least originate_timeout seconds on. Measured on
// the real switch: originate_timeout=2 gave NO_ANSWER after 1.2 s.
func TestRingTimeWholeSeconds(t *testing.T) {
	s := &Server{opts: Options{TimeScale: 1}}
	for _, tc := range []struct {
		into, timeout, want time.Duration
	}{
		{0, 2 * time.Second, 2 * time.Second},
		{800 * time.Millisecond, 2 * time.Second, 1200 * time.Millisecond},
		{3300 * time.Millisecond, 3 * time.Second, 2700 * time.Millisecond},
	} {
		s.start = time.Now().Add(-tc.into)
		got := s.ringTime(tc.timeout)
		if d := got - tc.want; d > 0 || d < -20*time.Millisecond {
			t.Errorf("%v into the second, originate_timeout %v: rings %v, want %v", tc.into, tc.timeout, got, tc.want)
		}
	}
}
