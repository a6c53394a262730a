package crash

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callflow/callflow/internal/e2etest"
)

// faultBuild runs a service binary built with the tag faultinject: only
// such a build accepts the config's faults: section (a production build
// refuses it).
var faultBuild = e2etest.Options{BuildTags: []string{"faultinject"}}

// setFault restarts the service, which must run a faultBuild binary, with
// a crash point (config faults:).
func setFault(t *testing.T, r *e2etest.Rig, killAfter string, count int) {
	t.Helper()
	if err := r.Svc.Kill(); err != nil {
		t.Fatal(err)
	}
	writeFault(t, r, fmt.Sprintf("\nfaults:\n  kill_after: %s\n  count: %d\n", killAfter, count))
	if err := r.Svc.Restart(r.Ctx(time.Minute)); err != nil {
		t.Fatal(err)
	}
}

// writeFault replaces the config's faults section with section ("" drops it).
func writeFault(t *testing.T, r *e2etest.Rig, section string) {
	t.Helper()
	b, err := os.ReadFile(r.Svc.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(b)
	if i := strings.Index(cfg, "\nfaults:"); i >= 0 {
		cfg = cfg[:i+1]
	}
	if err := os.WriteFile(r.Svc.ConfigPath, []byte(cfg+section), 0o600); err != nil {
		t.Fatal(err)
	}
}

// awaitCrash waits for the crash point to kill the service, then starts it
// again without a crash point on the same store.
func awaitCrash(t *testing.T, r *e2etest.Rig, d time.Duration) {
	t.Helper()
	select {
	case <-r.Svc.Done():
	case <-time.After(d):
		t.Fatalf("the service was not killed within %v", d)
	}
	if !strings.Contains(r.Svc.Log(), "faults: killing the process") {
		t.Fatalf("the service ended without its crash point:\n%s", r.Svc.LogTail(30))
	}
	restart(t, r)
}

func restart(t *testing.T, r *e2etest.Rig) {
	t.Helper()
	writeFault(t, r, "")
	t0 := time.Now()
	if err := r.Svc.Restart(r.Ctx(time.Minute)); err != nil {
		t.Fatal(err)
	}
	t.Logf("service restarted in %v", time.Since(t0).Round(time.Millisecond))
}

// legWatch samples the switch's channels and remembers the most channels
// to the customer trunk that were up at one instant, and which they were.
type legWatch struct {
	stop chan struct{}
	done chan struct{}

	mu      sync.Mutex
	most    []e2etest.Channel
	at      time.Time
	samples int
	errs    int
}

func watchCustomerLegs(t *testing.T, pbx *e2etest.PBX) *legWatch {
	t.Helper()
	w := &legWatch{stop: make(chan struct{}), done: make(chan struct{})}
	// Ends on w.close (registered as a cleanup).
	go func() {
		defer close(w.done)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-tick.C:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			legs, err := pbx.CustomerLegs(ctx)
			cancel()
			w.mu.Lock()
			if err != nil {
				w.errs++ // the switch restarting: no sample
			} else {
				w.samples++
				if len(legs) > len(w.most) {
					w.most, w.at = legs, time.Now()
				}
			}
			w.mu.Unlock()
		}
	}()
	t.Cleanup(w.close)
	return w
}

func (w *legWatch) close() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
}

// Most is the largest set of customer legs seen up at once, when it was
// first seen, and how many samples were taken.
func (w *legWatch) Most() (most []e2etest.Channel, at time.Time, samples int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.most, w.at, w.samples
}

// waitState polls the API until callback id is in state.
func waitState(t *testing.T, r *e2etest.Rig, id int64, state string, d time.Duration) e2etest.Callback {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		cb, err := r.Svc.Callback(r.Ctx(10*time.Second), id)
		if err == nil && cb.State == state {
			return cb
		}
		if time.Now().After(deadline) {
			t.Fatalf("callback %d: %+v (err %v), want %s within %v", id, cb, err, state, d)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// tally is what a crash test counts for the closing report.
type tally struct {
	registered, completed, lost, doubleDialled int
}

func (c tally) log(t *testing.T, name string) {
	t.Logf("COUNTS %s: registered=%d completed=%d lost=%d double-dialled=%d", name, c.registered, c.completed, c.lost, c.doubleDialled)
}

// audit checks one callback that the caller heard confirmed: completed
// exactly once, the customer dialled at most once per attempt number and
// never by two legs at once, every INVITE with the ANI and the number.
func audit(t *testing.T, r *e2etest.Rig, w *legWatch, id int64, number string) tally {
	t.Helper()
	c := tally{registered: 1}
	cb := waitState(t, r, id, "completed", 90*time.Second)
	c.completed = 1
	done := e2etest.Filter(r.Trace(), e2etest.Match{Call: fmt.Sprintf("cb-%d", id), Source: "callback", Kind: "completed"})
	if len(done) != 1 {
		t.Errorf("callback %d completed %d times in the trace, want once", id, len(done))
	}
	perN := map[int]int{}
	if cb.Attempts != nil {
		for _, a := range *cb.Attempts {
			t.Logf("attempt %d %-8s %-28s ani %s channel %s: %s", a.N, a.Leg, a.Endpoint, a.ANI, a.ChannelID, a.Outcome)
			if a.Leg == "customer" {
				perN[a.N]++
			}
		}
	}
	invites := 0
	for _, call := range r.Customer.Calls() {
		if call.To != number {
			continue
		}
		invites++
		if call.From != r.Svc.ANI {
			t.Errorf("customer INVITE from %q, want the ANI %s", call.From, r.Svc.ANI)
		}
	}
	for n, k := range perN {
		if k > 1 {
			t.Errorf("attempt %d has %d customer legs", n, k)
			c.doubleDialled++
		}
	}
	if invites > len(perN) {
		t.Errorf("customer phone got %d INVITEs for %d attempt numbers with a customer leg", invites, len(perN))
		c.doubleDialled++
	}
	if invites == 0 {
		t.Errorf("the customer was never called")
	}
	if most, at, samples := w.Most(); len(most) > 1 {
		t.Errorf("%d legs to the customer were up at once at %s (%d samples): %+v; the customer phone's INVITEs: %+v",
			len(most), at.Format("15:04:05.000"), samples, most, r.Customer.Calls())
		c.doubleDialled++
	}
	return c
}

// healthz returns the status of GET /healthz.
func healthz(r *e2etest.Rig) int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.Svc.APIURL+"/healthz", nil)
	if err != nil {
		return 0
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// createCallback registers a callback through the API.
func createCallback(t *testing.T, r *e2etest.Rig, number string) int64 {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"queue": "support", "number": number})
	req, err := http.NewRequestWithContext(r.Ctx(10*time.Second), http.MethodPost, r.Svc.APIURL+"/v1/callbacks", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+r.Svc.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Callback struct {
			ID int64 `json:"id"`
		} `json:"callback"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusCreated || out.Callback.ID == 0 {
		t.Fatalf("create callback %s: status %d, %v", number, resp.StatusCode, err)
	}
	return out.Callback.ID
}
