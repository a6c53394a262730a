package esltest_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/callflow/callflow/esl"
	"github.com/callflow/callflow/esl/esltest"
)

// block is one transcript block (see ../testdata/README.md).
type block struct {
	sent bool
	data []byte
}

func readTranscript(t *testing.T, name string) []block {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(bytes.NewReader(raw))
	var out []block
	for {
		line, err := br.ReadString('\n')
		if line == "" && err != nil {
			return out
		}
		line = strings.TrimSuffix(line, "\n")
		var sent bool
		var rest string
		switch {
		case strings.HasPrefix(line, ">>> sent "):
			sent, rest = true, strings.TrimPrefix(line, ">>> sent ")
		case strings.HasPrefix(line, "<<< received "):
			rest = strings.TrimPrefix(line, "<<< received ")
		default:
			continue // comments
		}
		n, err := strconv.Atoi(strings.Fields(rest)[0])
		if err != nil {
			t.Fatalf("bad marker %q", line)
		}
		data := make([]byte, n+1) // + the separator
		if _, err := io.ReadFull(br, data); err != nil {
			t.Fatal(err)
		}
		out = append(out, block{sent: sent, data: data[:n]})
	}
}

// eventKeys are the headers an event is compared on: what a client acts
// on. Timestamps, sequence numbers and codec details differ by nature.
var eventKeys = []string{"Event-Name", "Unique-ID", "Application", "Application-Data", "Application-Response",
	"Playback-Status", "Hangup-Cause", "Bridge-A-Unique-ID", "Bridge-B-Unique-ID", "Job-UUID", "Answer-State",
	"Other-Leg-Unique-ID"}

// describe renders a frame for comparison: replies exactly, events by
// eventKeys (values in the order of the headers, duplicates included for
// Hangup-Cause) and their body.
func describe(f *esl.Frame) string {
	switch ct := f.ContentType(); ct {
	case esl.TypeEventPlain:
		e, err := esl.ParseEvent(f)
		if err != nil {
			return "undecodable event: " + err.Error()
		}
		var parts []string
		for _, k := range eventKeys {
			if vs := e.Values(k); len(vs) > 0 {
				if k != "Hangup-Cause" {
					vs = vs[:1]
				}
				parts = append(parts, k+"="+strings.Join(vs, "|"))
			}
		}
		if len(e.Body) > 0 {
			parts = append(parts, "body="+strconv.Quote(string(e.Body)))
		}
		return "event " + strings.Join(parts, " ")
	case esl.TypeCommandReply:
		return "reply " + f.ReplyText()
	default:
		return ct + " " + strconv.Quote(string(f.Body))
	}
}

// TestBridgeAndOriginateCapture sends every command of
// bridge-and-originate.txt (same uuids, same Job-UUIDs) to esltest and
// compares each reply and the events that follow it with the capture:
// originate and park, hold music, uuid_bridge interrupting it, uuid_kill
// of one bridged leg (the other hangs up: no park_after_bridge), the
// failed originates with their -ERR CAUSE bodies, exit.
func TestBridgeAndOriginateCapture(t *testing.T) {
	blocks := readTranscript(t, "bridge-and-originate.txt")
	s, err := esltest.NewServer(esltest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Script("loopback/9666/default", esltest.Fate{Outcome: esltest.Answer})
	s.Script("sofia/external/1234@127.0.0.1:5999", esltest.Fate{Outcome: esltest.Fail, Cause: "NORMAL_TEMPORARY_FAILURE"})
	s.Script("user/1019", esltest.Fate{Outcome: esltest.Fail, Cause: "USER_NOT_REGISTERED"})
	s.Script("loopback/9665/default", esltest.Fate{Outcome: esltest.NoAnswer})
	nc, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	frames := make(chan *esl.Frame, 256)
	go func() { // ends when the server closes the socket
		defer close(frames)
		r := esl.NewReader(nc)
		for {
			f, err := r.ReadFrame()
			if err != nil {
				return
			}
			frames <- f
		}
	}()
	next := func() (*esl.Frame, bool) {
		select {
		case f, ok := <-frames:
			return f, ok
		case <-time.After(5 * time.Second):
			return nil, false
		}
	}
	for i := 0; i < len(blocks); {
		var cmd string
		if blocks[i].sent {
			cmd = string(firstLine(blocks[i].data))
			if _, err := nc.Write(blocks[i].data); err != nil {
				t.Fatal(err)
			}
			i++
		}
		var want, got []string
		for ; i < len(blocks) && !blocks[i].sent; i++ {
			f, err := esl.NewReader(bytes.NewReader(blocks[i].data)).ReadFrame()
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, describe(f))
			if f, ok := next(); ok {
				got = append(got, describe(f))
			}
		}
		// Nothing more may follow before the next command.
		select {
		case f, ok := <-frames:
			if ok {
				got = append(got, describe(f))
			}
		case <-time.After(50 * time.Millisecond):
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("after %q:\n got:\n  %s\n want:\n  %s", cmd, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}
	}
}

func firstLine(b []byte) []byte {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		return b[:i]
	}
	return b
}

// TestFailedOriginateReplies: the exact api bodies of failed originates,
// sync and background, as captured.
func TestFailedOriginateReplies(t *testing.T) {
	s := newServer(t, esltest.Options{})
	s.Script("sofia/external/1234@127.0.0.1:5999", esltest.Fate{Outcome: esltest.Fail, Cause: "NORMAL_TEMPORARY_FAILURE"})
	s.Script("user/1019", esltest.Fate{Outcome: esltest.Fail, Cause: "USER_NOT_REGISTERED"})
	s.Script("user/busy", esltest.Fate{Outcome: esltest.Busy})
	s.Script("loopback/9665/default", esltest.Fate{Outcome: esltest.NoAnswer})
	cases := []struct {
		name, args, want string
	}{
		{"dead sip endpoint", "{originate_timeout=5}sofia/external/1234@127.0.0.1:5999 &park()", "-ERR NORMAL_TEMPORARY_FAILURE\n"},
		{"unregistered user", "user/1019 &park()", "-ERR USER_NOT_REGISTERED\n"},
		{"busy", "user/busy &park()", "-ERR USER_BUSY\n"},
		{"never answered", "{originate_timeout=3}loopback/9665/default &park()", "-ERR NO_ANSWER\n"},
		{"unknown endpoint type", "nosuchendpoint/1234 &park()", "-ERR CHAN_NOT_IMPLEMENTED\n"},
	}
	c := dialRaw(t, s)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := c.api(t, "originate "+tc.args); got != tc.want {
				t.Errorf("api originate: %q, want %q", got, tc.want)
			}
			job := "job-" + strings.ReplaceAll(tc.name, " ", "-")
			c.send(t, "bgapi originate "+tc.args+"\nJob-UUID: "+job)
			if r := c.reply(t); r != "reply +OK Job-UUID: "+job {
				t.Errorf("bgapi reply %q", r)
			}
			e := c.event(t, "BACKGROUND_JOB")
			if e.JobUUID() != job || string(e.Body) != tc.want || e.Get("Job-Command") != "originate" {
				t.Errorf("BACKGROUND_JOB %s body %q, want %s %q", e.JobUUID(), e.Body, job, tc.want)
			}
		})
	}
}

// rawConn is an authenticated client that sees every event (plain).
type rawConn struct {
	nc      net.Conn
	frames  chan *esl.Frame
	pending []*esl.Frame // events read while waiting for a reply
}

func newServer(t *testing.T, o esltest.Options) *esltest.Server {
	t.Helper()
	s, err := esltest.NewServer(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func dialRaw(t *testing.T, s *esltest.Server) *rawConn {
	t.Helper()
	nc, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	c := &rawConn{nc: nc, frames: make(chan *esl.Frame, 1024)}
	go func() { // ends when the socket closes
		defer close(c.frames)
		r := esl.NewReader(nc)
		for {
			f, err := r.ReadFrame()
			if err != nil {
				return
			}
			c.frames <- f
		}
	}()
	if f := c.next(t); f.ContentType() != esl.TypeAuthRequest {
		t.Fatalf("first frame %q", f.ContentType())
	}
	c.send(t, "auth ClueCon")
	if r := c.reply(t); r != "reply +OK accepted" {
		t.Fatalf("auth: %s", r)
	}
	c.send(t, "event plain ALL")
	if r := c.reply(t); r != "reply +OK event listener enabled plain" {
		t.Fatalf("event: %s", r)
	}
	return c
}

func (c *rawConn) send(t *testing.T, cmd string) {
	t.Helper()
	if _, err := c.nc.Write([]byte(cmd + "\n\n")); err != nil {
		t.Fatal(err)
	}
}

func (c *rawConn) next(t *testing.T) *esl.Frame {
	t.Helper()
	select {
	case f, ok := <-c.frames:
		if !ok {
			t.Fatal("connection closed")
		}
		return f
	case <-time.After(5 * time.Second):
		t.Fatal("no frame")
	}
	return nil
}

// reply returns the next command/reply or api/response; events read
// meanwhile are kept for event and events.
func (c *rawConn) reply(t *testing.T) string {
	t.Helper()
	for {
		f := c.next(t)
		if !f.IsEvent() {
			return describe(f)
		}
		c.pending = append(c.pending, f)
	}
}

// nextEvent returns the next event, kept ones first.
func (c *rawConn) nextEvent(t *testing.T) *esl.Frame {
	t.Helper()
	if len(c.pending) > 0 {
		f := c.pending[0]
		c.pending = c.pending[1:]
		return f
	}
	for {
		if f := c.next(t); f.IsEvent() {
			return f
		} else {
			t.Errorf("unexpected reply %s", describe(f))
		}
	}
}

func (c *rawConn) api(t *testing.T, cmd string) string {
	t.Helper()
	c.send(t, "api "+cmd)
	for {
		f := c.next(t)
		if f.ContentType() == esl.TypeAPIResponse {
			return string(f.Body)
		}
		if !f.IsEvent() {
			t.Fatalf("api %s: got %s", cmd, describe(f))
		}
		c.pending = append(c.pending, f)
	}
}

// event skips to the next event called name.
func (c *rawConn) event(t *testing.T, name string) *esl.Event {
	t.Helper()
	for {
		e, err := esl.ParseEvent(c.nextEvent(t))
		if err != nil {
			t.Fatal(err)
		}
		if e.Name() == name {
			return e
		}
	}
}

// events collects the next n events (replies in between are skipped),
// each as "NAME uuid-role Application=… …" by describe, with uuids
// replaced by roles.
func (c *rawConn) events(t *testing.T, n int, roles map[string]string) []string {
	t.Helper()
	var out []string
	for len(out) < n {
		d := describe(c.nextEvent(t))
		for uuid, role := range roles {
			d = strings.ReplaceAll(d, uuid, role)
		}
		out = append(out, strings.TrimPrefix(d, "event "))
	}
	return out
}

// quiet checks that no event arrives for a while.
func (c *rawConn) quiet(t *testing.T, d time.Duration) {
	t.Helper()
	if len(c.pending) > 0 {
		t.Errorf("unexpected event: %s", describe(c.pending[0]))
		return
	}
	select {
	case f := <-c.frames:
		if f != nil {
			t.Errorf("unexpected frame: %s", describe(f))
		}
	case <-time.After(d):
	}
}

func fmtEvents(evs []string) string { return fmt.Sprintf("\n  %s", strings.Join(evs, "\n  ")) }
