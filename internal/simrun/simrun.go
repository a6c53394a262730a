// Package simrun wires a flow, the queue engine, an in-memory store and the
// simulated switch into one deterministic run: what `callflow simulate`
// prints and what the example golden tests compare.
package simrun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/callflow/callflow/adapter"
	"github.com/callflow/callflow/adapter/sim"
	"github.com/callflow/callflow/config"
	"github.com/callflow/callflow/flowvm"
	"github.com/callflow/callflow/queue"
	"github.com/callflow/callflow/store"
	"github.com/callflow/callflow/trace"
)

// Start is the virtual time every simulation starts at: a Monday morning
// in Prague (08:00 UTC = 09:00 CET), inside usual business hours.
var Start = time.Date(2026, time.January, 5, 8, 0, 0, 0, time.UTC)

// Options select what to run.
type Options struct {
	// ConfigPath is the service configuration (queues, trunks); its switch
	// section is ignored: the simulator is the switch.
	ConfigPath string
	// FlowPath is the flow every simulated caller runs.
	FlowPath string
	// ScenarioPath is the scenario file.
	ScenarioPath string
	// MaxTime ends the run at Start+MaxTime (default 1h).
	MaxTime time.Duration
	// DBPath is the SQLite file for callbacks ("" = a temporary file,
	// removed afterwards).
	DBPath string
	Log    *zap.Logger
}

// Result is the outcome of a run.
type Result struct {
	Start  time.Time
	Events []trace.Event
	// TimedOut is true when the run was cut at MaxTime.
	TimedOut bool
	// Callbacks is the store's view of every callback at the end.
	Callbacks []store.Callback
}

// Run runs the simulation to its end.
func Run(ctx context.Context, opt Options) (*Result, error) {
	if opt.MaxTime <= 0 {
		opt.MaxTime = time.Hour
	}
	log := opt.Log
	if log == nil {
		log = zap.NewNop()
	}
	cfg, err := config.Load(opt.ConfigPath)
	if err != nil {
		return nil, err
	}
	var inQueue []string
	for _, q := range cfg.Queue.Queues {
		if q.InQueueFlow != "" {
			inQueue = append(inQueue, q.InQueueFlow)
		}
	}
	prog, err := loadFlow(opt.FlowPath, inQueue)
	if err != nil {
		return nil, err
	}
	sc, err := sim.LoadScenario(opt.ScenarioPath)
	if err != nil {
		return nil, err
	}

	dbPath := opt.DBPath
	if dbPath == "" {
		dir, err := os.MkdirTemp("", "callflow-sim-")
		if err != nil {
			return nil, fmt.Errorf("simulate: %w", err)
		}
		defer os.RemoveAll(dir)
		dbPath = filepath.Join(dir, "sim.db")
	}
	st, err := store.OpenSQLite(ctx, dbPath)
	if err != nil {
		return nil, err
	}
	defer st.Close()

	sched := sim.NewScheduler(Start)
	rec := &trace.Recorder{}
	sw := sim.New(sched, sc, rec, sim.Options{})
	eng, err := queue.New(cfg.Queue, queue.Deps{Switch: sw, Store: st, Clock: sched, Trace: rec, Log: log})
	if err != nil {
		return nil, err
	}
	if err := eng.Start(ctx); err != nil {
		return nil, err
	}
	rt := flowvm.Runtime{Switch: sw, Queues: eng, Clock: sched, Trace: rec, Log: log}
	if err := sw.Serve(ctx, func(ctx context.Context, c adapter.Call) {
		if err := prog.Run(ctx, c, rt); err != nil {
			log.Warn("flow ended with an error", zap.String("call_id", c.ID()), zap.Error(err))
		}
	}); err != nil {
		return nil, err
	}
	// Stop the engine before the simulator hangs up what is still live, so
	// a callback cut off by --max-time stays in dialing for recovery rather
	// than being recorded as a failed attempt.
	sched.OnStop(eng.Stop)
	runErr := sched.Run(ctx, Start.Add(opt.MaxTime))
	if runErr != nil {
		return nil, fmt.Errorf("simulate: %w", runErr)
	}
	cbs, err := st.ListAll(ctx)
	if err != nil {
		return nil, err
	}
	return &Result{Start: Start, Events: rec.Events(), TimedOut: sched.ReachedUntil(), Callbacks: cbs}, nil
}

func loadFlow(path string, inQueue []string) (*flowvm.Program, error) {
	dir, file := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	prog, err := flowvm.Load(os.DirFS(dir), file, inQueue...)
	if err != nil {
		var list flowvm.ErrorList
		if errors.As(err, &list) {
			// Positions are relative to the flow's directory: make them
			// point at the files the user named.
			for _, e := range list {
				if !filepath.IsAbs(e.File) && !strings.HasPrefix(e.File, dir) {
					e.File = filepath.Join(dir, e.File)
				}
			}
			return nil, list
		}
		return nil, err
	}
	return prog, nil
}

// WriteSummary prints how the run ended and every callback's final state.
func WriteSummary(w io.Writer, res *Result) error {
	end := res.Start
	if n := len(res.Events); n > 0 {
		end = res.Events[n-1].At
	}
	status := "all calls ended"
	if res.TimedOut {
		status = "cut at --max-time"
	}
	if _, err := fmt.Fprintf(w, "\nsimulated %s, %s\n", end.Sub(res.Start), status); err != nil {
		return err
	}
	for _, cb := range res.Callbacks {
		if _, err := fmt.Fprintf(w, "callback %d: queue %s, number %s, ani %s, %s after %d attempt(s)\n",
			cb.ID, cb.Queue, cb.Number, cb.ANI, cb.State, cb.Attempts); err != nil {
			return err
		}
	}
	return nil
}
