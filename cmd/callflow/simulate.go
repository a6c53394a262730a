package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"go.uber.org/zap/zapcore"

	"github.com/callflow/callflow/flowvm"
	"github.com/callflow/callflow/internal/simrun"
	"github.com/callflow/callflow/trace"
)

// cmdSimulate runs a flow against a scenario in the simulator and prints
// the trace.
func cmdSimulate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("simulate", "simulate --config C --flow F --scenario S [--json] [--max-time D]", stderr)
	cfg := fs.String("config", "", "service configuration with the queues (required)")
	flow := fs.String("flow", "", "flow file every simulated caller runs (required)")
	scenario := fs.String("scenario", "", "scenario file (required)")
	asJSON := fs.Bool("json", false, "print the trace as JSON lines")
	maxTime := fs.Duration("max-time", time.Hour, "end the simulation after this much simulated time")
	verbose := fs.Bool("v", false, "log debug messages to stderr")
	if err := fs.Parse(args); err != nil {
		return exitError{2}
	}
	if *cfg == "" || *flow == "" || *scenario == "" || fs.NArg() != 0 {
		fs.Usage()
		return exitError{2}
	}
	level := zapcore.WarnLevel
	if *verbose {
		level = zapcore.DebugLevel
	}
	log := newLogger(stderr, level, false)
	defer log.Sync() //nolint:errcheck // stderr

	res, err := simrun.Run(ctx, simrun.Options{
		ConfigPath:   *cfg,
		FlowPath:     *flow,
		ScenarioPath: *scenario,
		MaxTime:      *maxTime,
		Log:          log,
	})
	if err != nil {
		var list flowvm.ErrorList
		if errors.As(err, &list) {
			for _, e := range list {
				fmt.Fprintln(stderr, e)
			}
			return exitError{1}
		}
		return err
	}
	if *asJSON {
		return trace.WriteJSON(stdout, res.Events)
	}
	if err := trace.WriteText(stdout, res.Start, res.Events); err != nil {
		return err
	}
	return simrun.WriteSummary(stdout, res)
}
