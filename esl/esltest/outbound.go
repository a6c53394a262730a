package esltest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/callflow/callflow/esl"
)

// Caller describes the channel handed to an outbound socket.
type Caller struct {
	UUID        string // default: a new uuid
	Number      string // caller id number, e.g. "+420111222333"
	Name        string
	Destination string // the dialled number (default "7777")
	// Channel is the channel name (default loopback/DESTINATION-b). A SIP
	// caller's is sofia/PROFILE/USER@HOST with the From user as
	// FreeSWITCH unescaped it, %0A as a newline: the linger notice
	// carries it raw, as FreeSWITCH's does.
	Channel string
}

// OutboundCall is a channel this server handed to a socket server.
type OutboundCall struct {
	UUID string
	s    *Server
	c    *conn
}

// DialOutbound plays FreeSWITCH's "socket addr async full": it connects
// to a socket server and serves the session (connect, myevents, sendmsg …)
// for a new inbound channel. ctx bounds the dial.
func (s *Server) DialOutbound(ctx context.Context, addr string, caller Caller) (*OutboundCall, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("esltest: dial outbound %s: %w", addr, err)
	}
	if caller.Destination == "" {
		caller.Destination = "7777"
	}
	vars := esl.Headers{}
	if caller.Number != "" {
		vars = append(vars, esl.Header{Name: "origination_caller_id_number", Value: caller.Number})
	}
	if caller.Name != "" {
		vars = append(vars, esl.Header{Name: "origination_caller_id_name", Value: caller.Name})
	}
	vars = append(vars, esl.Header{Name: "current_application_data", Value: addr + " async full"},
		esl.Header{Name: "current_application", Value: "socket"})
	s.mu.Lock()
	if caller.Channel == "" {
		caller.Channel = "loopback/" + caller.Destination + "-b"
	}
	ch := s.newChannel(caller.UUID, caller.Channel, caller.Destination, "inbound", vars)
	s.mu.Unlock()
	c := s.newConn(nc, ch)
	c.authed = true
	s.wg.Add(1)
	go func() { // ends when the socket closes
		defer s.wg.Done()
		c.serve()
		s.mu.Lock()
		defer s.mu.Unlock()
		if !ch.hungup {
			s.hangup(ch, "NORMAL_CLEARING") // an async full socket that closes ends the call
		}
	}()
	return &OutboundCall{UUID: ch.uuid, s: s, c: c}, nil
}

// Done is closed when the outbound socket has closed.
func (o *OutboundCall) Done() <-chan struct{} { return o.c.done }

// Hangup hangs the caller up (the far end hangs up).
func (o *OutboundCall) Hangup(cause string) bool { return o.s.Hangup(o.UUID, cause) }

// SendDTMF makes the caller press digits.
func (o *OutboundCall) SendDTMF(digits string) bool { return o.s.SendDTMF(o.UUID, digits) }

// connectReply is the channel data reply to "connect" (s.mu held).
func (s *Server) connectReply(ch *channel) []byte {
	var b bytes.Buffer
	h := esl.Headers{{Name: "Event-Name", Value: "CHANNEL_DATA"}, {Name: "Core-UUID", Value: s.core}}
	h = append(h, s.channelHeaders(ch)...)
	for _, x := range h {
		b.WriteString(x.Name + ": " + URLEncode(x.Value) + "\n")
	}
	b.WriteString("Content-Type: command/reply\nReply-Text: %2BOK%0A\nSocket-Mode: async\nControl: full\n\n")
	return b.Bytes()
}

func (c *conn) sendmsg(cmd Command, rest string) {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := c.outbound
	if uuid := strings.TrimSpace(rest); uuid != "" {
		ch = s.channels[uuid]
	}
	if ch == nil || ch.hungup {
		c.send(replyFrame("-ERR invalid session id [" + strings.TrimSpace(rest) + "]"))
		return
	}
	c.send(replyFrame("+OK"))
	if c.outbound == ch && !ch.socketPark {
		// The socket application parks the channel in async mode; it
		// completes at hang-up (CHANNEL_UNPARK, EXECUTE_COMPLETE socket).
		ch.socketPark, ch.parked = true, true
		ch.parkApp = &appCall{app: "socket", arg: ch.getVar("current_application_data")}
		s.emit(ch, "CHANNEL_PARK")
	}
	h := cmd.Headers
	switch h.Get("call-command") {
	case "execute":
		arg := h.Get("execute-app-arg")
		if len(cmd.Body) > 0 && strings.HasPrefix(h.Get("content-type"), "text/plain") {
			arg = string(cmd.Body)
		}
		s.queueApp(ch, appCall{app: h.Get("execute-app-name"), arg: arg, eventUUID: h.Get("Event-UUID")})
	case "hangup":
		s.hangup(ch, h.Get("hangup-cause"))
	}
}

// endOutbound handles the socket after its channel hung up (s.mu held):
// without linger a disconnect notice and close; with linger a linger
// notice, then (linger N) a disconnect notice N seconds later; a bare
// linger (-1) never closes by itself.
func (s *Server) endOutbound(c *conn) {
	ch := c.outbound
	if c.linger == 0 {
		c.send(c.disconnectNotice())
		c.end()
		return
	}
	c.send([]byte("Content-Type: text/disconnect-notice\nControlled-Session-UUID: " + ch.uuid +
		"\nContent-Disposition: linger\nChannel-Name: " + ch.name + "\nLinger-Time: " + strconv.Itoa(c.linger) +
		"\nContent-Length: 0\n\n"))
	if c.linger < 0 {
		return
	}
	d := time.Duration(c.linger) * time.Second
	s.wg.Add(1)
	go func() { // ends after the linger time, or when the conn or server ends
		defer s.wg.Done()
		if s.sleep(context.Background(), d) {
			select {
			case <-c.done:
			default:
				s.mu.Lock()
				c.send(c.disconnectNotice())
				s.mu.Unlock()
				c.end()
			}
		}
	}()
}
