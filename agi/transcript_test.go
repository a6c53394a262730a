package agi

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/callflow/callflow/agi/agitest"
)

type rawCmd string

func (c rawCmd) Line() string { return string(c) + "\n" }

// outcome is what Session.Run returned for one recorded command.
type outcome struct {
	cmd   string
	reply Reply
	err   error
}

// replay runs the commands of a recorded transcript through a Session,
// against agitest playing the recorded Asterisk side.
func replay(t *testing.T, name string) (Env, []outcome, bool) {
	t.Helper()
	tr, err := agitest.Load(name)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	type result struct {
		env    Env
		outs   []outcome
		hungUp bool
	}
	done := make(chan result, 1)
	// Ends when ctx ends (Serve closes the listener).
	go Serve(ctx, l, time.Second, func(ctx context.Context, s *Session) {
		var res result
		res.env = s.Env
		for _, ln := range tr.Lines {
			if ln.FromAsterisk {
				continue
			}
			r, err := s.Run(ctx, rawCmd(ln.Text))
			res.outs = append(res.outs, outcome{ln.Text, r, err})
		}
		res.hungUp = s.HungUp()
		done <- res
	})
	if err := agitest.Play(ctx, l.Addr().String(), tr); err != nil {
		t.Fatal(err)
	}
	select {
	case res := <-done:
		return res.env, res.outs, res.hungUp
	case <-ctx.Done():
		t.Fatal("session did not finish")
	}
	return nil, nil, false
}

func find(t *testing.T, outs []outcome, prefix string, nth int) outcome {
	t.Helper()
	for _, o := range outs {
		if strings.HasPrefix(o.cmd, prefix) {
			if nth == 0 {
				return o
			}
			nth--
		}
	}
	t.Fatalf("no command %q in %v", prefix, outs)
	return outcome{}
}

// The transcripts were recorded from Asterisk 22 (TestRecordTranscripts).
func TestTranscriptCommands(t *testing.T) {
	env, outs, hungUp := replay(t, "commands")
	if env["uniqueid"] == "" || env["callerid"] != "+420601111222" || env["calleridname"] != "unknown" {
		t.Errorf("env %v", env)
	}
	if o := find(t, outs, `STREAM FILE "beep"`, 0); o.err != nil || o.reply.Result != 0 || o.reply.EndPos <= 0 {
		t.Errorf("stream beep: %+v", o)
	}
	// A missing file answers like a hang-up does, but the channel is up.
	if o := find(t, outs, `STREAM FILE "no-such-prompt"`, 0); o.err != nil || o.reply.Result != -1 {
		t.Errorf("missing prompt: %+v", o)
	}
	if o := find(t, outs, "GET DATA", 0); o.err != nil || o.reply.Text != "" || o.reply.Data != "timeout" {
		t.Errorf("get data timeout: %+v", o)
	}
	if o := find(t, outs, `GET VARIABLE "CALLFLOW_X"`, 0); o.err != nil || o.reply.Data != `a "quoted" \ value` {
		t.Errorf("quoted variable did not survive: %+v", o)
	}
	if o := find(t, outs, `GET VARIABLE "NO_SUCH`, 0); o.err != nil || o.reply.Result != 0 {
		t.Errorf("unset variable: %+v", o)
	}
	if o := find(t, outs, `RECORD FILE "/no/such`, 0); o.err != nil || o.reply.Result != -1 || o.reply.Data != "writefile" {
		t.Errorf("record into a missing folder: %+v", o)
	}
	if o := find(t, outs, "NO SUCH COMMAND", 0); o.err == nil || errors.Is(o.err, ErrHangup) || o.reply.Code != 510 {
		t.Errorf("unknown command: %+v", o)
	}
	// The 520 usage block is read whole, so the next reply lines up.
	if o := find(t, outs, "STREAM FILE", 2); o.cmd != "STREAM FILE" || o.err == nil || o.reply.Code != 520 {
		t.Errorf("bad syntax: %+v", o)
	}
	if o := find(t, outs, "HANGUP", 0); o.err != nil || o.reply.Result != 1 {
		t.Errorf("hangup: %+v", o)
	}
	if last := outs[len(outs)-1]; !errors.Is(last.err, ErrHangup) || !hungUp {
		t.Errorf("command after HANGUP: %+v (hung up %v)", last, hungUp)
	}
}

func TestTranscriptDTMF(t *testing.T) {
	_, outs, _ := replay(t, "dtmf")
	want := []int{0, '1', '2', '#', 0}
	for i, o := range outs {
		if o.err != nil || o.reply.Result != want[i] {
			t.Errorf("%s: %+v, want result %d", o.cmd, o, want[i])
		}
	}
}

func TestTranscriptHangupDuringStream(t *testing.T) {
	_, outs, hungUp := replay(t, "hangup-during-stream")
	// The interrupted STREAM FILE says -1 with no hang-up known yet; the
	// HANGUP line comes before the next reply, a 511.
	if o := outs[1]; o.err != nil || o.reply.Result != -1 || o.reply.EndPos <= 0 {
		t.Errorf("interrupted stream: %+v", o)
	}
	for _, o := range outs[2:] {
		if !errors.Is(o.err, ErrHangup) || o.reply.Code != 511 {
			t.Errorf("%s on a dead channel: %+v", o.cmd, o)
		}
	}
	if !hungUp {
		t.Error("HANGUP not noted")
	}
}

func TestTranscriptStasis(t *testing.T) {
	env, outs, hungUp := replay(t, "stasis")
	// EXEC Stasis answers only when the channel leaves Stasis.
	if o := find(t, outs, "EXEC Stasis", 0); o.err != nil || o.reply.Result != 0 {
		t.Errorf("exec stasis: %+v", o)
	}
	// A dead channel still answers GET VARIABLE.
	if o := find(t, outs, "GET VARIABLE", 0); o.err != nil || o.reply.Data != env["uniqueid"] || !hungUp {
		t.Errorf("get variable after the hang-up: %+v (hung up %v)", o, hungUp)
	}
}

func TestTranscriptHostileCaller(t *testing.T) {
	env, outs, _ := replay(t, "hostile-caller")
	// PJSIP keeps the display name's SIP escapes; the dialplan's argument
	// parser removes them and splits at the comma.
	if env["callerid"] != "*1'$(id)!" || env["calleridname"] != `x\" \\ HANGUP 200 result=1, agi_arg_1: voicemail` {
		t.Errorf("caller id %q / %q", env["callerid"], env["calleridname"])
	}
	if got := env.Args(); len(got) != 2 || got[0] != `x" \ HANGUP 200 result=1` || got[1] != " agi_arg_1: voicemail" {
		t.Errorf("args %q", got)
	}
	if env["request"] == "" || !strings.HasSuffix(env["request"], "/callback-only") {
		t.Errorf("request %q", env["request"])
	}
	if o := find(t, outs, `GET VARIABLE "CALLERID(name)"`, 0); o.err != nil || o.reply.Data != env["calleridname"] {
		t.Errorf("name: %+v", o)
	}
}
