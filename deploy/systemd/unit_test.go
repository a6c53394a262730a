// Package systemd holds the callflow systemd unit; its test checks the unit
// with the real systemd-analyze.
package systemd

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestUnitVerifyAndSecurity(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("systemd-analyze missing under CI")
		}
		t.Skip("systemd-analyze not installed")
	}
	unit, err := os.ReadFile("callflow.service")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "callflow")
	build := exec.Command("go", "build", "-o", bin, "../../cmd/callflow")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	// verify insists the ExecStart binary exists; point it at the fresh build.
	text := strings.Replace(string(unit), "/usr/bin/callflow", bin, 1)
	path := filepath.Join(dir, "callflow.service")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("systemd-analyze", "verify", path).CombinedOutput(); err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, err := exec.Command("systemd-analyze", "security", "--offline=yes", "--threshold=20", path).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "Overall exposure level") {
			t.Log(strings.TrimSpace(line))
			if !strings.Contains(line, " OK") {
				t.Fatalf("unit not rated OK: %s", line)
			}
			return
		}
	}
	t.Fatalf("no exposure line in output:\n%s", out)
}
