package agi

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path"
	"slices"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/callflow/callflow/adapter"
	wire "github.com/callflow/callflow/agi"
	"github.com/callflow/callflow/media"
)

// allKeys are the escape digits of a prompt played with barge-in.
const allKeys = "0123456789*#"

// maxSilenceFile is the longest silence/N file of the core sounds.
const maxSilenceFile = 10

// call is a channel on a FastAGI session; after Move, its ARI call.
type call struct {
	srv  *Server
	sess *wire.Session
	info adapter.CallInfo
	id   string
	log  *zap.Logger
	done chan struct{} // closed by finish: the flow run has ended

	// cmd is held while an AGI command runs, and for good once the channel
	// is moved (the session then waits for EXEC Stasis to return).
	cmd sync.Mutex

	mu    sync.Mutex
	moved adapter.Call // the ARI call, after Move
	cause adapter.Cause
	gone  bool
	recN  int
}

var (
	_ adapter.Call  = (*call)(nil)
	_ adapter.Mover = (*call)(nil)
)

func (s *Server) newCall(sess *wire.Session) *call {
	info := callInfo(sess.Env)
	return &call{srv: s, sess: sess, info: info, id: info.ID, done: make(chan struct{}),
		log: s.log.With(zap.String("call_id", info.ID))}
}

func (c *call) ID() string             { return c.id }
func (c *call) Info() adapter.CallInfo { return c.info }
func (c *call) current() adapter.Call  { c.mu.Lock(); defer c.mu.Unlock(); return c.moved }
func (c *call) isGone() (bool, adapter.Cause) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gone, c.cause
}

// Cause is why the call ended, CauseUnknown while it is up.
func (c *call) Cause() adapter.Cause {
	if m := c.current(); m != nil {
		return m.Cause()
	}
	_, cause := c.isGone()
	return cause
}

func (c *call) markGone(cause adapter.Cause) {
	c.mu.Lock()
	if !c.gone {
		c.gone, c.cause = true, cause
	}
	c.mu.Unlock()
}

func (c *call) errGone(op string) error {
	if gone, _ := c.isGone(); gone {
		return fmt.Errorf("agi: %s on %s: %w", op, c.id, adapter.ErrHangup)
	}
	return nil
}

// run sends one command and maps a hang-up to adapter.ErrHangup (learning
// the cause from HANGUPCAUSE, which a dead channel still answers).
func (c *call) run(ctx context.Context, op string, cmd wire.Command) (wire.Reply, error) {
	if err := c.errGone(op); err != nil {
		return wire.Reply{}, err
	}
	c.cmd.Lock()
	defer c.cmd.Unlock()
	if c.current() != nil {
		return wire.Reply{}, fmt.Errorf("agi: %s on %s: the channel was moved to stasis", op, c.id)
	}
	r, err := c.sess.Run(ctx, cmd)
	switch {
	case err == nil:
		return r, nil
	case errors.Is(err, wire.ErrHangup):
		c.hungUp(ctx)
		return r, fmt.Errorf("agi: %s on %s: %w", op, c.id, adapter.ErrHangup)
	case ctx.Err() != nil:
		// The session's deadline is spent: the connection is of no more use.
		_ = c.sess.Close()
		c.markGone(adapter.CauseUnknown)
		return r, fmt.Errorf("agi: %s on %s: %w", op, c.id, context.Cause(ctx))
	}
	return r, fmt.Errorf("agi: %s on %s: %w", op, c.id, err)
}

// hungUp records the hang-up with its cause; the caller holds c.cmd.
func (c *call) hungUp(ctx context.Context) {
	cause := adapter.CauseNormal
	qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	if r, err := c.sess.Run(qctx, wire.GetVariable{Name: "HANGUPCAUSE"}); (err == nil || errors.Is(err, wire.ErrHangup)) && r.Result == 1 {
		if n, perr := strconv.Atoi(r.Data); perr == nil && n > 0 {
			cause = adapter.CauseFromQ850(n)
		}
	}
	c.markGone(cause)
}

// Answer answers the channel (ANSWER on an answered channel is a no-op).
func (c *call) Answer(ctx context.Context) error {
	if m := c.current(); m != nil {
		return m.Answer(ctx)
	}
	r, err := c.run(ctx, "answer", wire.Answer{})
	if err == nil && r.Result != 0 {
		err = fmt.Errorf("agi: answer %s: %s", c.id, r.Raw)
	}
	return err
}

// commands turns prompts into AGI commands with the given escape digits.
func (c *call) commands(prompts []adapter.Prompt, escape string) ([]wire.Command, error) {
	var out []wire.Command
	for _, p := range prompts {
		kind, v, err := media.Split(p)
		if err != nil {
			return nil, fmt.Errorf("agi: %w", err)
		}
		switch kind {
		case media.Sound:
			out = append(out, wire.StreamFile{File: v, Escape: escape})
		case media.Recorded:
			out = append(out, wire.StreamFile{File: path.Join(c.srv.cfg.RecordDir, v), Escape: escape})
		case media.Digits:
			out = append(out, wire.SayDigits{Digits: v, Escape: escape})
		case media.Number:
			out = append(out, wire.SayNumber{Number: v, Escape: escape})
		case media.Silence:
			secs, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return nil, fmt.Errorf("agi: prompt %q: %w", p, err)
			}
			for n := max(1, int(math.Round(secs))); n > 0; {
				k := min(n, maxSilenceFile)
				out = append(out, wire.StreamFile{File: "silence/" + strconv.Itoa(k), Escape: escape})
				n -= k
			}
		case media.Tone:
			if v != "beep" {
				return nil, fmt.Errorf("agi: prompt %q: only tone:beep plays over AGI", p)
			}
			out = append(out, wire.StreamFile{File: "beep", Escape: escape})
		default:
			return nil, fmt.Errorf("agi: prompt %q: kind %s not playable over AGI", p, kind)
		}
	}
	return out, nil
}

// play runs prompt commands in order and returns the first escape digit.
// A result of -1 is a hang-up when Asterisk says so; otherwise the prompt
// could not be played (Asterisk answers a missing file with the same -1).
func (c *call) play(ctx context.Context, op string, cmds []wire.Command) (string, error) {
	for _, cmd := range cmds {
		r, err := c.run(ctx, op, cmd)
		if err != nil {
			return "", err
		}
		switch {
		case r.Result > 0:
			return string(rune(r.Result)), nil
		case r.Result < 0:
			if err := c.probe(ctx, op); err != nil {
				return "", err
			}
			return "", fmt.Errorf("agi: %s on %s: %q could not be played (%s)", op, c.id, cmd.Line(), r.Raw)
		}
	}
	return "", nil
}

// probe tells a hang-up from another failure after a result of -1, which
// Asterisk gives for both (a missing file, a caller gone). It waits 1 ms
// for a digit on the channel: a gone channel answers -1 (or 511 once
// Asterisk has noticed). Asking something that does not touch the channel
// is not enough: seen on Asterisk 22, the command can be read before the
// hang-up, and the HANGUP line then comes only later.
func (c *call) probe(ctx context.Context, op string) error {
	r, err := c.run(ctx, op, wire.WaitForDigit{TimeoutMS: 1})
	if err != nil {
		return err
	}
	if r.Result < 0 {
		c.cmd.Lock()
		c.hungUp(ctx)
		c.cmd.Unlock()
		return fmt.Errorf("agi: %s on %s: %w", op, c.id, adapter.ErrHangup)
	}
	return nil
}

// Play plays prompts in order; with BargeIn the first digit stops them.
func (c *call) Play(ctx context.Context, prompts []adapter.Prompt, opt adapter.PlayOptions) (string, error) {
	if m := c.current(); m != nil {
		return m.Play(ctx, prompts, opt)
	}
	escape := ""
	if opt.BargeIn {
		escape = allKeys
	}
	cmds, err := c.commands(prompts, escape)
	if err != nil {
		return "", err
	}
	return c.play(ctx, "play", cmds)
}

// Gather plays the prompts with barge-in, then collects digits with WAIT
// FOR DIGIT under the rules of adapter.Collector.
func (c *call) Gather(ctx context.Context, opt adapter.GatherOptions) (string, error) {
	if m := c.current(); m != nil {
		return m.Gather(ctx, opt)
	}
	col, err := adapter.NewCollector(opt)
	if err != nil {
		return "", fmt.Errorf("agi: gather %s: %w", c.id, err)
	}
	cmds, err := c.commands(opt.Prompts, allKeys)
	if err != nil {
		return "", err
	}
	k, err := c.play(ctx, "gather", cmds)
	if err != nil {
		return "", err
	}
	if col.Add(k) {
		return col.Digits(), nil
	}
	for {
		ms := int(col.Timeout().Milliseconds())
		r, err := c.run(ctx, "gather", wire.WaitForDigit{TimeoutMS: max(ms, 1)})
		if err != nil {
			return "", err
		}
		switch {
		case r.Result == 0:
			c.log.Debug("gathered", zap.String("digits", col.Digits()), zap.String("end", col.TimeoutReason()))
			return col.Digits(), nil
		case r.Result < 0:
			if err := c.probe(ctx, "gather"); err != nil {
				return "", err
			}
			return "", fmt.Errorf("agi: gather %s: %s", c.id, r.Raw)
		}
		if col.Add(string(rune(r.Result))) {
			return col.Digits(), nil
		}
	}
}

// Record records with RECORD FILE into Asterisk's recording folder and
// copies the file into the media store through ARI. After a hang-up the
// part recorded is still stored and returned with an error wrapping
// ErrHangup.
func (c *call) Record(ctx context.Context, opt adapter.RecordOptions) (adapter.Recording, error) {
	if m := c.current(); m != nil {
		return m.Record(ctx, opt)
	}
	if opt.Name == "" {
		c.mu.Lock()
		c.recN++
		opt.Name = c.id + "-rec-" + strconv.Itoa(c.recN)
		c.mu.Unlock()
	}
	if err := media.ValidateName(opt.Name); err != nil {
		return adapter.Recording{}, fmt.Errorf("agi: record: %w", err)
	}
	if opt.Format == "" {
		opt.Format = "wav"
	}
	if !slices.Contains(media.Formats(), opt.Format) {
		return adapter.Recording{}, fmt.Errorf("agi: record %s: format %q: %w", opt.Name, opt.Format, media.ErrFormat)
	}
	switch opt.Terminator {
	case "", "#", "*":
	default:
		return adapter.Recording{}, fmt.Errorf("agi: record %s: terminator %q not supported (want \"#\", \"*\" or none)", opt.Name, opt.Terminator)
	}
	if opt.MaxDuration < 0 || opt.SilenceTimeout < 0 {
		return adapter.Recording{}, fmt.Errorf("agi: record %s: negative duration", opt.Name)
	}
	timeout := -1
	if opt.MaxDuration > 0 {
		timeout = int(opt.MaxDuration.Milliseconds())
	}
	silence := 0
	if opt.SilenceTimeout > 0 {
		silence = int((opt.SilenceTimeout + time.Second - 1) / time.Second)
	}
	r, err := c.run(ctx, "record", wire.RecordFile{File: path.Join(c.srv.cfg.RecordDir, opt.Name), Format: opt.Format,
		Escape: opt.Terminator, TimeoutMS: timeout, Beep: opt.Beep, SilenceS: silence})
	hangErr := err
	if err != nil && !errors.Is(err, adapter.ErrHangup) {
		return adapter.Recording{}, err
	}
	if err == nil && r.Result < 0 {
		if r.Data != "hangup" {
			return adapter.Recording{}, fmt.Errorf("agi: record %s on %s: %s", opt.Name, c.id, r.Raw)
		}
		c.cmd.Lock()
		c.hungUp(ctx)
		c.cmd.Unlock()
		hangErr = fmt.Errorf("agi: record on %s: %w", c.id, adapter.ErrHangup)
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	rec, err := c.srv.cfg.ARI.StoreRecording(sctx, opt.Name, opt.Format)
	if err != nil {
		return rec, errors.Join(err, hangErr)
	}
	return rec, hangErr
}

// Wait waits d (d <= 0: until ctx ends) with EXEC Wait.
func (c *call) Wait(ctx context.Context, d time.Duration) error {
	if m := c.current(); m != nil {
		return m.Wait(ctx, d)
	}
	forever := d <= 0
	for forever || d > 0 {
		step := time.Hour
		if !forever {
			step = min(d, time.Hour)
		}
		r, err := c.run(ctx, "wait", wire.Exec{App: "Wait", Args: strconv.FormatFloat(step.Seconds(), 'f', 3, 64)})
		if err != nil {
			return err
		}
		if r.Result < 0 {
			if err := c.probe(ctx, "wait"); err != nil {
				return err
			}
			return fmt.Errorf("agi: wait on %s: %s", c.id, r.Raw)
		}
		d -= step
	}
	return nil
}

// Hangup hangs the channel up: with HANGUP (or EXEC Hangup(cause)) when no
// command runs, else through ARI, which reaches any channel by id.
func (c *call) Hangup(ctx context.Context, cause adapter.Cause) error {
	if m := c.current(); m != nil {
		return m.Hangup(ctx, cause)
	}
	if gone, _ := c.isGone(); gone {
		return nil
	}
	if cause == adapter.CauseUnknown {
		cause = adapter.CauseNormal
	}
	if c.cmd.TryLock() {
		var cmd wire.Command = wire.Hangup{}
		if cause != adapter.CauseNormal {
			cmd = wire.Exec{App: "Hangup", Args: strconv.Itoa(cause.Q850())}
		}
		_, err := c.sess.Run(ctx, cmd)
		c.cmd.Unlock()
		if err == nil || errors.Is(err, wire.ErrHangup) {
			c.markGone(cause)
			return nil
		}
		c.log.Debug("agi hangup failed, using ari", zap.Error(err))
	}
	if err := c.srv.cfg.ARI.HangupChannel(ctx, c.id, cause); err != nil {
		return err
	}
	c.markGone(cause)
	return nil
}

// Move hands the channel to the Stasis application with EXEC Stasis and a
// one-time token, and waits until the ARI driver delivered it to Claim.
// From then on every method delegates to the ARI call.
func (c *call) Move(ctx context.Context) error {
	if c.current() != nil {
		return nil
	}
	if err := c.errGone("move to stasis"); err != nil {
		return err
	}
	tok, ho, err := c.srv.expect(c.id, c.done)
	if err != nil {
		return err
	}
	c.cmd.Lock() // never released: the session belongs to EXEC Stasis now
	t0 := time.Now()
	c.log.Info("moving from agi to stasis")
	if err := c.sess.Send(ctx, wire.Exec{App: "Stasis", Args: c.srv.cfg.App + "," + HandoverMarker + "," + tok}); err != nil {
		c.srv.forget(tok)
		c.markGone(adapter.CauseNormal)
		return fmt.Errorf("agi: move %s to stasis: %w (%w)", c.id, adapter.ErrHangup, err)
	}
	execDone := make(chan wire.Reply, 1)
	// Ends when Asterisk answers EXEC (the channel left Stasis or never
	// entered it) or finish closes the session.
	go func() {
		r, err := c.sess.Read(context.Background())
		if err != nil {
			r.Result = -1
		}
		execDone <- r
	}()
	timer := time.NewTimer(c.srv.cfg.HandoverTimeout)
	defer timer.Stop()
	select {
	case a := <-ho.arrived:
		c.mu.Lock()
		c.moved = a
		c.mu.Unlock()
		c.log.Info("moved from agi to stasis", zap.Duration("took", time.Since(t0)))
		return nil
	case r := <-execDone:
		c.srv.forget(tok)
		select {
		case a := <-ho.arrived: // claimed just before Stasis returned
			c.mu.Lock()
			c.moved = a
			c.mu.Unlock()
			return nil
		default:
		}
		// The session is free again. Stasis answers 200 result=0 with
		// STASISSTATUS=FAILED when no ARI client has the application
		// (seen on Asterisk 22); the call then stays on AGI.
		if !c.sess.HungUp() {
			st, serr := c.sess.Run(ctx, wire.GetVariable{Name: "STASISSTATUS"})
			if serr == nil && st.Data == "FAILED" && !c.sess.HungUp() {
				c.cmd.Unlock()
				return fmt.Errorf("agi: move %s to stasis: Stasis returned before StasisStart reached us (%s); is the ARI application %q connected?", c.id, r.Raw, c.srv.cfg.App)
			}
		}
		c.hungUp(ctx)
		return fmt.Errorf("agi: move %s to stasis: %w", c.id, adapter.ErrHangup)
	case <-timer.C:
		c.srv.forget(tok)
		return fmt.Errorf("agi: move %s to stasis: no StasisStart within %v", c.id, c.srv.cfg.HandoverTimeout)
	case <-ctx.Done():
		c.srv.forget(tok)
		return fmt.Errorf("agi: move %s to stasis: %w", c.id, context.Cause(ctx))
	}
}

// finish runs when the handler returned: a moved call is released to its
// ARI handler (which hangs it up); a call still on AGI is hung up. The
// session is closed either way.
func (c *call) finish(ctx context.Context) {
	defer func() { _ = c.sess.Close() }()
	close(c.done)
	if c.current() != nil {
		return
	}
	if gone, _ := c.isGone(); gone {
		return
	}
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	if err := c.Hangup(hctx, adapter.CauseNormal); err != nil {
		c.log.Warn("hang up after handler", zap.Error(err))
	}
}
