package sipptest_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/callflow/callflow/internal/asterisktest"
	"github.com/callflow/callflow/internal/sipptest"
)

// TestDTMFBargeInArrivesOnce types "1234567890#" into a long prompt and stops
// the prompt in the middle of the second key, as a barge-in does when the
// first key's event takes a moment to act on. Asterisk drops that key's
// begin packet while the prompt plays and, after the stop, emulates the key
// for the duration its end packet claims; a key that ends before the
// emulation is over is queued and reported twice. With captures that claim
// 280 ms per 250 ms-spaced key every key from the third on arrived twice
// ("1233445566778899000##"); each key must arrive exactly once.
func TestDTMFBargeInArrivesOnce(t *testing.T) {
	a := asterisktest.Require(t)
	evs := events(t, a)
	const keys = "1234567890#"
	// The second key is on the wire from 110 ms to 250 ms after the
	// first key's end, which is when Asterisk reports the first key.
	const stopAfter = 180 * time.Millisecond
	for round := range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		caller := sipptest.Caller{Extension: "200", From: fmt.Sprint(7000 + round), Events: []sipptest.Step{
			sipptest.Pause(1500 * time.Millisecond), sipptest.DTMF(keys), sipptest.Pause(time.Second), sipptest.Hangup(),
		}}
		done := make(chan error, 1)
		var res sipptest.Result
		go func() {
			var err error
			res, err = sipptest.RunCaller(ctx, caller, a.SIPPort)
			done <- err
		}()
		start := waitEvent(t, evs, "StasisStart", 20*time.Second)
		id := start.Channel.ID
		pb := fmt.Sprintf("barge-%d-%d", round, time.Now().UnixNano())
		ari(t, a, http.MethodPost, "/channels/"+id+"/answer", nil)
		ari(t, a, http.MethodPost, "/channels/"+id+"/play", url.Values{"media": {"sound:demo-instruct"}, "playbackId": {pb}})

		var got string
		var durs []int
		var stop <-chan time.Time
		deadline := time.After(30 * time.Second)
	collect:
		for {
			select {
			case ev, ok := <-evs:
				if !ok {
					t.Fatal("ari websocket closed")
				}
				if ev.Channel.ID != id {
					continue
				}
				switch ev.Type {
				case "ChannelDtmfReceived":
					got += ev.Digit
					durs = append(durs, ev.DurationMs)
					if len(got) == 1 {
						stop = time.After(stopAfter)
					}
				case "StasisEnd":
					break collect
				}
			case <-stop:
				stop = nil
				ari(t, a, http.MethodDelete, "/playbacks/"+pb, nil)
			case <-deadline:
				t.Fatalf("round %d: no StasisEnd within 30s; keys so far %q", round, got)
			}
		}
		err := <-done
		cancel()
		if err != nil {
			t.Errorf("round %d: caller: %v\n%s", round, err, res.Errors)
		}
		res.Cleanup()
		if got != keys {
			t.Errorf("round %d: Asterisk reported %q, want %q (durations %v ms)", round, got, keys, durs)
		}
		// A key that claims to outlast the spacing overlaps the next one.
		for i, d := range durs {
			if d <= 0 || time.Duration(d)*time.Millisecond >= sipptest.DigitSpacing {
				t.Errorf("round %d: key %d lasted %d ms, want (0, %v); all durations %v", round, i, d, sipptest.DigitSpacing, durs)
				break
			}
		}
	}
}
