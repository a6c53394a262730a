package sipptest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Mode is how a UAS treats an INVITE.
type Mode int

const (
	// Answer rings RingFor, answers with 200 OK, and keeps the call until
	// Asterisk sends BYE or Hold has passed (then it sends BYE itself).
	Answer Mode = iota
	// Busy answers 486 Busy Here.
	Busy
	// NoAnswer rings until Asterisk cancels.
	NoAnswer
)

func (m Mode) String() string {
	switch m {
	case Answer:
		return "answer"
	case Busy:
		return "busy"
	case NoAnswer:
		return "noanswer"
	}
	return "mode(" + strconv.Itoa(int(m)) + ")"
}

// UASOptions configure StartUAS.
type UASOptions struct {
	Port    int           // SIP port on 127.0.0.1, e.g. Asterisk.AgentPorts[0]; 0 picks a free one
	Mode    Mode          // answer (default), busy or noanswer
	RingFor time.Duration // Answer: ring this long before 200 OK
	Hold    time.Duration // Answer: hang up after this; 0 waits for Asterisk's BYE
	Calls   int           // stop after this many calls; 0 serves until Stop
	Logf    func(string, ...any)
}

// UASCall is one INVITE a UAS received.
type UASCall struct {
	From   string // From user: the ANI Asterisk presented
	To     string // To user
	CallID string
}

// UAS is a running sipp UAS.
type UAS struct {
	Port    int
	Dir     string // scenario, logs; removed by Stop
	opt     UASOptions
	cmd     *exec.Cmd
	done    chan struct{} // closed when sipp has exited
	err     error         // sipp's exit status, valid after done
	once    sync.Once
	stopErr error
}

// StartUAS starts sipp as a UAS on 127.0.0.1 and returns once it listens.
// The sipp process ends on Stop, after Calls calls, or when ctx is done.
func StartUAS(ctx context.Context, opt UASOptions) (*UAS, error) {
	if opt.Mode < Answer || opt.Mode > NoAnswer {
		return nil, fmt.Errorf("sipptest: uas: unknown mode %v", opt.Mode)
	}
	if opt.Logf == nil {
		opt.Logf = func(string, ...any) {}
	}
	dir, err := os.MkdirTemp("", "sipp-uas-")
	if err != nil {
		return nil, fmt.Errorf("sipptest: uas: %w", err)
	}
	u := &UAS{Port: opt.Port, Dir: dir, opt: opt, done: make(chan struct{})}
	fail := func(err error) (*UAS, error) {
		os.RemoveAll(dir)
		return nil, err
	}
	if u.Port == 0 {
		if u.Port, err = freeUDPPort(); err != nil {
			return fail(err)
		}
	}
	scenario := filepath.Join(dir, "uas.xml")
	if err := os.WriteFile(scenario, []byte(buildUAS(opt)), 0o644); err != nil {
		return fail(fmt.Errorf("sipptest: uas: write scenario: %w", err))
	}
	mediaPort, err := freeMediaPort()
	if err != nil {
		return fail(err)
	}
	args := []string{
		"-sf", scenario,
		"-i", "127.0.0.1", "-p", strconv.Itoa(u.Port), "-bind_local",
		"-mi", "127.0.0.1", "-mp", strconv.Itoa(mediaPort),
		"-nostdin",
		"-trace_logs", "-log_file", filepath.Join(dir, "calls.log"),
		"-trace_msg", "-message_file", filepath.Join(dir, "messages.log"),
		"-trace_err", "-error_file", filepath.Join(dir, "errors.log"),
	}
	if opt.Calls > 0 {
		args = append(args, "-m", strconv.Itoa(opt.Calls))
	}
	screen, err := os.Create(filepath.Join(dir, "screen.log"))
	if err != nil {
		return fail(fmt.Errorf("sipptest: uas: %w", err))
	}
	u.cmd = exec.CommandContext(ctx, "sipp", args...)
	u.cmd.Dir = dir
	u.cmd.Stdout, u.cmd.Stderr = screen, screen
	u.cmd.Cancel = func() error { return u.cmd.Process.Signal(syscall.SIGTERM) }
	u.cmd.WaitDelay = 5 * time.Second
	if err := u.cmd.Start(); err != nil {
		screen.Close()
		return fail(fmt.Errorf("sipptest: uas: start sipp: %w", err))
	}
	screen.Close() // the child holds its own copy
	// Ends when sipp exits: after Calls calls, on Stop, or when ctx is done.
	go func() {
		u.err = u.cmd.Wait()
		close(u.done)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		bound, err := udpBound(u.Port)
		if err != nil {
			u.Stop()
			return nil, err
		}
		if bound {
			break
		}
		select {
		case <-u.done:
			out := readOptional(filepath.Join(dir, "screen.log")) + readOptional(filepath.Join(dir, "errors.log"))
			os.RemoveAll(dir)
			return nil, fmt.Errorf("sipptest: uas on port %d exited at start: %v: %s", u.Port, u.err, lastLines(out, 8))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			u.Stop()
			return nil, fmt.Errorf("sipptest: uas: port %d not bound after 5s", u.Port)
		}
	}
	opt.Logf("sipptest: uas %s on 127.0.0.1:%d (pid %d)", opt.Mode, u.Port, u.cmd.Process.Pid)
	return u, nil
}

// Calls returns the INVITEs received so far, in arrival order.
func (u *UAS) Calls() []UASCall {
	f, err := os.Open(filepath.Join(u.Dir, "calls.log"))
	if err != nil {
		return nil
	}
	defer f.Close()
	return parseCalls(f)
}

// WaitCalls waits until the UAS has received n calls or ctx is done.
func (u *UAS) WaitCalls(ctx context.Context, n int) ([]UASCall, error) {
	for {
		calls := u.Calls()
		if len(calls) >= n {
			return calls, nil
		}
		select {
		case <-ctx.Done():
			return calls, fmt.Errorf("sipptest: uas %d: %d of %d calls: %w", u.Port, len(calls), n, context.Cause(ctx))
		case <-u.done:
			if calls = u.Calls(); len(calls) >= n {
				return calls, nil
			}
			return calls, fmt.Errorf("sipptest: uas %d exited after %d of %d calls: %v", u.Port, len(calls), n, u.err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Messages returns the SIP messages the UAS sent and received.
func (u *UAS) Messages() string { return readOptional(filepath.Join(u.Dir, "messages.log")) }

// Stop ends sipp (TERM, then KILL after 5 s) and removes its folder. It
// returns an error only when sipp could not be stopped.
func (u *UAS) Stop() error {
	u.once.Do(func() {
		select {
		case <-u.done:
		default:
			_ = u.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-u.done:
			case <-time.After(5 * time.Second):
				if err := u.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
					u.stopErr = fmt.Errorf("sipptest: uas %d: kill: %w", u.Port, err)
				}
				<-u.done
			}
		}
		if err := os.RemoveAll(u.Dir); err != nil && u.stopErr == nil {
			u.stopErr = fmt.Errorf("sipptest: uas %d: %w", u.Port, err)
		}
	})
	return u.stopErr
}

const callTag = "CALLFLOW-CALL"

// parseCalls reads the lines the UAS scenario logs for every INVITE:
// "CALLFLOW-CALL from=<user> to=<user> callid=<id>".
func parseCalls(r io.Reader) []UASCall {
	var calls []UASCall
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		i := strings.Index(line, callTag+" ")
		if i < 0 {
			continue
		}
		var c UASCall
		for _, f := range strings.Fields(line[i+len(callTag):]) {
			k, v, _ := strings.Cut(f, "=")
			switch k {
			case "from":
				c.From = v
			case "to":
				c.To = v
			case "callid":
				c.CallID = v
			}
		}
		calls = append(calls, c)
	}
	return calls
}

// udpBound reports whether something listens on UDP 127.0.0.1:port, read
// from /proc/net/udp so the probe never takes the port itself.
func udpBound(port int) (bool, error) {
	b, err := os.ReadFile("/proc/net/udp")
	if err != nil {
		return false, fmt.Errorf("sipptest: %w", err)
	}
	want := []byte(fmt.Sprintf("0100007F:%04X ", port))
	wildcard := []byte(fmt.Sprintf("00000000:%04X ", port))
	return bytes.Contains(b, want) || bytes.Contains(b, wildcard), nil
}

// Log returns the UAS's call log (-trace_logs): one CALLFLOW-CALL line per
// INVITE and one CALLFLOW-END line per answered call's end.
func (u *UAS) Log() string { return readOptional(filepath.Join(u.Dir, "calls.log")) }
