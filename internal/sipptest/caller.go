// Package sipptest drives sipp (Debian sip-tester 3.6) against Asterisk:
// caller (UAC) scenarios generated from a Go description, with RTP audio and
// RFC 4733 DTMF replayed from sipp's captures, and agent/customer UAS that
// log the From user (ANI), To user and Call-ID of every call they get.
package sipptest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ErrCallFailed reports a caller whose sipp scenario did not complete.
var ErrCallFailed = errors.New("sipptest: call failed")

type stepKind int

const (
	stepPause stepKind = iota + 1
	stepDTMF
	stepAudio
	stepExpectBye
	stepHangup
)

// Step is one event of a caller's timeline.
type Step struct {
	kind   stepKind
	d      time.Duration
	digits string
}

// Pause waits d without sending media.
func Pause(d time.Duration) Step { return Step{kind: stepPause, d: d} }

// DTMF sends each key of digits (0-9, *, #) as an RFC 4733 event, one
// capture play per key, DigitSpacing apart.
func DTMF(digits string) Step { return Step{kind: stepDTMF, digits: digits} }

// Audio sends G.711 A-law audio from g711a.pcap for d (looped or cut).
func Audio(d time.Duration) Step { return Step{kind: stepAudio, d: d} }

// ExpectBye waits up to ByeTimeout for Asterisk to hang up; it ends the call.
func ExpectBye() Step { return Step{kind: stepExpectBye} }

// Hangup sends BYE; it ends the call.
func Hangup() Step { return Step{kind: stepHangup} }

const (
	// DigitSpacing is the time one DTMF key takes: the 140 ms capture and a gap.
	DigitSpacing = 250 * time.Millisecond
	// ByeTimeout bounds ExpectBye.
	ByeTimeout = 60 * time.Second
)

func (s Step) String() string {
	switch s.kind {
	case stepPause:
		return "Pause(" + s.d.String() + ")"
	case stepDTMF:
		return "DTMF(" + strconv.Quote(s.digits) + ")"
	case stepAudio:
		return "Audio(" + s.d.String() + ")"
	case stepExpectBye:
		return "ExpectBye()"
	case stepHangup:
		return "Hangup()"
	}
	return "Step(?)"
}

// Caller describes one inbound call placed by sipp.
type Caller struct {
	Extension string // request user dialled on Asterisk, e.g. "200"
	From      string // caller ID (From user); default "sipp"
	// FromName is the From display name, sent as a quoted-string (quotes
	// and backslashes escaped); it may hold any text but CR, LF, and the
	// square brackets of sipp's keywords.
	FromName string
	// Events run in order after the call is answered. A timeline that does
	// not end with ExpectBye or Hangup gets a Hangup appended.
	Events []Step
}

// Result is what a sipp caller run left behind.
type Result struct {
	ExitCode int           // sipp's: 0 all calls succeeded, 1 some failed, others fatal
	Duration time.Duration // wall time of the sipp run
	Dir      string        // working folder (scenario, pcaps, logs); removed by Cleanup
	Scenario string        // the generated scenario XML
	Stats    string        // sipp's statistics CSV (-trace_stat)
	Messages string        // every SIP message sent and received (-trace_msg)
	Errors   string        // sipp's error log (-trace_err)
	Screen   string        // sipp's stdout and stderr
	// HungUpBy is "remote" when Asterisk sent BYE (at ExpectBye or earlier,
	// which ends the timeline there), "local" when the caller did.
	HungUpBy string
}

// Cleanup removes the working folder.
func (r Result) Cleanup() error { return os.RemoveAll(r.Dir) }

// validate checks the timeline and returns it with the closing Hangup.
func (c Caller) validate() ([]Step, error) {
	if c.Extension == "" || strings.ContainsAny(c.Extension, " <>@;\"\r\n") {
		return nil, fmt.Errorf("sipptest: caller: bad extension %q", c.Extension)
	}
	if strings.ContainsAny(c.From, " <>@;\"\r\n") {
		return nil, fmt.Errorf("sipptest: caller: bad From user %q", c.From)
	}
	if strings.ContainsAny(c.FromName, "\r\n[]") || strings.Contains(c.FromName, "]]>") {
		return nil, fmt.Errorf("sipptest: caller: bad From display name %q", c.FromName)
	}
	steps := append([]Step(nil), c.Events...)
	for i, s := range steps {
		switch s.kind {
		case stepPause, stepAudio:
			if s.d <= 0 {
				return nil, fmt.Errorf("sipptest: caller: step %d %v: duration must be positive", i, s)
			}
		case stepDTMF:
			if s.digits == "" {
				return nil, fmt.Errorf("sipptest: caller: step %d: DTMF with no keys", i)
			}
			for _, k := range s.digits {
				if _, err := dtmfPcapName(k); err != nil {
					return nil, fmt.Errorf("sipptest: caller: step %d: %w", i, err)
				}
			}
		case stepExpectBye, stepHangup:
			if i != len(steps)-1 {
				return nil, fmt.Errorf("sipptest: caller: step %d %v must be the last step", i, s)
			}
		default:
			return nil, fmt.Errorf("sipptest: caller: step %d: zero Step", i)
		}
	}
	if n := len(steps); n == 0 || (steps[n-1].kind != stepExpectBye && steps[n-1].kind != stepHangup) {
		steps = append(steps, Hangup())
	}
	return steps, nil
}

// Prepare writes the scenario and its captures into dir and returns the
// scenario path; RunCaller uses it, and SIP testers can run the result by
// hand: sipp 127.0.0.1:5070 -sf DIR/caller.xml -s EXT -m 1 -mp 30000.
func (c Caller) Prepare(dir string) (string, error) {
	steps, err := c.validate()
	if err != nil {
		return "", err
	}
	var ssrc [4]byte
	if _, err := rand.Read(ssrc[:]); err != nil {
		return "", fmt.Errorf("sipptest: ssrc: %w", err)
	}
	xml, pcaps, err := buildCaller(c, steps, binary.BigEndian.Uint32(ssrc[:]))
	if err != nil {
		return "", err
	}
	for name, pkts := range pcaps {
		if err := writePcap(filepath.Join(dir, name), pkts); err != nil {
			return "", err
		}
	}
	path := filepath.Join(dir, "caller.xml")
	if err := os.WriteFile(path, []byte(xml), 0o644); err != nil {
		return "", fmt.Errorf("sipptest: write scenario: %w", err)
	}
	return path, nil
}

// RunCaller places the call with sipp against Asterisk's SIP port on
// 127.0.0.1 and waits for the scenario to end. A call that sipp counts as
// failed returns the Result and an error wrapping ErrCallFailed. The working
// folder stays for inspection; call Result.Cleanup.
func RunCaller(ctx context.Context, c Caller, asteriskSIPPort int) (Result, error) {
	dir, err := os.MkdirTemp("", "sipp-caller-")
	if err != nil {
		return Result{}, fmt.Errorf("sipptest: caller: %w", err)
	}
	res := Result{Dir: dir, ExitCode: -1}
	setupFailed := func(err error) (Result, error) {
		os.RemoveAll(dir)
		return Result{ExitCode: -1}, err
	}
	scenario, err := c.Prepare(dir)
	if err != nil {
		return setupFailed(err)
	}
	xml, _ := os.ReadFile(scenario)
	res.Scenario = string(xml)
	sipPort, err := freeUDPPort()
	if err != nil {
		return setupFailed(err)
	}
	mediaPort, err := freeMediaPort()
	if err != nil {
		return setupFailed(err)
	}
	args := []string{
		fmt.Sprintf("127.0.0.1:%d", asteriskSIPPort),
		"-sf", scenario, "-s", c.Extension,
		"-i", "127.0.0.1", "-p", strconv.Itoa(sipPort),
		"-mi", "127.0.0.1", "-mp", strconv.Itoa(mediaPort),
		"-m", "1", "-l", "1", "-nostdin",
		"-timeout", strconv.Itoa(int(callerTimeout(c).Seconds())) + "s", "-timeout_error",
		"-trace_msg", "-message_file", filepath.Join(dir, "messages.log"),
		"-trace_err", "-error_file", filepath.Join(dir, "errors.log"),
		"-trace_stat", "-stf", filepath.Join(dir, "stats.csv"),
		"-trace_logs", "-log_file", filepath.Join(dir, "calls.log"),
	}
	var screen bytes.Buffer
	cmd := exec.CommandContext(ctx, "sipp", args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = &screen, &screen
	cmd.WaitDelay = 5 * time.Second
	t0 := time.Now()
	runErr := cmd.Run()
	res.Duration = time.Since(t0)
	res.Screen = screen.String()
	res.Stats = readOptional(filepath.Join(dir, "stats.csv"))
	res.Messages = readOptional(filepath.Join(dir, "messages.log"))
	res.Errors = readOptional(filepath.Join(dir, "errors.log"))
	res.HungUpBy = hungUpBy(readOptional(filepath.Join(dir, "calls.log")))
	var exitErr *exec.ExitError
	switch {
	case runErr == nil:
		res.ExitCode = 0
		return res, nil
	case ctx.Err() != nil:
		return res, fmt.Errorf("sipptest: caller %s: %w", c.Extension, context.Cause(ctx))
	case errors.As(runErr, &exitErr):
		res.ExitCode = exitErr.ExitCode()
		return res, fmt.Errorf("%w: caller %s: sipp exit %d: %s", ErrCallFailed, c.Extension, res.ExitCode, lastLines(res.Errors+res.Screen, 8))
	default:
		return res, fmt.Errorf("sipptest: caller %s: run sipp: %w", c.Extension, runErr)
	}
}

// callerTimeout bounds a whole caller run: its timeline, a BYE wait, and a
// margin for call set-up.
func callerTimeout(c Caller) time.Duration {
	d := 30 * time.Second
	for _, s := range c.Events {
		switch s.kind {
		case stepPause, stepAudio:
			d += s.d
		case stepDTMF:
			d += time.Duration(len(s.digits)) * DigitSpacing
		case stepExpectBye:
			d += ByeTimeout
		}
	}
	return d
}

func readOptional(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return string(b)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// hungUpBy reads who ended the call from the scenario's CALLFLOW-END line.
func hungUpBy(log string) string {
	for _, line := range strings.Split(log, "\n") {
		if _, rest, ok := strings.Cut(line, "CALLFLOW-END "); ok {
			for _, f := range strings.Fields(rest) {
				if v, ok := strings.CutPrefix(f, "by="); ok {
					return v
				}
			}
		}
	}
	return ""
}
