package examples_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// ylsVersion is the yaml-language-server the editor test drives: the
// language server of VS Code's YAML extension (redhat.vscode-yaml) and of
// Neovim's, Emacs' and Helix' YAML support.
const ylsVersion = "2.0.0"

// yamlLanguageServer installs yaml-language-server from the npm registry
// into the user cache (once; later runs reuse it) and returns its entry
// script. Outside CI a machine without node and npm skips the test; under
// CI=true that is a failure.
func yamlLanguageServer(t *testing.T) (node, server string) {
	t.Helper()
	node, nerr := exec.LookPath("node")
	npm, perr := exec.LookPath("npm")
	if nerr != nil || perr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the editor test needs node and npm (Node.js): %v %v", nerr, perr)
		}
		t.Skipf("node or npm not installed (%v %v); CI runs this test", nerr, perr)
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(cache, "callflow-test", "yaml-language-server-"+ylsVersion)
	server = filepath.Join(dir, "node_modules", "yaml-language-server", "bin", "yaml-language-server")
	if _, err := os.Stat(server); err == nil {
		return node, server
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "install-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	cmd := exec.Command(npm, "install", "--prefix", tmp, "--no-audit", "--no-fund", "--loglevel=error", "yaml-language-server@"+ylsVersion)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm install yaml-language-server@%s: %v\n%s", ylsVersion, err, out)
	}
	// Another run may have finished first; either copy will do.
	if err := os.Rename(tmp, dir); err != nil {
		if _, serr := os.Stat(server); serr != nil {
			t.Fatalf("install yaml-language-server: %v", err)
		}
	}
	return node, server
}

// editorDiagnostics opens files in yaml-language-server and returns the
// diagnostics it publishes for each (testdata/lsp/diagnostics.js).
func editorDiagnostics(t *testing.T, files []string) map[string][]struct {
	Line    int
	Message string
} {
	t.Helper()
	node, server := yamlLanguageServer(t)
	args := append([]string{filepath.Join("testdata", "lsp", "diagnostics.js"), server}, files...)
	cmd := exec.Command(node, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	t.Logf("yaml-language-server %s: %d files in %v", ylsVersion, len(files), time.Since(start).Round(time.Millisecond))
	if err != nil {
		t.Fatalf("diagnostics.js: %v\nstdout: %s\nstderr: %s", err, stdout.String(), stderr.String())
	}
	var out map[string][]struct {
		Line    int
		Message string
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("diagnostics.js printed %q: %v", stdout.String(), err)
	}
	return out
}

// TestEditorUsesSchemas opens the examples and the bad-flow fixtures in the
// real language server an editor runs: every example finds its schema by
// its modeline and has no problem; a fixture with shape errors has at least
// one problem per error the schema test lists; one with semantic errors
// only has none; a modeline naming no file is reported, so "no problem"
// means the schema was loaded.
func TestEditorUsesSchemas(t *testing.T) {
	var examples []string
	for _, set := range schemaFiles {
		if !set.modeline {
			continue
		}
		for _, p := range glob(t, set.patterns...) {
			abs, err := filepath.Abs(p)
			if err != nil {
				t.Fatal(err)
			}
			examples = append(examples, abs)
		}
	}
	flowSchema, err := filepath.Abs(filepath.Join("..", "docs", "schema", "flow.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	fixtures := map[string]string{} // copy → fixture name
	for _, path := range glob(t, "../flowvm/testdata/bad/*.yaml") {
		name := filepath.Base(path)
		if badFlows[name].class == "syntax" {
			continue
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		cp := filepath.Join(dir, name)
		if err := os.WriteFile(cp, append([]byte("# yaml-language-server: $schema="+flowSchema+"\n"), data...), 0o644); err != nil {
			t.Fatal(err)
		}
		fixtures[cp] = name
	}
	broken := filepath.Join(dir, "broken-modeline.yaml")
	if err := os.WriteFile(broken, []byte("# yaml-language-server: $schema=../no/such.schema.json\nstart: a\nnotations:\n  a: {type: hangup}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	files := append([]string{broken}, examples...)
	for cp := range fixtures {
		files = append(files, cp)
	}
	diags := editorDiagnostics(t, files)

	if d := diags[broken]; len(d) == 0 || !strings.Contains(d[0].Message, "Unable to load schema") {
		t.Errorf("a modeline naming no file: diagnostics %v, want \"Unable to load schema\"", d)
	}
	for _, f := range examples {
		d, ok := diags[f]
		switch {
		case !ok || d == nil:
			t.Errorf("%s: the language server published no diagnostics", f)
		case len(d) > 0:
			t.Errorf("%s: the editor reports problems: %v", f, d)
		}
	}
	for cp, name := range fixtures {
		d := diags[cp]
		switch c := badFlows[name]; c.class {
		case "shape":
			if len(d) < len(c.at) {
				t.Errorf("%s: the editor reports %d problems, want at least %d (%v): %v", name, len(d), len(c.at), c.at, d)
			}
		case "semantic":
			if len(d) != 0 {
				t.Errorf("%s has only semantic errors, but the editor reports %v", name, d)
			}
		}
	}
}
