package crash

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/callflow/callflow/internal/asterisktest"
	"github.com/callflow/callflow/internal/e2etest"
	"github.com/callflow/callflow/internal/sipptest"
)

// restartAsterisk stops the shared Asterisk and starts it again in the same
// chroot with the same ports and ARI password (the repository's stop.sh and
// start.sh with the kit's variables; internal/asterisktest has no restart).
func restartAsterisk(ctx context.Context, a *asterisktest.Asterisk) error {
	root, err := e2etest.RepoRoot()
	if err != nil {
		return err
	}
	env := os.Environ()
	for k, v := range a.Vars() {
		env = append(env, "ASTERISK_"+k+"="+v)
	}
	for _, script := range []string{"stop.sh", "start.sh"} {
		cmd := exec.CommandContext(ctx, filepath.Join(root, "scripts", "asterisk", script), a.Root, a.RunDir)
		cmd.Env = env
		cmd.WaitDelay = 5 * time.Second
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("restart asterisk: %s: %w\n%s", script, err, out)
		}
	}
	return nil
}

// restartSwitch restarts the rig's switch.
func restartSwitch(ctx context.Context, pbx *e2etest.PBX) error {
	if pbx.Kind == e2etest.FreeSWITCH {
		return pbx.FS.Restart(ctx)
	}
	return restartAsterisk(ctx, pbx.Ast)
}

// waitHealth polls /healthz until it answers want.
func waitHealth(t *testing.T, r *e2etest.Rig, want int, d time.Duration) time.Duration {
	t.Helper()
	t0 := time.Now()
	for {
		if got := healthz(r); got == want {
			return time.Since(t0)
		}
		if time.Since(t0) > d {
			t.Fatalf("/healthz did not answer %d within %v", want, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSwitchRestart restarts the switch while a caller waits in the queue
// and two callbacks are pending, the first one ringing the agent (who does
// not answer): the service reports the outage on /healthz, reconnects and
// re-syncs (the caller, gone with the switch, leaves the line), and every
// callback is kept and completes once the agent answers again. Asterisk is
// stopped and started by its scripts; FreeSWITCH is killed (kill -KILL) and
// started again on the same ports.
func TestSwitchRestart(t *testing.T) { e2etest.EachSwitch(t, testSwitchRestart) }

func testSwitchRestart(t *testing.T, sw string) {
	r := e2etest.NewRig(t, e2etest.RigOptions{Switch: sw, AgentModes: []sipptest.Mode{sipptest.NoAnswer}, CustomerHold: 2 * time.Second})
	ctx := r.Ctx(3 * time.Minute)
	w := watchCustomerLegs(t, r.PBX)
	numbers := []string{"+420601111333", "+420601111444"}
	var ids []int64
	for _, n := range numbers {
		ids = append(ids, createCallback(t, r, n))
	}
	// A live caller behind them, on music (no digit pressed).
	run := r.Call(sipptest.Caller{Extension: e2etest.ExtDecline, From: "+420601111555",
		Events: []sipptest.Step{sipptest.Pause(40 * time.Second), sipptest.Hangup()}})
	defer endCaller(t, run)
	live := r.InboundCall(20*time.Second, 0)
	r.Event(20*time.Second, e2etest.Match{Call: live, Source: "queue", Kind: "joined"})
	// The agent rings for the first callback when the switch goes away.
	if _, err := r.Agents[0].WaitCalls(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if got := healthz(r); got != 200 {
		t.Fatalf("/healthz %d before the restart", got)
	}
	t0 := time.Now()
	done := make(chan error, 1)
	go func() { done <- restartSwitch(ctx, r.PBX) }() // ends with the switch's start
	down := waitHealth(t, r, 503, 30*time.Second)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	waitHealth(t, r, 200, 60*time.Second)
	t.Logf("%s restarted: /healthz 503 after %v, 200 again %v after the restart began",
		sw, down.Round(time.Millisecond), time.Since(t0).Round(time.Millisecond))
	for _, id := range ids {
		cb, err := r.Svc.Callback(ctx, id)
		if err != nil || !(cb.State == "registered" || cb.State == "dialing" || cb.State == "retry_wait") {
			t.Fatalf("callback %d after the restart: %+v %v, want it pending", id, cb, err)
		}
	}
	// Re-synced: the caller's channel died with the switch, so the caller
	// leaves the line; the callbacks keep their places.
	deadline := time.Now().Add(20 * time.Second)
	for {
		q, err := r.Svc.Queue(ctx, "support")
		if err == nil && q.Position(live) == 0 {
			kept := 0
			for _, e := range q.Entries {
				if e.CallbackID == ids[0] || e.CallbackID == ids[1] {
					kept++
				}
			}
			if kept != 2 {
				t.Fatalf("queue after the restart %+v, want both callbacks in the line", q)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the caller lost with the switch is still in the line: %+v (%v)", q, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
	// The agent answers again.
	if err := r.Agents[0].SetMode(ctx, sipptest.Answer, 0); err != nil {
		t.Fatal(err)
	}
	var total tally
	for i, id := range ids {
		c := audit(t, r, w, id, numbers[i])
		if cb := waitState(t, r, id, "completed", time.Second); cb.AttemptCount != 1 {
			t.Errorf("callback %d used %d attempts, want 1", id, cb.AttemptCount)
		}
		total.registered += c.registered
		total.completed += c.completed
		total.doubleDialled += c.doubleDialled
	}
	total.lost = total.registered - total.completed
	total.log(t, sw+" restart")
}
