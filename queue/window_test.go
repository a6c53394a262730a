package queue

import (
	"testing"
	"time"
	_ "time/tzdata" // the zone rules must be present so these rows never skip
)

// TestWindowNextDST checks that opening hours are computed as wall-clock
// times in the window's zone on both 2026 daylight-saving transitions.
func TestWindowNextDST(t *testing.T) {
	rows := []struct {
		zone string
		ask  string // local time asked
		want string // local time answered
	}{
		// Europe/Prague: CET->CEST 2026-03-29 02:00, CEST->CET 2026-10-25 03:00.
		{"Europe/Prague", "2026-03-29 00:30", "2026-03-29 08:00"},
		{"Europe/Prague", "2026-03-28 20:00", "2026-03-29 08:00"},
		{"Europe/Prague", "2026-10-25 00:30", "2026-10-25 08:00"},
		{"Europe/Prague", "2026-10-25 07:00", "2026-10-25 08:00"},
		{"Europe/Prague", "2026-10-25 07:59", "2026-10-25 08:00"},
		// America/New_York: EST->EDT 2026-03-08 02:00, EDT->EST 2026-11-01 02:00.
		{"America/New_York", "2026-03-08 00:30", "2026-03-08 08:00"},
		{"America/New_York", "2026-03-07 20:00", "2026-03-08 08:00"},
		{"America/New_York", "2026-11-01 00:30", "2026-11-01 08:00"},
		{"America/New_York", "2026-11-01 07:00", "2026-11-01 08:00"},
		{"America/New_York", "2026-11-01 07:59", "2026-11-01 08:00"},
	}
	for _, r := range rows {
		t.Run(r.zone+" "+r.ask, func(t *testing.T) {
			loc, err := time.LoadLocation(r.zone)
			if err != nil {
				t.Fatal(err)
			}
			w := &Window{Location: loc, Hours: []Hours{{Days: []time.Weekday{time.Sunday}, From: 8 * 60, To: 17 * 60}}}
			ask, _ := time.ParseInLocation("2006-01-02 15:04", r.ask, loc)
			want, _ := time.ParseInLocation("2006-01-02 15:04", r.want, loc)
			got, ok := w.Next(ask)
			if !ok || !got.Equal(want) {
				t.Fatalf("Next(%s) = %s, %v; want %s", ask, got.In(loc), ok, want)
			}
			if !w.Open(got) {
				t.Fatalf("Open(%s) = false", got.In(loc))
			}
		})
	}
}
