// Command benchrun measures callflow against the Node.js ari-client peer
// under the same sipp caller load on a running Asterisk (bench/load.sh starts
// Asterisk and calls it), or with -switch freeswitch against the Node.js
// modesl peer on a running FreeSWITCH (bench/freeswitch/load.sh), where the
// switch is reached over its event socket instead of ARI.
//
// It first runs the load against the plain dialplan ("control") at rising
// concurrency levels and keeps the highest level with 0 failed calls; then it
// runs callflow (when its binary has `serve`) and the peer at that level, one
// after the other, and prints one table: CPU seconds and peak RSS of each
// application, DTMF→action latency p50/p99 from an ARI observer, failures,
// Asterisk's CPU seconds and the ratios.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/callflow/callflow/bench/loadgen"
	"github.com/callflow/callflow/bench/measure"
	"github.com/callflow/callflow/internal/sipptest"
)

type options struct {
	ariURL, ariUser, ariPass string
	app                      string
	sipPort                  int
	agentPorts               []int
	asteriskPID              int
	runDir                   string
	levels                   []int
	appLevel                 int
	rounds                   int
	pressShare               float64
	timing                   loadgen.Timing
	ramp                     time.Duration
	talk                     time.Duration
	extension                string
	peerCmd                  string // "" skips the peer
	callflowCmd              string // "" skips callflow
	callflowSkip             string // why callflow is skipped
	callflowPprof            string // callflow's --pprof address: profile it under the load
	apps                     string // which application runs: control,callflow,peer
	switchType               string // asterisk or freeswitch
	eslAddr, eslPass         string // FreeSWITCH's inbound event socket
	socketAddr               string // FreeSWITCH's socket hand-off address (the apps listen there)
	caller                   string // the callers' From user part before sipp's call number
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("benchrun", flag.ContinueOnError)
	fs.StringVar(&o.ariURL, "ari-url", "http://127.0.0.1:8088/ari", "Asterisk's ARI base URL")
	fs.StringVar(&o.ariUser, "ari-user", "callflow", "ARI user")
	fs.StringVar(&o.ariPass, "ari-pass", "", "ARI password (required)")
	fs.StringVar(&o.app, "app", "callflow", "Stasis application of the measured flows")
	fs.IntVar(&o.sipPort, "sip-port", 5070, "Asterisk's PJSIP UDP port on 127.0.0.1")
	agents := fs.String("agent-ports", "5081,5082,5083,5084", "UAS ports of agent1..agentN, comma separated")
	fs.IntVar(&o.asteriskPID, "asterisk-pid", 0, "Asterisk's pid, for its CPU time (required)")
	fs.StringVar(&o.runDir, "run-dir", "", "folder for scenarios, logs and results (required)")
	levels := fs.String("levels", "20,50,100,150,200", "control levels (concurrent calls), rising")
	fs.IntVar(&o.appLevel, "app-level", 0, "level of the application runs (default: highest clean control level)")
	fs.IntVar(&o.rounds, "rounds", 3, "calls per concurrency slot")
	fs.Float64Var(&o.pressShare, "press-share", 0.5, "share of callers who press 1 and leave a message")
	fs.DurationVar(&o.timing.PressAfter, "press-after", loadgen.DefaultTiming.PressAfter, "pressers wait this long before pressing 1")
	fs.DurationVar(&o.timing.Speak, "speak", loadgen.DefaultTiming.Speak, "pressers speak this long before pressing #")
	fs.DurationVar(&o.timing.ByeTimeout, "bye-timeout", loadgen.DefaultTiming.ByeTimeout, "pressers fail when not hung up this long after #")
	fs.DurationVar(&o.timing.MaxWait, "max-wait", loadgen.DefaultTiming.MaxWait, "waiters hang up after this")
	fs.DurationVar(&o.ramp, "ramp", 10*time.Second, "time to reach the concurrency")
	fs.DurationVar(&o.talk, "talk", 4*time.Second, "agents hang up after talking this long")
	fs.StringVar(&o.extension, "extension", "700", "number the application runs dial (callflow-in sends it to Stasis)")
	fs.StringVar(&o.peerCmd, "peer", "", "command line of the Node peer (space separated; {agents} is replaced)")
	fs.StringVar(&o.callflowCmd, "callflow", "", "command line of callflow serve (space separated)")
	fs.StringVar(&o.callflowSkip, "callflow-skip", "", "callflow is not run, for this reason")
	fs.StringVar(&o.callflowPprof, "callflow-pprof", "", "callflow's --pprof address: take CPU and heap profiles under the load")
	fs.StringVar(&o.apps, "runs", "control,callflow,peer", "runs to make, comma separated")
	fs.StringVar(&o.caller, "caller", loadgen.DefaultCaller, "callers' From user part before sipp's call number (digits for FreeSWITCH: callflow passes it on as the agent leg's caller ID)")
	fs.StringVar(&o.switchType, "switch", "asterisk", "the switch under the load: asterisk or freeswitch")
	fs.StringVar(&o.eslAddr, "esl-addr", "127.0.0.1:8021", "FreeSWITCH's inbound event socket (-switch freeswitch)")
	fs.StringVar(&o.eslPass, "esl-pass", "", "its password (required with -switch freeswitch)")
	fs.StringVar(&o.socketAddr, "socket-addr", "127.0.0.1:8084", "where FreeSWITCH's dialplan hands calls to the application (-switch freeswitch)")
	fs.IntVar(&o.asteriskPID, "switch-pid", 0, "the switch's pid, for its CPU time (-asterisk-pid is the same)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	var err error
	if o.agentPorts, err = parseInts(*agents); err != nil {
		return o, fmt.Errorf("-agent-ports: %w", err)
	}
	if o.levels, err = parseInts(*levels); err != nil {
		return o, fmt.Errorf("-levels: %w", err)
	}
	switch {
	case o.switchType != "asterisk" && o.switchType != "freeswitch":
		return o, fmt.Errorf("-switch %q: want asterisk or freeswitch", o.switchType)
	case o.switchType == "asterisk" && o.ariPass == "":
		return o, errors.New("-ari-pass is required")
	case o.switchType == "freeswitch" && o.eslPass == "":
		return o, errors.New("-esl-pass is required with -switch freeswitch")
	case o.asteriskPID <= 0:
		return o, errors.New("-asterisk-pid (or -switch-pid) is required")
	case o.runDir == "":
		return o, errors.New("-run-dir is required")
	case len(o.agentPorts) == 0:
		return o, errors.New("-agent-ports: at least one agent")
	}
	if minPress := loadgen.MinPressAfter(agentRing, o.talk); o.timing.PressAfter < minPress {
		return o, fmt.Errorf("-press-after %v: must be at least %v (agent ring %v + -talk %v + 1 s), or a presser an idle agent serves at once is still talking when it presses",
			o.timing.PressAfter, minPress, agentRing, o.talk)
	}
	return o, o.timing.Validate()
}

// agentRing is how long the agents' UAS rings before answering.
const agentRing = 500 * time.Millisecond

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q is not a positive number", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	o, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchrun:", err)
		os.Exit(2)
	}
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "benchrun:", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s benchrun: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func run(ctx context.Context, o options) error {
	var a pbx = ari{url: strings.TrimSuffix(o.ariURL, "/"), user: o.ariUser, pass: o.ariPass, client: &http.Client{Timeout: 10 * time.Second}}
	if o.switchType == "freeswitch" {
		f, err := dialFS(ctx, o.eslAddr, o.eslPass, o.socketAddr)
		if err != nil {
			return err
		}
		defer f.close()
		a = f
	}
	runs := map[string]bool{}
	for _, r := range strings.Split(o.apps, ",") {
		runs[strings.TrimSpace(r)] = true
	}
	rep := report{started: time.Now(), switchName: a.name()}

	// Control: rising levels until the first one with a failure.
	level := o.appLevel
	if runs["control"] {
		for _, lv := range o.levels {
			m, err := measureRun(ctx, o, a, "control", lv, nil)
			if err != nil {
				return err
			}
			rep.control = append(rep.control, m)
			logf("control at %d: %d/%d calls ok, %d failed (%s), peak %d concurrent, %v",
				lv, m.load.Successful(), m.load.Planned(), m.load.Failed(), failReasons(m.load), m.load.PeakConcurrent(), m.load.Duration.Round(time.Second))
			if !m.load.Clean() {
				break
			}
			if o.appLevel == 0 {
				level = lv
			}
		}
		if level == 0 {
			fmt.Print(rep.render())
			return errors.New("no control level ran clean: the load rig itself fails; lower -levels")
		}
	}
	if level == 0 {
		return errors.New("no application level: run the control or give -app-level")
	}
	rep.level = level

	for _, name := range []string{"callflow", "peer"} {
		if !runs[name] {
			continue
		}
		cmdline := o.callflowCmd
		if name == "peer" {
			cmdline = o.peerCmd
		}
		if cmdline == "" {
			reason := "no command given"
			if name == "callflow" && o.callflowSkip != "" {
				reason = o.callflowSkip
			}
			logf("%s: skipped: %s", name, reason)
			rep.apps = append(rep.apps, runMeasure{name: name, skipped: reason})
			continue
		}
		m, err := measureRun(ctx, o, a, name, level, strings.Fields(cmdline))
		if err != nil {
			logf("%s: %v", name, err)
			m = runMeasure{name: name, skipped: err.Error()}
		} else {
			logf("%s at %d: %d/%d calls ok, %d failed (%s); cpu %.2fs, rss %.1f MiB; dtmf %v",
				name, level, m.load.Successful(), m.load.Planned(), m.load.Failed(), failReasons(m.load),
				m.appCPU.Seconds(), float64(m.appRSS)/(1<<20), m.latency)
		}
		rep.apps = append(rep.apps, m)
	}
	out := rep.render()
	fmt.Print(out)
	if err := os.WriteFile(filepath.Join(o.runDir, "report.txt"), []byte(out), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

func failReasons(r loadgen.Result) string {
	var parts []string
	for _, g := range r.Groups {
		if s := g.Stats.Reasons(); s != "" {
			parts = append(parts, string(g.Kind)+": "+s)
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "; ")
}

// runMeasure is what one run measured.
type runMeasure struct {
	name, skipped  string
	level          int
	load           loadgen.Result
	appCPU         time.Duration
	appRSS         int64
	asteriskCPU    time.Duration
	latency        measure.Latency
	observerBad    int
	leftChannels   int
	agentCalls     int
	wall           time.Duration
	appExitedEarly bool
	profile        *measure.ProfileResult // callflow with -callflow-pprof only
}

// measureRun places the load at level: against the control dialplan when
// argv is nil, else against the application argv starts.
func measureRun(ctx context.Context, o options, a pbx, name string, level int, argv []string) (runMeasure, error) {
	m := runMeasure{name: name, level: level}
	t0 := time.Now()
	dir := filepath.Join(o.runDir, fmt.Sprintf("%s-%d", name, level))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return m, fmt.Errorf("%s: %w", name, err)
	}
	if n, err := a.waitIdle(ctx, 60*time.Second); err != nil || n != 0 {
		return m, fmt.Errorf("%s: %s not idle before the run (%d channels): %v", name, a.name(), n, err)
	}

	var proc *app
	if argv != nil {
		var err error
		if proc, err = startApp(ctx, argv, dir, filepath.Join(dir, name+".log")); err != nil {
			return m, fmt.Errorf("%s: %w", name, err)
		}
		defer proc.stop()
		if err := a.waitApp(ctx, o.app, 30*time.Second, proc.exited); err != nil {
			return m, fmt.Errorf("%s: %w (see %s)", name, err, filepath.Join(dir, name+".log"))
		}
	}
	var agents []*sipptest.UAS
	defer func() {
		for _, u := range agents {
			if err := u.Stop(); err != nil {
				logf("%s: agent: %v", name, err)
			}
		}
	}()
	if argv != nil {
		for _, p := range o.agentPorts {
			u, err := sipptest.StartUAS(ctx, sipptest.UASOptions{Port: p, Mode: sipptest.Answer, RingFor: agentRing, Hold: o.talk})
			if err != nil {
				return m, fmt.Errorf("%s: agent on %d: %w", name, p, err)
			}
			agents = append(agents, u)
		}
	}

	obs, err := a.observe(ctx)
	if err != nil {
		return m, fmt.Errorf("%s: %w", name, err)
	}
	astBefore, err := measure.CPU(o.asteriskPID)
	if err != nil {
		obs.Close()
		return m, err
	}
	var appBefore time.Duration
	if proc != nil {
		if appBefore, err = measure.CPU(proc.pid()); err != nil {
			obs.Close()
			return m, err
		}
	}

	var prof *measure.Profiling
	if proc != nil && name == "callflow" && o.callflowPprof != "" {
		prof, err = measure.Profile(ctx, measure.ProfileOptions{
			Addr: o.callflowPprof, Dir: filepath.Join(dir, "pprof"),
			Calls: a.callerChannels,
		}, logf)
		if err != nil {
			obs.Close()
			return m, fmt.Errorf("%s: %w", name, err)
		}
		defer func() {
			if prof != nil {
				prof.Stop()
			}
		}()
	}

	ext := o.extension
	if argv == nil {
		ext = "control"
	}
	load := loadgen.Load{
		Target: fmt.Sprintf("127.0.0.1:%d", o.sipPort), Extension: ext, Concurrency: level,
		PressShare: o.pressShare, Rounds: o.rounds, Timing: o.timing, Ramp: o.ramp, Dir: dir, Logf: logf,
		Caller: o.caller,
	}
	m.load, err = loadgen.Run(ctx, load)
	if err != nil {
		obs.Close()
		return m, fmt.Errorf("%s: %w", name, err)
	}
	// Let the last calls' hang-ups settle before reading the counters.
	m.leftChannels, err = a.waitIdle(ctx, 30*time.Second)
	if err != nil {
		logf("%s: %v", name, err)
	}
	if prof != nil {
		res := prof.Stop()
		prof = nil
		m.profile = &res
		writeProfileTops(dir, argv[0], res)
	}
	if proc != nil {
		select {
		case <-proc.exited:
			m.appExitedEarly = true
			obs.Close()
			return m, fmt.Errorf("%s: %w (see %s)", name, proc.exitErr(), filepath.Join(dir, name+".log"))
		default:
		}
		after, err := measure.CPU(proc.pid())
		if err != nil {
			obs.Close()
			return m, err
		}
		m.appCPU = after - appBefore
		if m.appRSS, err = measure.PeakRSS(proc.pid()); err != nil {
			obs.Close()
			return m, err
		}
	}
	astAfter, err := measure.CPU(o.asteriskPID)
	if err != nil {
		obs.Close()
		return m, err
	}
	m.asteriskCPU = astAfter - astBefore
	evs, bad, obsErr := obs.Close()
	if obsErr != nil {
		return m, fmt.Errorf("%s: %w", name, obsErr)
	}
	m.observerBad = bad
	m.latency = measure.Pair(evs)
	for _, u := range agents {
		m.agentCalls += len(u.Calls())
	}
	m.wall = time.Since(t0)
	return m, nil
}
