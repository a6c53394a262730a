package esltest_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/callflow/callflow/esl/esltest"
)

// parkedLeg originates uuid (scripted to answer) with &park() and waits
// for its CHANNEL_PARK.
func parkedLeg(t *testing.T, s *esltest.Server, c *rawConn, uuid string) {
	t.Helper()
	s.Script("loopback/"+uuid, esltest.Fate{Outcome: esltest.Answer})
	if got := c.api(t, "originate {origination_uuid="+uuid+"}loopback/"+uuid+" &park()"); got != "+OK "+uuid+"\n" {
		t.Fatalf("originate %s: %q", uuid, got)
	}
	c.event(t, "CHANNEL_PARK")
}

// expectEvents compares the next len(want) events (uuids as roles).
func expectEvents(t *testing.T, c *rawConn, roles map[string]string, want ...string) {
	t.Helper()
	if got := c.events(t, len(want), roles); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events:%s\nwant:%s", fmtEvents(got), fmtEvents(want))
	}
}

// TestKillParkedLeg: uuid_kill on a parked leg after a broadcast, as in
// inbound-events-all-filtered-plain.txt: CHANNEL_HANGUP, CHANNEL_UNPARK,
// the park's EXECUTE_COMPLETE (carrying the broadcast's stale response),
// CHANNEL_HANGUP_COMPLETE (Hangup-Cause twice), CHANNEL_DESTROY.
func TestKillParkedLeg(t *testing.T) {
	s := newServer(t, esltest.Options{})
	c := dialRaw(t, s)
	roles := map[string]string{"leg-a": "A"}
	parkedLeg(t, s, c, "leg-a")
	if got := c.api(t, "uuid_broadcast leg-a tone_stream://%(200,100,440) aleg"); got != "+OK Message sent\n" {
		t.Fatalf("uuid_broadcast: %q", got)
	}
	expectEvents(t, c, roles,
		"Event-Name=CHANNEL_EXECUTE Unique-ID=A Application=playback Application-Data=tone_stream://%(200,100,440) Answer-State=answered",
		"Event-Name=PLAYBACK_START Unique-ID=A Answer-State=answered",
		"Event-Name=PLAYBACK_STOP Unique-ID=A Playback-Status=done Answer-State=answered",
		"Event-Name=CHANNEL_EXECUTE_COMPLETE Unique-ID=A Application=playback Application-Data=tone_stream://%(200,100,440) Application-Response=FILE PLAYED Answer-State=answered")
	if got := c.api(t, "uuid_kill leg-a USER_BUSY"); got != "+OK\n" {
		t.Fatalf("uuid_kill: %q", got)
	}
	expectEvents(t, c, roles,
		"Event-Name=CHANNEL_HANGUP Unique-ID=A Hangup-Cause=USER_BUSY Answer-State=hangup",
		"Event-Name=CHANNEL_UNPARK Unique-ID=A Hangup-Cause=USER_BUSY Answer-State=hangup",
		"Event-Name=CHANNEL_EXECUTE_COMPLETE Unique-ID=A Application=park Application-Response=FILE PLAYED Hangup-Cause=USER_BUSY Answer-State=hangup",
		"Event-Name=CHANNEL_HANGUP_COMPLETE Unique-ID=A Hangup-Cause=USER_BUSY|USER_BUSY Answer-State=hangup",
		"Event-Name=CHANNEL_DESTROY Unique-ID=A Hangup-Cause=USER_BUSY Answer-State=hangup")
	c.quiet(t, 30*time.Millisecond)
	for cmd, want := range map[string]string{
		"uuid_kill leg-a":   "-ERR No such channel!\n",
		"uuid_kill":         "-USAGE: <uuid> [cause]\n",
		"uuid_exists leg-a": "false",
	} {
		if got := c.api(t, cmd); got != want {
			t.Errorf("%s: %q, want %q", cmd, got, want)
		}
	}
}

// TestUUIDBreak: "uuid_break UUID [all]" replies +OK and stops the
// running playback (Playback-Status break, response FILE PLAYED); with
// all, queued broadcasts are flushed too.
func TestUUIDBreak(t *testing.T) {
	stopped := []string{
		"Event-Name=PLAYBACK_STOP Unique-ID=A Playback-Status=break Answer-State=answered",
		"Event-Name=CHANNEL_EXECUTE_COMPLETE Unique-ID=A Application=playback Application-Data=local_stream://moh Application-Response=FILE PLAYED Answer-State=answered",
	}
	queuedPlays := []string{
		"Event-Name=CHANNEL_EXECUTE Unique-ID=A Application=playback Application-Data=silence_stream://100 Answer-State=answered",
		"Event-Name=PLAYBACK_START Unique-ID=A Answer-State=answered",
		"Event-Name=PLAYBACK_STOP Unique-ID=A Playback-Status=done Answer-State=answered",
		"Event-Name=CHANNEL_EXECUTE_COMPLETE Unique-ID=A Application=playback Application-Data=silence_stream://100 Application-Response=FILE PLAYED Answer-State=answered",
	}
	cases := []struct {
		name string
		cmd  string
		want []string
	}{
		{"break stops the playing stream, the queued one plays", "uuid_break leg-a", append(append([]string(nil), stopped...), queuedPlays...)},
		{"break all flushes the queue", "uuid_break leg-a all", stopped},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t, esltest.Options{})
			c := dialRaw(t, s)
			roles := map[string]string{"leg-a": "A"}
			parkedLeg(t, s, c, "leg-a")
			for _, f := range []string{"local_stream://moh", "silence_stream://100"} {
				if got := c.api(t, "uuid_broadcast leg-a "+f+" aleg"); got != "+OK Message sent\n" {
					t.Fatalf("uuid_broadcast: %q", got)
				}
			}
			c.event(t, "PLAYBACK_START")
			if got := c.api(t, tc.cmd); got != "+OK\n" {
				t.Fatalf("%s: %q", tc.cmd, got)
			}
			expectEvents(t, c, roles, tc.want...)
			c.quiet(t, 50*time.Millisecond)
			if ch, _ := s.Channel("leg-a"); ch.HungUp || !ch.Parked {
				t.Errorf("after break: %+v, want parked and up", ch)
			}
		})
	}
	s := newServer(t, esltest.Options{})
	c := dialRaw(t, s)
	for cmd, want := range map[string]string{"uuid_break nosuch": "-ERR No such channel!\n", "uuid_break": "-USAGE: <uuid> [all]\n"} {
		if got := c.api(t, cmd); got != want {
			t.Errorf("%s: %q, want %q", cmd, got, want)
		}
	}
}

// bridged originates A and B, parks them, sets park_after_bridge on the
// listed legs and bridges A to B.
func bridged(t *testing.T, s *esltest.Server, c *rawConn, parkAfter ...string) {
	t.Helper()
	parkedLeg(t, s, c, "leg-a")
	parkedLeg(t, s, c, "leg-b")
	for _, leg := range parkAfter {
		if got := c.api(t, "uuid_setvar "+leg+" park_after_bridge true"); got != "+OK\n" {
			t.Fatalf("uuid_setvar: %q", got)
		}
	}
	if got := c.api(t, "uuid_bridge leg-a leg-b"); got != "+OK leg-b\n" {
		t.Fatalf("uuid_bridge: %q", got)
	}
	c.event(t, "CHANNEL_BRIDGE")
}

// TestPeerHangsUp: when one leg of a uuid_bridge hangs up, the other is
// parked if its park_after_bridge is true (CHANNEL_UNBRIDGE, CHANNEL_PARK,
// no hang-up), and hung up otherwise (bridge-and-originate.txt).
func TestPeerHangsUp(t *testing.T) {
	killedEnd := []string{
		"Event-Name=CHANNEL_HANGUP_COMPLETE Unique-ID=A Hangup-Cause=NORMAL_CLEARING|NORMAL_CLEARING Answer-State=hangup Other-Leg-Unique-ID=B",
		"Event-Name=CHANNEL_DESTROY Unique-ID=A Hangup-Cause=NORMAL_CLEARING Answer-State=hangup Other-Leg-Unique-ID=B",
	}
	cases := []struct {
		name      string
		parkAfter []string
		want      []string
		bUp       bool
	}{
		{"park_after_bridge=true parks the survivor", []string{"leg-b"}, append([]string{
			"Event-Name=CHANNEL_PARK Unique-ID=B Answer-State=answered Other-Leg-Unique-ID=A",
		}, killedEnd...), true},
		{"without it the survivor hangs up", nil, append([]string{
			"Event-Name=CHANNEL_HANGUP Unique-ID=B Hangup-Cause=NORMAL_CLEARING Answer-State=hangup Other-Leg-Unique-ID=A",
			"Event-Name=CHANNEL_HANGUP_COMPLETE Unique-ID=B Hangup-Cause=NORMAL_CLEARING|NORMAL_CLEARING Answer-State=hangup Other-Leg-Unique-ID=A",
			"Event-Name=CHANNEL_DESTROY Unique-ID=B Hangup-Cause=NORMAL_CLEARING Answer-State=hangup Other-Leg-Unique-ID=A",
		}, killedEnd...), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t, esltest.Options{})
			c := dialRaw(t, s)
			roles := map[string]string{"leg-a": "A", "leg-b": "B"}
			bridged(t, s, c, tc.parkAfter...)
			if got := c.api(t, "uuid_kill leg-a"); got != "+OK\n" {
				t.Fatalf("uuid_kill: %q", got)
			}
			want := append([]string{
				"Event-Name=CHANNEL_HANGUP Unique-ID=A Hangup-Cause=NORMAL_CLEARING Answer-State=hangup Other-Leg-Unique-ID=B",
				"Event-Name=CHANNEL_UNBRIDGE Unique-ID=A Hangup-Cause=NORMAL_CLEARING Bridge-A-Unique-ID=A Bridge-B-Unique-ID=B Answer-State=hangup Other-Leg-Unique-ID=B",
			}, tc.want...)
			expectEvents(t, c, roles, want...)
			c.quiet(t, 30*time.Millisecond)
			ch, _ := s.Channel("leg-b")
			if ch.HungUp == tc.bUp || ch.Parked != tc.bUp || ch.Peer != "" {
				t.Errorf("survivor %+v, want up and parked: %v, no peer", ch, tc.bUp)
			}
		})
	}
}

// TestUUIDPark: uuid_park takes a bridged leg out of its bridge into park
// (CHANNEL_UNBRIDGE, CHANNEL_PARK), its peer follows park_after_bridge;
// on a playing leg it stops the playback ("PLAYBACK ERROR", as a bridge
// does).
func TestUUIDPark(t *testing.T) {
	t.Run("bridged pair", func(t *testing.T) {
		s := newServer(t, esltest.Options{})
		c := dialRaw(t, s)
		roles := map[string]string{"leg-a": "A", "leg-b": "B"}
		bridged(t, s, c, "leg-a", "leg-b")
		if got := c.api(t, "uuid_park leg-b"); got != "+OK\n" {
			t.Fatalf("uuid_park: %q", got)
		}
		expectEvents(t, c, roles,
			"Event-Name=CHANNEL_UNBRIDGE Unique-ID=A Bridge-A-Unique-ID=A Bridge-B-Unique-ID=B Answer-State=answered Other-Leg-Unique-ID=B",
			"Event-Name=CHANNEL_PARK Unique-ID=A Answer-State=answered Other-Leg-Unique-ID=B",
			"Event-Name=CHANNEL_PARK Unique-ID=B Answer-State=answered Other-Leg-Unique-ID=A")
		c.quiet(t, 30*time.Millisecond)
		for _, leg := range []string{"leg-a", "leg-b"} {
			if ch, _ := s.Channel(leg); ch.HungUp || !ch.Parked || ch.Peer != "" {
				t.Errorf("%s: %+v, want parked, up, unbridged", leg, ch)
			}
		}
	})
	t.Run("playing leg", func(t *testing.T) {
		s := newServer(t, esltest.Options{})
		c := dialRaw(t, s)
		parkedLeg(t, s, c, "leg-a")
		c.api(t, "uuid_broadcast leg-a local_stream://moh aleg")
		c.event(t, "PLAYBACK_START")
		if got := c.api(t, "uuid_park leg-a"); got != "+OK\n" {
			t.Fatalf("uuid_park: %q", got)
		}
		expectEvents(t, c, map[string]string{"leg-a": "A"},
			"Event-Name=PLAYBACK_STOP Unique-ID=A Playback-Status=done Answer-State=answered",
			"Event-Name=CHANNEL_EXECUTE_COMPLETE Unique-ID=A Application=playback Application-Data=local_stream://moh Application-Response=PLAYBACK ERROR Answer-State=answered")
		c.quiet(t, 30*time.Millisecond)
	})
	s := newServer(t, esltest.Options{})
	c := dialRaw(t, s)
	for cmd, want := range map[string]string{"uuid_park nosuch": "-ERR No such channel!\n", "uuid_park": "-USAGE: <uuid>\n"} {
		if got := c.api(t, cmd); got != want {
			t.Errorf("%s: %q, want %q", cmd, got, want)
		}
	}
}

// TestPlaybackLength: silence_stream://MS and tone_stream:// play their
// own length, files PlaybackLength or their Lengths entry,
// local_stream:// until stopped.
func TestPlaybackLength(t *testing.T) {
	const scale = 0.05
	cases := []struct {
		file string
		want time.Duration // simulated
	}{
		{"silence_stream://5000", 5 * time.Second},
		{"silence_stream://1000,1400", time.Second},
		{"tone_stream://%(200,100,440)", 300 * time.Millisecond},
		{"tone_stream://L=3;%(1000,1000,440)", 6 * time.Second},
		{"tone_stream://%(500,500,480,620);%(1000,0,440)", 2 * time.Second},
		{"ivr/welcome.wav", 2 * time.Second},
		{"long.wav", 8 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			s := newServer(t, esltest.Options{TimeScale: scale, PlaybackLength: 2 * time.Second,
				Lengths: map[string]time.Duration{"long.wav": 8 * time.Second}})
			c := dialRaw(t, s)
			parkedLeg(t, s, c, "leg-a")
			c.api(t, "uuid_broadcast leg-a "+tc.file+" aleg")
			c.event(t, "PLAYBACK_START")
			t0 := time.Now()
			c.event(t, "PLAYBACK_STOP")
			got := time.Duration(float64(time.Since(t0)) / scale)
			if got < tc.want-100*time.Millisecond || got > tc.want+time.Second {
				t.Errorf("played %v (simulated), want %v", got, tc.want)
			}
		})
	}
	t.Run("local_stream plays until stopped", func(t *testing.T) {
		s := newServer(t, esltest.Options{TimeScale: scale})
		c := dialRaw(t, s)
		parkedLeg(t, s, c, "leg-a")
		c.api(t, "uuid_broadcast leg-a local_stream://moh aleg")
		c.event(t, "PLAYBACK_START")
		c.quiet(t, 200*time.Millisecond) // 4 s simulated
	})
}

// TestTerminators: a key in playback_terminators stops playback and
// record ("none" no key, "any" every key, unset "*"); the key's DTMF event
// fires, playback_terminator_used is set, a record keeps record_ms of what
// was recorded.
func TestTerminators(t *testing.T) {
	cases := []struct {
		name, app, arg, terms, key string
		stops                      bool
	}{
		{"record stops at #", "record", "/srv/rec/a.wav 5", "#", "#", true},
		{"record ignores other keys", "record", "/srv/rec/a.wav 1", "#", "5", false},
		{"record with none", "record", "/srv/rec/a.wav 1", "none", "#", false},
		{"record default is star", "record", "/srv/rec/a.wav 5", "", "*", true},
		{"playback with any", "playback", "silence_stream://5000", "any", "7", true},
		{"playback with none", "playback", "silence_stream://1000", "none", "7", false},
		{"playback with a list", "playback", "silence_stream://5000", "*#", "#", true},
	}
	const scale = 0.05
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t, esltest.Options{TimeScale: scale})
			c := dialRaw(t, s)
			parkedLeg(t, s, c, "leg-a")
			if tc.terms != "" {
				c.api(t, "uuid_setvar leg-a playback_terminators "+tc.terms)
			}
			c.send(t, "sendmsg leg-a\ncall-command: execute\nexecute-app-name: "+tc.app+"\nexecute-app-arg: "+tc.arg+"\nevent-lock: true\nEvent-UUID: ev-1")
			if r := c.reply(t); r != "reply +OK" {
				t.Fatalf("sendmsg: %s", r)
			}
			started := map[string]string{"record": "RECORD_START", "playback": "PLAYBACK_START"}[tc.app]
			c.event(t, started)
			time.Sleep(time.Duration(float64(500*time.Millisecond) * scale)) // 0.5 s simulated of media
			s.SendDTMF("leg-a", tc.key)
			t0 := time.Now()
			if e := c.event(t, "DTMF"); e.Get("DTMF-Digit") != tc.key {
				t.Errorf("DTMF %q", e.Get("DTMF-Digit"))
			}
			done := c.event(t, "CHANNEL_EXECUTE_COMPLETE")
			after := time.Duration(float64(time.Since(t0)) / scale)
			if done.Get("Application-UUID") != "ev-1" {
				t.Errorf("completion of %s", done.Get("Application-UUID"))
			}
			if stopped := after < 300*time.Millisecond; stopped != tc.stops {
				t.Errorf("completed %v (simulated) after the key; want stopped by it: %v", after, tc.stops)
			}
			used := c.api(t, "uuid_getvar leg-a playback_terminator_used")
			if want := map[bool]string{true: tc.key, false: "_undef_"}[tc.stops]; used != want {
				t.Errorf("playback_terminator_used %q, want %q", used, want)
			}
			if tc.app == "record" {
				// Stopped: about the 0.5 s before the key; else the 1 s limit.
				lo, hi := 400, 1500
				if !tc.stops {
					lo, hi = 1000, 1000
				}
				if ms, err := strconv.Atoi(done.Get("variable_record_ms")); err != nil || ms < lo || ms > hi {
					t.Errorf("record_ms %q, want %d..%d", done.Get("variable_record_ms"), lo, hi)
				}
				if cause, want := done.Get("variable_record_completion_cause"), map[bool]string{false: "success-maxtime"}[tc.stops]; cause != want {
					t.Errorf("record_completion_cause %q, want %q", cause, want)
				}
			}
		})
	}
}
