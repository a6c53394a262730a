package fstest

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callflow/callflow/esl"
	"github.com/callflow/callflow/internal/sipptest"
)

// TestShippedConfigHandsCallToCallflow starts FreeSWITCH with
// deploy/freeswitch, checks the event socket (password, api status, the
// modules callflow relies on), and places one sipp call to extension 200:
// the dialplan must hand it over the outbound socket to an esl listener,
// which answers, plays a prompt from -sounds and hangs up.
func TestShippedConfigHandsCallToCallflow(t *testing.T) {
	type handoff struct {
		data                  *esl.Event
		answer, play, hangErr error
		playback              *esl.Event
	}
	got := make(chan handoff, 4)
	lnCtx, stopLn := context.WithCancel(context.Background())
	defer stopLn()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := esl.Serve(lnCtx, ln, func(ctx context.Context, s *esl.Session) {
		h := handoff{data: s.ChannelData()}
		if err := s.MyEvents(ctx); err != nil {
			h.answer = err
			got <- h
			return
		}
		if _, h.answer = s.Execute(ctx, "answer", ""); h.answer == nil {
			h.playback, h.play = s.Execute(ctx, "playback", "hello-world.wav")
		}
		h.hangErr = s.Hangup(ctx, "NORMAL_CLEARING")
		got <- h
	}, esl.ServerOptions{})
	defer func() {
		stopLn()
		_ = srv.Wait()
	}()

	fs := Require(t, Options{SocketAddress: ln.Addr().String()})
	t.Logf("start to event socket ready: %v", fs.StartTime.Round(time.Millisecond))
	// Bounded from here: Require may have waited long for the switch lock.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	t0 := time.Now()
	conn, err := esl.Dial(ctx, fs.ESLAddress, fs.Password, esl.Options{})
	if err != nil {
		t.Fatalf("esl dial %s: %v", fs.ESLAddress, err)
	}
	defer conn.Close()
	t.Logf("esl connect+auth: %v", time.Since(t0).Round(time.Microsecond))
	status, err := conn.API(ctx, esl.API{Cmd: "status"})
	if err != nil {
		t.Fatalf("api status: %v", err)
	}
	if !strings.Contains(status, "is ready") {
		t.Fatalf("api status: not ready:\n%s", status)
	}
	for _, mod := range []string{"mod_sofia", "mod_event_socket", "mod_dptools", "mod_loopback",
		"mod_local_stream", "mod_tone_stream", "mod_sndfile", "mod_spandsp", "mod_say_en"} {
		out, err := conn.API(ctx, esl.API{Cmd: "module_exists", Args: mod})
		if err != nil || strings.TrimSpace(out) != "true" {
			t.Errorf("module_exists %s = %q, %v", mod, out, err)
		}
	}
	if out, err := conn.API(ctx, esl.API{Cmd: "sofia", Args: "status"}); err != nil || !profileRunning(out, SIPProfile) {
		t.Errorf("sofia profile %s not running: %v\n%s", SIPProfile, err, out)
	}

	// A wrong password is refused.
	if c, err := esl.Dial(ctx, fs.ESLAddress, "ClueCon", esl.Options{}); err == nil {
		c.Close()
		t.Errorf("esl accepted the sample password ClueCon")
	}

	t1 := time.Now()
	res, err := sipptest.RunCaller(ctx, sipptest.Caller{
		Extension: Extension,
		From:      "5551234",
		Events:    []sipptest.Step{sipptest.ExpectBye()},
	}, fs.SIPPort)
	callTime := time.Since(t1)
	if err != nil {
		t.Fatalf("sipp call: %v\n%s", err, res.Messages)
	}
	defer res.Cleanup()
	if res.HungUpBy != "remote" {
		t.Errorf("call hung up by %q, want remote (FreeSWITCH's BYE)", res.HungUpBy)
	}

	var h handoff
	select {
	case h = <-got:
	case <-ctx.Done():
		t.Fatalf("no outbound socket session: %v", ctx.Err())
	}
	t.Logf("sipp call to %s: %v (handed off, answered, prompt played, hung up)", Extension, callTime.Round(time.Millisecond))
	if h.answer != nil || h.play != nil || h.hangErr != nil {
		t.Fatalf("session: answer %v, playback %v, hangup %v", h.answer, h.play, h.hangErr)
	}
	for name, want := range map[string]string{
		"Caller-Destination-Number": Extension,
		"Caller-Caller-ID-Number":   "5551234",
		"variable_callflow_args":    "main",
		"Answer-State":              "ringing",
	} {
		if v := h.data.Get(name); v != want {
			t.Errorf("channel data %s = %q, want %q", name, v, want)
		}
	}
	if r := h.playback.Get("variable_current_application_response"); r != "FILE PLAYED" {
		t.Errorf("playback hello-world.wav from -sounds: response %q, want FILE PLAYED", r)
	}

	log, err := os.ReadFile(fs.LogPath())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(log), "Can't open directory") {
		t.Errorf("local_stream moh cannot open its folder (asterisk-moh-opsound-wav missing?)")
	}
	if _, err := os.Stat(filepath.Join(fs.Dir, "db", "core.db")); err != nil {
		t.Errorf("core db not in the per-run -db folder: %v", err)
	}
}

// profileRunning reports whether "sofia status" lists profile as RUNNING.
func profileRunning(status, profile string) bool {
	for _, line := range strings.Split(status, "\n") {
		f := strings.Fields(line)
		if len(f) >= 4 && f[0] == profile && f[1] == "profile" && strings.HasPrefix(f[3], "RUNNING") {
			return true
		}
	}
	return false
}
