package sipptest

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// minEventGap is Asterisk's AST_MIN_DTMF_GAP: a key that begins sooner after
// the previous one ended is queued and emulated instead of passed through.
const minEventGap = 45 * time.Millisecond

// press is one telephone event as a receiver reassembles it from RTP.
type press struct {
	key       byte
	ts        uint32        // RTP timestamp shared by all its packets
	dur       uint16        // final duration, samples
	firstAt   time.Duration // send time of its first packet in its capture
	endAt     time.Duration // send time of its first end packet
	endCopies int
}

var eventKeys = "0123456789*#"

// presses reassembles the telephone events of pkts (one capture, in send
// order) the way RFC 4733 §2.5.2 tells a receiver to: one event per
// timestamp, begun by its first packet, ended by its end packets, which
// repeat and must not change. It fails t on any packet that breaks that.
func presses(t *testing.T, pkts []packet) []press {
	t.Helper()
	var out []press
	var cur *press
	var lastDur uint16
	var endSeq uint16
	for i, p := range pkts {
		if pt := p.data[p.rtp+1] & 0x7f; pt != 101 {
			t.Fatalf("packet %d: payload type %d, want 101", i, pt)
		}
		ev := p.data[p.rtp+12]
		if int(ev) >= len(eventKeys) {
			t.Fatalf("packet %d: event %d is no DTMF key", i, ev)
		}
		if cur == nil || p.ts() != cur.ts {
			if cur != nil && cur.endCopies == 0 {
				t.Fatalf("packet %d: new event at ts %d before the end of the one at ts %d", i, p.ts(), cur.ts)
			}
			if !p.marker() {
				t.Errorf("packet %d: first packet of an event without the marker bit", i)
			}
			out = append(out, press{key: eventKeys[ev], ts: p.ts(), firstAt: p.at})
			cur = &out[len(out)-1]
			lastDur = 0
		} else if p.marker() {
			t.Errorf("packet %d: marker bit inside the event at ts %d", i, cur.ts)
		}
		if eventKeys[ev] != cur.key {
			t.Fatalf("packet %d: key %c inside the event of key %c (ts %d)", i, eventKeys[ev], cur.key, cur.ts)
		}
		d := p.eventDuration()
		switch {
		case cur.endCopies > 0 && !p.eventEnd():
			t.Fatalf("packet %d: event at ts %d goes on after its end", i, cur.ts)
		case cur.endCopies > 0 && (d != cur.dur || p.seq() != endSeq):
			t.Fatalf("packet %d: repeated end changed: dur %d seq %d, first end dur %d seq %d", i, d, p.seq(), cur.dur, endSeq)
		case d < lastDur:
			t.Fatalf("packet %d: duration went back from %d to %d", i, lastDur, d)
		}
		lastDur = d
		if p.eventEnd() {
			if cur.endCopies == 0 {
				cur.dur, cur.endAt, endSeq = d, p.at, p.seq()
			}
			cur.endCopies++
		}
	}
	return out
}

// TestEachKeyIsOnePress generates a caller that types every key, decodes the
// RTP it would send, and checks that each key is exactly one press: its own
// timestamp, a duration as long as it is on the wire, three identical end
// packets, and a gap before the next key that Asterisk does not merge or
// queue.
func TestEachKeyIsOnePress(t *testing.T) {
	needPcaps(t)
	tests := []struct {
		name   string
		events []Step
		keys   string
	}{
		{name: "all keys", events: []Step{DTMF("1234567890*#")}, keys: "1234567890*#"},
		{name: "repeated keys", events: []Step{DTMF("900123456#")}, keys: "900123456#"},
		{name: "split by audio and pause", events: []Step{DTMF("11"), Audio(100 * time.Millisecond), Pause(time.Second), DTMF("1")}, keys: "111"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Caller{Extension: "200", Events: tc.events}
			steps, err := c.validate()
			if err != nil {
				t.Fatal(err)
			}
			_, pcaps, err := buildCaller(c, steps, 0x5eed0001)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for n := range pcaps {
				names = append(names, n)
			}
			sort.Strings(names)
			var all []press
			dir := t.TempDir()
			for _, n := range names {
				if pcaps[n][0].data[pcaps[n][0].rtp+1]&0x7f != 101 {
					continue // audio
				}
				// Decode what sipp reads: the written file.
				path := filepath.Join(dir, n)
				if err := writePcap(path, pcaps[n]); err != nil {
					t.Fatal(err)
				}
				back, err := readPcap(path)
				if err != nil {
					t.Fatal(err)
				}
				ps := presses(t, back)
				if len(ps) != 1 {
					t.Fatalf("%s: %d presses, want one per capture", n, len(ps))
				}
				all = append(all, ps...)
			}
			var got strings.Builder
			for i, p := range all {
				got.WriteByte(p.key)
				if p.endCopies != 3 {
					t.Errorf("press %d (%c): %d end packets, want 3", i, p.key, p.endCopies)
				}
				// The duration says how long the key was down: the
				// time from its first to its end packet, to a tick.
				wire := p.endAt - p.firstAt
				claimed := time.Duration(p.dur) * time.Second / rtpClock
				if diff := claimed - wire; diff < -eventTick/2 || diff > eventTick/2 {
					t.Errorf("press %d (%c): duration %v, on the wire %v", i, p.key, claimed, wire)
				}
				if claimed < 80*time.Millisecond || claimed >= DigitSpacing-minEventGap {
					t.Errorf("press %d (%c): duration %v outside [80ms, %v)", i, p.key, claimed, DigitSpacing-minEventGap)
				}
				if i == 0 {
					continue
				}
				prev := all[i-1]
				if p.ts == prev.ts {
					t.Fatalf("presses %d and %d share timestamp %d: one press to a receiver", i-1, i, p.ts)
				}
				gap := time.Duration(int64(p.ts)-int64(prev.ts)-int64(prev.dur)) * time.Second / rtpClock
				if gap < minEventGap {
					t.Errorf("press %d (%c) begins %v after press %d (%c) ended, want >= %v", i, p.key, gap, i-1, prev.key, minEventGap)
				}
			}
			if got.String() != tc.keys {
				t.Errorf("keys on the wire %q, want %q", got.String(), tc.keys)
			}
		})
	}
}

// TestEventRejectsForeignCapture keeps a non-DTMF or mixed capture out of a
// key press.
func TestEventRejectsForeignCapture(t *testing.T) {
	needPcaps(t)
	one, err := readPcap(filepath.Join(SourcePcapDir, "dtmf_2833_1.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	two, err := readPcap(filepath.Join(SourcePcapDir, "dtmf_2833_2.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	short := append([]packet(nil), one...)
	short[2].data = short[2].data[:short[2].rtp+12]
	tests := []struct {
		name    string
		src     []packet
		wantErr string
	}{
		{name: "mixed keys", src: append(append([]packet(nil), one[:3]...), two[3:]...), wantErr: "event 2, want 1"},
		{name: "no payload", src: short, wantErr: "no telephone-event payload"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := &stream{ssrc: 1}
			if _, err := st.event(tc.src, 0); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			}
		})
	}
	st := &stream{ssrc: 1}
	if _, err := st.event(one, 0); err != nil {
		t.Fatalf("capture of key 1: %v", err)
	}
	if got := fmt.Sprint(one[len(one)-1].eventDuration()); got != "2240" {
		t.Errorf("event() changed its source: end duration %s, want the capture's 2240", got)
	}
}
