package packaging

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestDebVersion(t *testing.T) {
	for in, want := range map[string]string{
		"v1.2.3":          "1.2.3",
		"1.2.3-4-gabcdef": "1.2.3+4+gabcdef",
		"a827672-dirty":   "0.0.0+gita827672+dirty",
		"dev":             "0.0.0+dev",
	} {
		if got := DebVersion(in); got != want {
			t.Errorf("DebVersion(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPackagedConfigPaths(t *testing.T) {
	example, err := os.ReadFile("../../examples/config/callflow.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := PackagedConfig(example)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"dir: flows ", "path: /var/lib/callflow/callflow.db", "dir: /var/lib/callflow/media", "--config /etc/callflow/config.yaml"} {
		if !strings.Contains(string(cfg), want) {
			t.Errorf("packaged config lacks %q", want)
		}
	}
}

// TestInstalledModelines: every example flow and the config name a schema
// the package installs, by absolute path.
func TestInstalledModelines(t *testing.T) {
	files, err := filepath.Glob("../../examples/flows/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("example flows: %v %v", files, err)
	}
	files = append(files, "../../examples/config/callflow.yaml")
	for _, f := range files {
		text, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		first, _, _ := strings.Cut(string(Installed(text)), "\n")
		ref, ok := strings.CutPrefix(first, "# yaml-language-server: $schema=")
		if !ok {
			t.Errorf("%s: first line %q is not a schema modeline", f, first)
			continue
		}
		dir, name := filepath.Split(ref)
		if filepath.Clean(dir) != SchemaDir {
			t.Errorf("%s: installed modeline names %s, want a file in %s", f, ref, SchemaDir)
		}
		if _, err := os.Stat(filepath.Join("../../docs/schema", name)); err != nil {
			t.Errorf("%s: the package ships no %s: %v", f, name, err)
		}
	}
}

// need fails under CI=true and skips elsewhere when a part is missing.
func need(t *testing.T, ok bool, what string) {
	t.Helper()
	if ok {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (required under CI=true)", what)
	}
	t.Skip(what)
}

// mirror returns the first Debian mirror this machine's apt uses.
func mirror() string {
	f, err := os.Open("/etc/apt/sources.list.d/debian.sources")
	if err == nil {
		defer f.Close()
		s := bufio.NewScanner(f)
		for s.Scan() {
			if u, ok := strings.CutPrefix(strings.TrimSpace(s.Text()), "URIs:"); ok {
				return strings.Fields(u)[0]
			}
		}
	}
	return "http://deb.debian.org/debian"
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestDebInstallsAndValidates builds the binary and the .deb, installs it
// with dpkg into a throw-away Debian bookworm chroot (mmdebstrap), where the
// postinst really creates the callflow user, then runs the installed
// `callflow validate` on the installed config as that user, and purges.
func TestDebInstallsAndValidates(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds a Debian chroot")
	}
	_, errMM := exec.LookPath("mmdebstrap")
	need(t, errMM == nil, "mmdebstrap not installed")
	_, errDpkg := exec.LookPath("dpkg")
	need(t, errDpkg == nil, "dpkg not installed")
	need(t, os.Geteuid() == 0, "dpkg --root and chroot need root")

	dir := t.TempDir()
	bin := filepath.Join(dir, "callflow")
	run(t, "go", "build", "-o", bin, "../../cmd/callflow")
	debPath, err := Build(Options{Root: "../..", Binary: bin, Version: "1.0.0-test", OutDir: filepath.Join(dir, "dist")})
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(debPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %d bytes\n%s", filepath.Base(debPath), st.Size(), run(t, "dpkg", "-c", debPath))

	root := filepath.Join(dir, "root")
	run(t, "mmdebstrap", "--quiet", "--variant=minbase", "--include=adduser",
		`--aptopt=Acquire::Check-Valid-Until "false"`, "bookworm", root, mirror())

	t.Log(run(t, "dpkg", "--root="+root, "-i", debPath))
	for _, p := range []string{BinPath, UnitPath, ConfigPath, FlowsDir + "/ivr-offer.yaml", "/etc/callflow/secrets/api-token", SchemaDir + "/flow.schema.json", SchemaDir + "/config.schema.json"} {
		if _, err := os.Stat(filepath.Join(root, p)); err != nil {
			t.Errorf("not installed: %v", err)
		}
	}
	if out := run(t, "chroot", root, "getent", "passwd", "callflow"); !strings.Contains(out, ":/var/lib/callflow:") {
		t.Errorf("callflow user: %q", out)
	}
	// Each installed YAML file's modeline names an installed schema.
	installed, _ := filepath.Glob(filepath.Join(root, FlowsDir, "*.yaml"))
	for _, f := range append(installed, filepath.Join(root, ConfigPath)) {
		text, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		first, _, _ := strings.Cut(string(text), "\n")
		ref, _ := strings.CutPrefix(first, "# yaml-language-server: $schema=")
		if _, err := os.Stat(filepath.Join(root, ref)); !strings.HasPrefix(ref, "/") || err != nil {
			t.Errorf("%s: modeline %q does not name an installed schema (%v)", f, first, err)
		}
	}
	out := run(t, "chroot", "--userspec=callflow:callflow", root, BinPath, "validate", "--config", ConfigPath)
	if !strings.Contains(out, ConfigPath+": ok") {
		t.Fatalf("validate: %s", out)
	}
	t.Log(strings.TrimSpace(out))

	run(t, "dpkg", "--root="+root, "--purge", "callflow")
	if out, err := exec.Command("chroot", root, "getent", "passwd", "callflow").CombinedOutput(); err == nil {
		t.Errorf("callflow user still there after purge: %s", out)
	}
	for _, p := range []string{BinPath, ConfigPath, StateDir} {
		if _, err := os.Stat(filepath.Join(root, p)); !os.IsNotExist(err) {
			t.Errorf("%s left after purge (%v)", p, err)
		}
	}
}
