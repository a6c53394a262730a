package esltest

import (
	"strconv"
	"strings"
	"time"

	"github.com/callflow/callflow/esl"
)

// Why a running application was stopped early.
const (
	stopBreak  = "break"  // uuid_break
	stopDTMF   = "dtmf"   // a key in playback_terminators
	stopBridge = "bridge" // uuid_bridge or uuid_park took the channel
	stopHangup = "hangup" // the channel hung up
)

// running is the application a channel runs now (guarded by s.mu).
type running struct {
	app  appCall
	stop chan struct{} // closed by interrupt
	why  string        // set once, before stop is closed
	done chan struct{} // closed after the application's EXECUTE_COMPLETE
}

func (r *running) interrupt(why string) {
	if r.why != "" {
		return
	}
	r.why = why
	close(r.stop)
}

// runApps executes the channel's applications in order. It ends when the
// channel hangs up or the server closes.
func (s *Server) runApps(ch *channel) {
	defer s.wg.Done()
	for {
		select {
		case <-ch.ctx.Done():
			return
		case <-s.closed:
			return
		case a := <-ch.apps:
			s.execApp(ch, a)
		}
	}
}

// queueApp queues an application (s.mu held).
func (s *Server) queueApp(ch *channel, a appCall) {
	a.gen = ch.gen
	select {
	case ch.apps <- a:
	default:
		// 64 queued apps: a test bug; fail the app visibly.
		s.emit(ch, "CHANNEL_EXECUTE_COMPLETE", appHeaders(a.app, a.arg, "-ERR queue full", a.eventUUID)...)
	}
}

func (s *Server) execApp(ch *channel, a appCall) {
	s.mu.Lock()
	if ch.hungup || a.gen < ch.gen {
		s.mu.Unlock()
		return // hung up, or flushed by uuid_break all
	}
	r := &running{app: a, stop: make(chan struct{}), done: make(chan struct{})}
	ch.run = r
	if !a.broadcast {
		ch.response = "_none_"
	}
	s.emit(ch, "CHANNEL_EXECUTE", appHeaders(a.app, a.arg, "", a.eventUUID)...)
	s.mu.Unlock()
	resp := "" // "": the application leaves current_application_response alone
	switch a.app {
	case "answer":
		s.mu.Lock()
		s.answer(ch)
		s.mu.Unlock()
	case "hangup":
		s.mu.Lock()
		s.hangupKeep(ch, a.arg)
		s.mu.Unlock()
	case "park":
		s.mu.Lock()
		defer s.mu.Unlock()
		ch.run = nil
		close(r.done)
		switch {
		case ch.hungup: // hung up as park started
			s.emit(ch, "CHANNEL_EXECUTE_COMPLETE", appHeaders(a.app, a.arg, ch.response, a.eventUUID)...)
			if ch.final {
				s.finalize(ch, true)
			}
		case ch.peer != "": // bridged meanwhile
			s.emit(ch, "CHANNEL_EXECUTE_COMPLETE", appHeaders(a.app, a.arg, ch.response, a.eventUUID)...)
		default:
			ch.parked, ch.parkApp = true, &a
			s.emit(ch, "CHANNEL_PARK")
		}
		return // completes at hang-up or bridge
	case "set":
		k, v, _ := strings.Cut(a.arg, "=")
		s.mu.Lock()
		ch.setVar(k, v)
		s.mu.Unlock()
	case "playback":
		resp, _ = s.playback(ch, r, a.arg, nil)
	case "play_and_get_digits":
		s.pagd(ch, r, a.arg)
	case "record":
		s.record(ch, r, a.arg)
	default:
		resp = "-ERR unknown application"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if resp != "" {
		ch.response = resp
	}
	s.emit(ch, "CHANNEL_EXECUTE_COMPLETE", appHeaders(a.app, a.arg, ch.response, a.eventUUID)...)
	ch.run = nil
	close(r.done)
	if ch.final {
		s.finalize(ch, true)
	}
}

// mediaLength is how long a file plays in simulated time; endless
// streams (local_stream://, silence_stream://0 or negative, a tone with
// L=-1) report ok false.
func (s *Server) mediaLength(file string) (d time.Duration, ok bool) {
	if d, ok := s.opts.Lengths[file]; ok {
		return d, true
	}
	switch {
	case strings.HasPrefix(file, "silence_stream://"):
		v, _, _ := strings.Cut(strings.TrimPrefix(file, "silence_stream://"), ",")
		ms, err := strconv.Atoi(v)
		if err != nil || ms <= 0 {
			return 0, false
		}
		return time.Duration(ms) * time.Millisecond, true
	case strings.HasPrefix(file, "tone_stream://"):
		return toneLength(strings.TrimPrefix(file, "tone_stream://"))
	case strings.HasPrefix(file, "local_stream://"):
		return 0, false
	}
	return s.opts.PlaybackLength, true
}

// toneLength reads the length of a TGML tone: the on+off times of each
// %(on,off,freq…) segment; "L=N" repeats the whole tone N times and
// "l=N" the next segment (N < 0: forever).
func toneLength(tgml string) (time.Duration, bool) {
	var total time.Duration
	loops, next := 1, 1
	for _, seg := range strings.Split(tgml, ";") {
		seg = strings.TrimSpace(seg)
		switch {
		case strings.HasPrefix(seg, "L="), strings.HasPrefix(seg, "l="):
			n, err := strconv.Atoi(seg[2:])
			if err != nil {
				continue
			}
			if n < 0 {
				return 0, false
			}
			if seg[0] == 'L' {
				loops = n
			} else {
				next = n
			}
		case strings.HasPrefix(seg, "%(") && strings.HasSuffix(seg, ")"):
			f := strings.Split(seg[2:len(seg)-1], ",")
			if len(f) < 2 {
				continue
			}
			on, err1 := strconv.Atoi(strings.TrimSpace(f[0]))
			off, err2 := strconv.Atoi(strings.TrimSpace(f[1]))
			if err1 != nil || err2 != nil {
				continue
			}
			total += time.Duration(next*(on+off)) * time.Millisecond
			next = 1
		}
	}
	return total * time.Duration(loops), true
}

// playback plays file: PLAYBACK_START, its length (or until stopped),
// PLAYBACK_STOP. It returns the application response: "FILE PLAYED" when
// played out or stopped by a key or uuid_break (Playback-Status break),
// "PLAYBACK ERROR" when a bridge, park or hang-up took the channel
// (Playback-Status done), as FreeSWITCH's playback does. With keys set
// (play_and_get_digits) a key also stops it and is returned (else -1).
func (s *Server) playback(ch *channel, r *running, file string, keys <-chan byte) (resp string, key int) {
	typ, _, _ := strings.Cut(file, ":")
	h := []esl.Header{{Name: "Playback-File-Type", Value: typ}, {Name: "Playback-File-Path", Value: file}}
	s.mu.Lock()
	s.emit(ch, "PLAYBACK_START", h...)
	s.mu.Unlock()
	d, finite := s.mediaLength(file)
	var tc <-chan time.Time
	if finite {
		t := time.NewTimer(s.scaled(d))
		defer t.Stop()
		tc = t.C
	}
	why, key := "", -1
	select {
	case <-tc:
	case <-r.stop:
	case k := <-keys:
		why, key = stopDTMF, int(k)
	case <-s.closed:
		why = stopHangup
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if why == "" {
		why = r.why
	}
	status := "done"
	resp = "FILE PLAYED"
	switch why {
	case stopBreak, stopDTMF:
		status = "break"
	case stopBridge, stopHangup:
		resp = "PLAYBACK ERROR"
	}
	s.emit(ch, "PLAYBACK_STOP", append(h, esl.Header{Name: "Playback-Status", Value: status})...)
	return resp, key
}

// pagd runs play_and_get_digits "min max tries timeout terminators file
// invalid_file var regexp [digit_timeout]": the prompt stops at the first
// key (keys buffered before it count); digits are collected until max, a terminator, or the timeout
// (digit_timeout between keys); the result goes into var.
func (s *Server) pagd(ch *channel, r *running, arg string) {
	f := strings.Fields(arg)
	if len(f) < 8 {
		return
	}
	maxD := atoiDefault(f[1], 1)
	timeout := time.Duration(atoiDefault(f[3], 5000)) * time.Millisecond
	inter := timeout
	if len(f) > 9 {
		inter = time.Duration(atoiDefault(f[9], 5000)) * time.Millisecond
	}
	term, file, varName := f[4], f[5], f[7]
	_, first := s.playback(ch, r, file, ch.digits)
	var got []byte
	t := time.NewTimer(s.scaled(timeout))
	defer t.Stop()
collect:
	for len(got) < maxD {
		var d byte
		if first >= 0 { // the key that stopped the prompt comes first
			d, first = byte(first), -1
		} else {
			select {
			case d = <-ch.digits:
			case <-t.C:
				break collect
			case <-r.stop:
				break collect
			case <-s.closed:
				break collect
			}
		}
		if strings.IndexByte(term, d) >= 0 {
			break collect
		}
		got = append(got, d)
		t.Reset(s.scaled(inter))
	}
	s.mu.Lock()
	ch.setVar(varName, string(got))
	s.mu.Unlock()
}

// record runs "record PATH [MAX_SECONDS [SILENCE_THRESH SILENCE_HITS]]":
// RECORD_START, then until the time limit, a key in
// playback_terminators, uuid_break or hang-up; record_ms and
// record_seconds (simulated time) are set before RECORD_STOP, which
// carries Record-Completion-Cause success-maxtime at the limit. There is no
// audio here, so the silence arguments never end a recording.
func (s *Server) record(ch *channel, r *running, arg string) {
	f := strings.Fields(arg)
	if len(f) == 0 {
		return
	}
	maxSec := atoiDefault(lastOr(f, 1), 0)
	h := esl.Header{Name: "Record-File-Path", Value: f[0]}
	s.mu.Lock()
	s.emit(ch, "RECORD_START", h)
	s.mu.Unlock()
	start := time.Now()
	var tc <-chan time.Time
	if maxSec > 0 {
		t := time.NewTimer(s.scaled(time.Duration(maxSec) * time.Second))
		defer t.Stop()
		tc = t.C
	}
	maxed := false
	select {
	case <-tc:
		maxed = true
	case <-r.stop:
	case <-s.closed:
	}
	ms := int64(float64(time.Since(start)) / s.opts.TimeScale / float64(time.Millisecond))
	if maxSec > 0 {
		ms = min(ms, int64(maxSec)*1000)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ch.setVar("record_ms", strconv.FormatInt(ms, 10))
	ch.setVar("record_seconds", strconv.FormatInt(ms/1000, 10))
	if !maxed {
		s.emit(ch, "RECORD_STOP", h)
		return
	}
	// The captures show this cause for a recording that reached its limit;
	// what FreeSWITCH reports for a key or a break is not captured.
	ch.setVar("record_completion_cause", "success-maxtime")
	s.emit(ch, "RECORD_STOP", h, esl.Header{Name: "Record-Completion-Cause", Value: "success-maxtime"})
}

func lastOr(f []string, i int) string {
	if i < len(f) {
		return f[i]
	}
	return ""
}
