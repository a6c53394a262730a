package freeswitch

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/callflow/callflow/adapter"
	"github.com/callflow/callflow/esl"
)

// originateGrace is how long past its ring timeout an originate may take
// before the driver gives up on its BACKGROUND_JOB (lost in a reconnect)
// and kills the channel.
const originateGrace = 10 * time.Second

// checkCallerID accepts what the Asterisk driver accepts as a caller
// number: 1 to 64 ASCII letters, digits and "+*#._-" (an E.164 number, an
// extension, "anonymous"). None of them can end a variable or start another
// in an originate string. Numbers are validated, never sanitized.
func checkCallerID(n string) error {
	if len(n) == 0 || len(n) > 64 {
		return fmt.Errorf("caller id %q: want 1 to 64 letters, digits or +*#._-", n)
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || strings.IndexByte("+*#._-", c) >= 0) {
			return fmt.Errorf("caller id %q: want 1 to 64 letters, digits or +*#._-", n)
		}
	}
	return nil
}

// originateArgs builds "{origination_uuid=U,…}ENDPOINT &park()" with esl's
// builders: the caller name is sanitized display text, every other value
// is validated.
func (s *Switch) originateArgs(uuid string, req adapter.OriginateRequest, timeout time.Duration) (string, error) {
	vars := []esl.Var{{Name: "origination_uuid", Value: uuid}}
	if req.CallerID != "" {
		if err := checkCallerID(req.CallerID); err != nil {
			return "", err
		}
		vars = append(vars, esl.Var{Name: "origination_caller_id_number", Value: req.CallerID})
	}
	if name := esl.SanitizeValue(req.CallerName); name != "" {
		vars = append(vars, esl.Var{Name: "origination_caller_id_name", Value: name})
	}
	vars = append(vars,
		// FreeSWITCH counts originate_timeout in whole epoch seconds
		// (elapsed >= timeout, both truncated), so it gives up anywhere in
		// (T-1 s, T]: one second more, and the driver ends the ring itself
		// at exactly T (Originate).
		esl.Var{Name: "originate_timeout", Value: strconv.Itoa(ceilSeconds(timeout) + 1)},
		esl.Var{Name: "ignore_early_media", Value: "true"},
		// Survive the peer's hang-up in a bridge (see the package doc).
		esl.Var{Name: "hangup_after_bridge", Value: "false"},
		esl.Var{Name: "park_after_bridge", Value: "true"})
	return esl.Originate{Vars: vars, Endpoint: req.Endpoint, App: "park"}.Args()
}

// jobChannel is the uuid in an originate's "+OK <uuid>\n" result.
func jobChannel(body string) string {
	rest, _ := strings.CutPrefix(strings.TrimSpace(body), "+OK")
	return strings.TrimSpace(rest)
}

// Originate dials req.Endpoint with "bgapi originate … &park()". The
// channel's uuid and the Job-UUID are chosen here, and the channel's event
// stream and filters are in place before the bgapi is sent. With req.ID
// the call's ID is req.ID and its origination_uuid channelUUID(req.ID)
// (req.ID itself when FreeSWITCH can hold it); an ID this Switch already
// tracks is refused. It returns
// once the far end answered (ignore_early_media=true), or an error
// wrapping adapter.ErrBusy, ErrNoAnswer or ErrFailed; when ctx ends first
// the channel is killed (uuid_kill … ORIGINATOR_CANCEL).
func (s *Switch) Originate(ctx context.Context, req adapter.OriginateRequest) (adapter.Call, error) {
	timeout := req.Timeout
	if timeout <= 0 {
		timeout = s.cfg.DefaultOriginateTimeout
	}
	id, uuid := "", esl.NewUUID()
	if req.ID != "" {
		if err := checkCallID(req.ID); err != nil {
			return nil, fmt.Errorf("freeswitch: originate %s: %w: %w", req.Endpoint, adapter.ErrFailed, err)
		}
		uuid = channelUUID(req.ID)
	}
	if id = req.ID; id == "" {
		id = uuid
	}
	args, err := s.originateArgs(uuid, req, timeout)
	if err != nil {
		return nil, fmt.Errorf("freeswitch: originate %s: %w: %w", req.Endpoint, adapter.ErrFailed, err)
	}
	conn, err := s.inbound(ctx)
	if err != nil {
		return nil, fmt.Errorf("freeswitch: originate %s: %w", req.Endpoint, err)
	}
	info := adapter.CallInfo{ID: id, Direction: adapter.Outbound, CallerNumber: req.CallerID,
		CallerName: req.CallerName, Endpoint: req.Endpoint}
	c := s.newCall(info, nil, nil, true)
	c.uuid = uuid
	c.originating.Store(true)
	defer c.originating.Store(false)
	c.log = c.log.With(zap.String("tag", req.Tag), zap.String("endpoint", req.Endpoint))
	if uuid != id {
		c.log = c.log.With(zap.String("uuid", uuid))
	}
	// Reserve the id before watching: a second stream for the uuid would
	// end the first call's.
	if !s.trackNew(c) {
		return nil, fmt.Errorf("freeswitch: originate %s: call id %q is in use: %w", req.Endpoint, id, adapter.ErrFailed)
	}
	c.events = conn.Watch(uuid)
	go c.dispatch() // ends when cleanup closes the stream or the connection ends
	fail := func(err error) (adapter.Call, error) {
		c.markGone(adapter.CauseUnknown, "originate failed")
		c.cleanup()
		return nil, err
	}
	if err := conn.AddFilter(ctx, esl.Filter{Header: "Unique-ID", Value: uuid}); err != nil {
		return fail(fmt.Errorf("freeswitch: originate %s: filter: %w", req.Endpoint, err))
	}
	c.log.Debug("originating", zap.Duration("timeout", timeout))
	// The job is started outside ctx: once the command is sent FreeSWITCH
	// may ring the channel, and a cancellation while its reply is on the
	// way must end in the kill below, not in forgetting a ringing leg.
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.CommandTimeout)
	job, err := conn.StartBgAPI(sctx, esl.BgAPI{Cmd: "originate", Args: args, JobUUID: esl.NewUUID()})
	scancel()
	if err != nil {
		return fail(fmt.Errorf("freeswitch: originate %s: %w: %w", req.Endpoint, adapter.ErrFailed, err))
	}
	wctx, cancel := context.WithTimeout(ctx, timeout+originateGrace)
	defer cancel()
	res, expired, err := s.awaitOriginate(wctx, conn, job, uuid, timeout, c)
	if expired {
		// Our ring timer killed the channel; an answer racing the kill is
		// dropped with it.
		c.markGone(adapter.CauseNoAnswer, "originate: ring timeout")
		c.cleanup()
		c.log.Info("originate not answered in time", zap.Duration("timeout", timeout))
		return nil, fmt.Errorf("freeswitch: originate %s: NO_ANSWER after %v: %w", req.Endpoint, timeout, adapter.ErrNoAnswer)
	}
	if err == nil {
		if got := jobChannel(res.Body); got != uuid {
			// FreeSWITCH did not take our origination_uuid (a duplicate):
			// that channel is nobody's, hang it up.
			c.log.Error("originate answered under another uuid; hanging it up", zap.String("got", got))
			if err := esl.CheckArg(got); err == nil && got != "" {
				kctx, kcancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.CommandTimeout)
				defer kcancel()
				if _, kerr := conn.API(kctx, esl.API{Cmd: "uuid_kill", Args: got}); kerr != nil {
					c.log.Warn("uuid_kill of the foreign channel", zap.Error(kerr))
				}
			}
			return fail(fmt.Errorf("freeswitch: originate %s: answered as %q, not %s: %w", req.Endpoint, got, uuid, adapter.ErrFailed))
		}
		c.log.Info("originated call answered")
		return c, nil
	}
	var re *esl.ReplyError
	if errors.As(err, &re) {
		cause := re.Cause()
		sentinel := originateErr(cause)
		c.markGone(ParseCause(cause, ""), "originate: "+cause)
		c.cleanup()
		c.log.Info("originate failed", zap.String("cause", cause))
		return nil, fmt.Errorf("freeswitch: originate %s: %s: %w", req.Endpoint, cause, sentinel)
	}
	// ctx ended, the job result never came, or the connection broke: the
	// channel may be ringing, so kill it.
	kctx, kcancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.CommandTimeout)
	defer kcancel()
	if _, kerr := conn.API(kctx, esl.API{Cmd: "uuid_kill", Args: uuid + " ORIGINATOR_CANCEL"}); kerr != nil {
		c.log.Debug("uuid_kill after abandoned originate", zap.Error(kerr))
	}
	if ctx.Err() != nil {
		return fail(fmt.Errorf("freeswitch: originate %s: %w", req.Endpoint, ctx.Err()))
	}
	return fail(fmt.Errorf("freeswitch: originate %s: %w: %w", req.Endpoint, adapter.ErrFailed, err))
}

// awaitOriginate waits for the originate's BACKGROUND_JOB. At timeout (the
// request's ring time, exact where FreeSWITCH's own originate_timeout is
// whole seconds) it kills the ringing channel with NO_ANSWER and keeps
// waiting for the job, which then fails; expired reports that the ring
// timer ended the originate.
func (s *Switch) awaitOriginate(ctx context.Context, conn *esl.Conn, job *esl.Job, uuid string, timeout time.Duration, c *call) (esl.JobResult, bool, error) {
	type result struct {
		res esl.JobResult
		err error
	}
	done := make(chan result, 1)
	go func() { // ends when the job result comes or ctx ends
		r, err := job.Wait(ctx)
		done <- result{r, err}
	}()
	ring := time.NewTimer(timeout)
	defer ring.Stop()
	recon := s.reconnected()
wait:
	for {
		select {
		case r := <-done:
			return r.res, false, r.err
		case <-recon:
			// The BACKGROUND_JOB is lost if it came while the connection
			// was down: ask for the channel instead.
			recon = s.reconnected()
			if res, ok, err := s.originateAfterReconnect(ctx, conn, job, uuid, c); ok {
				return res, false, err
			}
		case <-ring.C:
			break wait
		}
	}
	kctx, kcancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.CommandTimeout)
	defer kcancel()
	if _, err := conn.API(kctx, esl.API{Cmd: "uuid_kill", Args: uuid + " NO_ANSWER"}); err != nil {
		c.log.Debug("uuid_kill at ring timeout", zap.Error(err))
	}
	r := <-done
	if r.err == nil {
		// Answered just before the kill: the kill hangs it up.
		c.log.Info("originate answered as the ring timer expired; hung up")
	}
	return r.res, true, r.err
}

// originateAfterReconnect looks up a ringing originate's channel after the
// inbound connection was redialled: answered, it reports the job's
// success ("+OK <uuid>") as FreeSWITCH would have, since the
// BACKGROUND_JOB may have been lost. Anything else is no verdict (ok
// false) and the wait goes on: the bgapi may have been sent on the new
// connection, so a channel not there yet is not a channel gone, and the
// ring timer ends an originate whose result was lost.
func (s *Switch) originateAfterReconnect(ctx context.Context, conn *esl.Conn, job *esl.Job, uuid string, c *call) (esl.JobResult, bool, error) {
	out, err := s.attachAPI(ctx, conn, "uuid_dump", uuid)
	if err != nil {
		c.log.Debug("look up originated channel after reconnect", zap.Error(err))
		return esl.JobResult{}, false, nil
	}
	d, err := esl.ParsePlainEvent([]byte(out))
	if err != nil {
		c.log.Warn("look up originated channel after reconnect", zap.Error(err))
		return esl.JobResult{}, false, nil
	}
	if d.Get("Answer-State") != "answered" {
		return esl.JobResult{}, false, nil
	}
	c.log.Info("originated channel answered while the event socket was down")
	return esl.JobResult{JobUUID: job.UUID, Body: "+OK " + uuid + "\n"}, true, nil
}
