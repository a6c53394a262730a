package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/callflow/callflow/internal/asterisktest"
)

// The drain tests run the real binary: signals, exit codes and the exit
// itself are what they check. The switch is an Asterisk address nobody
// listens on (the ARI client keeps retrying), so serve runs its whole
// start-up and shutdown path without calls.

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func callflowBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "callflow-drain-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "callflow")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// serveProc is a running "callflow serve" with its JSON log lines.
type serveProc struct {
	cmd   *exec.Cmd
	lines chan map[string]any
	mu    sync.Mutex
	all   []string
	done  chan struct{}
	err   error
}

func startServe(t *testing.T, shutdownTimeout string) *serveProc {
	t.Helper()
	return startServeOn(t, shutdownTimeout, nil)
}

// startServeOn runs serve against ast, or against an address nobody
// listens on when ast is nil.
func startServeOn(t *testing.T, shutdownTimeout string, ast *asterisktest.Asterisk) *serveProc {
	t.Helper()
	bin := callflowBinary(t)
	dir := t.TempDir()
	flows, err := filepath.Abs("../../examples/flows")
	if err != nil {
		t.Fatal(err)
	}
	// Nothing listens on the port of a listener closed at once: the
	// switch's address, and one for the API (the config wants a port).
	freeAddr := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return ln.Addr().String()
	}
	apiAddr := freeAddr()
	ariURL, user, pass, app := "http://"+freeAddr()+"/ari", "callflow", "secret", "callflow"
	if ast != nil {
		ariURL, user, pass, app = ast.ARIURL, ast.User, ast.Pass, ast.App
	}
	cfg := fmt.Sprintf(`switch:
  type: asterisk
  asterisk: {url: %q, username: %q, password: %q, app: %q}
flows: {dir: %q, default: ivr-offer}
store: {path: callflow.db}
media: {dir: media}
api: {listen: %q}
log: {format: json}
shutdown_timeout: %s
trunks:
  customer: {dial: "PJSIP/{e164}@customer"}
queues:
  support:
    agents: [PJSIP/agent1]
    callback: {ani: "+420222333444", trunk: customer}
`, ariURL, user, pass, app, flows, apiAddr, shutdownTimeout)
	cfgPath := filepath.Join(dir, "callflow.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", "--config", cfgPath)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &serveProc{cmd: cmd, lines: make(chan map[string]any, 1024), done: make(chan struct{})}
	// Ends when the process closes stderr.
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.mu.Lock()
			p.all = append(p.all, sc.Text())
			p.mu.Unlock()
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				select {
				case p.lines <- m:
				default:
				}
			}
		}
		close(p.lines)
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// waitLog waits for a log line with message msg and returns it.
func (p *serveProc) waitLog(t *testing.T, msg string) map[string]any {
	t.Helper()
	timeout := time.After(60 * time.Second)
	for {
		select {
		case m, ok := <-p.lines:
			if !ok {
				t.Fatalf("serve exited before logging %q:\n%s", msg, p.log())
			}
			if m["msg"] == msg {
				return m
			}
		case <-timeout:
			t.Fatalf("no %q log line within 60s:\n%s", msg, p.log())
		}
	}
}

func (p *serveProc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.all, "\n")
}

// exitCode waits (at most bound) for the process and returns its exit code.
func (p *serveProc) exitCode(t *testing.T, bound time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(bound):
		t.Fatalf("serve still running %v after the signal:\n%s", bound, p.log())
	}
	var ee *exec.ExitError
	switch {
	case p.err == nil:
		return 0
	case errors.As(p.err, &ee):
		return ee.ExitCode()
	default:
		t.Fatalf("wait: %v", p.err)
		return -1
	}
}

func (p *serveProc) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

// holdAPI opens an API connection with half a request: the API's graceful
// shutdown waits for it (up to its read-header timeout), which keeps the
// drain going while the test acts.
func holdAPI(t *testing.T, listening map[string]any) {
	t.Helper()
	addr, _ := listening["addr"].(string)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n")); err != nil {
		t.Fatal(err)
	}
	// The kernel accepts the connection before the server does; a signal in
	// between would close the listener with the connection still in its
	// backlog, untracked, and the drain would not wait for it. The server
	// accepts in order from one loop, so once a later connection has been
	// answered the held one is tracked.
	later, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer later.Close()
	if _, err := later.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	later.SetReadDeadline(time.Now().Add(30 * time.Second))
	line, err := bufio.NewReader(later).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 ") {
		t.Fatalf("second API connection: %q, %v", line, err)
	}
}

func TestServeDrainsOnSignal(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			p := startServe(t, "20s")
			p.waitLog(t, "api listening")
			p.signal(t, sig)
			p.waitLog(t, "draining")
			p.waitLog(t, "callflow drained; calls left up in the switch")
			// The bound is the configured shutdown_timeout plus slack for
			// a loaded machine; serve enforces the timeout itself.
			if code := p.exitCode(t, 60*time.Second); code != 0 {
				t.Fatalf("exit %d after %v, want 0:\n%s", code, sig, p.log())
			}
			if strings.Contains(p.log(), "shutdown_timeout passed") {
				t.Fatalf("drain hit the timeout:\n%s", p.log())
			}
		})
	}
}

func TestServeSecondSignalExitsAtOnce(t *testing.T) {
	// shutdown_timeout far above the hold: only the second signal can end
	// the process before the drain does.
	p := startServe(t, "10m")
	holdAPI(t, p.waitLog(t, "api listening"))
	p.signal(t, syscall.SIGTERM)
	p.waitLog(t, "draining")
	p.signal(t, syscall.SIGINT)
	if code := p.exitCode(t, 60*time.Second); code != exitSecondSignal {
		t.Fatalf("exit %d, want %d:\n%s", code, exitSecondSignal, p.log())
	}
	if log := p.log(); !strings.Contains(log, "second signal (interrupt): exiting at once") || strings.Contains(log, "callflow drained") {
		t.Fatalf("log lacks the second-signal exit or shows a finished drain:\n%s", log)
	}
}

func TestServeShutdownTimeout(t *testing.T) {
	// The held API connection keeps the drain going for the API's
	// read-header timeout (5s), far beyond shutdown_timeout.
	p := startServe(t, "100ms")
	holdAPI(t, p.waitLog(t, "api listening"))
	p.signal(t, syscall.SIGTERM)
	if code := p.exitCode(t, 60*time.Second); code != 1 {
		t.Fatalf("exit %d, want 1:\n%s", code, p.log())
	}
	if log := p.log(); !strings.Contains(log, "shutdown_timeout passed before the drain finished") {
		t.Fatalf("log lacks the timeout:\n%s", log)
	}
}

// TestServeDrainLeavesCallsUp drains serve on a real Asterisk with a caller
// in its IVR: serve exits 0 and the caller's channel is still up.
func TestServeDrainLeavesCallsUp(t *testing.T) {
	ast := asterisktest.Require(t)
	p := startServeOn(t, "20s", ast)
	p.waitLog(t, "api listening")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// The Local channel's first half enters the Stasis application through
	// the callflow-in context; the second half waits.
	if out, err := ast.CLI(ctx, "channel originate Local/200@callflow-in application Wait 600"); err != nil {
		t.Fatalf("originate: %v\n%s", err, out)
	}
	p.waitLog(t, "call started")
	p.signal(t, syscall.SIGTERM)
	if code := p.exitCode(t, 60*time.Second); code != 0 {
		t.Fatalf("exit %d, want 0:\n%s", code, p.log())
	}
	if !strings.Contains(p.log(), "callflow drained") {
		t.Fatalf("no drained line:\n%s", p.log())
	}
	out, err := ast.CLI(ctx, "core show channels concise")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "Local/200@callflow-in") {
		t.Fatalf("the caller's channel is gone after the drain:\n%s\nserve log:\n%s", out, p.log())
	}
}
