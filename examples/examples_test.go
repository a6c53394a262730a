// Package examples holds the shipped example flows, scenarios and the
// simulator configuration; its tests run every example experience in the
// simulator and compare the traces with golden files.
package examples_test

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/callflow/callflow/internal/simrun"
	"github.com/callflow/callflow/trace"
)

var update = flag.Bool("update", false, "rewrite the golden traces")

// experience is one example flow run against one scenario.
type experience struct {
	name, flow, scenario string
	// dir holds flow and scenario when they are not shipped examples.
	dir string
	// check asserts what the experience promises, beyond the golden file.
	check func(t *testing.T, ev []trace.Event)
}

func run(t *testing.T, ex experience) *simrun.Result {
	t.Helper()
	flow, scenario := filepath.Join("flows", ex.flow+".yaml"), filepath.Join("scenarios", ex.scenario+".yaml")
	if ex.dir != "" {
		flow, scenario = filepath.Join(ex.dir, ex.flow+".yaml"), filepath.Join(ex.dir, ex.scenario+".yaml")
	}
	res, err := simrun.Run(context.Background(), simrun.Options{
		ConfigPath:   "config/sim.yaml",
		FlowPath:     flow,
		ScenarioPath: scenario,
		MaxTime:      2 * time.Hour,
		DBPath:       filepath.Join(t.TempDir(), "sim.db"),
	})
	if err != nil {
		t.Fatalf("simulate %s: %v", ex.name, err)
	}
	if res.TimedOut {
		t.Fatalf("simulate %s: cut at max time", ex.name)
	}
	return res
}

func render(t *testing.T, res *simrun.Result) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := trace.WriteText(&buf, res.Start, res.Events); err != nil {
		t.Fatal(err)
	}
	if err := simrun.WriteSummary(&buf, res); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestExamples(t *testing.T) {
	for _, ex := range experiences {
		t.Run(ex.name, func(t *testing.T) {
			res := run(t, ex)
			got := render(t, res)
			golden := filepath.Join("testdata", "golden", ex.name+".txt")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("trace differs from %s (run with -update after checking the diff):\n%s", golden, diff(string(want), string(got)))
			}
			if ex.check != nil {
				ex.check(t, res.Events)
			}
		})
	}
}

// TestExamplesDeterministic runs each experience again: the simulator must
// give byte-identical traces.
func TestExamplesDeterministic(t *testing.T) {
	for _, ex := range experiences {
		t.Run(ex.name, func(t *testing.T) {
			a, b := render(t, run(t, ex)), render(t, run(t, ex))
			if !bytes.Equal(a, b) {
				t.Fatalf("two runs differ:\n%s", diff(string(a), string(b)))
			}
		})
	}
}

// diff shows the first differing lines.
func diff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	shown := 0
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			b.WriteString("line " + strconv.Itoa(i+1) + ":\n  want: " + w + "\n  got:  " + g + "\n")
			if shown++; shown == 10 {
				break
			}
		}
	}
	return b.String()
}
