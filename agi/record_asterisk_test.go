package agi

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callflow/callflow/ari"
	"github.com/callflow/callflow/internal/asterisktest"
	"github.com/callflow/callflow/internal/sipptest"
)

// -record re-records testdata/*.txt from the real Asterisk 22 of
// internal/asterisktest (as root, with sipp): each scenario places a sipp
// call to extension 301 of deploy/asterisk, whose AGI() connects here, runs
// a fixed list of commands and writes what crossed the socket.
var record = flag.Bool("record", false, "record testdata transcripts from the real Asterisk")

// recConn writes every line read and written into a transcript: "< " from
// Asterisk, "> " to Asterisk.
type recConn struct {
	net.Conn
	mu       sync.Mutex
	out      *bytes.Buffer
	partialR string
}

func (c *recConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	c.partialR += string(p[:n])
	for {
		i := strings.IndexByte(c.partialR, '\n')
		if i < 0 {
			break
		}
		fmt.Fprintf(c.out, "< %s\n", c.partialR[:i])
		c.partialR = c.partialR[i+1:]
	}
	c.mu.Unlock()
	return n, err
}

func (c *recConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	for _, l := range strings.SplitAfter(string(p), "\n") {
		if l != "" {
			fmt.Fprintf(c.out, "> %s\n", strings.TrimSuffix(l, "\n"))
		}
	}
	c.mu.Unlock()
	return c.Conn.Write(p)
}

type recListener struct {
	net.Listener
	conns chan *recConn
}

func (l recListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	rc := &recConn{Conn: c, out: &bytes.Buffer{}}
	l.conns <- rc
	return rc, nil
}

type recScenario struct {
	name, doc string
	caller    sipptest.Caller
	run       func(ctx context.Context, t *testing.T, s *Session, ast *asterisktest.Asterisk)
}

// cmds runs commands in order, ignoring their errors (the transcript keeps
// what Asterisk answered).
func cmds(ctx context.Context, s *Session, cs ...Command) {
	for _, c := range cs {
		cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		_, _ = s.Run(cctx, c)
		cancel()
	}
}

func recScenarios() []recScenario {
	long := sipptest.Caller{Extension: "301", From: "+420601111222", Events: []sipptest.Step{sipptest.Pause(20 * time.Second)}}
	return []recScenario{
		{
			name: "commands", doc: "every command callflow uses, on a caller who stays silent; then HANGUP and one command on the dead channel",
			caller: long,
			run: func(ctx context.Context, t *testing.T, s *Session, _ *asterisktest.Asterisk) {
				cmds(ctx, s, Answer{}, Answer{},
					StreamFile{File: "beep", Escape: "0123456789*#"},
					StreamFile{File: "no-such-prompt", Escape: ""},
					SayDigits{Digits: "42", Escape: ""},
					SayNumber{Number: "17", Escape: "#"},
					WaitForDigit{TimeoutMS: 300},
					GetData{File: "beep", TimeoutMS: 300, Max: 2},
					SetVariable{Name: "CALLFLOW_X", Value: "a \"quoted\" \\ value"},
					GetVariable{Name: "CALLFLOW_X"},
					GetVariable{Name: "NO_SUCH_VARIABLE"},
					RecordFile{File: "/var/spool/asterisk/recording/agi-transcript", Format: "wav", Escape: "#", TimeoutMS: 1000, Beep: true},
					RecordFile{File: "/no/such/dir/x", Format: "wav", Escape: "#", TimeoutMS: 500},
					rawCmd("NO SUCH COMMAND"),
					rawCmd("STREAM FILE"),
					Hangup{},
					StreamFile{File: "beep", Escape: ""},
				)
			},
		},
		{
			name: "dtmf", doc: "the caller presses 1 during STREAM FILE, then 2 and # for WAIT FOR DIGIT",
			caller: sipptest.Caller{Extension: "301", From: "+420601111222", Events: []sipptest.Step{
				sipptest.Pause(1500 * time.Millisecond), sipptest.DTMF("1"), sipptest.Pause(2 * time.Second), sipptest.DTMF("2#"), sipptest.Pause(3 * time.Second)}},
			run: func(ctx context.Context, t *testing.T, s *Session, _ *asterisktest.Asterisk) {
				cmds(ctx, s, Answer{}, StreamFile{File: "silence/10", Escape: "0123456789*#"},
					WaitForDigit{TimeoutMS: 4000}, WaitForDigit{TimeoutMS: 4000}, WaitForDigit{TimeoutMS: 500})
			},
		},
		{
			name: "hangup-during-stream", doc: "the caller hangs up 1.5 s into a 10 s STREAM FILE; two more commands follow",
			caller: sipptest.Caller{Extension: "301", From: "+420601111222", Events: []sipptest.Step{sipptest.Pause(1500 * time.Millisecond), sipptest.Hangup()}},
			run: func(ctx context.Context, t *testing.T, s *Session, _ *asterisktest.Asterisk) {
				cmds(ctx, s, Answer{}, StreamFile{File: "silence/10", Escape: ""})
				time.Sleep(500 * time.Millisecond) // let Asterisk notice while idle
				cmds(ctx, s, StreamFile{File: "beep", Escape: ""}, Answer{})
			},
		},
		{
			name: "stasis", doc: "EXEC Stasis with an ARI application connected; the channel is hung up through ARI while in Stasis",
			caller: long,
			run: func(ctx context.Context, t *testing.T, s *Session, ast *asterisktest.Asterisk) {
				cl, err := ari.New(ari.Config{BaseURL: ast.ARIURL, User: ast.User, Pass: ast.Pass, App: ast.App}, nil)
				if err != nil {
					t.Error(err)
					return
				}
				acc := cl.Accept()
				defer acc.Close()
				rctx, stop := context.WithCancel(ctx)
				defer stop()
				go cl.Run(rctx)
				if err := cl.WaitState(ctx, ari.Connected); err != nil {
					t.Error(err)
					return
				}
				cmds(ctx, s, Answer{})
				if err := s.Send(ctx, Exec{App: "Stasis", Args: ast.App + ",callflow-agi,0123456789abcdef"}); err != nil {
					t.Error(err)
					return
				}
				select {
				case ev := <-acc.C():
					in, ok := ev.(*ari.Incoming)
					if !ok {
						t.Errorf("event %T", ev)
						return
					}
					t.Logf("StasisStart channel %s args %q", in.Start.Channel.ID, in.Start.Args)
					time.Sleep(time.Second)
					if err := cl.Hangup(ctx, in.Start.Channel.ID, "normal"); err != nil {
						t.Error(err)
					}
				case <-time.After(10 * time.Second):
					t.Error("no StasisStart")
				}
				rctx2, cancel := context.WithTimeout(ctx, 10*time.Second)
				defer cancel()
				_, _ = s.Read(rctx2)
				cmds(ctx, s, GetVariable{Name: "UNIQUEID"})
			},
		},
		{
			name: "stasis-no-app", doc: "EXEC Stasis naming an application no ARI client has registered",
			caller: long,
			run: func(ctx context.Context, t *testing.T, s *Session, _ *asterisktest.Asterisk) {
				cmds(ctx, s, Answer{})
				if err := s.Send(ctx, Exec{App: "Stasis", Args: "nosuchapp,callflow-agi,0123456789abcdef"}); err != nil {
					t.Error(err)
					return
				}
				rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				defer cancel()
				_, _ = s.Read(rctx)
				cmds(ctx, s, GetVariable{Name: "STASISSTATUS"})
			},
		},
		{
			name: "hostile-caller", doc: "a caller whose number holds shell characters and whose name holds quotes, a backslash, a comma and fake replies (extension 309 passes the name to AGI() as arguments)",
			caller: sipptest.Caller{Extension: "309", From: "*1'$(id)!", FromName: `x" \ HANGUP 200 result=1, agi_arg_1: voicemail`,
				Events: []sipptest.Step{sipptest.Pause(3 * time.Second)}},
			run: func(ctx context.Context, t *testing.T, s *Session, _ *asterisktest.Asterisk) {
				cmds(ctx, s, GetVariable{Name: "CALLERID(num)"}, GetVariable{Name: "CALLERID(name)"}, Hangup{})
			},
		},
	}
}

func TestRecordTranscripts(t *testing.T) {
	if !*record {
		t.Skip("generator: run with -record (as root, with sipp) to re-record testdata from Asterisk")
	}
	ast := asterisktest.Require(t)
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", ast.AGIPort))
	if err != nil {
		t.Fatal(err)
	}
	rl := recListener{Listener: l, conns: make(chan *recConn, 1)}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	sessions := make(chan *Session)
	ended := make(chan struct{})
	// Ends when ctx ends (Serve closes the listener).
	go Serve(ctx, rl, 5*time.Second, func(ctx context.Context, s *Session) {
		sessions <- s
		<-ended
	})
	version, _ := ast.CLI(ctx, "core show version")
	for _, sc := range recScenarios() {
		t.Run(sc.name, func(t *testing.T) {
			callDone := make(chan struct{})
			go func() {
				defer close(callDone)
				res, err := sipptest.RunCaller(ctx, sc.caller, ast.SIPPort)
				t.Logf("sipp: %v (exit %d)", err, res.ExitCode)
				if err != nil {
					t.Logf("sip messages:\n%s", res.Messages)
				}
				_ = res.Cleanup()
			}()
			var rc *recConn
			select {
			case rc = <-rl.conns:
			case <-callDone:
				t.Fatal("the call ended without reaching AGI")
			}
			s := <-sessions
			sc.run(ctx, t, s, ast)
			time.Sleep(300 * time.Millisecond)
			_ = s.Close()
			ended <- struct{}{}
			<-callDone
			rc.mu.Lock()
			body := rc.out.String()
			rc.mu.Unlock()
			head := fmt.Sprintf("# %s: %s\n# recorded from %s by TestRecordTranscripts -record on %s\n",
				sc.name, sc.doc, strings.TrimSpace(version), time.Now().UTC().Format(time.DateOnly))
			if err := os.WriteFile(filepath.Join("testdata", sc.name+".txt"), []byte(head+body), 0o644); err != nil {
				t.Fatal(err)
			}
		})
	}
}
