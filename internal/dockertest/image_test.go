package dockertest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/callflow/callflow/internal/asterisktest"
	"github.com/callflow/callflow/internal/e2etest"
	"github.com/callflow/callflow/internal/sipptest"
)

func TestMain(m *testing.M) { os.Exit(asterisktest.Main(m)) }

const imageTag = "callflow:test"

// TestImageServesCalls builds the top-level Dockerfile on the local base
// image with a freshly built binary, runs it with host networking against
// the real Asterisk of the test suite and waits until Docker's HEALTHCHECK
// reports it healthy; then a sipp caller goes through the callback-only
// flow and the callback it registered is read back from the container's
// API. Finally `docker stop` must end the service cleanly (exit 0).
func TestImageServesCalls(t *testing.T) {
	d := Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	base := d.Base(ctx)
	bin, err := e2etest.Build(ctx)
	if err != nil {
		t.Fatal(err)
	}

	// The build context holds exactly what the Dockerfile copies.
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bctx := t.TempDir()
	for src, dst := range map[string]string{
		filepath.Join(root, "Dockerfile"):    "Dockerfile",
		filepath.Join(root, ".dockerignore"): ".dockerignore",
		bin:                                  "bin/callflow",
		filepath.Join(root, "examples/config/callflow.yaml"): "examples/config/callflow.yaml",
	} {
		copyFile(t, src, filepath.Join(bctx, dst))
	}
	copyDir(t, filepath.Join(root, "examples/flows"), filepath.Join(bctx, "examples/flows"))
	old, _ := d.Run(ctx, "image", "inspect", "-f", "{{.Id}}", imageTag)
	start := time.Now()
	if _, err := d.Run(ctx, "build", "--network", "host", "--build-arg", "BASE="+base, "-t", imageTag, bctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("image built in %v", time.Since(start).Round(time.Millisecond))
	if id, _ := d.Run(ctx, "image", "inspect", "-f", "{{.Id}}", imageTag); old != "" && strings.TrimSpace(old) != strings.TrimSpace(id) {
		_, _ = d.Run(ctx, "rmi", strings.TrimSpace(old)) // the previous run's image; layers below stay cached
	}
	checkImageConfig(ctx, t, d)

	// Configuration for the container: the demo flows and config rendered
	// with paths inside the image, on a free API port.
	ast := asterisktest.Require(t)
	etc, data := t.TempDir(), t.TempDir()
	copyDir(t, filepath.Join(root, "deploy/demo/flows"), filepath.Join(etc, "flows"))
	port := freePort(t)
	tok := make([]byte, 16)
	if _, err := rand.Read(tok); err != nil {
		t.Fatal(err)
	}
	token := hex.EncodeToString(tok)
	api := "http://127.0.0.1:" + strconv.Itoa(port)
	if err := e2etest.RenderConfig(filepath.Join(etc, "config.yaml"), e2etest.ConfigValues{
		ARIURL: ast.ARIURL, ARIUser: ast.User, ARIPass: ast.Pass, App: ast.App,
		FlowsDir: "/etc/callflow/flows", StorePath: "/var/lib/callflow/callflow.db", MediaDir: "/var/lib/callflow/media",
		APIListen: "127.0.0.1:" + strconv.Itoa(port), Token: token, Agents: []string{"PJSIP/agent1"},
	}); err != nil {
		t.Fatal(err)
	}
	// The container runs as callflow (10001): it reads the configuration
	// and owns the data folder.
	for _, p := range []string{etc, filepath.Join(etc, "config.yaml")} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(data, 10001, 10001); err != nil {
		t.Fatal(err)
	}

	name := "callflow-test-" + hex.EncodeToString(tok[:4])
	if _, err := d.Run(ctx, "run", "-d", "--name", name, "--network", "host",
		"-v", etc+":/etc/callflow:ro", "-v", data+":/var/lib/callflow",
		"-e", "CALLFLOW_HEALTHZ="+api+"/healthz", "--health-interval", "1s", "--health-start-period", "1s",
		imageTag); err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if t.Failed() {
			logs, _ := d.Run(context.Background(), "logs", "--tail", "60", name)
			t.Logf("container log:\n%s", logs)
		}
		if !stopped {
			_, _ = d.Run(context.Background(), "rm", "-f", name)
		}
	})

	start = time.Now()
	waitHealthy(ctx, t, d, name)
	t.Logf("container healthy %v after start", time.Since(start).Round(time.Millisecond))
	if code, body := get(ctx, t, api+"/healthz", ""); code != http.StatusOK {
		t.Fatalf("/healthz: %d %s", code, body)
	}
	if uid, err := d.Run(ctx, "exec", name, "id", "-u"); err != nil || strings.TrimSpace(uid) != "10001" {
		t.Errorf("service runs as uid %q (%v), want 10001", strings.TrimSpace(uid), err)
	}

	// A real call through the container: the callback-only flow answers,
	// registers a callback for the caller and hangs up.
	const caller = "+420601111222"
	res, err := sipptest.RunCaller(ctx, sipptest.Caller{Extension: e2etest.ExtCallbackOnly, From: caller,
		Events: []sipptest.Step{sipptest.ExpectBye()}}, ast.SIPPort)
	if res.Dir != "" {
		defer res.Cleanup()
	}
	if err != nil {
		t.Fatalf("sipp call: %v\n%s", err, res.Errors)
	}
	code, body := get(ctx, t, api+"/v1/callbacks", token)
	if code != http.StatusOK {
		t.Fatalf("/v1/callbacks: %d %s", code, body)
	}
	var cbs struct {
		Callbacks []struct {
			Number string `json:"number"`
			Queue  string `json:"queue"`
		} `json:"callbacks"`
	}
	if err := json.Unmarshal([]byte(body), &cbs); err != nil {
		t.Fatal(err)
	}
	if len(cbs.Callbacks) != 1 || cbs.Callbacks[0].Number != caller {
		t.Fatalf("callbacks %+v, want one for %s", cbs.Callbacks, caller)
	}
	t.Logf("call served: callback registered for %s in queue %s", caller, cbs.Callbacks[0].Queue)

	// docker stop sends SIGTERM: the service drains and exits 0.
	if _, err := d.Run(ctx, "stop", "-t", "30", name); err != nil {
		t.Fatal(err)
	}
	exit, _ := d.Run(ctx, "inspect", "-f", "{{.State.ExitCode}}", name)
	if strings.TrimSpace(exit) != "0" {
		t.Errorf("exit code after docker stop: %s", exit)
	}
	if _, err := d.Run(ctx, "rm", name); err == nil {
		stopped = true
	}
}

// checkImageConfig checks what the Dockerfile promises: a non-root user,
// the two volumes, the health check and the entry point; and logs the size.
func checkImageConfig(ctx context.Context, t *testing.T, d *Docker) {
	t.Helper()
	out, err := d.Run(ctx, "image", "inspect", imageTag)
	if err != nil {
		t.Fatal(err)
	}
	var imgs []struct {
		Size   int64
		Config struct {
			User        string
			Volumes     map[string]struct{}
			Entrypoint  []string
			Cmd         []string
			Env         []string
			Healthcheck struct{ Test []string }
		}
	}
	if err := json.Unmarshal([]byte(out), &imgs); err != nil || len(imgs) != 1 {
		t.Fatalf("image inspect: %v\n%s", err, out)
	}
	c := imgs[0].Config
	t.Logf("image %s: %.1f MB (%d bytes)", imageTag, float64(imgs[0].Size)/1e6, imgs[0].Size)
	if c.User == "" || strings.HasPrefix(c.User, "root") || strings.HasPrefix(c.User, "0") {
		t.Errorf("image user %q, want a non-root user", c.User)
	}
	for _, v := range []string{"/etc/callflow", "/var/lib/callflow"} {
		if _, ok := c.Volumes[v]; !ok {
			t.Errorf("no volume %s in %v", v, c.Volumes)
		}
	}
	if got := strings.Join(c.Entrypoint, " "); got != "/usr/bin/callflow serve" {
		t.Errorf("entry point %q", got)
	}
	if !strings.Contains(strings.Join(c.Healthcheck.Test, " "), "$CALLFLOW_HEALTHZ") || !slices.Contains(c.Env, "CALLFLOW_HEALTHZ=http://127.0.0.1:8080/healthz") {
		t.Errorf("health check %v (env %v) does not ask /healthz", c.Healthcheck.Test, c.Env)
	}
}

// waitHealthy waits for Docker's health status "healthy"; it fails when
// the container stops.
func waitHealthy(ctx context.Context, t *testing.T, d *Docker, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var last string
	for {
		out, err := d.Run(ctx, "inspect", "-f", "{{.State.Status}} {{.State.Health.Status}}", name)
		last = strings.TrimSpace(out)
		if err == nil && last == "running healthy" {
			return
		}
		if err == nil && !strings.HasPrefix(last, "running") {
			t.Fatalf("container %s: %s", name, last)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("container %s not healthy: %s", name, last)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func get(ctx context.Context, t *testing.T, u, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, st.Mode().Perm()|0o444); err != nil {
		t.Fatal(err)
	}
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.IsDir() {
			copyDir(t, filepath.Join(src, e.Name()), filepath.Join(dst, e.Name()))
			continue
		}
		copyFile(t, filepath.Join(src, e.Name()), filepath.Join(dst, e.Name()))
	}
	if err := os.Chmod(dst, 0o755); err != nil && !os.IsNotExist(err) {
		t.Fatal(fmt.Errorf("chmod %s: %w", dst, err))
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
