// Package fstest runs a real FreeSWITCH 1.10 for tests, with the project's
// own configuration: deploy/freeswitch rendered into a per-run folder with
// loopback ports chosen at start-up and a fresh event-socket password.
//
// Every run has its own conf, log, db, run, temp, storage, recordings and
// cache folders, so nothing outside them changes and kill -KILL is a safe
// stop. Only one switch runs per machine at a time: Start takes the same
// exclusive flock as internal/asterisktest, so FreeSWITCH and Asterisk tests
// of different packages take turns instead of starving each other.
package fstest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/callflow/callflow/internal/asterisktest"
)

const (
	// DefaultBinary is where scripts/freeswitch/install.sh installs FreeSWITCH.
	DefaultBinary = "/usr/local/freeswitch/bin/freeswitch"
	// DefaultSounds holds the prompts of Debian's asterisk-core-sounds-en-wav,
	// passed as -sounds so relative prompt names resolve there.
	DefaultSounds = "/usr/share/asterisk/sounds/en_US_f_Allison"
	// Extension is the dialplan's hand-off number (deploy/freeswitch/dialplan/callflow.xml).
	Extension = "200"
	// SIPProfile is the one sofia profile of the configuration.
	SIPProfile = "callflow"

	readyTimeout = 30 * time.Second
)

// ErrUnavailable marks a start failure caused by the environment rather than
// by FreeSWITCH or its configuration: the binary or the sounds are missing.
var ErrUnavailable = errors.New("fstest: freeswitch unavailable")

// Options configure Start. The zero value is usable.
type Options struct {
	// Binary is the freeswitch executable; default $CALLFLOW_FREESWITCH or
	// DefaultBinary.
	Binary string
	// Sounds is the -sounds folder; default DefaultSounds.
	Sounds string
	// SocketAddress is where the dialplan's socket application connects
	// (an esl.Listen address); default a free loopback port.
	SocketAddress string
	// LockPath is the machine-wide switch lock; default
	// asterisktest.DefaultLockPath.
	LockPath string
	// Logf receives progress lines; default discard.
	Logf func(string, ...any)
	// Dir is the per-run folder (created if missing); default a new
	// temporary folder.
	Dir string
}

// FreeSWITCH is a running FreeSWITCH.
type FreeSWITCH struct {
	ESLAddress string // inbound event socket, 127.0.0.1:PORT
	Password   string // its password
	// SoftphonePassword is the softphone account's password (written to
	// the configuration folder's softphone-password).
	SoftphonePassword string
	SIPPort           int    // profile "callflow" on 127.0.0.1 (UDP and TCP)
	SocketAddress     string // outbound event socket target of extension 200
	RTPStart          int
	RTPEnd            int
	Dir               string // per-run folder: conf/ log/ db/ run/ ...
	PID               int
	// StartTime is from exec to the event socket accepting connections.
	StartTime time.Duration

	cmd      *exec.Cmd
	bin      string
	args     []string
	exited   chan struct{}
	lock     *os.File
	logf     func(string, ...any)
	stopOnce sync.Once
	stopErr  error
}

// runDirs are the per-run folders, each passed as -NAME.
var runDirs = []string{"conf", "log", "db", "run", "temp", "storage", "recordings", "cache"}

// Start takes the machine-wide switch lock, renders deploy/freeswitch into a
// new per-run folder, starts FreeSWITCH in the foreground and waits until
// its event socket accepts connections. The caller must call Stop.
func Start(ctx context.Context, opt Options) (*FreeSWITCH, error) {
	f := &FreeSWITCH{logf: opt.Logf}
	if f.logf == nil {
		f.logf = func(string, ...any) {}
	}
	bin := opt.Binary
	if bin == "" {
		bin = os.Getenv("CALLFLOW_FREESWITCH")
	}
	if bin == "" {
		bin = DefaultBinary
	}
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("%w: %v (install it with scripts/freeswitch/install.sh)", ErrUnavailable, err)
	}
	sounds := opt.Sounds
	if sounds == "" {
		sounds = DefaultSounds
	}
	if _, err := os.Stat(sounds); err != nil {
		return nil, fmt.Errorf("%w: prompts: %v (install asterisk-core-sounds-en-wav)", ErrUnavailable, err)
	}
	templates, err := TemplatesDir()
	if err != nil {
		return nil, err
	}

	lockPath := opt.LockPath
	if lockPath == "" {
		lockPath = asterisktest.DefaultLockPath
	}
	if f.lock, err = acquireLock(ctx, lockPath, f.logf); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			f.kill()
			f.releaseLock()
		}
	}()

	ports, err := asterisktest.FreePorts(3)
	if err != nil {
		return nil, err
	}
	f.ESLAddress = net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))
	f.SIPPort = ports[1]
	f.SocketAddress = opt.SocketAddress
	if f.SocketAddress == "" {
		f.SocketAddress = net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[2]))
	}
	// RTP: a 200-port range starting from a pseudo-random even port, so
	// back-to-back runs do not reuse sockets still in TIME_WAIT-like states.
	f.RTPStart = 40000 + 2*(ports[2]%2000)
	f.RTPEnd = f.RTPStart + 199
	secret := make([]byte, 12)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("fstest: password: %w", err)
	}
	f.Password = hex.EncodeToString(secret)

	if f.Dir = opt.Dir; f.Dir == "" {
		f.Dir, err = os.MkdirTemp("", "callflow-freeswitch-")
	} else {
		err = os.MkdirAll(f.Dir, 0o755)
	}
	if err != nil {
		return nil, fmt.Errorf("fstest: run dir: %w", err)
	}
	args := []string{"-nf", "-nc", "-nonat", "-np"}
	for _, d := range runDirs {
		p := filepath.Join(f.Dir, d)
		if err := os.MkdirAll(p, 0o755); err != nil {
			return nil, fmt.Errorf("fstest: run dir: %w", err)
		}
		args = append(args, "-"+d, p)
	}
	args = append(args, "-sounds", sounds)
	if err := Render(templates, filepath.Join(f.Dir, "conf"), f.Vars()); err != nil {
		return nil, err
	}
	// The softphone account's password (directory/softphone.xml), in the
	// file vars.xml reads.
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("fstest: softphone password: %w", err)
	}
	f.SoftphonePassword = hex.EncodeToString(secret)
	if err := os.WriteFile(filepath.Join(f.Dir, "conf", "softphone-password"), []byte(f.SoftphonePassword), 0o600); err != nil {
		return nil, fmt.Errorf("fstest: softphone password: %w", err)
	}

	f.bin, f.args = bin, args
	if err := f.launch(ctx); err != nil {
		return nil, err
	}
	ok = true
	return f, nil
}

// launch starts the process with f.bin and f.args and waits until its event
// socket accepts connections. The console log is appended to, so a restart
// keeps the earlier run's output.
func (f *FreeSWITCH) launch(ctx context.Context) error {
	console, err := os.OpenFile(f.ConsolePath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("fstest: console log: %w", err)
	}
	defer console.Close()
	f.exited = make(chan struct{})
	f.cmd = exec.Command(f.bin, f.args...)
	f.cmd.Stdout, f.cmd.Stderr = console, console
	f.cmd.Dir = f.Dir
	// Its own process group: a ^C to the test binary does not reach it,
	// Stop does.
	f.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	t0 := time.Now()
	if err := f.cmd.Start(); err != nil {
		return fmt.Errorf("fstest: start %s: %w", f.bin, err)
	}
	f.PID = f.cmd.Process.Pid
	cmd, exited := f.cmd, f.exited
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	if err := f.waitReady(ctx); err != nil {
		return fmt.Errorf("%w (logs in %s)", err, f.Dir)
	}
	f.StartTime = time.Since(t0)
	f.logf("fstest: freeswitch pid %d ready in %v (esl %s, sip %d, socket %s, dir %s)",
		f.PID, f.StartTime.Round(time.Millisecond), f.ESLAddress, f.SIPPort, f.SocketAddress, f.Dir)
	return nil
}

// Vars returns the values of the @@NAME@@ placeholders of deploy/freeswitch
// for this instance.
func (f *FreeSWITCH) Vars() map[string]string {
	_, eslPort, _ := net.SplitHostPort(f.ESLAddress)
	return map[string]string{
		"ESL_PORT":       eslPort,
		"ESL_PASSWORD":   f.Password,
		"SIP_PORT":       strconv.Itoa(f.SIPPort),
		"SOCKET_ADDRESS": f.SocketAddress,
		"RTP_START":      strconv.Itoa(f.RTPStart),
		"RTP_END":        strconv.Itoa(f.RTPEnd),
	}
}

// LogPath is FreeSWITCH's own log (mod_logfile, level info and up).
func (f *FreeSWITCH) LogPath() string { return filepath.Join(f.Dir, "log", "freeswitch.log") }

// ConsolePath holds FreeSWITCH's stdout and stderr (start-up errors).
func (f *FreeSWITCH) ConsolePath() string { return filepath.Join(f.Dir, "log", "console.log") }

// RecordingsDir is the -recordings folder.
func (f *FreeSWITCH) RecordingsDir() string { return filepath.Join(f.Dir, "recordings") }

func (f *FreeSWITCH) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	for {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", f.ESLAddress)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-f.exited:
			return fmt.Errorf("fstest: freeswitch exited during start-up: %v: %s", f.cmd.ProcessState, tail(f.ConsolePath(), 2000))
		case <-ctx.Done():
			return fmt.Errorf("fstest: event socket %s not ready: %w: %s%s", f.ESLAddress, context.Cause(ctx),
				tail(f.ConsolePath(), 2000), tail(f.LogPath(), 2000))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Stop kills FreeSWITCH (kill -KILL: all its state is in the per-run
// folder), releases the lock and removes the folder unless keep is set (a
// failed test keeps the logs). Later calls return the first result.
func (f *FreeSWITCH) Stop(keep bool) error {
	f.stopOnce.Do(func() {
		f.kill()
		f.releaseLock()
		if !keep {
			if err := os.RemoveAll(f.Dir); err != nil {
				f.stopErr = fmt.Errorf("fstest: remove run dir: %w", err)
			}
		}
	})
	return f.stopErr
}

func (f *FreeSWITCH) kill() {
	if f.cmd == nil || f.cmd.Process == nil {
		return
	}
	_ = f.cmd.Process.Signal(syscall.SIGKILL)
	<-f.exited
}

func (f *FreeSWITCH) releaseLock() {
	if f.lock != nil {
		_ = syscall.Flock(int(f.lock.Fd()), syscall.LOCK_UN)
		f.lock.Close()
		f.lock = nil
	}
}

// acquireLock takes an exclusive flock on path, polling so ctx can end the
// wait.
func acquireLock(ctx context.Context, path string, logf func(string, ...any)) (*os.File, error) {
	fh, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("fstest: open lock %s: %w", path, err)
	}
	t0 := time.Now()
	waiting := false
	for {
		err := syscall.Flock(int(fh.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			if waiting {
				logf("fstest: got %s after %v", path, time.Since(t0).Round(time.Millisecond))
			}
			return fh, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			fh.Close()
			return nil, fmt.Errorf("fstest: lock %s: %w", path, err)
		}
		if !waiting {
			logf("fstest: waiting for %s (another test binary runs a switch)", path)
			waiting = true
		}
		select {
		case <-ctx.Done():
			fh.Close()
			return nil, fmt.Errorf("fstest: lock %s: %w", path, context.Cause(ctx))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// TemplatesDir is the repository's deploy/freeswitch, found from this
// source file.
func TemplatesDir() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("fstest: cannot locate source file to find deploy/freeswitch")
	}
	dir := filepath.Clean(filepath.Join(filepath.Dir(file), "..", "..", "deploy", "freeswitch"))
	if _, err := os.Stat(filepath.Join(dir, "freeswitch.xml")); err != nil {
		return "", fmt.Errorf("fstest: templates: %w", err)
	}
	return dir, nil
}

// tail returns the last n bytes of a file, for error messages.
func tail(path string, n int64) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if int64(len(data)) > n {
		data = data[int64(len(data))-n:]
	}
	return string(data)
}
