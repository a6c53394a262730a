// Package pgtest runs a private PostgreSQL cluster for tests.
//
// Start runs Debian's PostgreSQL (the `postgresql` package, binaries in
// /usr/lib/postgresql/N/bin): initdb into a new temporary folder, then the
// postmaster on a loopback port chosen at start-up with its unix socket in
// that folder. Run as root, both run as the `postgres` user (initdb refuses
// root) and the folder is handed to that user. Stop ends the postmaster by
// its pid and removes the folder, unless the caller keeps it for a failed
// test's logs.
package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrUnavailable marks a start failure caused by the environment: no
// PostgreSQL binaries, or no `postgres` user to run them as root.
var ErrUnavailable = errors.New("pgtest: postgresql unavailable")

// Superuser is the cluster's superuser (initdb -U).
const Superuser = "postgres"

// Options configure Start. The zero value is usable.
type Options struct {
	// BinDir holds initdb and postgres; default the newest
	// /usr/lib/postgresql/*/bin.
	BinDir string
	// Logf receives progress lines; default discard.
	Logf func(string, ...any)
	// Settings are extra `-c name=value` server settings.
	Settings map[string]string
}

// Cluster is a running private PostgreSQL.
type Cluster struct {
	// Dir holds data/, the socket and postgres.log.
	Dir string
	// Port is the loopback TCP port.
	Port int
	// PID is the postmaster's pid.
	PID int
	// BinDir is where the binaries came from.
	BinDir string
	// StartTime measures initdb + start until the first connection.
	StartTime time.Duration

	cmd      *exec.Cmd
	exited   chan struct{} // closed when the postmaster has been reaped
	data     string
	settings map[string]string
	logf     func(string, ...any)
	cred     *syscall.Credential
	stopOnce sync.Once
	stopErr  error

	mu    sync.Mutex
	dbSeq int // guarded by mu
}

// LogPath is the server log.
func (c *Cluster) LogPath() string { return filepath.Join(c.Dir, "postgres.log") }

// SocketDir is the folder of the unix socket.
func (c *Cluster) SocketDir() string { return c.Dir }

// DSN is a connection URL for database db over loopback TCP.
func (c *Cluster) DSN(db string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", Superuser, c.Port, db)
}

// binGlob is where Debian installs PostgreSQL's binaries (a variable so a
// test can stand for a machine without them).
var binGlob = "/usr/lib/postgresql/*/bin"

// FindBinDir returns the newest /usr/lib/postgresql/*/bin holding initdb
// and postgres.
func FindBinDir() (string, error) {
	dirs, _ := filepath.Glob(binGlob)
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	return "", fmt.Errorf("%w: no /usr/lib/postgresql/*/bin with initdb and postgres (install Debian's postgresql package: scripts/deps.sh)", ErrUnavailable)
}

func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func isExec(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// Start creates and starts a cluster. The caller must call Stop.
func Start(ctx context.Context, opt Options) (_ *Cluster, err error) {
	c := &Cluster{BinDir: opt.BinDir, logf: opt.Logf, exited: make(chan struct{})}
	if c.logf == nil {
		c.logf = func(string, ...any) {}
	}
	if c.BinDir == "" {
		if c.BinDir, err = FindBinDir(); err != nil {
			return nil, err
		}
	}
	uid, gid := -1, -1
	if os.Geteuid() == 0 {
		u, err := user.Lookup(Superuser)
		if err != nil {
			return nil, fmt.Errorf("%w: running as root needs the %s user to run the server: %v", ErrUnavailable, Superuser, err)
		}
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	t0 := time.Now()
	if c.Dir, err = os.MkdirTemp("", "callflow-pg-"); err != nil {
		return nil, fmt.Errorf("pgtest: temp folder: %w", err)
	}
	defer func() {
		if err != nil {
			err = fmt.Errorf("%w (files kept in %s)", err, c.Dir)
		}
	}()
	if uid >= 0 {
		if err := os.Chown(c.Dir, uid, gid); err != nil {
			return nil, fmt.Errorf("pgtest: chown %s: %w", c.Dir, err)
		}
	}
	data := filepath.Join(c.Dir, "data")
	if out, err := c.run(ctx, "initdb", "-D", data, "-U", Superuser, "-A", "trust", "-E", "UTF8",
		"--locale=C", "--no-sync", "--no-instructions"); err != nil {
		return nil, fmt.Errorf("pgtest: initdb: %w\n%s", err, out)
	}
	settings := map[string]string{
		"listen_addresses":        "127.0.0.1",
		"unix_socket_directories": c.Dir,
		"max_connections":         "100",
		"shared_buffers":          "32MB",
		"logging_collector":       "off",
	}
	for k, v := range opt.Settings {
		settings[k] = v
	}
	// The port is free when chosen; another process may take it before
	// the server binds it, so a failed bind is retried on a new port.
	for try := 0; ; try++ {
		if c.Port, err = freePort(); err != nil {
			return nil, err
		}
		c.data, c.settings = data, settings
		err = c.startServer(ctx, data, settings)
		if err == nil {
			break
		}
		if try == 2 || ctx.Err() != nil {
			return nil, err
		}
		c.logf("pgtest: start on port %d failed, retrying: %v", c.Port, err)
		c.exited = make(chan struct{})
	}
	c.StartTime = time.Since(t0)
	c.logf("pgtest: postgres pid %d ready on 127.0.0.1:%d in %v (%s)", c.PID, c.Port, c.StartTime.Round(time.Millisecond), c.Dir)
	return c, nil
}

// run runs a PostgreSQL binary as the server's user.
func (c *Cluster) run(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(c.BinDir, name), args...)
	cmd.Dir = c.Dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	return cmd.CombinedOutput()
}

func (c *Cluster) startServer(ctx context.Context, data string, settings map[string]string) error {
	logf, err := os.OpenFile(c.LogPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("pgtest: log: %w", err)
	}
	defer logf.Close()
	if c.cred != nil {
		_ = logf.Chown(int(c.cred.Uid), int(c.cred.Gid))
	}
	args := []string{"-D", data, "-p", strconv.Itoa(c.Port)}
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		args = append(args, "-c", k+"="+settings[k])
	}
	// Not CommandContext: the server outlives Start's context; Stop ends it.
	cmd := exec.Command(filepath.Join(c.BinDir, "postgres"), args...)
	cmd.Dir = c.Dir
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group: a ^C to the test does not reach it first,
	// Stop does.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("pgtest: start postgres: %w", err)
	}
	c.cmd, c.PID = cmd, cmd.Process.Pid
	exited := c.exited
	go func() { // ends when the postmaster exits (Stop makes it)
		_ = cmd.Wait()
		close(exited)
	}()
	// Crash recovery replays the WAL and ends with a checkpoint: on a busy
	// machine that takes a while.
	deadline := time.Now().Add(90 * time.Second)
	for {
		select {
		case <-exited:
			return fmt.Errorf("pgtest: postgres exited during start-up (log %s):\n%s", c.LogPath(), tail(c.LogPath()))
		default:
		}
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		conn, err := pgx.Connect(cctx, c.DSN("postgres"))
		cancel()
		if err == nil {
			conn.Close(context.Background())
			return nil
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			c.kill()
			return fmt.Errorf("pgtest: postgres on port %d not ready: %v (log %s):\n%s", c.Port, err, c.LogPath(), tail(c.LogPath()))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill ends the postmaster at once (SIGQUIT: immediate shutdown, then
// SIGKILL) and waits for it.
func (c *Cluster) kill() {
	if c.cmd == nil {
		return
	}
	select {
	case <-c.exited: // already gone: its pid may belong to another process now
		return
	default:
	}
	_ = syscall.Kill(c.PID, syscall.SIGQUIT)
	select {
	case <-c.exited:
		return
	case <-time.After(5 * time.Second):
	}
	_ = syscall.Kill(-c.PID, syscall.SIGKILL)
	<-c.exited
}

// Crash ends the server at once, as a power cut would to its processes: an
// immediate shutdown (SIGQUIT), no checkpoint, so Restart recovers from
// the WAL. Clients see their connections drop.
func (c *Cluster) Crash() {
	c.kill()
}

// Restart starts the server again on the same data and port after Crash,
// and waits until it takes connections.
func (c *Cluster) Restart(ctx context.Context) error {
	select {
	case <-c.exited:
	default:
		return fmt.Errorf("pgtest: restart: postgres pid %d is still running", c.PID)
	}
	c.exited = make(chan struct{})
	t0 := time.Now()
	if err := c.startServer(ctx, c.data, c.settings); err != nil {
		return err
	}
	c.logf("pgtest: postgres restarted as pid %d in %v", c.PID, time.Since(t0).Round(time.Millisecond))
	return nil
}

// Stop ends the server by its pid (immediate shutdown) and removes the
// folder; with keep the folder and its log stay for a post-mortem.
func (c *Cluster) Stop(keep bool) error {
	c.stopOnce.Do(func() {
		c.kill()
		if keep {
			c.logf("pgtest: kept %s (log %s)", c.Dir, c.LogPath())
			return
		}
		c.stopErr = os.RemoveAll(c.Dir)
	})
	return c.stopErr
}

// CreateDatabase creates a new empty database and returns its DSN.
func (c *Cluster) CreateDatabase(ctx context.Context, prefix string) (string, error) {
	conn, err := pgx.Connect(ctx, c.DSN("postgres"))
	if err != nil {
		return "", fmt.Errorf("pgtest: connect: %w", err)
	}
	defer conn.Close(context.Background())
	c.mu.Lock()
	c.dbSeq++
	name := fmt.Sprintf("%s_%d", prefix, c.dbSeq)
	c.mu.Unlock()
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("pgtest: create database %s: %w", name, err)
	}
	return c.DSN(name), nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgtest: choose a port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tail returns the end of a log file.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// CPUTime is the processor time the server has used so far: user and
// system time of the postmaster and its children (backends, WAL writer,
// checkpointer…), plus what its exited children used. Benchmarks divide it by
// their work to get a cost that does not depend on how busy the machine
// is.
func (c *Cluster) CPUTime() (time.Duration, error) {
	procs, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		return 0, err
	}
	var ticks int64
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // exited meanwhile
		}
		// Fields after the command name, which is in parentheses and may
		// hold spaces: state(3) ppid pgrp … utime(14) stime cutime cstime.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 15 {
			continue
		}
		// Backends call setsid(): they are found as the postmaster's
		// children, not by process group.
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		ppid, _ := strconv.Atoi(f[1])
		if pid != c.PID && ppid != c.PID {
			continue
		}
		for _, k := range []int{11, 12} { // utime, stime
			v, _ := strconv.ParseInt(f[k], 10, 64)
			ticks += v
		}
		if pid == c.PID {
			for _, k := range []int{13, 14} { // cutime, cstime
				v, _ := strconv.ParseInt(f[k], 10, 64)
				ticks += v
			}
		}
	}
	// USER_HZ is 100 on Linux.
	return time.Duration(ticks) * 10 * time.Millisecond, nil
}
