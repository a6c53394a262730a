package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCmd(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), args, &out, &errb)
	var ee exitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.code
	default:
		t.Fatalf("run %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("start: a\nnotations:\n  a:\n    type: plya\n  b:\n    type: answer\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	badCfg := filepath.Join(dir, "bad-config.yaml")
	if err := os.WriteFile(badCfg, []byte("switch:\n  tipe: sim\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	noFlowCfg := filepath.Join(dir, "noflow.yaml")
	flowsDir, _ := filepath.Abs("../../examples/flows")
	if err := os.WriteFile(noFlowCfg, []byte("switch: {type: sim}\nflows: {dir: "+flowsDir+", default: nope}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string
		code     int
		contains []string
	}{
		{"examples are valid", []string{"validate", "../../examples/flows/ivr-offer.yaml", "../../examples/flows/voicemail-wait.yaml"}, 0,
			[]string{"ivr-offer.yaml: ok", "voicemail-wait.yaml: ok"}},
		{"every error with its position", []string{"validate", bad}, 1,
			[]string{bad + ":4:5: unknown notation", bad + ":5:3:"}},
		{"config and the flows it uses", []string{"validate", "--config", "../../examples/config/sim.yaml"}, 0,
			[]string{"sim.yaml: ok"}},
		{"config error with position", []string{"validate", "--config", badCfg}, 1,
			[]string{badCfg + ":2:3: "}},
		{"config naming a missing flow", []string{"validate", "--config", noFlowCfg}, 1,
			[]string{"nope"}},
		{"missing file", []string{"validate", filepath.Join(dir, "nope.yaml")}, 1, []string{"nope.yaml"}},
		{"no file", []string{"validate"}, 2, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, errs, code := runCmd(t, tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, out, errs)
			}
			for _, s := range tc.contains {
				if !strings.Contains(out, s) {
					t.Errorf("output lacks %q:\n%s", s, out)
				}
			}
		})
	}
}

func TestGraph(t *testing.T) {
	out, errs, code := runCmd(t, "graph", "../../examples/flows/ivr-offer.yaml")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, s := range []string{"flowchart TD", "menu", "option_1", "wait_in_line"} {
		if !strings.Contains(out, s) {
			t.Errorf("graph lacks %q:\n%s", s, out)
		}
	}
}

func TestSimulateJSON(t *testing.T) {
	out, errs, code := runCmd(t, "simulate", "--json",
		"--config", "../../examples/config/sim.yaml",
		"--flow", "../../examples/flows/number-policy.yaml",
		"--scenario", "../../examples/scenarios/number-policy.yaml")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var last struct{ Source, Kind string }
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil {
		t.Fatalf("last line is not JSON: %v", err)
	}
	if last.Source != "callback" || last.Kind != "completed" {
		t.Fatalf("last event %+v, want the callback completed", last)
	}
}

func TestSimulateBadFlow(t *testing.T) {
	dir := t.TempDir()
	flow := filepath.Join(dir, "f.yaml")
	if err := os.WriteFile(flow, []byte("start: x\nnotations: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, errs, code := runCmd(t, "simulate", "--config", "../../examples/config/sim.yaml",
		"--flow", flow, "--scenario", "../../examples/scenarios/decline.yaml")
	if code != 1 || !strings.Contains(errs, "f.yaml:1:") {
		t.Fatalf("exit %d, stderr %q; want 1 and a positioned error", code, errs)
	}
}

func TestUnknownCommand(t *testing.T) {
	if _, _, code := runCmd(t, "frobnicate"); code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
	if out, _, code := runCmd(t, "version"); code != 0 || !strings.HasPrefix(out, "callflow ") {
		t.Fatalf("version: %q %d", out, code)
	}
}
