package pgtest

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestStartQueryStop(t *testing.T) {
	c, dsn := Require(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect %s: %v", dsn, err)
	}
	var v string
	if err := conn.QueryRow(ctx, `SHOW server_version`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	var fsync string
	if err := conn.QueryRow(ctx, `SHOW fsync`).Scan(&fsync); err != nil || fsync != "on" {
		t.Fatalf("fsync %q (err %v), want on: durability figures need it", fsync, err)
	}
	conn.Close(ctx)
	t.Logf("postgres %s pid %d port %d started in %v", v, c.PID, c.Port, c.StartTime)
	if err := c.Stop(false); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if err := syscall.Kill(c.PID, 0); err == nil {
		t.Fatalf("postgres pid %d still alive after Stop", c.PID)
	}
	if _, err := os.Stat(c.Dir); !os.IsNotExist(err) {
		t.Fatalf("folder %s not removed: %v", c.Dir, err)
	}
}

func TestOptOut(t *testing.T) {
	tests := []struct {
		name     string
		env      map[string]string
		skip     bool
		refusing bool
	}{
		{name: "unset runs", env: map[string]string{}},
		{name: "zero runs", env: map[string]string{SkipEnv: "0"}},
		{name: "one skips", env: map[string]string{SkipEnv: "1"}, skip: true},
		{name: "one under CI refused", env: map[string]string{SkipEnv: "1", "CI": "true"}, refusing: true},
		{name: "other value refused", env: map[string]string{SkipEnv: "yes"}, refusing: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			skip, reason := optOut(func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok })
			if skip != tc.skip || (reason != "" && !skip) != tc.refusing {
				t.Fatalf("skip %v reason %q; want skip %v refusing %v", skip, reason, tc.skip, tc.refusing)
			}
		})
	}
}

func TestDBName(t *testing.T) {
	if got := dbName("TestConformance/Postgres/claim-next"); got != "t_testconformance_postgres_claim_next" {
		t.Fatalf("dbName = %q", got)
	}
}

// TestMissingPostgres runs this test binary again as a machine without
// PostgreSQL: outside CI the test that needs it is skipped, saying why;
// under CI=true it fails.
func TestMissingPostgres(t *testing.T) {
	if os.Getenv("PGTEST_MISSING_CHILD") == "1" {
		binGlob = "/nonexistent/postgresql/*/bin"
		Require(t)
		t.Log("reached past Require")
		return
	}
	tests := []struct {
		name     string
		ci       string
		wantFail bool
		want     string
	}{
		{name: "outside CI skips", ci: "", want: "SKIP: TestMissingPostgres"},
		{name: "under CI fails", ci: "true", wantFail: true, want: "--- FAIL: TestMissingPostgres"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestMissingPostgres$", "-test.v")
			cmd.Env = append(os.Environ(), "PGTEST_MISSING_CHILD=1", "CI="+tc.ci, SkipEnv+"=")
			out, err := cmd.CombinedOutput()
			if (err != nil) != tc.wantFail || !strings.Contains(string(out), tc.want) ||
				!strings.Contains(string(out), "no /usr/lib/postgresql/*/bin") || strings.Contains(string(out), "reached past Require") {
				t.Fatalf("err %v, want failure %v and %q with the reason:\n%s", err, tc.wantFail, tc.want, out)
			}
		})
	}
}
