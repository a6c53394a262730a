// Package dockertest gives tests a Docker daemon and the local Debian base
// image the top-level Dockerfile builds on.
//
// Require uses a running daemon, or starts Debian's dockerd itself (root,
// `--iptables=false`: containers use host networking) and stops it when the
// test ends. No image registry is needed: Base imports a bookworm minbase
// tree from mmdebstrap (scripts/docker/base-image.sh) once and reuses it by
// tag afterwards. When Docker cannot run, the test is skipped, except under
// CI=true, where it fails.
package dockertest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// BaseTag is the tag of the local base image.
const BaseTag = "callflow-base:bookworm-slim"

// daemonStart bounds the wait for a dockerd this package started.
const daemonStart = 60 * time.Second

// unavailable skips t outside CI and fails it under CI=true.
func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatalf("docker unavailable under CI=true: %s", msg)
	}
	t.Skipf("docker unavailable: %s", msg)
}

// Docker runs docker commands.
type Docker struct {
	t   testing.TB
	bin string
}

// Require returns a Docker whose daemon answers; it starts dockerd when
// none runs (and stops it in t.Cleanup).
func Require(t testing.TB) *Docker {
	t.Helper()
	bin, err := exec.LookPath("docker")
	if err != nil {
		unavailable(t, "no docker client (Debian package docker.io)")
	}
	d := &Docker{t: t, bin: bin}
	if d.ping() == nil {
		return d
	}
	dockerd, err := exec.LookPath("dockerd")
	if err != nil {
		unavailable(t, "no daemon running and no dockerd (Debian package docker.io)")
	}
	if os.Geteuid() != 0 {
		unavailable(t, "no daemon running and not root to start dockerd")
	}
	logPath := filepath.Join(t.TempDir(), "dockerd.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(dockerd, "--iptables=false")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		unavailable(t, "start dockerd: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }() // ends when dockerd exits (cleanup below)
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		logf.Close()
	})
	deadline := time.Now().Add(daemonStart)
	for {
		err := d.ping()
		if err == nil {
			t.Logf("dockertest: started dockerd pid %d", cmd.Process.Pid)
			return d
		}
		select {
		case werr := <-done:
			b, _ := os.ReadFile(logPath)
			unavailable(t, "dockerd exited: %v\n%s", werr, tail(string(b), 20))
		case <-time.After(250 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(logPath)
			unavailable(t, "dockerd not answering after %v: %v\n%s", daemonStart, err, tail(string(b), 20))
		}
	}
}

func (d *Docker) ping() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, d.bin, "version", "--format", "{{.Server.Version}}").CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Run runs `docker args…` and returns its combined output.
func (d *Docker) Run(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, d.bin, args...)
	// The classic builder: Debian's daemon has no BuildKit frontend.
	cmd.Env = append(os.Environ(), "DOCKER_BUILDKIT=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("docker %s: %w\n%s", strings.Join(args, " "), err, tail(string(out), 30))
	}
	return string(out), nil
}

// Base makes sure the local base image BaseTag exists (built once with
// scripts/docker/base-image.sh, minutes on a busy machine; reused by tag
// afterwards) and returns its tag.
func (d *Docker) Base(ctx context.Context) string {
	d.t.Helper()
	if _, err := d.Run(ctx, "image", "inspect", BaseTag); err == nil {
		return BaseTag
	}
	root, err := RepoRoot()
	if err != nil {
		d.t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, filepath.Join(root, "scripts", "docker", "base-image.sh"), BaseTag)
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		d.t.Fatalf("base image: %v\n%s", err, out)
	}
	d.t.Logf("dockertest: built %s in %v", BaseTag, time.Since(start).Round(time.Second))
	return BaseTag
}

// RepoRoot is the repository root, found from this source file.
func RepoRoot() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("dockertest: cannot locate source file")
	}
	root := filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
	if _, err := os.Stat(filepath.Join(root, "Dockerfile")); err != nil {
		return "", fmt.Errorf("dockertest: repository root: %w", err)
	}
	return root, nil
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
