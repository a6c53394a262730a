package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/callflow/callflow/internal/pgtest"
	"github.com/callflow/callflow/store"
)

// The store tests run the real binary against PostgreSQL: a good DSN
// serves, and each bad one stops serve at start with a clear error,
// having written nothing.

// storeConfig writes a serve config whose store section is storeYAML and
// returns its path. The switch is an Asterisk address nobody listens on.
func storeConfig(t *testing.T, storeYAML string) string {
	t.Helper()
	dir := t.TempDir()
	flows, err := filepath.Abs("../../examples/flows")
	if err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`switch:
  type: asterisk
  asterisk: {url: "http://%s/ari", username: callflow, password: secret}
flows: {dir: %q, default: ivr-offer}
store: %s
media: {dir: media}
api: {listen: %q}
log: {format: json}
trunks:
  customer: {dial: "PJSIP/{e164}@customer"}
queues:
  support:
    agents: [PJSIP/agent1]
    callback: {ani: "+420222333444", trunk: customer}
`, closedAddr(t), flows, storeYAML, closedAddr(t))
	path := filepath.Join(dir, "callflow.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// closedAddr is a loopback address nobody listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// serveFails runs serve, which must exit non-zero within bound; it returns
// the output.
func serveFails(t *testing.T, cfgPath string, bound time.Duration) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	out, err := exec.CommandContext(ctx, callflowBinary(t), "serve", "--config", cfgPath).CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("serve still running after %v:\n%s", bound, out)
	}
	if err == nil {
		t.Fatalf("serve exited 0:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(cfgPath), "media")); !os.IsNotExist(err) {
		t.Errorf("serve created the media folder before failing (err %v)", err)
	}
	return string(out)
}

func TestServePostgresUnreachable(t *testing.T) {
	dsn := fmt.Sprintf("postgres://callflow:s3cret@%s/callflow?sslmode=disable", closedAddr(t))
	out := serveFails(t, storeConfig(t, fmt.Sprintf("{postgres: %q}", dsn)), 30*time.Second)
	if !strings.Contains(out, "cannot connect to the database") || !strings.Contains(out, "/callflow") {
		t.Fatalf("output does not say the database cannot be reached:\n%s", out)
	}
	if strings.Contains(out, "s3cret") {
		t.Fatalf("output repeats the password:\n%s", out)
	}
}

func TestServePostgresMalformedDSN(t *testing.T) {
	cfg := storeConfig(t, `{postgres: "postgres://callflow:s3cret@db:port/callflow"}`)
	out := serveFails(t, cfg, 30*time.Second)
	if !strings.Contains(out, cfg+":5:") || !strings.Contains(out, "store.postgres: cannot parse") || strings.Contains(out, "s3cret") {
		t.Fatalf("want %s:5:col: store.postgres: cannot parse … without the password; got:\n%s", cfg, out)
	}
}

func TestServePostgresNewerSchema(t *testing.T) {
	_, dsn := pgtest.Require(t)
	ctx := context.Background()
	s, err := store.OpenPostgres(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB().ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, 'from the future', now())`,
		store.LatestVersion()+1); err != nil {
		t.Fatal(err)
	}
	count := func() string {
		var n, v int
		if err := s.DB().QueryRowContext(ctx, `SELECT COUNT(*), MAX(version) FROM schema_migrations`).Scan(&n, &v); err != nil {
			t.Fatal(err)
		}
		var tables int
		if err := s.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM pg_tables WHERE schemaname = 'public'`).Scan(&tables); err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("migrations=%d max=%d tables=%d", n, v, tables)
	}
	before := count()
	out := serveFails(t, storeConfig(t, fmt.Sprintf("{postgres: %q}", dsn)), 30*time.Second)
	if !strings.Contains(out, "database schema is newer than this program") ||
		!strings.Contains(out, fmt.Sprintf("version %d", store.LatestVersion()+1)) {
		t.Fatalf("output does not say the schema is newer:\n%s", out)
	}
	if after := count(); after != before {
		t.Fatalf("serve wrote to a newer database: before %s, after %s", before, after)
	}
	s.Close()
}

func TestServePostgres(t *testing.T) {
	_, dsn := pgtest.Require(t)
	dir := t.TempDir()
	dsnFile := filepath.Join(dir, "dsn")
	if err := os.WriteFile(dsnFile, []byte(dsn+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(callflowBinary(t), "serve", "--config", storeConfig(t, fmt.Sprintf("{postgres_file: %q}", dsnFile)))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	serving := make(chan bool, 1)
	var lines []string
	go func() { // ends when serve closes stderr
		sc := bufio.NewScanner(stderr)
		seen := false
		for sc.Scan() {
			lines = append(lines, sc.Text())
			if !seen && strings.Contains(sc.Text(), "callflow serving") {
				seen = true
				serving <- true
			}
		}
		close(serving)
	}()
	select {
	case ok := <-serving:
		if !ok {
			_ = cmd.Wait()
			t.Fatalf("serve ended before serving:\n%s", strings.Join(lines, "\n"))
		}
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("serve not serving after 60s")
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }() // ends when serve exits
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve on PostgreSQL exited with %v", err)
		}
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("serve did not exit after SIGTERM")
	}
	s, err := store.OpenPostgres(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var v int
	if err := s.DB().QueryRow(`SELECT MAX(version) FROM schema_migrations`).Scan(&v); err != nil || v != store.LatestVersion() {
		t.Fatalf("serve left the database at version %d (err %v), want %d", v, err, store.LatestVersion())
	}
}
