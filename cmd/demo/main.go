// Command demo places one real call through a real Asterisk 22 (or, with
// --switch freeswitch, a real FreeSWITCH 1.10) and tells what happened: the
// voicemail experience end to end.
//
// It starts Asterisk in its chroot (internal/asterisktest) or FreeSWITCH
// with deploy/freeswitch (internal/fstest), an agent phone that is busy and
// a customer phone (sipp UAS), and `callflow serve` with the voicemail flow. A sipp caller from +420601111222 waits in queue
// "support", presses 1, records a short message, presses # and is hung up
// on after the confirmation. Then the agent becomes available: callflow
// calls the agent, plays the whisper and the message, and calls the
// customer back with the queue's caller ID. The story is printed from
// callflow's trace and what the phones saw. Everything started is stopped
// again, also on failure and on Ctrl-C.
//
//	go run ./cmd/demo [--callflow bin/callflow] [--switch asterisk|freeswitch] [--keep]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/callflow/callflow/clock"
	"github.com/callflow/callflow/internal/asterisktest"
	"github.com/callflow/callflow/internal/e2etest"
	"github.com/callflow/callflow/internal/fstest"
	"github.com/callflow/callflow/internal/sipptest"
	"github.com/callflow/callflow/media"
)

// The demo's cast.
const (
	callerNumber = "+420601111222"
	queueName    = "support"
)

// demoTimeout bounds the whole demo after the switch is up.
const demoTimeout = 3 * time.Minute

func main() {
	bin := flag.String("callflow", "", "callflow binary to run (default: build ./cmd/callflow)")
	keep := flag.Bool("keep", false, "keep the service's folder (config, trace, log, store, recording)")
	verbose := flag.Bool("v", false, "print progress of the switch and the phones")
	logs := flag.String("logs", "", "folder for the switch's and callflow's logs, kept on failure (default: a new temporary folder)")
	sw := flag.String("switch", e2etest.Asterisk, "switch to call through: asterisk or freeswitch")
	flag.Parse()
	if *sw != e2etest.Asterisk && *sw != e2etest.FreeSWITCH {
		fmt.Fprintf(os.Stderr, "demo: --switch %q: want asterisk or freeswitch\n", *sw)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	owned := *logs == ""
	if owned {
		d, err := os.MkdirTemp("", "callflow-demo-logs-")
		if err != nil {
			fmt.Fprintf(os.Stderr, "demo: FAILED creating the log folder: %v\n", err)
			os.Exit(1)
		}
		*logs = d
	}
	if err := run(ctx, os.Stdout, *bin, *logs, *sw, *keep, *verbose); err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\ndemo: logs kept in %s (asterisk/asterisk.log or freeswitch/log/freeswitch.log, callflow/callflow.log, callflow/trace.txt)\n", err, *logs)
		stop()
		os.Exit(1)
	}
	if owned && !*keep {
		os.RemoveAll(*logs)
	}
}

// stepError names the demo step that failed.
type stepError struct {
	step string
	err  error
}

func (e *stepError) Error() string { return "FAILED " + e.step + ": " + e.err.Error() }
func (e *stepError) Unwrap() error { return e.err }

// run is the demo on switch sw; every deferred step runs on every exit
// path. The switch's run folder is logs/asterisk or logs/freeswitch and the
// service's folder logs/callflow; an error names the step that failed.
func run(ctx context.Context, out io.Writer, bin, logs, sw string, keep, verbose bool) (err error) {
	step := "starting"
	defer func() {
		if err != nil {
			err = &stepError{step: step, err: err}
		}
	}()
	logf := func(string, ...any) {}
	if verbose {
		logf = func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) }
	}
	say := func(f string, a ...any) { fmt.Fprintf(out, "demo: "+f+"\n", a...) }

	var pbx *e2etest.PBX
	if sw == e2etest.FreeSWITCH {
		step = "starting FreeSWITCH"
		say("starting FreeSWITCH 1.10 (%s, configuration deploy/freeswitch)", fstest.DefaultBinary)
		fs, err := fstest.Start(ctx, fstest.Options{Logf: logf, Dir: filepath.Join(logs, "freeswitch")})
		if err != nil {
			return err
		}
		defer func() {
			if serr := fs.Stop(true); serr != nil && err == nil {
				step, err = "stopping FreeSWITCH", serr
			}
			say("stopped FreeSWITCH")
		}()
		if pbx, err = e2etest.FreeSWITCHPBX(fs); err != nil {
			return err
		}
	} else {
		step = "starting Asterisk"
		say("starting Asterisk 22 (chroot %s; built on first use)", asterisktest.DefaultRoot)
		ast, err := asterisktest.Start(ctx, asterisktest.Options{Logf: logf, RunDir: filepath.Join(logs, "asterisk")})
		if err != nil {
			return err
		}
		defer func() {
			if serr := ast.Stop(); serr != nil && err == nil {
				step, err = "stopping Asterisk", serr
			}
			say("stopped Asterisk")
		}()
		pbx = e2etest.AsteriskPBX(ast)
	}
	ctx, cancel := context.WithTimeout(ctx, demoTimeout)
	defer cancel()

	step = "starting the agent phone (sipp)"
	agent, err := e2etest.StartPhone(ctx, "agent1", sipptest.UASOptions{Port: pbx.AgentPorts[0], Mode: sipptest.Busy, Logf: logf})
	if err != nil {
		return err
	}
	defer agent.Stop()
	step = "starting the customer phone (sipp)"
	customer, err := e2etest.StartPhone(ctx, "customer", sipptest.UASOptions{Port: pbx.CustomerPort, Mode: sipptest.Answer, Hold: 3 * time.Second, Logf: logf})
	if err != nil {
		return err
	}
	defer customer.Stop()
	say("agent phone %s is busy; customer phone answers and talks for 3 s", pbx.AgentEndpoint(1))

	step = "starting callflow serve"
	svc, err := e2etest.StartOn(ctx, pbx, e2etest.Options{Binary: bin, Agents: 1, Dir: filepath.Join(logs, "callflow"), LogLevel: "warn", Logf: logf})
	if err != nil {
		return err
	}
	defer func() {
		if serr := svc.Stop(); serr != nil && err == nil {
			step, err = "stopping callflow", serr
		}
		if keep {
			say("kept %s (trace.txt, callflow.log, callflow.db, media/)", svc.Dir)
		}
	}()
	say("callflow serving (api %s, trace %s)", svc.APIURL, svc.TracePath)

	step = "placing the call"
	sc := &scene{ctx: ctx, svc: svc, agent: agent, customer: customer, say: say}
	if err := sc.play(pbx); err != nil {
		fmt.Fprintln(out)
		fmt.Fprint(out, sc.tell())
		return fmt.Errorf("%w\n--- callflow log (tail)\n%s", err, svc.LogTail(30))
	}
	fmt.Fprintln(out)
	fmt.Fprint(out, sc.tell())
	fmt.Fprintln(out)
	return nil
}

// scene is the call and what it left behind.
type scene struct {
	ctx             context.Context
	svc             *e2etest.Service
	agent, customer *e2etest.Phone
	say             func(string, ...any)

	availableAt time.Time     // when the agent was made available
	recording   time.Duration // the message's measured length
	events      []e2etest.Event
}

func (sc *scene) play(pbx *e2etest.PBX) error {
	sc.say("calling extension %s from %s: wait, press 1, speak 6 s, press #", e2etest.ExtVoicemail, callerNumber)
	call := e2etest.StartCaller(sc.ctx, sipptest.Caller{Extension: e2etest.ExtVoicemail, From: callerNumber, Events: []sipptest.Step{
		sipptest.Pause(8 * time.Second), sipptest.DTMF("1"),
		sipptest.Audio(6 * time.Second), sipptest.DTMF("#"),
		sipptest.ExpectBye(),
	}}, pbx.SIPPort)
	defer func() { sc.events, _ = sc.svc.Trace() }()

	reg, err := sc.svc.WaitEvent(sc.ctx, e2etest.Match{Source: "queue", Kind: "registered"})
	if err != nil {
		return fmt.Errorf("no callback registered: %w", err)
	}
	res, err := call.Wait(time.Minute)
	if res.Dir != "" {
		defer res.Cleanup()
	}
	if err != nil {
		return fmt.Errorf("caller: %w\n%s", err, res.Errors)
	}
	if rec, err := sc.svc.WaitEvent(sc.ctx, e2etest.Match{Call: reg.Call, Source: "flow", Kind: "record"}); err == nil {
		sc.recording = sc.measure(strings.TrimPrefix(rec.Attrs["recording"], "recording:"))
	}

	sc.say("the caller has hung up; making the agent available")
	if err := sc.agent.SetMode(sc.ctx, sipptest.Answer, 0); err != nil {
		return err
	}
	sc.availableAt = time.Now()
	end, err := sc.svc.WaitEvent(sc.ctx, e2etest.Match{Call: "cb-1", Source: "callback", Kind: "completed"})
	if err != nil {
		return fmt.Errorf("callback did not complete: %w", err)
	}
	sc.say("callback completed at %s", end.At.Format("15:04:05"))
	return nil
}

// measure returns the duration of a stored recording, 0 when unreadable.
func (sc *scene) measure(name string) time.Duration {
	st, err := media.Open(sc.svc.MediaDir, 0, clock.Real{})
	if err != nil {
		return 0
	}
	f, _, err := st.Open(name)
	if err != nil {
		return 0
	}
	defer f.Close()
	d, _, _, err := media.WAVInfo(f)
	if err != nil {
		return 0
	}
	return d
}

// tell renders the story of the scene.
func (sc *scene) tell() string {
	return Story(StoryInput{
		Events: sc.events, Caller: callerNumber, Queue: queueName, ANI: sc.svc.ANI,
		Recording: sc.recording, AgentAvailable: sc.availableAt,
		AgentCalls: sc.agent.Calls(), CustomerCalls: sc.customer.Calls(),
	})
}
