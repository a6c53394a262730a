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
	NoAnswer                // rings until originate_timeout (default 60 s; whole seconds, see ringTime), -ERR NO_ANSWER
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

// channel is one simulated channel. Every field is guarded by Server.mu.
type channel struct {
	uuid, name, dest, direction string
	vars                        esl.Headers
	answered, hungup            bool
	// parked: the channel sits in park (the park application, the socket
	// application of an async outbound session, park_after_bridge or
	// uuid_park); parkApp is the application whose EXECUTE_COMPLETE is
	// still due (nil after park_after_bridge / uuid_park).
	parked  bool
	parkApp *appCall
	// socketPark: the socket application has parked the channel.
	socketPark bool
	peer       string // bridged peer
	otherLeg   string // Other-Leg-Unique-ID: the last peer, kept after the bridge
	bridgeA    bool   // this leg is the A side of its bridge
	cause      string
	// response is current_application_response: reset to _none_ when an
	// application starts, set by playback; a park completes with whatever
	// a broadcast played meanwhile left there (as captured).
	response string
	run      *running // the application running now
	// gen is bumped by "uuid_break … all": queued applications of an
	// older generation are flushed.
	gen int
	// final: the hang-up is waiting for the running application's
	// EXECUTE_COMPLETE before CHANNEL_HANGUP_COMPLETE.
	final    bool
	created  time.Time
	ctx      context.Context
	cancel   context.CancelFunc
	answerCh chan struct{}
	digits   chan byte    // DTMF received, for play_and_get_digits
	apps     chan appCall // sendmsg executes and broadcasts, run in order
}

type appCall struct {
	app, arg, eventUUID string
	gen                 int
	broadcast           bool // uuid_broadcast: runs inside park, keeps the response
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
	UUID, Name, Destination  string
	Answered, HungUp, Parked bool
	Peer, Cause              string
	Vars                     map[string]string
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
		HungUp: ch.hungup, Parked: ch.parked, Peer: ch.peer, Cause: ch.cause, Vars: vars}, true
}

// newChannel creates and registers a channel and its app goroutine (s.mu
// held). The goroutine ends when the channel hangs up or the server closes.
func (s *Server) newChannel(uuid, name, dest, direction string, vars esl.Headers) *channel {
	if uuid == "" {
		uuid = esl.NewUUID()
	}
	ctx, cancel := context.WithCancel(context.Background())
	ch := &channel{uuid: uuid, name: name, dest: dest, direction: direction, vars: vars,
		response: "_none_", created: time.Now(), ctx: ctx, cancel: cancel, answerCh: make(chan struct{}),
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
		if name == "CHANNEL_HANGUP_COMPLETE" {
			// Its own Hangup-Cause precedes the channel block, which has
			// one too: the header comes twice, as captured.
			h = append(h, esl.Header{Name: "Hangup-Cause", Value: ch.cause})
		}
		h = append(h, s.channelHeaders(ch)...)
		// Event-specific headers go after the channel block, before the
		// variables, as in the captures.
		nv := 0
		for i := len(h) - 1; i >= 0 && strings.HasPrefix(h[i].Name, "variable_"); i-- {
			nv++
		}
		vars := append(esl.Headers(nil), h[len(h)-nv:]...)
		h = append(append(h[:len(h)-nv], extra...), vars...)
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
	if ch.peer != "" {
		state = "CS_SOFT_EXECUTE"
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
	}
	if ch.hungup {
		h = append(h, esl.Header{Name: "Hangup-Cause", Value: ch.cause})
	}
	h = append(h, esl.Headers{
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
	}...)
	if ch.otherLeg != "" {
		h = append(h, esl.Header{Name: "Other-Leg-Unique-ID", Value: ch.otherLeg})
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

// hangup ends ch with a FreeSWITCH cause name (s.mu held), in the
// captured order: CHANNEL_HANGUP; the bridge ends (CHANNEL_UNBRIDGE, the
// peer parks or hangs up); a running application is interrupted and sends
// its EXECUTE_COMPLETE; then CHANNEL_UNPARK and the park (or socket)
// application's EXECUTE_COMPLETE, CHANNEL_HANGUP_COMPLETE and
// CHANNEL_DESTROY (see finalize).
func (s *Server) hangup(ch *channel, cause string) {
	s.hangupKeep(ch, cause)
	if !ch.final {
		s.finalize(ch, true)
	}
}

// hangupKeep does the hang-up up to CHANNEL_HANGUP_COMPLETE, which is
// left to the caller (ch.final false) or to the running application's
// goroutine (ch.final true).
func (s *Server) hangupKeep(ch *channel, cause string) {
	if ch.hungup {
		return
	}
	if cause == "" {
		cause = "NORMAL_CLEARING"
	}
	ch.hungup, ch.cause = true, cause
	ch.setVar("hangup_cause", cause)
	s.emit(ch, "CHANNEL_HANGUP")
	if peer := s.channels[ch.peer]; peer != nil {
		s.unbridge(ch, peer)
	}
	ch.cancel()
	if ch.run != nil {
		ch.run.interrupt(stopHangup)
	}
	// With an application running, its goroutine finalizes after the
	// application's EXECUTE_COMPLETE.
	ch.final = ch.run != nil
}

// finalize ends a hung-up channel (s.mu held): CHANNEL_UNPARK and the
// park or socket application's EXECUTE_COMPLETE when parked,
// CHANNEL_HANGUP_COMPLETE, CHANNEL_DESTROY (when destroy), and the end of
// its outbound socket.
func (s *Server) finalize(ch *channel, destroy bool) {
	ch.final = false
	if ch.parked {
		ch.parked = false
		s.emit(ch, "CHANNEL_UNPARK")
	}
	if a := ch.parkApp; a != nil {
		ch.parkApp = nil
		s.emit(ch, "CHANNEL_EXECUTE_COMPLETE", appHeaders(a.app, a.arg, ch.response, a.eventUUID)...)
	}
	s.emit(ch, "CHANNEL_HANGUP_COMPLETE")
	if destroy {
		s.emit(ch, "CHANNEL_DESTROY")
	}
	for c := range s.conns {
		if c.outbound == ch {
			s.endOutbound(c)
		}
	}
}

// bridgeA is the A side of a bridge (the one that bridged first).
func (s *Server) bridgeA(a, b *channel) *channel {
	if a.bridgeA {
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
	h := []esl.Header{{Name: "Application", Value: app}}
	if data != "" { // FreeSWITCH leaves it out for an application without data
		h = append(h, esl.Header{Name: "Application-Data", Value: data})
	}
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

// dtmf delivers keys to ch (s.mu held): a DTMF event each, input for a
// running play_and_get_digits, and a key in playback_terminators stops a
// running playback or record (playback_terminator_used is set).
func (s *Server) dtmf(ch *channel, digits string, duration int) {
	for i := 0; i < len(digits); i++ {
		s.emit(ch, "DTMF", esl.Header{Name: "DTMF-Digit", Value: digits[i : i+1]},
			esl.Header{Name: "DTMF-Duration", Value: strconv.Itoa(duration)},
			esl.Header{Name: "DTMF-Source", Value: "UNKNOWN"})
		if r := ch.run; r != nil && (r.app.app == "playback" || r.app.app == "record") &&
			terminates(ch.getVar("playback_terminators"), digits[i]) {
			ch.setVar("playback_terminator_used", digits[i:i+1])
			r.interrupt(stopDTMF)
			continue
		}
		select {
		case ch.digits <- digits[i]:
		default: // buffer full: FreeSWITCH also drops queued DTMF past its queue
		}
	}
}

// terminates reports whether key is in a playback_terminators value:
// unset means "*", "none" none, "any" every key.
func terminates(terms string, key byte) bool {
	switch terms {
	case "":
		return key == '*'
	case "none":
		return false
	case "any":
		return true
	}
	return strings.IndexByte(terms, key) >= 0
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
