package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/callflow/callflow/bench/measure"
)

// ari is the few ARI requests benchrun makes itself.
type ari struct {
	url, user, pass string
	client          *http.Client
}

func (a ari) get(ctx context.Context, path string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.url+path, nil)
	if err != nil {
		return 0, nil, fmt.Errorf("ari: %w", err)
	}
	req.SetBasicAuth(a.user, a.pass)
	resp, err := a.client.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("ari: GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return resp.StatusCode, nil, fmt.Errorf("ari: GET %s: %w", path, err)
	}
	return resp.StatusCode, body, nil
}

// waitApp polls until the Stasis application app is registered (the
// application under test has connected its websocket) or timeout passes.
func (a ari) waitApp(ctx context.Context, app string, timeout time.Duration, exited <-chan struct{}) error {
	deadline := time.Now().Add(timeout)
	for {
		code, _, err := a.get(ctx, "/applications/"+app)
		if err == nil && code == http.StatusOK {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("ari: application %q not registered after %v (last: %d %v)", app, timeout, code, err)
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-exited:
			return fmt.Errorf("ari: the process serving %q exited before registering", app)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// waitIdle polls until Asterisk has no channels left or timeout passes, and
// returns how many remain.
func (a ari) waitIdle(ctx context.Context, timeout time.Duration) (int, error) {
	deadline := time.Now().Add(timeout)
	for {
		code, body, err := a.get(ctx, "/channels")
		if err != nil {
			return -1, err
		}
		if code != http.StatusOK {
			return -1, fmt.Errorf("ari: GET /channels: status %d", code)
		}
		n := countJSONArray(body)
		if n == 0 || time.Now().After(deadline) {
			return n, nil
		}
		select {
		case <-ctx.Done():
			return n, context.Cause(ctx)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// callerChannels counts the channels on Asterisk that are not agent legs:
// the callers the application under test serves right now.
func (a ari) callerChannels(ctx context.Context) (int, error) {
	code, body, err := a.get(ctx, "/channels")
	if err != nil {
		return 0, err
	}
	if code != http.StatusOK {
		return 0, fmt.Errorf("ari: GET /channels: status %d", code)
	}
	var chans []struct {
		Name string `json:"name"`
	}
	if err := json.Unmarshal(body, &chans); err != nil {
		return 0, fmt.Errorf("ari: GET /channels: %w", err)
	}
	n := 0
	for _, c := range chans {
		if !strings.HasPrefix(c.Name, "PJSIP/agent") {
			n++
		}
	}
	return n, nil
}

// countJSONArray counts the top-level objects of a JSON array of objects.
func countJSONArray(b []byte) int {
	depth, n := 0, 0
	inStr, esc := false, false
	for _, c := range b {
		switch {
		case esc:
			esc = false
		case inStr && c == '\\':
			esc = true
		case c == '"':
			inStr = !inStr
		case inStr:
		case c == '{':
			if depth == 1 {
				n++
			}
			depth++
		case c == '[':
			depth++
		case c == '}' || c == ']':
			depth--
		}
	}
	return n
}

// app is the application under test, run as a child process.
type app struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed when the process has been waited for
	err    error
}

// startApp starts argv with its output in logPath. The process ends on stop
// (TERM, then KILL after 5 s) or when ctx ends.
func startApp(ctx context.Context, argv []string, dir, logPath string) (*app, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("app: log: %w", err)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("app: start %s: %w", argv[0], err)
	}
	logf.Close()
	a := &app{cmd: cmd, exited: make(chan struct{})}
	// Ends when the process exits (stop, ctx, or on its own).
	go func() {
		a.err = cmd.Wait()
		close(a.exited)
	}()
	return a, nil
}

func (a *app) pid() int { return a.cmd.Process.Pid }

// stop sends TERM to the process group and waits; KILL after 5 s.
func (a *app) stop() error {
	select {
	case <-a.exited:
		return a.exitErr()
	default:
	}
	_ = syscall.Kill(-a.pid(), syscall.SIGTERM)
	select {
	case <-a.exited:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-a.pid(), syscall.SIGKILL)
		<-a.exited
	}
	return nil
}

func (a *app) exitErr() error {
	var ee *exec.ExitError
	if a.err != nil && !errors.As(a.err, &ee) {
		return a.err
	}
	if a.err != nil {
		return fmt.Errorf("app exited early: %w", a.err)
	}
	return errors.New("app exited early")
}

// writeProfileTops writes `go tool pprof -top` of the merged CPU profiles
// (cpu-top.txt flat, cpu-cum.txt cumulative) and of the peak heap profile's
// in-use space (heap-top.txt) into dir/pprof, for the report. Failures are
// logged: the profiles stay for a manual look.
func writeProfileTops(dir, binary string, res measure.ProfileResult) {
	type job struct {
		out  string
		args []string
	}
	var jobs []job
	if len(res.CPUFiles) > 0 {
		jobs = append(jobs,
			job{"cpu-top.txt", append([]string{"tool", "pprof", "-top", "-nodecount=30", binary}, res.CPUFiles...)},
			job{"cpu-cum.txt", append([]string{"tool", "pprof", "-top", "-cum", "-nodecount=40", binary}, res.CPUFiles...)})
	} else {
		logf("pprof: no CPU profiles")
	}
	if res.HeapFile != "" {
		jobs = append(jobs, job{"heap-top.txt", []string{"tool", "pprof", "-top", "-sample_index=inuse_space", "-nodecount=30", binary, res.HeapFile}})
	}
	for _, j := range jobs {
		out, err := exec.Command("go", j.args...).CombinedOutput()
		if err != nil {
			logf("pprof: %s: %v: %s", j.out, err, out)
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, "pprof", j.out), out, 0o644); err != nil {
			logf("pprof: %v", err)
		}
	}
}
