// Package monitoring holds callflow's Prometheus alert rules and Grafana
// dashboard. Its tests check the rules with promtool (syntax and unit
// tests), then run a real Prometheus against a real `callflow serve` (on
// the test suite's Asterisk): every metric the rules and the dashboard use
// must be on the service's /metrics, every dashboard query must be accepted,
// and every rule must evaluate without error.
package monitoring

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/callflow/callflow/internal/asterisktest"
	"github.com/callflow/callflow/internal/e2etest"
	"github.com/callflow/callflow/internal/sipptest"
)

func TestMain(m *testing.M) { os.Exit(asterisktest.Main(m)) }

const (
	rulesFile     = "callflow-alerts.yml"
	rulesTestFile = "callflow-alerts.test.yml"
	dashboardFile = "callflow-dashboard.json"
)

// requireTool returns the path of a Debian `prometheus` tool; it is skipped
// outside CI when absent and fails under CI=true.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s missing under CI=true (Debian package prometheus, scripts/deps.sh)", name)
		}
		t.Skipf("%s not installed (Debian package prometheus)", name)
	}
	return p
}

func TestAlertRulesPromtool(t *testing.T) {
	promtool := requireTool(t, "promtool")
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"check rules", []string{"check", "rules", rulesFile}},
		{"unit tests", []string{"test", "rules", rulesTestFile}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := exec.Command(promtool, tc.args...).CombinedOutput()
			if err != nil {
				t.Fatalf("promtool %s: %v\n%s", strings.Join(tc.args, " "), err, out)
			}
			t.Logf("%s", out)
		})
	}
}

// dashboard is the part of the Grafana JSON the test reads.
type dashboard struct {
	Panels []struct {
		Title   string `json:"title"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
}

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	if len(d.Panels) == 0 {
		t.Fatalf("%s: no panels", dashboardFile)
	}
	for _, p := range d.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			if strings.TrimSpace(q.Expr) == "" {
				t.Errorf("panel %q has an empty query", p.Title)
			}
		}
	}
	return d
}

// dashboardQueries are the dashboard's expressions with its variables
// ($instance, $queue) set to match everything.
func dashboardQueries(d dashboard) []string {
	var qs []string
	for _, p := range d.Panels {
		for _, q := range p.Targets {
			qs = append(qs, strings.NewReplacer("$instance", ".*", "$queue", ".*").Replace(q.Expr))
		}
	}
	return qs
}

var metricName = regexp.MustCompile(`\bcallflow_[a-z_]+\b`)

// usedMetrics are the callflow metric names in the rules and the dashboard.
func usedMetrics(t *testing.T) []string {
	t.Helper()
	seen := map[string]bool{}
	for _, f := range []string{rulesFile, dashboardFile} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range metricName.FindAllString(string(b), -1) {
			seen[m] = true
		}
	}
	var out []string
	for m := range seen {
		out = append(out, m)
	}
	sort.Strings(out)
	return out
}

// families reads the metric families (name → type) of an exposition.
func families(text string) map[string]string {
	f := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			if name, typ, ok := strings.Cut(rest, " "); ok {
				f[name] = typ
			}
		}
	}
	return f
}

// exported reports whether name is a family of f or a series of a
// histogram family (_bucket, _sum, _count).
func exported(f map[string]string, name string) bool {
	if _, ok := f[name]; ok {
		return true
	}
	for _, suf := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suf); ok && f[base] == "histogram" {
			return true
		}
	}
	return false
}

func TestMonitoringAgainstLiveService(t *testing.T) {
	prom := requireTool(t, "prometheus")
	d := readDashboard(t)
	used := usedMetrics(t)
	r := e2etest.NewRig(t, e2etest.RigOptions{CustomerHold: time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// One real call through a flow (callback-only: the flow runs, the
	// callback dials the agent, then the customer, and completes), so the
	// flow and dial series carry samples too.
	run := r.Call(sipptest.Caller{Extension: e2etest.ExtCallbackOnly, From: "+420601111222", Events: []sipptest.Step{sipptest.ExpectBye()}})
	r.Finish(run, 60*time.Second)
	r.Event(60*time.Second, e2etest.Match{Call: "cb-1", Source: "callback", Kind: "completed"})

	// The service's own /metrics holds every metric the files use.
	text := scrape(ctx, t, r.Svc.APIURL+"/metrics", r.Svc.Token)
	fams := families(text)
	for _, m := range used {
		if !exported(fams, m) {
			t.Errorf("%s is used by the rules or the dashboard but not on the live /metrics", m)
		}
	}
	t.Logf("%d callflow metrics used, all checked against %d families on /metrics", len(used), len(fams))

	// A real Prometheus scrapes the service and evaluates the rules.
	api := startPrometheus(ctx, t, prom, r.Svc.APIURL, r.Svc.Token)
	waitFor(ctx, t, "the service scraped with the switch connected", func() (bool, string) {
		res, err := query(ctx, api, `callflow_switch_connected`)
		if err != nil {
			return false, err.Error()
		}
		return strings.Contains(res, `"1"`), res
	})
	for _, q := range dashboardQueries(d) {
		if _, err := query(ctx, api, q); err != nil {
			t.Errorf("dashboard query %s: %v", q, err)
		}
	}
	waitFor(ctx, t, "every rule evaluated", func() (bool, string) {
		return rulesHealthy(ctx, api)
	})
}

func scrape(ctx context.Context, t *testing.T, u, token string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v\n%s", u, resp.StatusCode, err, b)
	}
	return string(b)
}

// startPrometheus runs prometheus on a free loopback port with a private
// data folder, scraping the service every second and loading the rules.
// It returns the base URL of its HTTP API.
func startPrometheus(ctx context.Context, t *testing.T, bin, target, token string) string {
	t.Helper()
	dir := t.TempDir()
	rules, err := filepath.Abs(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [%q]
scrape_configs:
  - job_name: callflow
    authorization:
      credentials: %q
    static_configs:
      - targets: [%q]
`, rules, token, u.Host)
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	listen := "127.0.0.1:" + strconv.Itoa(port)
	logf, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config.file="+cfgPath, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+listen, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("prometheus log:\n%s", b)
		}
	})
	api := "http://" + listen
	waitFor(ctx, t, "prometheus ready", func() (bool, string) {
		resp, err := http.Get(api + "/-/ready")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
	return api
}

// query runs an instant query and returns its result's JSON; an error
// when Prometheus refuses the expression.
func query(ctx context.Context, api, expr string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, api+"/api/v1/query?query="+url.QueryEscape(expr), nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return "", err
	}
	if out.Status != "success" {
		return "", fmt.Errorf("%s: %s", out.Status, out.Error)
	}
	return string(out.Data), nil
}

// rulesHealthy reports whether every loaded rule has been evaluated with
// health "ok" (and how many rules there are).
func rulesHealthy(ctx context.Context, api string) (bool, string) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, api+"/api/v1/rules", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, err.Error()
	}
	defer resp.Body.Close()
	var out struct {
		Data struct {
			Groups []struct {
				Rules []struct {
					Name      string `json:"name"`
					Health    string `json:"health"`
					LastError string `json:"lastError"`
					State     string `json:"state"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return false, err.Error()
	}
	var bad []string
	n := 0
	for _, g := range out.Data.Groups {
		for _, r := range g.Rules {
			n++
			if r.Health != "ok" || r.State == "firing" {
				bad = append(bad, fmt.Sprintf("%s health %s state %s %s", r.Name, r.Health, r.State, r.LastError))
			}
		}
	}
	if n < 5 {
		return false, fmt.Sprintf("%d rules loaded", n)
	}
	return len(bad) == 0, strings.Join(bad, "; ")
}

func waitFor(ctx context.Context, t *testing.T, what string, ok func() (bool, string)) {
	t.Helper()
	var last string
	for {
		var done bool
		if done, last = ok(); done {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v (last: %s)", what, ctx.Err(), last)
		case <-time.After(250 * time.Millisecond):
		}
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
