package measure

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// Latency sums how fast an application acted on digits.
type Latency struct {
	Digits   int           // ChannelDtmfReceived events seen
	Paired   int           // digits followed by an action on their channel
	Unpaired int           // digits no action followed
	P50, P99 time.Duration // of the paired digits' latencies
	Max      time.Duration
}

// Pair matches every ChannelDtmfReceived with the next action event
// (PlaybackStarted, RecordingStarted, ChannelLeftBridge) on the same channel,
// in arrival order; digits pressed before that action all pair with it. The
// latency is the difference of the two events' Asterisk timestamps, so the
// observer's own delays do not count.
func Pair(evs []Event) Latency {
	pending := map[string][]time.Time{}
	var lat Latency
	var ds []time.Duration
	for _, ev := range evs {
		switch {
		case ev.Type == "ChannelDtmfReceived":
			lat.Digits++
			pending[ev.Channel] = append(pending[ev.Channel], ev.Time)
		case actionTypes[ev.Type]:
			for _, t := range pending[ev.Channel] {
				ds = append(ds, max(ev.Time.Sub(t), 0))
			}
			delete(pending, ev.Channel)
		}
	}
	for _, p := range pending {
		lat.Unpaired += len(p)
	}
	lat.Paired = len(ds)
	if len(ds) > 0 {
		slices.Sort(ds)
		lat.P50, lat.P99, lat.Max = Percentile(ds, 50), Percentile(ds, 99), ds[len(ds)-1]
	}
	return lat
}

// Percentile returns the p-th percentile (nearest rank) of sorted ds.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

func (l Latency) String() string {
	if l.Paired == 0 {
		return fmt.Sprintf("%d digits, none paired", l.Digits)
	}
	return fmt.Sprintf("%d digits, %d paired, p50 %v p99 %v max %v, %d without action",
		l.Digits, l.Paired, l.P50, l.P99, l.Max, l.Unpaired)
}
