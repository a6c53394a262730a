// Package asterisktest runs a real Asterisk 22 for tests and the demo.
//
// Asterisk lives in a Debian sid chroot built by scripts/asterisk/install.sh
// and is started and stopped by scripts/asterisk/start.sh and stop.sh, on
// loopback ports chosen at start-up and written into the configs rendered from
// deploy/asterisk. Only one Asterisk runs per machine at a time: Start takes an
// exclusive flock that Stop releases, so test binaries of different packages
// take turns.
package asterisktest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	mathrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	// DefaultRoot is where install.sh builds the chroot.
	DefaultRoot = "/var/lib/callflow/asterisk-root"
	// DefaultLockPath serialises Asterisk instances across processes.
	DefaultLockPath = "/run/callflow-asterisk.lock"
	// AgentCount is the number of agent endpoints (agent1..agentN) in pjsip.conf.
	AgentCount = 4

	ariUser = "callflow"
	ariApp  = "callflow"
)

// ErrUnavailable marks a start failure caused by the environment rather than
// by Asterisk or its configuration: not root, or the chroot cannot be built.
var ErrUnavailable = errors.New("asterisktest: asterisk unavailable")

// Options configure Start. The zero value is usable.
type Options struct {
	// Root is the chroot; default DefaultRoot.
	Root string
	// RunDir receives asterisk.log and asterisk.pid; default a new temporary
	// folder, removed by Stop.
	RunDir string
	// Logf receives progress lines (script output, timings); default discard.
	Logf func(string, ...any)
	// LockPath is the machine-wide lock file; default DefaultLockPath.
	LockPath string
	// ScriptsDir holds install.sh, start.sh and stop.sh; default the
	// repository's scripts/asterisk, found from this source file.
	ScriptsDir string
	// SkipInstall does not run install.sh (the chroot must exist).
	SkipInstall bool
}

// Asterisk is a running Asterisk in the chroot.
type Asterisk struct {
	ARIURL       string // http://127.0.0.1:PORT/ari
	User, Pass   string // ARI credentials
	App          string // Stasis application of the callflow-in context
	HTTPPort     int
	SIPPort      int   // PJSIP UDP transport on 127.0.0.1
	AgentPorts   []int // UAS ports configured for agent1..agent4
	CustomerPort int   // UAS port of the customer trunk's contact
	// AGIPort is where the dialplan's AGI(agi://127.0.0.1:PORT/...)
	// hand-offs connect: callflow's switch.asterisk.fastagi_listen.
	AGIPort      int
	Root, RunDir string
	PID          int

	// SoftphonePassword is the password of the softphone account
	// (deploy/asterisk/pjsip.conf; not for production).
	SoftphonePassword string

	// InstallTime and StartTime measure install.sh and start.sh.
	InstallTime, StartTime time.Duration

	scripts    string
	logf       func(string, ...any)
	lock       *os.File
	ownsRunDir bool
	stopOnce   sync.Once
	stopErr    error
}

// Start installs Asterisk if needed, takes the machine-wide lock, chooses free
// loopback ports, renders the configs, starts Asterisk and waits for ARI.
// The caller must call Stop.
func Start(ctx context.Context, opt Options) (*Asterisk, error) {
	a := &Asterisk{User: ariUser, App: ariApp, Root: opt.Root, RunDir: opt.RunDir, logf: opt.Logf}
	if a.Root == "" {
		a.Root = DefaultRoot
	}
	if a.logf == nil {
		a.logf = func(string, ...any) {}
	}
	a.scripts = opt.ScriptsDir
	if a.scripts == "" {
		dir, err := repoScripts()
		if err != nil {
			return nil, err
		}
		a.scripts = dir
	}
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("%w: must run as root (chroot, mount), running as uid %d", ErrUnavailable, os.Geteuid())
	}

	if !opt.SkipInstall {
		t0 := time.Now()
		if out, err := a.script(ctx, nil, "install.sh", a.Root); err != nil {
			return nil, fmt.Errorf("%w: install.sh %s: %v\n%s", ErrUnavailable, a.Root, err, out)
		}
		a.InstallTime = time.Since(t0)
		a.logf("asterisktest: install.sh took %v", a.InstallTime.Round(time.Millisecond))
	}

	lockPath := opt.LockPath
	if lockPath == "" {
		lockPath = DefaultLockPath
	}
	lock, err := acquireLock(ctx, lockPath, a.logf)
	if err != nil {
		return nil, err
	}
	a.lock = lock

	ok := false
	defer func() {
		if !ok {
			a.releaseLock()
			if a.ownsRunDir {
				os.RemoveAll(a.RunDir)
			}
		}
	}()

	if a.RunDir == "" {
		dir, err := os.MkdirTemp("", "callflow-asterisk-")
		if err != nil {
			return nil, fmt.Errorf("asterisktest: run dir: %w", err)
		}
		a.RunDir, a.ownsRunDir = dir, true
	}
	// A test binary killed earlier may have left Asterisk running in the
	// chroot; we hold the lock, so whatever runs there is stale.
	if out, err := a.script(ctx, nil, "stop.sh", a.Root, a.RunDir); err != nil {
		return nil, fmt.Errorf("asterisktest: stop stale asterisk: %w\n%s", err, out)
	}

	ports, err := FreePorts(4 + AgentCount)
	if err != nil {
		return nil, err
	}
	a.HTTPPort, a.SIPPort, a.CustomerPort, a.AGIPort, a.AgentPorts = ports[0], ports[1], ports[2], ports[3], ports[4:]
	a.ARIURL = fmt.Sprintf("http://127.0.0.1:%d/ari", a.HTTPPort)
	secret := make([]byte, 12)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("asterisktest: ari password: %w", err)
	}
	a.Pass = hex.EncodeToString(secret)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("asterisktest: softphone password: %w", err)
	}
	a.SoftphonePassword = hex.EncodeToString(secret)

	env := os.Environ()
	for k, v := range a.Vars() {
		env = append(env, "ASTERISK_"+k+"="+v)
	}
	t0 := time.Now()
	if out, err := a.script(ctx, env, "start.sh", a.Root, a.RunDir); err != nil {
		// start.sh stops what it started when it fails, but not when ctx
		// killed it half-way.
		_, _ = a.script(context.WithoutCancel(ctx), nil, "stop.sh", a.Root, a.RunDir)
		return nil, fmt.Errorf("asterisktest: start.sh: %w\n%s", err, out)
	}
	a.StartTime = time.Since(t0)
	pid, err := os.ReadFile(filepath.Join(a.RunDir, "asterisk.pid"))
	if err != nil {
		return nil, fmt.Errorf("asterisktest: read pid: %w", err)
	}
	if a.PID, err = strconv.Atoi(strings.TrimSpace(string(pid))); err != nil {
		return nil, fmt.Errorf("asterisktest: parse pid %q: %w", pid, err)
	}
	if _, err := a.Info(ctx); err != nil {
		_, _ = a.script(context.WithoutCancel(ctx), nil, "stop.sh", a.Root, a.RunDir)
		return nil, err
	}
	a.logf("asterisktest: asterisk pid %d ready in %v (ari %s, sip %d, agents %v, customer %d)",
		a.PID, a.StartTime.Round(time.Millisecond), a.ARIURL, a.SIPPort, a.AgentPorts, a.CustomerPort)
	ok = true
	return a, nil
}

// Vars returns the values of the @@NAME@@ placeholders in deploy/asterisk for
// this instance (see Render and scripts/asterisk/render.sh).
func (a *Asterisk) Vars() map[string]string {
	v := map[string]string{
		"HTTP_PORT":     strconv.Itoa(a.HTTPPort),
		"SIP_PORT":      strconv.Itoa(a.SIPPort),
		"CUSTOMER_PORT": strconv.Itoa(a.CustomerPort),
		"ARI_PASSWORD":  a.Pass,
		"RTP_START":     "10000",
		"RTP_END":       "20000",
		"AGI_PORT":      strconv.Itoa(a.AGIPort),
	}
	v["SOFTPHONE_PASSWORD"] = a.SoftphonePassword
	for i, p := range a.AgentPorts {
		v[fmt.Sprintf("AGENT%d_PORT", i+1)] = strconv.Itoa(p)
	}
	return v
}

// Stop stops Asterisk (stop.sh), releases the lock and removes a temporary
// RunDir. Later calls return the first result.
func (a *Asterisk) Stop() error {
	a.stopOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if out, err := a.script(ctx, nil, "stop.sh", a.Root, a.RunDir); err != nil {
			a.stopErr = fmt.Errorf("asterisktest: stop.sh: %w\n%s", err, out)
		}
		a.releaseLock()
		if a.ownsRunDir && a.stopErr == nil {
			if err := os.RemoveAll(a.RunDir); err != nil {
				a.stopErr = fmt.Errorf("asterisktest: remove run dir: %w", err)
			}
		}
	})
	return a.stopErr
}

// CLI runs one Asterisk CLI command (asterisk -rx inside the chroot) and
// returns its output.
func (a *Asterisk) CLI(ctx context.Context, cmd string) (string, error) {
	c := exec.CommandContext(ctx, "chroot", a.Root, "/usr/sbin/asterisk", "-rx", cmd)
	out, err := c.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("asterisktest: cli %q: %w: %s", cmd, err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

// RecordingPath is where a stored ARI recording lives on the host. name is
// the file name Asterisk stores, with its format extension ("msg1.wav").
func (a *Asterisk) RecordingPath(name string) string {
	return filepath.Join(a.Root, "var/spool/asterisk/recording", name)
}

// LogPath is Asterisk's own log (notices, warnings, errors, verbose 3) on the
// host; start.sh truncates it on each start.
func (a *Asterisk) LogPath() string {
	return filepath.Join(a.Root, "var/log/asterisk/callflow.log")
}

// Info returns the body of GET /ari/asterisk/info.
func (a *Asterisk) Info(ctx context.Context) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.ARIURL+"/asterisk/info", nil)
	if err != nil {
		return nil, fmt.Errorf("asterisktest: ari info: %w", err)
	}
	req.SetBasicAuth(a.User, a.Pass)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("asterisktest: ari info: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("asterisktest: ari info: read: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return body, fmt.Errorf("asterisktest: ari info: status %s: %s", resp.Status, bytes.TrimSpace(body))
	}
	return body, nil
}

// EventsURL is the ARI websocket URL for app, authenticated with api_key.
func (a *Asterisk) EventsURL(app string) string {
	return fmt.Sprintf("ws://127.0.0.1:%d/ari/events?app=%s&api_key=%s:%s", a.HTTPPort, app, a.User, a.Pass)
}

func (a *Asterisk) script(ctx context.Context, env []string, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(a.scripts, name), args...)
	cmd.Env = env
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line != "" {
			a.logf("%s", line)
		}
	}
	if err != nil {
		return out, fmt.Errorf("%s: %w", name, err)
	}
	return out, nil
}

func (a *Asterisk) releaseLock() {
	if a.lock != nil {
		_ = syscall.Flock(int(a.lock.Fd()), syscall.LOCK_UN)
		a.lock.Close()
		a.lock = nil
	}
}

// acquireLock takes an exclusive flock on path, polling so ctx can end the wait.
func acquireLock(ctx context.Context, path string, logf func(string, ...any)) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("asterisktest: open lock %s: %w", path, err)
	}
	t0 := time.Now()
	waiting := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			if waiting {
				logf("asterisktest: got %s after %v", path, time.Since(t0).Round(time.Millisecond))
			}
			return f, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("asterisktest: lock %s: %w", path, err)
		}
		if !waiting {
			logf("asterisktest: waiting for %s (another test binary runs Asterisk)", path)
			waiting = true
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("asterisktest: lock %s: %w", path, context.Cause(ctx))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Control ports (SIP, HTTP, event socket, AGI) are drawn from this range:
// above Asterisk's RTP range (10000-20000), below sipp's media ports
// (30000+) and Linux's ephemeral range (32768+). A port probed free from the
// ephemeral range could be taken as some connection's source port before
// the switch binds it, and the switch then never listens.
const (
	controlPortMin = 20000
	controlPortMax = 30000
)

// FreePorts returns n distinct loopback ports in the control range that are
// free for both UDP and TCP right now. All probes stay open until every
// port is chosen so none repeats.
func FreePorts(n int) ([]int, error) {
	var closers []io.Closer
	defer func() {
		for _, c := range closers {
			c.Close()
		}
	}()
	ports := make([]int, 0, n)
	for attempts := 0; len(ports) < n; attempts++ {
		if attempts > 100*n {
			return nil, fmt.Errorf("asterisktest: no free loopback ports in %d-%d after %d attempts", controlPortMin, controlPortMax-1, attempts)
		}
		port := controlPortMin + mathrand.IntN(controlPortMax-controlPortMin)
		pc, err := net.ListenPacket("udp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue // taken for UDP (or chosen already); try another
		}
		closers = append(closers, pc)
		l, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue // taken for TCP; try another
		}
		closers = append(closers, l)
		ports = append(ports, port)
	}
	return ports, nil
}

// repoScripts finds scripts/asterisk from this source file's location.
func repoScripts() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("asterisktest: cannot locate source file to find scripts/asterisk")
	}
	dir := filepath.Join(filepath.Dir(file), "..", "..", "scripts", "asterisk")
	if _, err := os.Stat(filepath.Join(dir, "start.sh")); err != nil {
		return "", fmt.Errorf("asterisktest: scripts: %w", err)
	}
	return filepath.Clean(dir), nil
}

// TemplatesDir is the repository's deploy/asterisk.
func TemplatesDir() (string, error) {
	dir, err := repoScripts()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "..", "..", "deploy", "asterisk"), nil
}
