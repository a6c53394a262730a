package esl

import (
	"context"
	"fmt"
	"strings"
)

// JobResult is the outcome of a bgapi command: its BACKGROUND_JOB.
type JobResult struct {
	JobUUID string
	Body    string // the api output, e.g. "+OK <uuid>\n" or "-ERR NO_ANSWER\n"
	Event   *Event
}

// Job is a bgapi command whose reply has arrived and whose
// BACKGROUND_JOB is awaited.
type Job struct {
	UUID       string
	c          *Conn
	cmd        BgAPI
	ch         chan *Event
	autoFilter bool
}

// StartBgAPI sends a bgapi and returns once FreeSWITCH accepted it. The
// Job-UUID is ours (generated when cmd.JobUUID is empty) and registered
// before sending, so the BACKGROUND_JOB cannot be missed. It subscribes
// BACKGROUND_JOB if no subscription covers it, and when filters are
// active it adds "filter Job-UUID <id>" (removed after Wait) unless one
// exists, because FreeSWITCH drops events a filter does not let through.
func (c *Conn) StartBgAPI(ctx context.Context, cmd BgAPI) (*Job, error) {
	if cmd.JobUUID == "" {
		cmd.JobUUID = NewUUID()
	}
	if _, err := cmd.Render(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	subscribed := c.jobEvent
	needFilter := len(c.filters) > 0
	for _, f := range c.filters {
		if strings.EqualFold(f.Header, "Job-UUID") && f.Value == cmd.JobUUID {
			needFilter = false
		}
	}
	c.mu.Unlock()
	if !subscribed {
		if err := c.Subscribe(ctx, FormatPlain, "BACKGROUND_JOB"); err != nil {
			return nil, fmt.Errorf("esl: bgapi %s: %w", cmd.Cmd, err)
		}
	}
	j := &Job{UUID: cmd.JobUUID, c: c, cmd: cmd, ch: make(chan *Event, 1)}
	if needFilter {
		if err := c.AddFilter(ctx, Filter{Header: "Job-UUID", Value: cmd.JobUUID}); err != nil {
			return nil, fmt.Errorf("esl: bgapi %s: %w", cmd.Cmd, err)
		}
		j.autoFilter = true
	}
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return nil, c.err
	}
	c.jobs[j.UUID] = j.ch
	c.mu.Unlock()
	if _, err := c.Send(ctx, cmd); err != nil {
		j.release(ctx)
		return nil, err
	}
	return j, nil
}

// Wait returns the job's result. A body starting with -ERR is also
// returned as a *ReplyError (its Cause is FreeSWITCH's hang-up cause for a
// failed originate). If the connection was redialled meanwhile and the
// event was lost, only ctx ends the wait.
func (j *Job) Wait(ctx context.Context) (JobResult, error) {
	defer j.release(ctx)
	select {
	case e, ok := <-j.ch:
		if !ok {
			return JobResult{JobUUID: j.UUID}, fmt.Errorf("esl: bgapi %s: %w", j.cmd.Cmd, j.c.Err())
		}
		r := JobResult{JobUUID: j.UUID, Body: string(e.Body), Event: e}
		line := "bgapi " + j.cmd.Cmd + " " + j.cmd.Args
		return r, replyError([]byte(line), r.Body)
	case <-ctx.Done():
		return JobResult{JobUUID: j.UUID}, fmt.Errorf("esl: bgapi %s: waiting for job %s: %w", j.cmd.Cmd, j.UUID, ctx.Err())
	}
}

func (j *Job) release(ctx context.Context) {
	j.c.mu.Lock()
	if j.c.jobs[j.UUID] == j.ch {
		delete(j.c.jobs, j.UUID)
	}
	j.c.mu.Unlock()
	if j.autoFilter {
		j.autoFilter = false
		ctx = context.WithoutCancel(ctx) // bounded by the command timeout
		if err := j.c.DeleteFilter(ctx, FilterDelete{Header: "Job-UUID", Value: j.UUID}); err != nil {
			j.c.log.Warn("esl remove job filter", zapErr(err))
		}
	}
}

// BgAPI runs a bgapi command and waits for its BACKGROUND_JOB.
func (c *Conn) BgAPI(ctx context.Context, cmd BgAPI) (JobResult, error) {
	j, err := c.StartBgAPI(ctx, cmd)
	if err != nil {
		return JobResult{JobUUID: cmd.JobUUID}, err
	}
	return j.Wait(ctx)
}
