package esltest

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/callflow/callflow/esl"
)

// Outcome is what an endpoint does when originated.
type Outcome int

const (
	Answer   Outcome = iota // answers after Fate.After
	Busy                    // -ERR USER_BUSY
	NoAnswer                // rings until originate_timeout (default 60 s), -ERR NO_ANSWER
	Ring                    // rings until uuid_answer, or NO_ANSWER at originate_timeout
	Fail                    // -ERR Fate.Cause (default NORMAL_TEMPORARY_FAILURE)
)

// Fate scripts an endpoint.
type Fate struct {
	Outcome Outcome
	After   time.Duration // simulated delay before answer/busy/fail
	Cause   string
}

// Script sets the fate of an endpoint string as it appears in originate
// ("loopback/9665/default", "sofia/gateway/gw/+420…"). An endpoint not
// scripted gives -ERR CHAN_NOT_IMPLEMENTED, as for an unknown technology.
func (s *Server) Script(endpoint string, f Fate) {
	s.mu.Lock()
	s.endpoints[endpoint] = f
	s.mu.Unlock()
}

// channel is one simulated channel.
type channel struct {
	uuid, name, dest, direction string
	vars                        esl.Headers
	answered, hungup, parked    bool
	peer                        string // bridged peer
	cause                       string
	created                     time.Time
	ctx                         context.Context
	cancel                      context.CancelFunc
	answerCh                    chan struct{}
	digits                      chan byte    // DTMF received, for play_and_get_digits
	apps                        chan appCall // sendmsg executes, run in order
}

type appCall struct {
	app, arg, eventUUID string
}

func (ch *channel) getVar(k string) string { return ch.vars.Get(k) }

func (ch *channel) setVar(k, v string) {
	for i := range ch.vars {
		if ch.vars[i].Name == k {
			ch.vars[i].Value = v
			return
		}
	}
	ch.vars = append(ch.vars, esl.Header{Name: k, Value: v})
}

// ChannelInfo is a snapshot of a simulated channel.
type ChannelInfo struct {
	UUID, Name, Destination string
	Answered, HungUp        bool
	Peer, Cause             string
	Vars                    map[string]string
}

// Channel returns a snapshot of a channel (also after hang-up).
func (s *Server) Channel(uuid string) (ChannelInfo, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := s.channels[uuid]
	if ch == nil {
		return ChannelInfo{}, false
	}
	vars := map[string]string{}
	for _, v := range ch.vars {
		vars[v.Name] = v.Value
	}
	return ChannelInfo{UUID: ch.uuid, Name: ch.name, Destination: ch.dest, Answered: ch.answered,
		HungUp: ch.hungup, Peer: ch.peer, Cause: ch.cause, Vars: vars}, true
}

// newChannel creates and registers a channel and its app goroutine (s.mu
// held). The goroutine ends when the channel hangs up or the server closes.
func (s *Server) newChannel(uuid, name, dest, direction string, vars esl.Headers) *channel {
	if uuid == "" {
		uuid = esl.NewUUID()
	}
	ctx, cancel := context.WithCancel(context.Background())
	ch := &channel{uuid: uuid, name: name, dest: dest, direction: direction, vars: vars,
		created: time.Now(), ctx: ctx, cancel: cancel, answerCh: make(chan struct{}),
		digits: make(chan byte, 64), apps: make(chan appCall, 64)}
	s.channels[uuid] = ch
	s.wg.Add(1)
	go s.runApps(ch)
	return ch
}

// event is one event before rendering.
type event struct {
	name, uuid string
	headers    esl.Headers
	body       []byte
}

// emit builds an event for ch (nil for non-channel events) and delivers
// it to every connection that wants it (s.mu held).
func (s *Server) emit(ch *channel, name string, extra ...esl.Header) {
	s.emitBody(ch, name, nil, extra...)
}

func (s *Server) emitBody(ch *channel, name string, body []byte, extra ...esl.Header) {
	now := time.Now()
	h := esl.Headers{
		{Name: "Event-Name", Value: name},
		{Name: "Core-UUID", Value: s.core},
		{Name: "FreeSWITCH-Hostname", Value: "esltest"},
		{Name: "FreeSWITCH-Switchname", Value: "esltest"},
		{Name: "FreeSWITCH-IPv4", Value: "127.0.0.1"},
		{Name: "FreeSWITCH-IPv6", Value: "::1"},
		{Name: "Event-Date-Local", Value: now.Format("2006-01-02 15:04:05")},
		{Name: "Event-Date-GMT", Value: now.UTC().Format("Mon, 02 Jan 2006 15:04:05 GMT")},
		{Name: "Event-Date-Timestamp", Value: strconv.FormatInt(now.UnixMicro(), 10)},
		{Name: "Event-Calling-File", Value: "esltest.go"},
		{Name: "Event-Calling-Function", Value: "esltest"},
		{Name: "Event-Calling-Line-Number", Value: "1"},
		{Name: "Event-Sequence", Value: strconv.FormatInt(s.seq.Add(1), 10)},
	}
	e := &event{name: name}
	if ch != nil {
		e.uuid = ch.uuid
		h = append(h, s.channelHeaders(ch)...)
	}
	// Event-specific headers go after the channel block, before the
	// variables, as in the captures.
	if ch != nil {
		nv := 0
		for i := len(h) - 1; i >= 0 && strings.HasPrefix(h[i].Name, "variable_"); i-- {
			nv++
		}
		vars := append(esl.Headers(nil), h[len(h)-nv:]...)
		h = append(append(h[:len(h)-nv], extra...), vars...)
		if name == "CHANNEL_HANGUP_COMPLETE" {
			h = append(h, esl.Header{Name: "Hangup-Cause", Value: ch.cause})
		}
	} else {
		h = append(h, extra...)
	}
	e.headers = h
	e.body = body
	for c := range s.conns {
		if c.wants(e) {
			c.send(renderEvent(c.format, e.headers, e.body))
		}
	}
}

func (s *Server) channelHeaders(ch *channel) esl.Headers {
	state, call, num, answer := "CS_EXECUTE", "RINGING", "4", "ringing"
	if ch.answered {
		call, answer = "ACTIVE", "answered"
	}
	if ch.hungup {
		state, call, num, answer = "CS_HANGUP", "HANGUP", "10", "hangup"
	}
	cid, cname := ch.getVar("origination_caller_id_number"), ch.getVar("origination_caller_id_name")
	if cid == "" {
		cid = "0000000000"
	}
	h := esl.Headers{
		{Name: "Channel-State", Value: state},
		{Name: "Channel-Call-State", Value: call},
		{Name: "Channel-State-Number", Value: num},
		{Name: "Channel-Name", Value: ch.name},
		{Name: "Unique-ID", Value: ch.uuid},
		{Name: "Call-Direction", Value: ch.direction},
		{Name: "Presence-Call-Direction", Value: ch.direction},
		{Name: "Channel-HIT-Dialplan", Value: "true"},
		{Name: "Channel-Call-UUID", Value: ch.uuid},
		{Name: "Answer-State", Value: answer},
		{Name: "Caller-Direction", Value: ch.direction},
		{Name: "Caller-Caller-ID-Name", Value: cname},
		{Name: "Caller-Caller-ID-Number", Value: cid},
		{Name: "Caller-Orig-Caller-ID-Name", Value: cname},
		{Name: "Caller-Orig-Caller-ID-Number", Value: cid},
		{Name: "Caller-ANI", Value: cid},
		{Name: "Caller-Destination-Number", Value: ch.dest},
		{Name: "Caller-Unique-ID", Value: ch.uuid},
		{Name: "Caller-Context", Value: "default"},
		{Name: "Caller-Channel-Name", Value: ch.name},
		{Name: "Caller-Channel-Created-Time", Value: strconv.FormatInt(ch.created.UnixMicro(), 10)},
	}
	if ch.peer != "" {
		h = append(h, esl.Header{Name: "Other-Leg-Unique-ID", Value: ch.peer})
	}
	h = append(h, esl.Header{Name: "variable_uuid", Value: ch.uuid},
		esl.Header{Name: "variable_channel_name", Value: ch.name},
		esl.Header{Name: "variable_direction", Value: ch.direction})
	for _, v := range ch.vars {
		h = append(h, esl.Header{Name: "variable_" + v.Name, Value: v.Value})
	}
	return h
}

func (s *Server) publishJob(job, cmd, args, body string) {
	h := []esl.Header{{Name: "Job-UUID", Value: job}, {Name: "Job-Command", Value: cmd}}
	if args != "" {
		h = append(h, esl.Header{Name: "Job-Command-Arg", Value: args})
	}
	s.emitBody(nil, "BACKGROUND_JOB", []byte(body), h...)
}

// answer answers ch (s.mu held).
func (s *Server) answer(ch *channel) {
	if ch.answered || ch.hungup {
		return
	}
	ch.answered = true
	close(ch.answerCh)
	s.emit(ch, "CHANNEL_ANSWER")
}

// hangup ends ch with a FreeSWITCH cause name (s.mu held).
func (s *Server) hangup(ch *channel, cause string) {
	if ch.hungup {
		return
	}
	if cause == "" {
		cause = "NORMAL_CLEARING"
	}
	ch.hungup, ch.cause = true, cause
	if peer := s.channels[ch.peer]; peer != nil && !peer.hungup {
		s.emit(s.bridgeA(ch, peer), "CHANNEL_UNBRIDGE", s.bridgeHeaders(ch, peer)...)
		ch.peer, peer.peer = "", ""
		defer s.hangup(peer, cause)
	}
	s.emit(ch, "CHANNEL_HANGUP", esl.Header{Name: "Hangup-Cause", Value: cause})
	if ch.parked {
		ch.parked = false
		s.emit(ch, "CHANNEL_UNPARK")
		s.emit(ch, "CHANNEL_EXECUTE_COMPLETE", appHeaders("park", "", "_none_", "")...)
	}
	s.emit(ch, "CHANNEL_HANGUP_COMPLETE", esl.Header{Name: "Hangup-Cause", Value: cause})
	s.emit(ch, "CHANNEL_DESTROY")
	ch.cancel()
	for c := range s.conns {
		if c.outbound == ch {
			s.endOutbound(c)
		}
	}
}

// bridgeA is the A side of a bridge (the one that bridged first).
func (s *Server) bridgeA(a, b *channel) *channel {
	if a.vars.Get("__bridge_a") == "true" {
		return a
	}
	return b
}

func (s *Server) bridgeHeaders(a, b *channel) []esl.Header {
	if s.bridgeA(a, b) != a {
		a, b = b, a
	}
	return []esl.Header{{Name: "Bridge-A-Unique-ID", Value: a.uuid}, {Name: "Bridge-B-Unique-ID", Value: b.uuid}}
}

func appHeaders(app, data, response, uuid string) []esl.Header {
	h := []esl.Header{{Name: "Application", Value: app}, {Name: "Application-Data", Value: data}}
	if response != "" {
		h = append(h, esl.Header{Name: "Application-Response", Value: response})
	}
	if uuid == "" {
		uuid = esl.NewUUID()
	}
	return append(h, esl.Header{Name: "Application-UUID", Value: uuid})
}

// Hangup hangs a channel up from the far end (the caller hangs up).
func (s *Server) Hangup(uuid, cause string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := s.channels[uuid]
	if ch == nil || ch.hungup {
		return false
	}
	s.hangup(ch, cause)
	return true
}

// SendDTMF makes digits arrive on a channel (DTMF events, and input for a
// running play_and_get_digits).
func (s *Server) SendDTMF(uuid, digits string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := s.channels[uuid]
	if ch == nil || ch.hungup {
		return false
	}
	s.dtmf(ch, digits, 2000)
	return true
}

func (s *Server) dtmf(ch *channel, digits string, duration int) {
	for i := 0; i < len(digits); i++ {
		s.emit(ch, "DTMF", esl.Header{Name: "DTMF-Digit", Value: digits[i : i+1]},
			esl.Header{Name: "DTMF-Duration", Value: strconv.Itoa(duration)},
			esl.Header{Name: "DTMF-Source", Value: "UNKNOWN"})
		select {
		case ch.digits <- digits[i]:
		default: // buffer full: FreeSWITCH also drops queued DTMF past its queue
		}
	}
}

// runApps executes the channel's sendmsg/broadcast apps in order.
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

func (s *Server) queueApp(ch *channel, a appCall) {
	select {
	case ch.apps <- a:
	default:
		// 64 queued apps: a test bug; fail the app visibly.
		s.emit(ch, "CHANNEL_EXECUTE_COMPLETE", appHeaders(a.app, a.arg, "-ERR queue full", a.eventUUID)...)
	}
}

func (s *Server) execApp(ch *channel, a appCall) {
	s.mu.Lock()
	if ch.hungup {
		s.mu.Unlock()
		return
	}
	s.emit(ch, "CHANNEL_EXECUTE", appHeaders(a.app, a.arg, "", a.eventUUID)...)
	s.mu.Unlock()
	resp := "_none_"
	switch a.app {
	case "answer":
		s.mu.Lock()
		s.answer(ch)
		s.mu.Unlock()
	case "hangup":
		s.mu.Lock()
		s.hangup(ch, a.arg)
		s.mu.Unlock()
	case "park":
		s.mu.Lock()
		ch.parked = true
		s.emit(ch, "CHANNEL_PARK")
		s.mu.Unlock()
		return // completes at hang-up or bridge
	case "set":
		k, v, _ := strings.Cut(a.arg, "=")
		s.mu.Lock()
		ch.setVar(k, v)
		s.mu.Unlock()
	case "playback":
		resp = s.playback(ch, a.arg)
	case "play_and_get_digits":
		resp = s.pagd(ch, a.arg)
	case "record":
		resp = s.record(ch, a.arg)
	default:
		resp = "-ERR unknown application"
	}
	s.mu.Lock()
	s.emit(ch, "CHANNEL_EXECUTE_COMPLETE", appHeaders(a.app, a.arg, resp, a.eventUUID)...)
	s.mu.Unlock()
}

func (s *Server) playback(ch *channel, file string) string {
	typ, _, _ := strings.Cut(file, ":")
	s.mu.Lock()
	s.emit(ch, "PLAYBACK_START", esl.Header{Name: "Playback-File-Type", Value: typ}, esl.Header{Name: "Playback-File-Path", Value: file})
	s.mu.Unlock()
	ok := s.sleep(ch.ctx, s.opts.PlaybackLength)
	s.mu.Lock()
	defer s.mu.Unlock()
	status := "done"
	if !ok {
		status = "break"
	}
	s.emit(ch, "PLAYBACK_STOP", esl.Header{Name: "Playback-File-Type", Value: typ},
		esl.Header{Name: "Playback-File-Path", Value: file}, esl.Header{Name: "Playback-Status", Value: status})
	if ok {
		return "FILE PLAYED"
	}
	return "PLAYBACK ERROR"
}

// pagd: min max tries timeout terminators file invalid_file var regexp [digit_timeout]
func (s *Server) pagd(ch *channel, arg string) string {
	f := strings.Fields(arg)
	if len(f) < 8 {
		return "-ERR usage"
	}
	maxD := atoiDefault(f[1], 1)
	timeout := time.Duration(atoiDefault(f[3], 5000)) * time.Millisecond
	term, file, varName := f[4], f[5], f[7]
	s.playback(ch, file)
	var got []byte
	t := time.NewTimer(s.scaled(timeout))
	defer t.Stop()
collect:
	for len(got) < maxD {
		select {
		case d := <-ch.digits:
			if strings.IndexByte(term, d) >= 0 {
				break collect
			}
			got = append(got, d)
		case <-t.C:
			break collect
		case <-ch.ctx.Done():
			break collect
		case <-s.closed:
			break collect
		}
	}
	s.mu.Lock()
	ch.setVar(varName, string(got))
	s.mu.Unlock()
	return "FILE PLAYED"
}

// record: path [max_seconds]
func (s *Server) record(ch *channel, arg string) string {
	f := strings.Fields(arg)
	if len(f) == 0 {
		return "-ERR usage"
	}
	maxSec := atoiDefault(lastOr(f, 1), 0)
	s.mu.Lock()
	s.emit(ch, "RECORD_START", esl.Header{Name: "Record-File-Path", Value: f[0]})
	s.mu.Unlock()
	d := time.Duration(maxSec) * time.Second
	if maxSec == 0 {
		d = time.Hour
	}
	ok := s.sleep(ch.ctx, d)
	s.mu.Lock()
	defer s.mu.Unlock()
	cause := "success-maxtime"
	if !ok {
		cause = "success"
	}
	ch.setVar("record_seconds", strconv.Itoa(maxSec))
	s.emit(ch, "RECORD_STOP", esl.Header{Name: "Record-File-Path", Value: f[0]}, esl.Header{Name: "Record-Completion-Cause", Value: cause})
	return "_none_"
}

func lastOr(f []string, i int) string {
	if i < len(f) {
		return f[i]
	}
	return ""
}

// api runs an api command (s.mu held). A command that blocks (originate)
// returns async, to be called without s.mu.
func (s *Server) api(cmd, args string, c *conn) (string, func() string) {
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
	switch cmd {
	case "status":
		return "UP 0 years, 0 days\nFreeSWITCH (Version 1.10.12-release esltest) is ready\n", nil
	case "version":
		return "FreeSWITCH Version 1.10.12-release~64bit (esltest)\n", nil
	case "originate":
		return "", s.originate(args)
	case "uuid_exists":
		return strconv.FormatBool(get() != nil), nil
	case "uuid_getvar":
		ch := get()
		if ch == nil || len(f) < 2 {
			return errNoChannel.Error(), nil
		}
		if v := ch.getVar(f[1]); v != "" {
			return v, nil
		}
		return "_undef_", nil
	case "uuid_setvar":
		ch := get()
		if ch == nil || len(f) < 2 {
			return errNoChannel.Error(), nil
		}
		ch.setVar(f[1], strings.Join(f[2:], " "))
		return "+OK\n", nil
	case "uuid_answer":
		ch := get()
		if ch == nil {
			return errNoChannel.Error(), nil
		}
		s.answer(ch)
		return "+OK\n", nil
	case "uuid_kill":
		if len(f) == 0 {
			return "-USAGE: <uuid> [cause]\n", nil
		}
		ch := get()
		if ch == nil {
			return errNoChannel.Error(), nil
		}
		s.hangup(ch, lastOr(f, 1))
		return "+OK\n", nil
	case "uuid_broadcast":
		ch := get()
		if ch == nil || len(f) < 2 {
			return errNoChannel.Error(), nil
		}
		s.queueApp(ch, appCall{app: "playback", arg: f[1]})
		return "+OK Message sent\n", nil
	case "uuid_send_dtmf":
		ch := get()
		if ch == nil || len(f) < 2 {
			return errNoChannel.Error(), nil
		}
		digits, dur := f[1], 2000
		if d, ms, ok := strings.Cut(digits, "@"); ok {
			digits, dur = d, atoiDefault(ms, 250)*8
		}
		target := ch // DTMF is sent out of ch: it fires on the peer
		if p := s.channels[ch.peer]; p != nil {
			target = p
		}
		s.dtmf(target, digits, dur)
		return "+OK " + ch.uuid + " sent DTMF " + f[1] + ".\n", nil
	case "uuid_record":
		ch := get()
		if ch == nil || len(f) < 3 {
			return errNoChannel.Error(), nil
		}
		if f[1] == "start" {
			s.emit(ch, "RECORD_START", esl.Header{Name: "Record-File-Path", Value: f[2]})
		} else {
			s.emit(ch, "RECORD_STOP", esl.Header{Name: "Record-File-Path", Value: f[2]},
				esl.Header{Name: "Record-Completion-Cause", Value: "success"})
		}
		return "+OK Success\n", nil
	case "uuid_bridge":
		a, b := get(), (*channel)(nil)
		if len(f) > 1 {
			if x := s.channels[f[1]]; x != nil && !x.hungup {
				b = x
			}
		}
		if a == nil || b == nil {
			return "-ERR Invalid uuid\n", nil
		}
		for _, x := range []*channel{a, b} {
			if x.parked {
				x.parked = false
				s.emit(x, "CHANNEL_EXECUTE_COMPLETE", appHeaders("park", "", "_none_", "")...)
			}
		}
		a.peer, b.peer = b.uuid, a.uuid
		a.setVar("__bridge_a", "true")
		s.emit(a, "CHANNEL_EXECUTE", appHeaders("uuid_bridge", "", "", "")...)
		s.emit(b, "CHANNEL_EXECUTE", appHeaders("uuid_bridge", "", "", "")...)
		s.emit(a, "CHANNEL_BRIDGE", s.bridgeHeaders(a, b)...)
		return "+OK " + b.uuid + "\n", nil
	default:
		return "-ERR " + cmd + " Command not found!\n", nil
	}
}

// originate parses "{vars}ENDPOINT &app(arg)" (or "ENDPOINT EXTEN …") and
// returns the blocking part (s.mu held).
func (s *Server) originate(args string) func() string {
	vars, rest, err := parseVarBlock(args)
	if err != nil {
		return func() string { return "-ERR " + err.Error() + "\n" }
	}
	endpoint, target, _ := strings.Cut(rest, " ")
	fate, ok := s.endpoints[endpoint]
	if !ok {
		return func() string { return "-ERR CHAN_NOT_IMPLEMENTED\n" }
	}
	app, appArg := "park", ""
	if t, ok := strings.CutPrefix(target, "&"); ok {
		name, arg, _ := strings.Cut(t, "(")
		app, appArg = name, strings.TrimSuffix(arg, ")")
	}
	ch := s.newChannel(vars.Get("origination_uuid"), endpoint, target, "outbound", vars)
	s.emit(ch, "CHANNEL_CREATE")
	timeout := time.Duration(atoiDefault(vars.Get("originate_timeout"), 60)) * time.Second
	return func() string {
		delay := fate.After
		switch fate.Outcome {
		case NoAnswer:
			delay = timeout
		case Ring:
			delay = timeout
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
			return "-ERR ORIGINATOR_CANCEL\n"
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if ch.hungup {
			return "-ERR " + ch.cause + "\n"
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
			s.hangup(ch, cause)
			return "-ERR " + cause + "\n"
		}
		s.answer(ch)
		s.queueApp(ch, appCall{app: app, arg: appArg})
		return "+OK " + ch.uuid + "\n"
	}
}

// parseVarBlock splits "{k=v,k='a b'}rest" (also "{^^;k=v;k2=v}").
func parseVarBlock(s string) (esl.Headers, string, error) {
	if !strings.HasPrefix(s, "{") {
		return nil, s, nil
	}
	end := strings.IndexByte(s, '}')
	if end < 0 {
		return nil, "", fmt.Errorf("INVALID_VAR_BLOCK")
	}
	block, rest := s[1:end], s[end+1:]
	sep := ","
	if strings.HasPrefix(block, "^^") && len(block) >= 3 {
		sep, block = block[2:3], block[3:]
	}
	var vars esl.Headers
	for _, kv := range strings.Split(block, sep) {
		if kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, "", fmt.Errorf("INVALID_VAR_BLOCK")
		}
		if len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'' {
			v = v[1 : len(v)-1]
		}
		vars = append(vars, esl.Header{Name: k, Value: v})
	}
	return vars, rest, nil
}
