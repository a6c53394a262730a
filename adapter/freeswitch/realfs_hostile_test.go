package freeswitch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/callflow/callflow/adapter"
	"github.com/callflow/callflow/esl"
	"github.com/callflow/callflow/esl/esltest"
	"github.com/callflow/callflow/flowvm"
	fsrun "github.com/callflow/callflow/internal/fstest"
	"github.com/callflow/callflow/internal/sipptest"
	"github.com/callflow/callflow/trace"
)

// injected is the marker every injection attempt carries: FreeSWITCH's log
// shows it at level CRIT, or in an EXECUTE line, only if one was executed.
const injected = "CALLFLOW-INJECTED"

// hostileFlow answers, sets variables that try to inject ESL commands and
// channel variables, plays prompts made of them and of the caller's
// number and name, dials with them in the endpoint and the caller ID, and
// dials the agent with a clean caller ID, then plays prompts made of the
// caller's number and name and of those values.
func hostileFlow(agent string) string {
	type n struct{ name, body string }
	sendmsg := `"x\n\nsendmsg\ncall-command: execute\nexecute-app-name: log\nexecute-app-arg: CRIT ` + injected + `-SENDMSG\n\n"`
	api := `"x\n\napi log CRIT ` + injected + `-API\n\n"`
	vars := `"{origination_caller_id_number=666,execute_on_answer=log CRIT ` + injected + `-VAR}"`
	ns := []n{
		{"hello", "type: answer"},
		{"vars", fmt.Sprintf("type: set\n    vars:\n      sendmsg: '%s'\n      api: '%s'\n      chanvars: '%s'", sendmsg, api, vars)},
	}
	dials := []struct{ endpoint, callerID string }{
		{"${chanvars}" + agent, "+420222333444"},
		{agent + "${api}", "+420222333444"},
		{agent + "${sendmsg}", "+420222333444"},
		{agent, "${chanvars}"},
		{agent, "${sendmsg}"},
		{agent, "${caller.number}"},
		{agent, "+420222333444"}, // the one clean dial: the agent answers
	}
	for i, d := range dials {
		ns = append(ns, n{fmt.Sprintf("dial%d", i), fmt.Sprintf("type: dial\n    endpoint: %q\n    caller_id: %q\n    timeout: 5s", d.endpoint, d.callerID)})
	}
	// A prompt the driver refuses fails the run (play has no error exit):
	// the first such play ends the call, after every dial has been tried.
	for i, p := range []string{"${caller.name}", "${caller.number}", "${chanvars}", "${api}", "${sendmsg}"} {
		ns = append(ns, n{fmt.Sprintf("play%d", i), fmt.Sprintf("type: play\n    prompts: [%q]", "sound:"+p)})
	}
	var b strings.Builder
	b.WriteString("start: hello\nnotations:\n")
	for i, x := range ns {
		fmt.Fprintf(&b, "  %s:\n    %s\n", x.name, x.body)
		next := "bye"
		if i+1 < len(ns) {
			next = ns[i+1].name
		}
		switch {
		case strings.HasPrefix(x.body, "type: dial"):
			fmt.Fprintf(&b, "    exits: {answered: %[1]s, busy: %[1]s, no_answer: %[1]s, failed: %[1]s}\n", next)
		case strings.HasPrefix(x.body, "type: play"):
			fmt.Fprintf(&b, "    next: %s\n", next)
		default:
			fmt.Fprintf(&b, "    next: %s\n", next)
		}
	}
	b.WriteString("  bye:\n    type: hangup\n")
	return b.String()
}

// traceLog keeps a flow's trace events.
type traceLog struct {
	mu sync.Mutex
	ev []trace.Event
}

func (l *traceLog) Emit(e trace.Event) {
	l.mu.Lock()
	l.ev = append(l.ev, e)
	l.mu.Unlock()
}

func (l *traceLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	for _, e := range l.ev {
		fmt.Fprintf(&b, "\n  %s %s %s %v", e.Kind, e.Pos, e.Text, e.Attrs)
	}
	return b.String()
}

// realHostileInput: callers whose numbers and names carry newlines
// (%0A), quotes, spaces, '%', braces and non-ASCII reach a flow on the real
// FreeSWITCH that tries to inject ESL commands and channel variables
// through set values, prompts, dial endpoints and caller IDs. Every call
// is handled (or refused by FreeSWITCH's SIP stack) cleanly, the agent is
// dialled only by the clean dial with the clean ANI, and FreeSWITCH's log
// (at debug level) shows no injected command.
func realHostileInput(t *testing.T, fs *fsrun.FreeSWITCH) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ctl, err := esl.Dial(ctx, fs.ESLAddress, fs.Password, esl.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ctl.Close()
	if _, err := ctl.API(ctx, esl.API{Cmd: "fsctl", Args: "loglevel debug"}); err != nil {
		t.Fatal(err)
	}
	agentUAS, err := sipptest.StartUAS(ctx, sipptest.UASOptions{Mode: sipptest.Answer, RingFor: 200 * time.Millisecond, Hold: 500 * time.Millisecond, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	defer agentUAS.Stop()
	agent := fmt.Sprintf("sofia/%s/agent1@127.0.0.1:%d", fsrun.SIPProfile, agentUAS.Port)
	src := hostileFlow(agent)
	prog, err := flowvm.Load(fstest.MapFS{"main.yaml": {Data: []byte(src)}}, "main")
	if err != nil {
		t.Fatalf("flow:\n%s\n%v", src, err)
	}

	core, logs := observer.New(zapcore.WarnLevel)
	log := zap.New(zapcore.NewTee(zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)).Core(), core))
	// FreeSWITCH's socket sessions reach the driver through a recorder:
	// the first hostile caller's session is the transcript
	// esl/testdata/outbound-socket-hostile-caller.txt.
	sw, err := New(Config{Inbound: fs.ESLAddress, Password: fs.Password, OutboundListen: "127.0.0.1:0",
		RecordDir: fs.RecordingsDir()}, log)
	if err != nil {
		t.Fatal(err)
	}
	type arrival struct {
		info   adapter.CallInfo
		err    error
		traces *traceLog
	}
	arrivals := make(chan arrival, 16)
	sctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { // ends with stop
		served <- sw.Serve(sctx, func(ctx context.Context, c adapter.Call) {
			tl := &traceLog{}
			err := prog.Run(ctx, c, flowvm.Runtime{Switch: sw, Trace: tl, Log: log})
			arrivals <- arrival{info: c.Info(), err: err, traces: tl}
		})
	}()
	defer func() {
		stop()
		if err := <-served; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("serve: %v", err)
		}
	}()
	select {
	case <-sw.Ready():
	case err := <-served:
		t.Fatal(err)
	}
	var transcript strings.Builder
	rec := esltest.NewRecorder(&transcript,
		"FreeSWITCH 1.10.12 outbound socket: a SIP caller whose From user carries %0A escapes",
		"format: see README.md (marker line, N raw bytes, one '\\n' separator)",
		"recorded by adapter/freeswitch TestRealFreeSWITCH/hostile_input through esltest.Recorder: sipp calls extension 200 with",
		"From: \"Evil \\\"Quote\\\" \\\\ back {origination_caller_id_number=666} %0A%0Asendmsg 100% Žluťoučký kůň\" <sip:+420%0A%0Aapi%20log%20CRIT%20CALLFLOW-INJECTED-NUMBER@…>",
		"FreeSWITCH unescapes the user: the connect reply has it URL-encoded, but the linger notice's Channel-Name carries it raw, newlines and all")
	if _, err := rec.Proxy(sctx, fs.SocketAddress, sw.OutboundAddr(), "outbound", false); err != nil {
		t.Fatal(err)
	}

	callers := []sipptest.Caller{
		{From: "+420%0A%0Aapi%20log%20CRIT%20" + injected + "-NUMBER", FromName: `Evil "Quote" \ back {origination_caller_id_number=666} %0A%0Asendmsg 100% Žluťoučký kůň`},
		{From: "%7Borigination_caller_id_number=666%7D", FromName: "line1%0D%0Aline2 {execute_on_answer=log CRIT " + injected + "-NAME} 'single'"},
		{From: "555%2522%25%20x", FromName: "%25%30%41 ^^:x=1:y=2 ^^,a"},
		{From: "{x}", FromName: "日本語 \\\"%"},
	}
	handled := 0
	for i, c := range callers {
		c.Extension = fsrun.Extension
		c.Events = []sipptest.Step{sipptest.ExpectBye()}
		res, err := sipptest.RunCaller(ctx, c, fs.SIPPort)
		defer res.Cleanup()
		if i == 0 {
			// The session's socket closes just after the caller's BYE.
			time.Sleep(500 * time.Millisecond)
			rec.Stop()
		}
		refused := strings.Contains(res.Messages, "SIP/2.0 4") && !strings.Contains(res.Messages, "SIP/2.0 200 OK")
		switch {
		case err == nil && res.HungUpBy == "remote":
			var a arrival
			select {
			case a = <-arrivals:
			case <-ctx.Done():
				t.Fatalf("caller %d: no flow run", i)
			}
			handled++
			t.Logf("caller %d: from %q name %q reached the flow as number %q name %q", i, c.From, c.FromName, a.info.CallerNumber, a.info.CallerName)
			// A refused prompt ends the run with an error; anything else
			// is a failure.
			if a.err != nil && !strings.Contains(a.err.Error(), "prompt") {
				t.Errorf("caller %d: flow run: %v%s", i, a.err, a.traces)
			}
			t.Logf("caller %d: flow ended: %v", i, a.err)
			if testing.Verbose() {
				t.Logf("caller %d trace:%s", i, a.traces)
			}
		case refused:
			t.Logf("caller %d: from %q name %q refused by FreeSWITCH's SIP stack", i, c.From, c.FromName)
		default:
			t.Errorf("caller %d: from %q name %q: %v, hung up by %q\n%s", i, c.From, c.FromName, err, res.HungUpBy, res.Messages)
		}
	}
	if handled == 0 {
		t.Errorf("no hostile caller reached the flow")
	}
	if *updateTranscripts && !t.Failed() {
		path := filepath.Join("..", "..", "esl", "testdata", "outbound-socket-hostile-caller.txt")
		if err := os.WriteFile(path, []byte(transcript.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s (%d bytes)", path, transcript.Len())
	}

	// The agent was dialled only by the clean dial of each handled call.
	calls := agentUAS.Calls()
	if len(calls) != handled {
		t.Errorf("agent received %d calls, want %d (one clean dial per call): %+v", len(calls), handled, calls)
	}
	for _, c := range calls {
		if c.From != "+420222333444" {
			t.Errorf("agent saw ANI %q, want +420222333444", c.From)
		}
	}
	// The raw Channel-Name of the linger notices forged no frame.
	for _, l := range logs.All() {
		if strings.HasPrefix(l.Message, "esl ") {
			t.Errorf("driver logged %q %v", l.Message, l.ContextMap())
		}
	}
	// FreeSWITCH is alive, no channel is left, and its log shows no
	// injected command (EXECUTE lines are logged at debug level).
	if out, err := ctl.API(ctx, esl.API{Cmd: "status"}); err != nil || !strings.Contains(out, "is ready") {
		t.Errorf("status after the hostile calls: %v %q", err, out)
	}
	const control = "callflow-log-control"
	if _, err := ctl.API(ctx, esl.API{Cmd: "log", Args: "CRIT " + control}); err != nil {
		t.Errorf("log control line: %v", err)
	}
	var logText string
	for deadline := time.Now().Add(5 * time.Second); ; {
		b, err := os.ReadFile(fs.LogPath())
		if err != nil {
			t.Fatal(err)
		}
		logText = string(b)
		if strings.Contains(logText, control) || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	executes := 0
	for _, line := range strings.Split(logText, "\n") {
		if strings.Contains(line, "EXECUTE [") {
			executes++
		}
		if !strings.Contains(line, injected) {
			continue
		}
		if strings.Contains(line, "[CRIT]") || strings.Contains(line, "[ALERT]") || strings.Contains(line, "EXECUTE [") {
			t.Errorf("FreeSWITCH executed an injected command: %s", line)
		}
	}
	if !strings.Contains(logText, "[CRIT]") || !strings.Contains(logText, control) || executes == 0 {
		t.Errorf("the log check is blind: control line found %v, %d EXECUTE lines", strings.Contains(logText, control), executes)
	}
	if strings.Contains(logText, "origination_caller_id_number=666") && strings.Contains(logText, "Caller-Caller-ID-Number: 666") {
		t.Errorf("a channel took caller id 666")
	}
}
