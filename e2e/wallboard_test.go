package e2e

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/callflow/callflow/internal/e2etest"
	"github.com/callflow/callflow/internal/sipptest"
)

// ArtifactsEnv names a folder for the browser tests' screenshots (default:
// the test's temporary folder).
const ArtifactsEnv = "CALLFLOW_ARTIFACTS"

// browser starts headless Debian chromium for t and collects the page's
// console errors, uncaught exceptions and error log entries (CSP
// violations, failed loads).
func browser(t *testing.T) (context.Context, func() []string) {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium missing under CI=true (Debian package chromium)")
		}
		t.Skip("chromium not installed (Debian package chromium)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.WindowSize(1280, 1000), chromedp.Flag("disable-dev-shm-usage", true))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	var mu sync.Mutex
	var errs []string
	done := make(chan struct{})
	msgs := chromedp.Console(ctx)
	go func() { // ends when the browser's context is cancelled
		defer close(done)
		for m, err := range msgs {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				mu.Lock()
				errs = append(errs, m.String()+" "+m.URL)
				mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() { cancelCtx(); cancelAlloc(); <-done })
	return ctx, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), errs...)
	}
}

// TestWallboardLive opens the wallboard in headless chromium, watches it
// with the API token, and places a real call that waits in the support
// queue (its agent is busy): the call's line must appear within 2 s of the
// service's "joined" event, pushed over the stream. The flow map must show
// the call and the exits taken. The page must log no error, reach its
// controls with Tab, and keep text contrast at 4.5:1 or more.
func TestWallboardLive(t *testing.T) {
	r := e2etest.NewRig(t, e2etest.RigOptions{AgentModes: []sipptest.Mode{sipptest.Busy}})
	ctx, consoleErrors := browser(t)
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()

	if err := chromedp.Do(ctx,
		chromedp.Navigate(r.Svc.APIURL+"/"),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), r.Svc.Token),
		chromedp.Click(chromedp.ID("watch")),
	); err != nil {
		t.Fatalf("open the wallboard: %v (errors %v)", err, consoleErrors())
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById("status").textContent === "live" && document.querySelector("h2") !== null`,
		chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		st, _ := chromedp.Run(ctx, chromedp.Text(chromedp.ID("status")))
		t.Fatalf("wallboard not live: %v (status %q, errors %v)", err, st, consoleErrors())
	}
	// Record when each call's line first appears in the page.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.seen = {}; new MutationObserver(function () {
		document.querySelectorAll("tr[data-call]").forEach(function (tr) {
			var id = tr.getAttribute("data-call"); if (!window.seen[id]) { window.seen[id] = Date.now(); }
		});
	}).observe(document.getElementById("queues-view"), {childList: true, subtree: true}); true`)); err != nil {
		t.Fatal(err)
	}

	run := r.Call(sipptest.Caller{Extension: e2etest.ExtDecline, From: "+420601111222", Events: []sipptest.Step{
		sipptest.Pause(20 * time.Second), sipptest.Hangup(),
	}})
	id := r.InboundCall(20*time.Second, 0)
	joined := r.Event(10*time.Second, e2etest.Match{Call: id, Source: "queue", Kind: "joined"})
	seenMS, err := chromedp.Run(ctx, chromedp.Poll[float64](fmt.Sprintf(`window.seen[%s] || 0`, strconv.Quote(id)),
		chromedp.WithPollingTimeout(5*time.Second)))
	if err != nil {
		t.Fatalf("call %s never shown: %v", id, err)
	}
	delay := time.UnixMilli(int64(seenMS)).Sub(joined.At)
	t.Logf("call %s joined at %s, shown %v later", id, joined.At.Format("15:04:05.000"), delay)
	if delay > 2*time.Second {
		t.Errorf("line shown %v after the caller joined, want within 2 s", delay)
	}
	row, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(fmt.Sprintf(`tr[data-call=%s]`, strconv.Quote(id)))))
	if err != nil {
		t.Fatal(err)
	}
	if f := strings.Fields(row); len(f) < 3 || f[0] != "1" || f[1] != "live" {
		t.Errorf("line row %q, want position 1, live", row)
	}

	dir := os.Getenv(ArtifactsEnv)
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	queuesPNG, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}

	// Keyboard: Tab from the top reaches the token, Watch and both view
	// buttons in that order; Enter on "Flow map" switches the view.
	// A click on the heading moves the start of Tab navigation to the top.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("h1"))); err != nil {
		t.Fatal(err)
	}
	var order []string
	for range 4 {
		if err := chromedp.Do(ctx, chromedp.KeyEvent(kb.Tab)); err != nil {
			t.Fatal(err)
		}
		id, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.activeElement.id`))
		if err != nil {
			t.Fatal(err)
		}
		order = append(order, id)
	}
	if got, want := strings.Join(order, ","), "token,watch,show-queues,show-flows"; got != want {
		t.Errorf("tab order %s, want %s", got, want)
	}
	if err := chromedp.Do(ctx, chromedp.KeyEvent(kb.Enter)); err != nil {
		t.Fatal(err)
	}
	flowsShown, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`!document.getElementById("flows-view").hidden && document.getElementById("queues-view").hidden`))
	if err != nil || !flowsShown {
		t.Errorf("Enter on the Flow map button did not show the flow map (%v)", err)
	}

	// The flow map: the decline flow's answer exit taken once, and the
	// call counted at a notation.
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`(document.querySelector('[data-edge="decline/welcome/next"]') || {}).textContent === "next (1)"`,
		chromedp.WithPollingTimeout(5*time.Second))); err != nil {
		lbl, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.querySelector('[data-edge="decline/welcome/next"]') || {}).textContent || "none"`))
		t.Fatalf("flow map: exit count not shown: %v (label %q)", err, lbl)
	}
	counts, err := chromedp.Run(ctx, chromedp.Evaluate[string](`Array.from(document.querySelectorAll("[data-count]")).filter(function (e) { return e.textContent; }).map(function (e) { return e.getAttribute("data-count") + "=" + e.textContent; }).join(";")`))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("flow map: calls at %s", counts)
	if !strings.Contains(counts, "1 call") {
		t.Errorf("no notation shows the waiting call: %q", counts)
	}
	flowsPNG, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	for name, png := range map[string][]byte{"wallboard-queues.png": queuesPNG, "wallboard-flows.png": flowsPNG} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot %s (%d bytes)", p, len(png))
	}

	// Contrast of every visible text in both views against the
	// background it is drawn on.
	type sample struct{ Text, Color, Bg string }
	for _, view := range []string{"show-flows", "show-queues"} {
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID(view))); err != nil {
			t.Fatal(err)
		}
		samples, err := chromedp.Run(ctx, chromedp.Evaluate[[]sample](contrastJS))
		if err != nil {
			t.Fatal(err)
		}
		if len(samples) < 5 {
			t.Fatalf("%s: only %d text samples", view, len(samples))
		}
		for _, s := range samples {
			ratio, err := contrast(s.Color, s.Bg)
			if err != nil {
				t.Fatalf("%q: %v", s.Text, err)
			}
			if ratio < 4.5 {
				t.Errorf("%s: %q is %s on %s: contrast %.2f, want ≥ 4.5", view, s.Text, s.Color, s.Bg, ratio)
			}
		}
		t.Logf("%s: %d texts, all with contrast ≥ 4.5", view, len(samples))
	}

	r.Finish(run, 60*time.Second)
	if errs := consoleErrors(); len(errs) > 0 {
		t.Errorf("page errors:\n%s", strings.Join(errs, "\n"))
	}
}

// contrastJS lists each visible element's own text with its colour and
// the background it is drawn on: the nearest opaque background colour up
// its ancestors, or for SVG text its fill on the box (or page) behind it.
const contrastJS = `(function () {
  function bgOf(e) {
    for (; e && e.nodeType === 1; e = e.parentElement) {
      var c = getComputedStyle(e).backgroundColor;
      if (c && c !== "transparent" && !/rgba\(.*,\s*0\)$/.test(c)) { return c; }
    }
    return "rgb(255, 255, 255)";
  }
  var out = [];
  document.querySelectorAll("body *").forEach(function (e) {
    if (e.closest("[hidden]") || e.tagName === "SCRIPT" || e.tagName === "STYLE" || e.tagName === "title") { return; }
    var own = Array.from(e.childNodes).filter(function (n) { return n.nodeType === 3 && n.textContent.trim(); }).map(function (n) { return n.textContent.trim(); }).join(" ");
    if (!own) { return; }
    if (e instanceof SVGElement) {
      var g = e.closest("g[data-node]"), rect = g && g.querySelector("rect");
      out.push({Text: own, Color: getComputedStyle(e).fill, Bg: rect ? getComputedStyle(rect).fill : bgOf(e.ownerSVGElement)});
      return;
    }
    var r = e.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) { return; }
    out.push({Text: own, Color: getComputedStyle(e).color, Bg: bgOf(e)});
  });
  return out;
})()`

// contrast is the WCAG 2 contrast ratio of two CSS rgb() colours.
func contrast(fg, bg string) (float64, error) {
	l1, err := luminance(fg)
	if err != nil {
		return 0, err
	}
	l2, err := luminance(bg)
	if err != nil {
		return 0, err
	}
	if l1 < l2 {
		l1, l2 = l2, l1
	}
	return (l1 + 0.05) / (l2 + 0.05), nil
}

func luminance(css string) (float64, error) {
	inner, ok := strings.CutSuffix(strings.TrimPrefix(strings.TrimPrefix(css, "rgba("), "rgb("), ")")
	if !ok {
		return 0, fmt.Errorf("colour %q: not rgb()", css)
	}
	parts := strings.Split(inner, ",")
	if len(parts) < 3 {
		return 0, fmt.Errorf("colour %q", css)
	}
	var ch [3]float64
	for i := range 3 {
		v, err := strconv.ParseFloat(strings.TrimSpace(parts[i]), 64)
		if err != nil {
			return 0, fmt.Errorf("colour %q: %w", css, err)
		}
		c := v / 255
		if c <= 0.03928 {
			ch[i] = c / 12.92
		} else {
			ch[i] = math.Pow((c+0.055)/1.055, 2.4)
		}
	}
	return 0.2126*ch[0] + 0.7152*ch[1] + 0.0722*ch[2], nil
}

func TestContrast(t *testing.T) {
	for _, tc := range []struct {
		name, fg, bg string
		want         float64
	}{
		{"black on white", "rgb(0, 0, 0)", "rgb(255, 255, 255)", 21},
		{"same colour", "rgb(17, 17, 17)", "rgb(17, 17, 17)", 1},
		{"grey on white", "rgb(118, 118, 118)", "rgb(255, 255, 255)", 4.54},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := contrast(tc.fg, tc.bg)
			if err != nil || math.Abs(got-tc.want) > 0.01 {
				t.Errorf("contrast %v (%v), want %v", got, err, tc.want)
			}
		})
	}
}
