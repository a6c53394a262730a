package esltest

import (
	"strconv"
	"strings"
	"time"

	"github.com/callflow/callflow/esl"
)

// apiResult is the outcome of an api command. The reply (api/response,
// or the BACKGROUND_JOB of a bgapi) is queued first, then then runs with
// s.mu still held, then later without it: the reply precedes the events
// the command causes, as in every capture.
type apiResult struct {
	body  string
	then  func()           // events the command causes (s.mu held)
	later func()           // work that waits for applications (no s.mu)
	wait  func() apiResult // the blocking part of an originate (no s.mu)
}

// finish completes an api command s.api started: the blocking part, then
// reply (called with s.mu held) queues the reply, in order before the
// events the command causes. Called without s.mu.
func (s *Server) finish(r apiResult, reply func(body string)) {
	if r.wait != nil {
		r = r.wait()
	}
	s.mu.Lock()
	reply(r.body)
	if r.then != nil {
		r.then()
	}
	s.mu.Unlock()
	if r.later != nil {
		r.later()
	}
}

// api runs an api command (s.mu held); see apiResult.
func (s *Server) api(cmd, args string) apiResult {
	f := strings.Fields(args)
	get := func() *channel {
		if len(f) == 0 {
			return nil
		}
		ch := s.channels[f[0]]
		if ch == nil || ch.hungup {
			return nil
		}
		return ch
	}
	noChannel := apiResult{body: errNoChannel.Error()}
	ok := func(then func()) apiResult { return apiResult{body: "+OK\n", then: then} }
	switch cmd {
	case "status":
		return apiResult{body: "UP 0 years, 0 days\nFreeSWITCH (Version 1.10.12-release esltest) is ready\n"}
	case "version":
		return apiResult{body: "FreeSWITCH Version 1.10.12-release~64bit (esltest)\n"}
	case "originate":
		return s.originate(args)
	case "uuid_exists":
		return apiResult{body: strconv.FormatBool(get() != nil)}
	case "uuid_dump":
		// The default format, txt: the channel's data as a plain event
		// body, values URL-encoded, then a blank line
		// (switch_event_serialize); "plain" leaves values unencoded.
		ch := get()
		if ch == nil {
			return noChannel
		}
		format := lastOr(f, 1)
		if format == "" {
			format = "txt"
		}
		if format != "txt" && format != "plain" {
			return apiResult{body: "-ERR esltest: uuid_dump format " + format + " not modelled\n"}
		}
		h := append(esl.Headers{{Name: "Event-Name", Value: "CHANNEL_DATA"}, {Name: "Core-UUID", Value: s.core}}, s.channelHeaders(ch)...)
		var b strings.Builder
		for _, x := range h {
			v := x.Value
			if format == "txt" {
				v = URLEncode(v)
			}
			b.WriteString(x.Name + ": " + v + "\n")
		}
		b.WriteByte('\n')
		return apiResult{body: b.String()}
	case "uuid_getvar":
		ch := get()
		if ch == nil || len(f) < 2 {
			return noChannel
		}
		if v := ch.getVar(f[1]); v != "" {
			return apiResult{body: v}
		}
		return apiResult{body: "_undef_"}
	case "uuid_setvar":
		ch := get()
		if ch == nil || len(f) < 2 {
			return noChannel
		}
		ch.setVar(f[1], strings.Join(f[2:], " "))
		return ok(nil)
	case "uuid_answer":
		ch := get()
		if ch == nil {
			return noChannel
		}
		return ok(func() { s.answer(ch) })
	case "uuid_kill":
		if len(f) == 0 {
			return apiResult{body: "-USAGE: <uuid> [cause]\n"}
		}
		ch := get()
		if ch == nil {
			return noChannel
		}
		return ok(func() { s.hangup(ch, lastOr(f, 1)) })
	case "uuid_break":
		if len(f) == 0 {
			return apiResult{body: "-USAGE: <uuid> [all]\n"}
		}
		ch := get()
		if ch == nil {
			return noChannel
		}
		return ok(func() { s.uuidBreak(ch, lastOr(f, 1) == "all") })
	case "uuid_park":
		if len(f) == 0 {
			return apiResult{body: "-USAGE: <uuid>\n"}
		}
		ch := get()
		if ch == nil {
			return noChannel
		}
		return apiResult{body: "+OK\n", later: func() { s.uuidPark(ch) }}
	case "uuid_broadcast":
		ch := get()
		if ch == nil || len(f) < 2 {
			return noChannel
		}
		return apiResult{body: "+OK Message sent\n", then: func() {
			s.queueApp(ch, appCall{app: "playback", arg: f[1], broadcast: true})
		}}
	case "uuid_send_dtmf":
		ch := get()
		if ch == nil || len(f) < 2 {
			return noChannel
		}
		digits, dur := f[1], 2000
		if d, ms, ok := strings.Cut(digits, "@"); ok {
			digits, dur = d, atoiDefault(ms, 250)*8
		}
		return apiResult{body: "+OK " + ch.uuid + " sent DTMF " + f[1] + ".\n", then: func() {
			target := ch // DTMF is sent out of ch: it fires on the peer
			if p := s.channels[ch.peer]; p != nil {
				target = p
			}
			s.dtmf(target, digits, dur)
		}}
	case "uuid_record":
		ch := get()
		if ch == nil || len(f) < 3 {
			return noChannel
		}
		return apiResult{body: "+OK Success\n", then: func() {
			h := esl.Header{Name: "Record-File-Path", Value: f[2]}
			if f[1] == "start" {
				s.emit(ch, "RECORD_START", h)
			} else { // as captured
				s.emit(ch, "RECORD_STOP", h, esl.Header{Name: "Record-Completion-Cause", Value: "success-maxtime"})
			}
		}}
	case "uuid_bridge":
		a, b := get(), (*channel)(nil)
		if len(f) > 1 {
			if x := s.channels[f[1]]; x != nil && !x.hungup {
				b = x
			}
		}
		if a == nil || b == nil || a == b {
			return apiResult{body: "-ERR Invalid uuid\n"}
		}
		return apiResult{body: "+OK " + b.uuid + "\n", later: func() { s.bridge(a, b) }}
	default:
		return apiResult{body: "-ERR " + cmd + " Command not found!\n"}
	}
}

// originate parses "{vars}ENDPOINT &app(arg)" (or "ENDPOINT EXTEN …")
// (s.mu held). Its wait rings the endpoint as scripted; the reply (or
// BACKGROUND_JOB) then comes as captured: after CHANNEL_ANSWER and before
// the application's CHANNEL_EXECUTE for an answer; after
// CHANNEL_HANGUP_COMPLETE and before CHANNEL_DESTROY for a failure.
func (s *Server) originate(args string) apiResult {
	vars, rest, err := parseVarBlock(args)
	if err != nil {
		return apiResult{body: "-ERR " + err.Error() + "\n"}
	}
	endpoint, target, _ := strings.Cut(rest, " ")
	fate, ok := s.endpoints[endpoint]
	if !ok {
		return apiResult{body: "-ERR CHAN_NOT_IMPLEMENTED\n"}
	}
	app, appArg := "park", ""
	if t, ok := strings.CutPrefix(target, "&"); ok {
		name, arg, _ := strings.Cut(t, "(")
		app, appArg = name, strings.TrimSuffix(arg, ")")
	}
	ch := s.newChannel(vars.Get("origination_uuid"), endpoint, target, "outbound", vars)
	s.emit(ch, "CHANNEL_CREATE")
	timeout := time.Duration(atoiDefault(vars.Get("originate_timeout"), 60)) * time.Second
	return apiResult{wait: func() apiResult {
		delay := fate.After
		if fate.Outcome == NoAnswer || fate.Outcome == Ring {
			delay = s.ringTime(timeout)
		}
		t := time.NewTimer(s.scaled(delay))
		defer t.Stop()
		answered := false
		select {
		case <-t.C:
		case <-ch.answerCh:
			answered = true
		case <-ch.ctx.Done():
		case <-s.closed:
			return apiResult{body: "-ERR ORIGINATOR_CANCEL\n"}
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if ch.hungup {
			return apiResult{body: "-ERR " + ch.cause + "\n"}
		}
		cause := ""
		switch {
		case answered || fate.Outcome == Answer:
		case fate.Outcome == Busy:
			cause = "USER_BUSY"
		case fate.Outcome == Fail:
			cause = fate.Cause
			if cause == "" {
				cause = "NORMAL_TEMPORARY_FAILURE"
			}
		default:
			cause = "NO_ANSWER"
		}
		if cause != "" {
			s.hangupKeep(ch, cause)
			s.finalize(ch, false)
			return apiResult{body: "-ERR " + cause + "\n", then: func() { s.emit(ch, "CHANNEL_DESTROY") }}
		}
		s.answer(ch)
		return apiResult{body: "+OK " + ch.uuid + "\n", then: func() { s.queueApp(ch, appCall{app: app, arg: appArg}) }}
	}}
}
