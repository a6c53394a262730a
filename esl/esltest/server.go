// Package esltest is a protocol-faithful FreeSWITCH Event Socket server
// for tests, in the spirit of net/http/httptest. It is modelled on the
// FreeSWITCH 1.10.12 transcripts in ../testdata.
//
// Modelled:
//   - inbound ESL: auth/request; "-ERR command not found" before auth;
//     "-ERR invalid" + disconnect-notice + close on a wrong password;
//     api/bgapi replies shaped as captured (bgapi honours a Job-UUID
//     header, BACKGROUND_JOB follows the command/reply); event plain|json|xml
//     subscriptions with named lists and ALL; nixevent, noevents; filters
//     with FreeSWITCH's semantics (a leading '+', '-' or space of the value
//     is a modifier and is consumed, '-' excludes, "/re/" is a regex,
//     comparison is case-insensitive, filters on different headers are
//     OR'ed, events without the header are dropped); exit (+OK bye,
//     disconnect-notice, close).
//   - a channel model: originate "{vars}ENDPOINT &app(arg)" with the var
//     block syntax (',' or "^^X" separators, single quotes) whose fate is
//     scripted per endpoint (answer, busy, no answer, ring until
//     uuid_answer, fail with any cause) giving the captured "-ERR CAUSE"
//     replies, and the captured order (CHANNEL_ANSWER, BACKGROUND_JOB, then
//     the app's CHANNEL_EXECUTE; for a failure CHANNEL_HANGUP_COMPLETE,
//     BACKGROUND_JOB, CHANNEL_DESTROY); uuid_answer, uuid_kill, uuid_break
//     [all], uuid_park, uuid_bridge, uuid_broadcast, uuid_send_dtmf (DTMF
//     fires on the peer leg if bridged, else on the channel itself),
//     uuid_record, uuid_getvar, uuid_exists, uuid_setvar; api replies
//     always precede the events they cause; sendmsg execute of answer,
//     playback, play_and_get_digits, record, hangup, park, set, with
//     event-lock and Event-UUID → Application-UUID, and sendmsg
//     call-command hangup.
//   - media: playback lasts Options.PlaybackLength (or Options.Lengths) for
//     files, the given time for silence_stream://MS and tone_stream://
//     (TGML on/off times, L= and l= loops), forever for local_stream://.
//     A key in playback_terminators (unset "*", "none", "any", or a list)
//     stops playback and record (playback_terminator_used is set);
//     uuid_break stops them too (Playback-Status break, response FILE
//     PLAYED; "all" flushes queued broadcasts); a bridge, uuid_park or
//     hang-up cuts them (Playback-Status done, PLAYBACK ERROR). Application-
//     Response is current_application_response: a park completes with what
//     a broadcast left there, as captured. record sets record_ms and
//     record_seconds (simulated time) before RECORD_STOP.
//   - bridges: uuid_bridge stops running apps, completes the parks, fires
//     the pseudo-app CHANNEL_EXECUTE uuid_bridge on both legs and one
//     CHANNEL_BRIDGE (A side); Other-Leg-Unique-ID stays after it ends.
//     When a leg hangs up or is uuid_park'ed, one CHANNEL_UNBRIDGE fires
//     and the other leg parks (CHANNEL_PARK) if its park_after_bridge is
//     "true", else it hangs up (as captured with the defaults).
//   - hang-up: CHANNEL_HANGUP, the bridge's end, the interrupted app's
//     EXECUTE_COMPLETE, CHANNEL_UNPARK and the park or socket app's
//     EXECUTE_COMPLETE, CHANNEL_HANGUP_COMPLETE (Hangup-Cause twice),
//     CHANNEL_DESTROY; every event after the hang-up carries Hangup-Cause.
//   - events CHANNEL_CREATE, CHANNEL_ANSWER, CHANNEL_EXECUTE,
//     CHANNEL_EXECUTE_COMPLETE, CHANNEL_PARK, CHANNEL_UNPARK,
//     PLAYBACK_START/STOP, DTMF, RECORD_START/STOP, CHANNEL_BRIDGE/UNBRIDGE,
//     CHANNEL_HANGUP, CHANNEL_HANGUP_COMPLETE, CHANNEL_DESTROY,
//     BACKGROUND_JOB, with the captured header sets (core headers,
//     Channel-*, Caller-*, variable_*) and FreeSWITCH's URL-encoding in
//     plain events.
//   - outbound mode: DialOutbound connects to a "socket" server, answers
//     "connect" with the channel data (URL-encoded, Reply-Text %2BOK%0A),
//     then serves myevents (fixed list without PLAYBACK_*/RECORD_*), event,
//     linger [N] (linger and disconnect notices), divert_events, sendmsg
//     without uuid, api, exit. The socket app parks the channel and
//     completes at hang-up; CHANNEL_DESTROY is not delivered there.
//
// Not modelled: loopback B-legs and dialplan execution (an originate
// creates one channel), early media, CHANNEL_STATE/CALLSTATE/UUID and
// other ALL-only events, sofia/SIP, real audio (so record's silence
// arguments never end it), the say application, hangup_after_bridge=true
// with park_after_bridge unset beyond hanging up, log/data, sendevent, xml
// event bodies beyond headers, event ordering differences between runs
// (this server is deterministic).
package esltest

import (
	"bufio"
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/callflow/callflow/esl"
)

// Options configure a Server.
type Options struct {
	Password string // default "ClueCon"
	// TimeScale multiplies simulated media time (playback length, record
	// seconds, digit timeouts, linger). Default 0.01: 1 s → 10 ms.
	TimeScale float64
	// PlaybackLength is the simulated length of a played file before
	// scaling (default 1 s). silence_stream://MS and tone_stream:// play
	// their own length; local_stream:// plays until stopped.
	PlaybackLength time.Duration
	// Lengths overrides the length of particular files (by the exact
	// argument played, e.g. "ivr/welcome.wav").
	Lengths map[string]time.Duration
}

// Server is a running ESL test server on 127.0.0.1.
type Server struct {
	opts  Options
	ln    net.Listener
	core  string
	seq   atomic.Int64
	start time.Time // simulated time 0 (see ringTime)

	mu        sync.Mutex // guards everything below and orders event delivery
	conns     map[*conn]struct{}
	channels  map[string]*channel
	endpoints map[string]Fate
	received  []Command
	stall     int
	sessions  atomic.Int64

	wg     sync.WaitGroup
	closed chan struct{}
}

// NewServer starts a server on 127.0.0.1:0.
func NewServer(opts Options) (*Server, error) {
	if opts.Password == "" {
		opts.Password = "ClueCon"
	}
	if opts.TimeScale <= 0 {
		opts.TimeScale = 0.01
	}
	if opts.PlaybackLength <= 0 {
		opts.PlaybackLength = time.Second
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{opts: opts, ln: ln, core: esl.NewUUID(), start: time.Now(), conns: map[*conn]struct{}{},
		channels: map[string]*channel{}, endpoints: map[string]Fate{}, closed: make(chan struct{})}
	s.wg.Add(1)
	go s.accept() // ends when Close closes the listener
	return s, nil
}

// Addr is "127.0.0.1:port".
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the server, closes every connection and ends every channel
// goroutine.
func (s *Server) Close() {
	select {
	case <-s.closed:
		return
	default:
	}
	close(s.closed)
	_ = s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		_ = c.nc.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			return
		}
		c := s.newConn(nc, nil)
		s.wg.Add(1)
		go func() { // ends when the socket closes
			defer s.wg.Done()
			c.send([]byte("Content-Type: auth/request\n\n"))
			c.serve()
		}()
	}
}

// Received returns every command received so far, on all connections.
func (s *Server) Received() []Command {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Command(nil), s.received...)
}

// ReceivedLines returns the command lines received so far.
func (s *Server) ReceivedLines() []string {
	var out []string
	for _, c := range s.Received() {
		out = append(out, c.Line)
	}
	return out
}

// StallNext makes the server read the next n commands without ever
// replying to them (to test command timeouts).
func (s *Server) StallNext(n int) {
	s.mu.Lock()
	s.stall = n
	s.mu.Unlock()
}

// DropConnections closes every client connection abruptly (no notice).
func (s *Server) DropConnections() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		_ = c.nc.Close()
	}
}

// Connections is the number of open connections.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// conn is one client connection. Frames to it go through an unbounded
// queue drained by its writer goroutine, so the model never blocks on a
// slow client and replies keep their order relative to events.
type conn struct {
	s        *Server
	nc       net.Conn
	br       *bufio.Reader
	outbound *channel // set on outbound-socket connections

	authed  bool
	format  string
	all     bool
	names   map[string]bool
	filters []filter
	linger  int // 0 none, -1 forever, N seconds
	divert  bool

	qmu    sync.Mutex
	queue  [][]byte
	wake   chan struct{}
	ending bool // close after the queue is flushed
	done   chan struct{}
}

func (s *Server) newConn(nc net.Conn, outbound *channel) *conn {
	c := &conn{s: s, nc: nc, br: bufio.NewReader(nc), outbound: outbound, names: map[string]bool{},
		wake: make(chan struct{}, 1), done: make(chan struct{})}
	s.mu.Lock()
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	s.wg.Add(1)
	go c.writer() // ends after the socket is closed
	return c
}

func (c *conn) send(b []byte) {
	c.qmu.Lock()
	if !c.ending {
		c.queue = append(c.queue, b)
	}
	c.qmu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// end flushes the queue, then closes the socket.
func (c *conn) end() {
	c.qmu.Lock()
	c.ending = true
	c.qmu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *conn) writer() {
	defer c.s.wg.Done()
	for {
		c.qmu.Lock()
		q, ending := c.queue, c.ending
		c.queue = nil
		c.qmu.Unlock()
		for _, b := range q {
			if _, err := c.nc.Write(b); err != nil {
				_ = c.nc.Close()
				return
			}
		}
		if ending && len(q) == 0 {
			_ = c.nc.Close()
			return
		}
		if len(q) > 0 {
			continue
		}
		select {
		case <-c.wake:
		case <-c.done:
			return
		}
	}
}

func (c *conn) serve() {
	defer func() {
		c.s.mu.Lock()
		delete(c.s.conns, c)
		c.s.mu.Unlock()
		_ = c.nc.Close()
		close(c.done)
	}()
	for {
		cmd, err := readCommand(c.br)
		if err != nil {
			return
		}
		c.s.mu.Lock()
		c.s.received = append(c.s.received, cmd)
		stalled := c.s.stall > 0
		if stalled {
			c.s.stall--
		}
		c.s.mu.Unlock()
		if stalled {
			continue
		}
		if !c.handle(cmd) {
			// Keep reading until the peer closes, like FreeSWITCH after exit.
			_, _ = c.br.Discard(1 << 30)
			return
		}
	}
}

var errNoChannel = errors.New("-ERR No such channel!\n")

// handle runs one command; false when the connection is ending.
func (c *conn) handle(cmd Command) bool {
	name, rest, _ := strings.Cut(cmd.Line, " ")
	if !c.authed && c.outbound == nil {
		if name != "auth" {
			c.send(replyFrame("-ERR command not found"))
			return true
		}
		if rest != c.s.opts.Password {
			c.send(replyFrame("-ERR invalid"))
			c.send(disconnectFrame())
			c.end()
			return false
		}
		c.authed = true
		c.send(replyFrame("+OK accepted"))
		return true
	}
	switch name {
	case "connect":
		if c.outbound == nil {
			c.send(replyFrame("-ERR command not found"))
			break
		}
		c.s.mu.Lock()
		c.send(c.s.connectReply(c.outbound))
		c.s.mu.Unlock()
	case "api":
		cmdName, args, _ := strings.Cut(rest, " ")
		c.s.mu.Lock()
		r := c.s.api(cmdName, args)
		c.s.mu.Unlock()
		c.s.finish(r, func(body string) { c.send(apiFrame(body)) })
	case "bgapi":
		c.bgapi(cmd, rest)
	case "event":
		c.subscribe(rest)
	case "myevents":
		c.s.mu.Lock()
		// As FreeSWITCH does: myevents turns on its fixed list of types
		// (nixevent can turn them off again) for this session's channel.
		for n := range myeventsList {
			c.names[n] = true
		}
		c.format = esl.FormatPlain
		if f := lastWord(rest); f == esl.FormatJSON || f == esl.FormatXML {
			c.format = f
		}
		c.s.mu.Unlock()
		c.send(replyFrame("+OK Events Enabled"))
	case "nixevent":
		c.s.mu.Lock()
		for _, n := range strings.Fields(rest) {
			delete(c.names, n)
			if n == "ALL" {
				c.all = false
			}
		}
		c.s.mu.Unlock()
		c.send(replyFrame("+OK events nixed"))
	case "noevents":
		c.s.mu.Lock()
		c.names, c.all = map[string]bool{}, false
		c.s.mu.Unlock()
		c.send(replyFrame("+OK no longer listening for events"))
	case "filter":
		c.filter(rest)
	case "sendmsg":
		c.sendmsg(cmd, rest)
	case "linger":
		c.s.mu.Lock()
		c.linger = -1
		text := "+OK will linger"
		if n := atoiDefault(rest, 0); n > 0 {
			c.linger = n
			text = "+OK will linger " + rest + " seconds"
		}
		c.s.mu.Unlock()
		c.send(replyFrame(text))
	case "divert_events":
		c.s.mu.Lock()
		c.divert = rest == "on"
		c.s.mu.Unlock()
		if rest == "on" {
			c.send(replyFrame("+OK events diverted"))
		} else {
			c.send(replyFrame("+OK events not diverted"))
		}
	case "log":
		c.send(replyFrame("+OK log level " + rest + " [6]"))
	case "nolog":
		c.send(replyFrame("+OK no longer logging"))
	case "exit":
		c.send(replyFrame("+OK bye"))
		c.s.mu.Lock()
		c.send(c.disconnectNotice())
		c.s.mu.Unlock()
		c.end()
		return false
	default:
		c.send(replyFrame("-ERR command not found"))
	}
	return true
}

func (c *conn) disconnectNotice() []byte {
	if c.outbound == nil {
		return disconnectFrame()
	}
	return disconnectFrame(esl.Header{Name: "Controlled-Session-UUID", Value: c.outbound.uuid},
		esl.Header{Name: "Content-Disposition", Value: "disconnect"})
}

func (c *conn) bgapi(cmd Command, rest string) {
	job := cmd.Headers.Get("Job-UUID")
	if job == "" {
		job = esl.NewUUID()
	}
	c.send(replyFrame("+OK Job-UUID: "+job, esl.Header{Name: "Job-UUID", Value: job}))
	cmdName, args, _ := strings.Cut(rest, " ")
	c.s.mu.Lock()
	r := c.s.api(cmdName, args)
	c.s.mu.Unlock()
	publish := func(body string) { c.s.publishJob(job, cmdName, args, body) }
	if r.wait == nil && r.later == nil {
		c.s.finish(r, publish)
		return
	}
	c.s.wg.Add(1)
	go func() { // ends when the api (an originate) has its outcome
		defer c.s.wg.Done()
		c.s.finish(r, publish)
	}()
}

func (c *conn) subscribe(rest string) {
	f := strings.Fields(rest)
	if len(f) == 0 || f[0] != esl.FormatPlain && f[0] != esl.FormatJSON && f[0] != esl.FormatXML {
		c.send(replyFrame("-ERR invalid format"))
		return
	}
	c.s.mu.Lock()
	c.format = f[0]
	for _, n := range f[1:] {
		if n == "ALL" {
			c.all = true
		}
		c.names[n] = true
	}
	c.s.mu.Unlock()
	c.send(replyFrame("+OK event listener enabled " + f[0]))
}

func (c *conn) filter(rest string) {
	if del, ok := strings.CutPrefix(rest, "delete "); ok {
		h, v, _ := strings.Cut(del, " ")
		c.s.mu.Lock()
		kept := c.filters[:0]
		for _, f := range c.filters {
			if !(strings.EqualFold(f.header, h) && (v == "" || f.raw == v)) {
				kept = append(kept, f)
			}
		}
		c.filters = kept
		c.s.mu.Unlock()
		c.send(replyFrame("+OK filter deleted. [" + h + "][" + v + "]"))
		return
	}
	h, v, ok := strings.Cut(rest, " ")
	if !ok || h == "" {
		c.send(replyFrame("-ERR invalid syntax"))
		return
	}
	f, err := newFilter(h, v)
	if err != nil {
		c.send(replyFrame("-ERR invalid filter: " + err.Error()))
		return
	}
	c.s.mu.Lock()
	c.filters = append(c.filters, f)
	c.s.mu.Unlock()
	c.send(replyFrame("+OK filter added. [" + h + "]=[" + v + "]"))
}

// wants reports whether the connection receives e (s.mu held).
func (c *conn) wants(e *event) bool {
	if c.outbound != nil {
		if e.uuid != c.outbound.uuid {
			return false
		}
		if e.name == "CHANNEL_DESTROY" {
			return false // the session is held until the socket ends
		}
		return c.names[e.name] || c.all
	}
	if !c.all && !c.names[e.name] {
		return false
	}
	return passFilters(c.filters, e.headers)
}

// myeventsList is the fixed list myevents subscribes (no PLAYBACK_*/RECORD_*).
var myeventsList = map[string]bool{
	"CHANNEL_CREATE": true, "CHANNEL_ANSWER": true, "CHANNEL_EXECUTE": true, "CHANNEL_EXECUTE_COMPLETE": true,
	"CHANNEL_PARK": true, "CHANNEL_UNPARK": true, "CHANNEL_BRIDGE": true, "CHANNEL_UNBRIDGE": true,
	"CHANNEL_HANGUP": true, "CHANNEL_HANGUP_COMPLETE": true, "CHANNEL_STATE": true, "CHANNEL_PROGRESS": true,
	"CHANNEL_PROGRESS_MEDIA": true, "CHANNEL_OUTGOING": true, "CHANNEL_ORIGINATE": true, "DTMF": true,
	"DETECTED_SPEECH": true, "TALK": true, "NOTALK": true, "CALL_UPDATE": true,
}

func lastWord(s string) string {
	f := strings.Fields(s)
	if len(f) == 0 {
		return ""
	}
	return f[len(f)-1]
}

func atoiDefault(s string, def int) int {
	n := 0
	if s == "" {
		return def
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return def
		}
		n = n*10 + int(r-'0')
	}
	return n
}

// ringTime is how long an unanswered originate rings before
// originate_timeout ends it (simulated time). FreeSWITCH compares whole
// epoch seconds (elapsed >= originate_timeout, both truncated), so the ring
// ends at the first second boundary at least timeout seconds on: anywhere
// in (timeout-1 s, timeout]. The simulated epoch is the wall clock at the
// server's start plus the scaled time since (at TimeScale 1, the wall
// clock itself, as FreeSWITCH's).
func (s *Server) ringTime(timeout time.Duration) time.Duration {
	sim := time.Duration(s.start.UnixNano()) + time.Duration(float64(time.Since(s.start))/s.opts.TimeScale)
	return ringTimeAt(sim, timeout)
}

// ringTimeAt is the ring time of an originate started at epoch time now.
func ringTimeAt(now, timeout time.Duration) time.Duration {
	return timeout - now%time.Second
}

// scaled converts simulated time to real time.
func (s *Server) scaled(d time.Duration) time.Duration {
	return time.Duration(float64(d) * s.opts.TimeScale)
}

// sleep waits a scaled duration or until the server closes.
func (s *Server) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(s.scaled(d))
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-s.closed:
		return false
	}
}
