package loadgen

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Load is one run's caller load: Concurrency calls at once, split between
// pressers (PressShare) and waiters, each slot placing Rounds calls.
type Load struct {
	Target      string  // Asterisk's SIP address, "127.0.0.1:5070"
	Extension   string  // dialled number: "control" or the flow's extension
	Concurrency int     // calls at once (sipp -l, summed over both groups)
	PressShare  float64 // share of the concurrency that presses 1 (0..1)
	Rounds      int     // calls per slot: each group places limit×Rounds calls
	Timing      Timing
	// Ramp is how long each group takes to reach its limit: its rate is
	// limit/Ramp calls per second (default 10 s). Past the limit, a call
	// starts when one ends, so the limit sets the concurrency.
	Ramp    time.Duration
	Dir     string // working folder: scenarios, stats, logs
	PcapSrc string // folder with sipp's DTMF captures; default SystemPcapDir
	// MediaPorts are the -mp ports of the presser and waiter sipp; they lie
	// outside Asterisk's RTP range. Default 30000 and 34000.
	MediaPorts [2]int
	// Caller is the From user part before sipp's call number; default
	// DefaultCaller. FreeSWITCH's callflow driver passes a caller's number
	// on as the agent leg's caller ID, which must be digits.
	Caller string
	Logf   func(string, ...any)
}

// Group is one sipp process of a run.
type Group struct {
	Kind     Kind
	Limit    int     // sipp -l
	Calls    int     // sipp -m
	Rate     float64 // sipp -r, calls per second
	ExitCode int     // 0 all calls succeeded, 1 some failed, other: sipp failed
	Stats    Stats
	Errors   string // last lines of sipp's error log
}

// Result sums a run.
type Result struct {
	Groups   []Group
	Duration time.Duration
}

// Attempted is the number of calls placed.
func (r Result) Attempted() int { return r.sum(func(g Group) int { return g.Stats.Created }) }

// Successful is the number of calls whose scenario completed.
func (r Result) Successful() int { return r.sum(func(g Group) int { return g.Stats.Successful }) }

// Failed is the number of calls sipp counted as failed.
func (r Result) Failed() int { return r.sum(func(g Group) int { return g.Stats.Failed }) }

// PeakConcurrent sums each group's highest concurrent call count (an upper
// bound of the true peak: the groups' peaks need not coincide).
func (r Result) PeakConcurrent() int {
	return r.sum(func(g Group) int { return g.Stats.PeakConcurrent })
}

// Planned is the number of calls the run meant to place.
func (r Result) Planned() int { return r.sum(func(g Group) int { return g.Calls }) }

// Clean reports a run where every planned call was placed and succeeded.
func (r Result) Clean() bool {
	for _, g := range r.Groups {
		if g.ExitCode != 0 || g.Stats.Failed != 0 || g.Stats.Successful != g.Calls {
			return false
		}
	}
	return len(r.Groups) > 0
}

func (r Result) sum(f func(Group) int) int {
	n := 0
	for _, g := range r.Groups {
		n += f(g)
	}
	return n
}

// Plan splits the load into its sipp groups (a group with no slot is left
// out), each with rate limit/Ramp.
func (l Load) Plan() ([]Group, error) {
	if l.Concurrency < 1 || l.Concurrency > 2000 {
		return nil, fmt.Errorf("loadgen: concurrency %d out of 1..2000", l.Concurrency)
	}
	if l.PressShare < 0 || l.PressShare > 1 || math.IsNaN(l.PressShare) {
		return nil, fmt.Errorf("loadgen: press share %v out of 0..1", l.PressShare)
	}
	if l.Rounds < 1 || l.Rounds > 100 {
		return nil, fmt.Errorf("loadgen: rounds %d out of 1..100", l.Rounds)
	}
	if err := l.Timing.Validate(); err != nil {
		return nil, err
	}
	ramp := l.Ramp
	if ramp == 0 {
		ramp = 10 * time.Second
	}
	if ramp < time.Second || ramp > 10*time.Minute {
		return nil, fmt.Errorf("loadgen: ramp %v out of 1s..10m", ramp)
	}
	press := int(math.Round(float64(l.Concurrency) * l.PressShare))
	var groups []Group
	for _, g := range []struct {
		kind  Kind
		limit int
	}{{Presser, press}, {Waiter, l.Concurrency - press}} {
		if g.limit == 0 {
			continue
		}
		rate := float64(g.limit) / ramp.Seconds()
		groups = append(groups, Group{Kind: g.kind, Limit: g.limit, Calls: g.limit * l.Rounds, Rate: math.Ceil(rate*10) / 10})
	}
	return groups, nil
}

// MaxDuration bounds a run: each group's rounds of its longest call (or of
// its ramp, when slower), twice over, plus a minute of slack.
func (l Load) MaxDuration() time.Duration {
	groups, err := l.Plan()
	if err != nil {
		return time.Minute
	}
	var longest time.Duration
	for _, g := range groups {
		ramp := time.Duration(float64(g.Limit) / g.Rate * float64(time.Second))
		hold := l.Timing.HoldTime(g.Kind) + l.Timing.ByeTimeout
		longest = max(longest, 2*time.Duration(l.Rounds+1)*max(hold, ramp))
	}
	return longest + time.Minute
}

// Run places the load and waits until every sipp has finished; the run is
// bounded by MaxDuration and by ctx (sipp gets TERM, then KILL).
func Run(ctx context.Context, l Load) (Result, error) {
	groups, err := l.Plan()
	if err != nil {
		return Result{}, err
	}
	if l.Logf == nil {
		l.Logf = func(string, ...any) {}
	}
	if l.PcapSrc == "" {
		l.PcapSrc = SystemPcapDir
	}
	if l.MediaPorts == [2]int{} {
		l.MediaPorts = [2]int{30000, 34000}
	}
	if err := os.MkdirAll(l.Dir, 0o755); err != nil {
		return Result{}, fmt.Errorf("loadgen: run dir: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, l.MaxDuration())
	defer cancel()

	t0 := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, len(groups))
	for i := range groups {
		g := &groups[i]
		caller := l.Caller
		if caller == "" {
			caller = DefaultCaller
		}
		scenario, err := WriteCaller(l.Dir, g.Kind, l.Timing, l.PcapSrc, caller)
		if err != nil {
			return Result{}, err
		}
		port, err := freeUDPPort()
		if err != nil {
			return Result{}, err
		}
		mp := l.MediaPorts[0]
		if g.Kind == Waiter {
			mp = l.MediaPorts[1]
		}
		wg.Add(1)
		// Ends when sipp exits: after its -m calls, or when ctx ends it.
		go func() {
			defer wg.Done()
			errs[i] = runSipp(ctx, l, g, scenario, port, mp)
		}()
	}
	wg.Wait()
	res := Result{Groups: groups, Duration: time.Since(t0)}
	return res, errors.Join(errs...)
}

func runSipp(ctx context.Context, l Load, g *Group, scenario string, port, mediaPort int) error {
	base := filepath.Join(l.Dir, string(g.Kind))
	statFile, errFile, screenFile := base+"-stats.csv", base+"-errors.log", base+"-screen.log"
	for _, f := range []string{statFile, errFile} {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("loadgen: %w", err)
		}
	}
	args := []string{
		l.Target, "-sf", scenario, "-s", l.Extension,
		"-i", "127.0.0.1", "-p", strconv.Itoa(port), "-bind_local",
		"-mi", "127.0.0.1", "-mp", strconv.Itoa(mediaPort),
		"-l", strconv.Itoa(g.Limit), "-m", strconv.Itoa(g.Calls),
		"-r", strconv.FormatFloat(g.Rate, 'f', 1, 64),
		"-nostdin", "-default_behaviors", "all",
		"-trace_stat", "-stf", statFile, "-fd", "1",
		"-trace_err", "-error_file", errFile,
	}
	screen, err := os.Create(screenFile)
	if err != nil {
		return fmt.Errorf("loadgen: %w", err)
	}
	defer screen.Close()
	cmd := exec.CommandContext(ctx, "sipp", args...)
	cmd.Dir = l.Dir
	cmd.Stdout, cmd.Stderr = screen, screen
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 5 * time.Second
	l.Logf("loadgen: %s: sipp -l %d -m %d -r %.1f (%s)", g.Kind, g.Limit, g.Calls, g.Rate, l.Extension)
	runErr := cmd.Run()
	g.ExitCode = cmd.ProcessState.ExitCode()
	g.Errors = lastLines(readOptional(errFile), 5)
	f, err := os.Open(statFile)
	if err != nil {
		return fmt.Errorf("loadgen: %s sipp (exit %d, %v) left no stats: %w: %s", g.Kind, g.ExitCode, runErr, err,
			lastLines(readOptional(screenFile), 5))
	}
	defer f.Close()
	if g.Stats, err = ParseStats(f); err != nil {
		return fmt.Errorf("loadgen: %s: %w", g.Kind, err)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("loadgen: %s sipp stopped: %w", g.Kind, context.Cause(ctx))
	}
	// Exit 1 means some calls failed: a result, not an error of the run.
	if runErr != nil && g.ExitCode != 1 {
		return fmt.Errorf("loadgen: %s sipp exit %d: %w: %s", g.Kind, g.ExitCode, runErr, lastLines(readOptional(screenFile), 5))
	}
	return nil
}

func freeUDPPort() (int, error) {
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("loadgen: free udp port: %w", err)
	}
	defer pc.Close()
	return pc.LocalAddr().(*net.UDPAddr).Port, nil
}

func readOptional(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return string(b)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
