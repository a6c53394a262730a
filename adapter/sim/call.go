package sim

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/callflow/callflow/adapter"
	"github.com/callflow/callflow/media"
)

// call is a simulated channel: an inbound scenario caller or an originated
// party. Fields after info are guarded by sw.mu.
type call struct {
	sw     *Switch
	info   adapter.CallInfo
	caller *Caller // inbound: the scenario caller
	party  *Party  // outbound: the party that answered

	answered    bool
	ringing     bool // an originate still ringing
	hungUp      bool
	cause       adapter.Cause
	by          string
	bridge      *bridge
	waiters     []*actor      // actors parked in an operation on this call
	collecting  bool          // a Play with barge-in, Gather or Record listens for DTMF
	digits      []byte        // received while collecting, not consumed yet
	timers      []func() bool // pending DTMF, hang-up and talk timers
	talkStarted bool
	recN        int
}

var _ adapter.Call = (*call)(nil)

func (c *call) ID() string             { return c.info.ID }
func (c *call) Info() adapter.CallInfo { return c.info }

// Cause is why the call ended, CauseUnknown while it is up.
func (c *call) Cause() adapter.Cause {
	c.sw.mu.Lock()
	defer c.sw.mu.Unlock()
	return c.cause
}

func (c *call) emit(kind, text string, attrs map[string]string) {
	c.sw.emit(c.info.ID, kind, text, attrs)
}

// goneErrLocked is the error for an operation on a hung-up call, nil while up.
func (c *call) goneErrLocked(op string) error {
	if !c.hungUp {
		return nil
	}
	return fmt.Errorf("sim: %s %s: %w (%s by %s)", op, c.info.ID, adapter.ErrHangup, c.cause, c.by)
}

func (c *call) goneErr(op string) error {
	c.sw.mu.Lock()
	defer c.sw.mu.Unlock()
	return c.goneErrLocked(op)
}

// hangupLocked ends the call; it reports false if it had already ended.
func (c *call) hangupLocked(cause adapter.Cause, by string) bool {
	if c.hungUp {
		return false
	}
	if cause == adapter.CauseUnknown {
		cause = adapter.CauseNormal
	}
	c.hungUp, c.cause, c.by = true, cause, by
	c.emit("hangup", cause.String()+" by "+by, nil)
	if c.bridge != nil {
		c.bridge.leaveLocked(c, "hangup")
	}
	for _, stop := range c.timers {
		stop()
	}
	c.timers = nil
	c.stopCollectLocked()
	for _, a := range c.waiters {
		c.sw.sched.wake(a)
	}
	return true
}

// block parks the running actor until deadline (if has), a change on the
// call (digit, hang-up), ctx's end or shutdown. On shutdown the call counts
// as hung up by the simulator.
func (c *call) block(ctx context.Context, deadline time.Time, has bool) (wakeReason, error) {
	a := c.sw.sched.self()
	if a == nil {
		return 0, ErrNotActor
	}
	c.sw.mu.Lock()
	c.waiters = append(c.waiters, a)
	c.sw.mu.Unlock()
	r, err := c.sw.sched.park(ctx, deadline, has)
	c.sw.mu.Lock()
	defer c.sw.mu.Unlock()
	for i, w := range c.waiters {
		if w == a {
			c.waiters = append(c.waiters[:i], c.waiters[i+1:]...)
			break
		}
	}
	if r == wakeStop {
		c.hangupLocked(adapter.CauseNormal, "sim")
	}
	return r, err
}

// step waits once and classifies the outcome: done reports the deadline
// passed; err is set on hang-up, ctx end or misuse.
func (c *call) step(ctx context.Context, op string, deadline time.Time, has bool) (done bool, err error) {
	r, err := c.block(ctx, deadline, has)
	if err != nil {
		return false, fmt.Errorf("sim: %s %s: %w", op, c.info.ID, err)
	}
	if err := c.goneErr(op); err != nil {
		return false, err
	}
	switch r {
	case wakeTimer:
		return true, nil
	case wakeCtx:
		return false, fmt.Errorf("sim: %s %s: %w", op, c.info.ID, ctx.Err())
	}
	return false, nil
}

func (c *call) startCollect() {
	c.sw.mu.Lock()
	defer c.sw.mu.Unlock()
	c.collecting = true
	c.digits = c.digits[:0]
}

func (c *call) stopCollect() {
	c.sw.mu.Lock()
	defer c.sw.mu.Unlock()
	c.stopCollectLocked()
}

func (c *call) stopCollectLocked() {
	c.collecting = false
	if len(c.digits) > 0 {
		c.emit("dtmf-ignored", string(c.digits), map[string]string{"why": "unread"})
		c.digits = c.digits[:0]
	}
}

// takeDigit consumes the oldest collected digit.
func (c *call) takeDigit() (byte, bool) {
	c.sw.mu.Lock()
	defer c.sw.mu.Unlock()
	if len(c.digits) == 0 {
		return 0, false
	}
	d := c.digits[0]
	c.digits = c.digits[1:]
	return d, true
}

// deliverDigit is a scenario DTMF digit arriving now.
func (c *call) deliverDigit(d byte) {
	c.sw.mu.Lock()
	defer c.sw.mu.Unlock()
	if c.hungUp {
		return
	}
	if !c.collecting {
		c.emit("dtmf-ignored", string(d), nil)
		return
	}
	c.digits = append(c.digits, d)
	c.emit("dtmf", string(d), nil)
	for _, a := range c.waiters {
		c.sw.sched.wake(a)
	}
}

// Answer answers the call; answering again does nothing.
func (c *call) Answer(ctx context.Context) error {
	c.sw.mu.Lock()
	defer c.sw.mu.Unlock()
	if err := c.goneErrLocked("answer"); err != nil {
		return err
	}
	if !c.answered {
		c.answered = true
		c.emit("answer", "", nil)
	}
	return nil
}

// Hangup ends the call with cause (normal if unknown); a gone call is a no-op.
func (c *call) Hangup(ctx context.Context, cause adapter.Cause) error {
	c.sw.mu.Lock()
	defer c.sw.mu.Unlock()
	c.hangupLocked(cause, "app")
	return nil
}

// Wait waits d of virtual time, or until ctx ends when d <= 0.
func (c *call) Wait(ctx context.Context, d time.Duration) error {
	if err := c.goneErr("wait"); err != nil {
		return err
	}
	text := d.String()
	if d <= 0 {
		text = "until cancelled"
	}
	c.emit("wait", text, nil)
	deadline := c.sw.sched.Now().Add(d)
	for {
		done, err := c.step(ctx, "wait", deadline, d > 0)
		if err != nil || done {
			return err
		}
	}
}

func promptList(ps []adapter.Prompt) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = string(p)
	}
	return strings.Join(s, " ")
}

// Play plays prompts; with BargeIn the first digit stops them.
func (c *call) Play(ctx context.Context, prompts []adapter.Prompt, opt adapter.PlayOptions) (string, error) {
	if err := c.goneErr("play"); err != nil {
		return "", err
	}
	var attrs map[string]string
	if opt.BargeIn {
		attrs = map[string]string{"barge_in": "yes"}
		c.startCollect()
		defer c.stopCollect()
	}
	c.emit("play", promptList(prompts), attrs)
	d, err := c.playPrompts(ctx, "play", prompts, opt.BargeIn)
	if err != nil || d == 0 {
		return "", err
	}
	return string(d), nil
}

// playPrompts plays in order; with bargeIn it returns the first digit
// collected during them (0 if none).
func (c *call) playPrompts(ctx context.Context, op string, prompts []adapter.Prompt, bargeIn bool) (byte, error) {
	// A prompt a real switch would refuse fails here too, before anything
	// plays, so a flow that builds a bad prompt fails in the simulator.
	for _, p := range prompts {
		if _, _, err := media.Split(p); err != nil {
			c.emit(op+"-failed", err.Error(), nil)
			return 0, fmt.Errorf("sim: %s %s: %w", op, c.info.ID, err)
		}
	}
	for _, p := range prompts {
		deadline := c.sw.sched.Now().Add(c.sw.promptDuration(p))
		for {
			if bargeIn {
				if d, ok := c.takeDigit(); ok {
					c.emit("barge-in", string(d)+" during "+string(p), nil)
					return d, nil
				}
			}
			done, err := c.step(ctx, op, deadline, true)
			if err != nil {
				return 0, err
			}
			if done {
				break
			}
		}
	}
	if bargeIn { // a digit that arrived exactly as the last prompt ended
		if d, ok := c.takeDigit(); ok {
			c.emit("barge-in", string(d)+" at end", nil)
			return d, nil
		}
	}
	return 0, nil
}

// Gather plays the prompts with barge-in and collects digits.
func (c *call) Gather(ctx context.Context, opt adapter.GatherOptions) (string, error) {
	col, err := adapter.NewCollector(opt)
	if err != nil {
		return "", fmt.Errorf("sim: gather %s: %w", c.info.ID, err)
	}
	if err := c.goneErr("gather"); err != nil {
		return "", err
	}
	c.startCollect()
	defer c.stopCollect()
	first, inter := col.Timeout(), opt.InterDigitTimeout
	if inter <= 0 {
		inter = adapter.DefaultInterDigitTimeout
	}
	c.emit("gather", promptList(opt.Prompts), map[string]string{
		"min": strconv.Itoa(opt.MinDigits), "max": strconv.Itoa(opt.MaxDigits),
		"term": orDash(opt.Terminator), "first": first.String(), "inter": inter.String(),
	})
	end := func(how string) (string, error) {
		attrs := map[string]string{"end": how}
		if col.Short() {
			attrs["short"] = "yes"
		}
		c.emit("gathered", strconv.Quote(col.Digits()), attrs)
		return col.Digits(), nil
	}
	d, err := c.playPrompts(ctx, "gather", opt.Prompts, true)
	if err != nil {
		return "", err
	}
	if d != 0 && col.Add(string(d)) {
		return end(col.End())
	}
	deadline := c.sw.sched.Now().Add(col.Timeout())
	for {
		for {
			d, ok := c.takeDigit()
			if !ok {
				break
			}
			if col.Add(string(d)) {
				return end(col.End())
			}
			deadline = c.sw.sched.Now().Add(col.Timeout())
		}
		done, err := c.step(ctx, "gather", deadline, true)
		if err != nil {
			return "", err
		}
		if done {
			return end(col.TimeoutReason())
		}
	}
}

// Record records the caller into the media store. A hang-up (or ctx end)
// stops the recording: it is still stored and returned with the error.
func (c *call) Record(ctx context.Context, opt adapter.RecordOptions) (adapter.Recording, error) {
	if err := c.goneErr("record"); err != nil {
		return adapter.Recording{}, err
	}
	c.sw.mu.Lock()
	c.recN++
	rec := adapter.Recording{Name: opt.Name, Format: opt.Format}
	if rec.Name == "" {
		rec.Name = fmt.Sprintf("%s-rec-%d", c.info.ID, c.recN)
	}
	c.sw.mu.Unlock()
	if rec.Format == "" {
		rec.Format = "wav"
	}
	c.emit("record", rec.Name, map[string]string{
		"max": opt.MaxDuration.String(), "silence": opt.SilenceTimeout.String(),
		"term": orDash(opt.Terminator), "beep": strconv.FormatBool(opt.Beep),
	})
	if opt.Terminator != "" {
		c.startCollect()
		defer c.stopCollect()
	}
	if opt.Beep {
		deadline := c.sw.sched.Now().Add(BeepDuration)
		for {
			done, err := c.step(ctx, "record", deadline, true)
			if err != nil {
				return adapter.Recording{}, err
			}
			if done {
				break
			}
		}
		c.takeAllDigits() // pressed during the beep: not part of the recording
	}
	start := c.sw.sched.Now()
	var deadline time.Time
	has, how := false, ""
	if opt.MaxDuration > 0 {
		deadline, has, how = start.Add(opt.MaxDuration), true, "max duration"
	}
	var speak *time.Duration
	if c.caller != nil {
		speak = c.caller.Speak
	} else {
		zero := time.Duration(0) // an originated party does not speak
		speak = &zero
	}
	if speak != nil && opt.SilenceTimeout > 0 {
		if s := start.Add(*speak + opt.SilenceTimeout); !has || s.Before(deadline) {
			deadline, has, how = s, true, "silence"
		}
	}
	finish := func(how string, err error) (adapter.Recording, error) {
		rec.Duration = c.sw.sched.Now().Sub(start)
		rec.Size = 44 + int64(rec.Duration)*16000/int64(time.Second)
		c.sw.mu.Lock()
		c.sw.recordings[rec.Name] = rec
		c.sw.mu.Unlock()
		c.emit("recorded", rec.Name+" "+rec.Duration.String(), map[string]string{"end": how})
		return rec, err
	}
	for {
		for {
			d, ok := c.takeDigit()
			if !ok {
				break
			}
			if strings.IndexByte(opt.Terminator, d) >= 0 {
				return finish("terminator", nil)
			}
		}
		done, err := c.step(ctx, "record", deadline, has)
		switch {
		case errors.Is(err, adapter.ErrHangup):
			return finish("hangup", err)
		case err != nil:
			return finish("cancelled", err)
		case done:
			return finish(how, nil)
		}
	}
}

func (c *call) takeAllDigits() {
	for {
		if _, ok := c.takeDigit(); !ok {
			return
		}
	}
}
