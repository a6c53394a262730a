package asterisktest

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

func TestRenderMatchesScript(t *testing.T) {
	tmpl, err := TemplatesDir()
	if err != nil {
		t.Fatal(err)
	}
	scripts, err := repoScripts()
	if err != nil {
		t.Fatal(err)
	}
	a := &Asterisk{HTTPPort: 18088, SIPPort: 15070, CustomerPort: 15090, AgentPorts: []int{15081, 15082, 15083, 15084}, Pass: "s3cret&x/y", SoftphonePassword: "soft-pw"}
	goDir, shDir := t.TempDir(), t.TempDir()
	if err := Render(tmpl, goDir, a.Vars()); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(scripts, "render.sh"), shDir)
	cmd.Env = os.Environ()
	for k, v := range a.Vars() {
		cmd.Env = append(cmd.Env, "ASTERISK_"+k+"="+v)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("render.sh: %v\n%s", err, out)
	}
	names, _ := filepath.Glob(filepath.Join(tmpl, "*.conf"))
	for _, n := range names {
		base := filepath.Base(n)
		g, err := os.ReadFile(filepath.Join(goDir, base))
		if err != nil {
			t.Fatal(err)
		}
		s, err := os.ReadFile(filepath.Join(shDir, base))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(g, s) {
			t.Errorf("%s: Render and render.sh differ:\n--- go\n%s\n--- sh\n%s", base, g, s)
		}
		if placeholder.Match(g) {
			t.Errorf("%s: placeholder left: %s", base, placeholder.Find(g))
		}
	}
	want := map[string]string{
		"http.conf":    "bindport = 18088",
		"ari.conf":     "password = s3cret&x/y",
		"pjsip.conf":   "contact = sip:agent3@127.0.0.1:15083",
		"rtp.conf":     "rtpend = 20000",
		"manager.conf": "enabled = no",
	}
	for file, line := range want {
		b, _ := os.ReadFile(filepath.Join(goDir, file))
		if !strings.Contains(string(b), line) {
			t.Errorf("%s lacks %q", file, line)
		}
	}
}

func TestRenderErrors(t *testing.T) {
	tmpl, err := TemplatesDir()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		template string
		vars     map[string]string
		want     string
	}{
		{name: "missing var", template: tmpl, vars: map[string]string{"HTTP_PORT": "1"}, want: "no value for"},
		{name: "no templates", template: t.TempDir(), vars: nil, want: "no *.conf templates"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			err := Render(tc.template, out, tc.vars)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Render error = %v, want one containing %q", err, tc.want)
			}
			if entries, _ := os.ReadDir(out); len(entries) != 0 {
				t.Errorf("failed Render wrote %d files", len(entries))
			}
		})
	}
}

func TestFreePortsDistinct(t *testing.T) {
	ports, err := FreePorts(7)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if p < controlPortMin || p >= controlPortMax || seen[p] {
			t.Fatalf("ports %v: out of the control range or repeated %d", ports, p)
		}
		seen[p] = true
	}
}

func TestARIInfo(t *testing.T) {
	t0 := time.Now()
	a := Require(t)
	t.Logf("Require took %v (install %v, start %v)", time.Since(t0).Round(time.Millisecond), a.InstallTime.Round(time.Millisecond), a.StartTime.Round(time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	body, err := a.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var info struct {
		System struct {
			Version string `json:"version"`
		} `json:"system"`
	}
	if err := json.Unmarshal(body, &info); err != nil {
		t.Fatalf("info %s: %v", body, err)
	}
	if !strings.HasPrefix(info.System.Version, "22.") {
		t.Errorf("ARI system version %q, want 22.x", info.System.Version)
	}
	// A wrong password must be refused, or the test above proves nothing.
	bad := &Asterisk{ARIURL: a.ARIURL, User: a.User, Pass: "wrong"}
	if _, err := bad.Info(ctx); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("info with a wrong password: %v, want 401", err)
	}
}

func TestCLI(t *testing.T) {
	a := Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tests := []struct {
		name, cmd, want string
	}{
		{name: "version", cmd: "core show version", want: "Asterisk 22."},
		{name: "sip transport", cmd: "pjsip show transports", want: "127.0.0.1:" + itoa(a.SIPPort)},
		{name: "customer contact", cmd: "pjsip show aor customer", want: "sip:127.0.0.1:" + itoa(a.CustomerPort)},
		{name: "agent4 contact", cmd: "pjsip show aor agent4", want: "sip:agent4@127.0.0.1:" + itoa(a.AgentPorts[3])},
		{name: "stasis dialplan", cmd: "dialplan show callflow-in", want: "Stasis(callflow,${EXTEN})"},
		{name: "moh class", cmd: "moh show classes", want: "Class: default"},
		{name: "no iax2", cmd: "module show like chan_iax2", want: "0 modules loaded"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := a.CLI(ctx, tc.cmd)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out, tc.want) {
				t.Errorf("%q output lacks %q:\n%s", tc.cmd, tc.want, out)
			}
		})
	}
}

func TestRecordingDirExists(t *testing.T) {
	a := Require(t)
	dir := filepath.Dir(a.RecordingPath("x.wav"))
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		t.Fatalf("recording dir %s: %v", dir, err)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
