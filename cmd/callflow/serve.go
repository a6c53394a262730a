package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/callflow/callflow/config"
	"github.com/callflow/callflow/internal/service"
	"github.com/callflow/callflow/trace"
)

// cmdServe runs the service: the switch connection, flows, queues and
// callbacks, until SIGINT/SIGTERM.
func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", "serve --config FILE [--trace FILE]", stderr)
	cfgPath := fs.String("config", "", "service configuration (required)")
	tracePath := fs.String("trace", "", "append every flow, queue and callback event to this file as text lines ('-' = stdout)")
	if err := fs.Parse(args); err != nil {
		return exitError{2}
	}
	if *cfgPath == "" || fs.NArg() != 0 {
		fs.Usage()
		return exitError{2}
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		var list config.ErrorList
		if errors.As(err, &list) {
			for _, e := range list {
				fmt.Fprintln(stderr, e)
			}
			return exitError{1}
		}
		return err
	}
	log := newLogger(stderr, cfg.Log.Level, cfg.Log.Format == "json")
	defer log.Sync() //nolint:errcheck // stderr

	var sink trace.Sink = trace.Nop{}
	switch *tracePath {
	case "":
	case "-":
		sink = newLineSink(stdout)
	default:
		f, err := os.OpenFile(*tracePath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("serve: %w", err)
		}
		defer f.Close()
		sink = newLineSink(f)
	}
	obs := service.NewObservability(sink, log)
	defer obs.Close()
	svc, err := service.New(ctx, cfg, service.Options{Log: log, Trace: obs.Sink()})
	if err != nil {
		return err
	}
	defer svc.Close()
	log.Info("callflow serving", zap.String("switch", string(cfg.Switch.Type)), zap.String("version", version))
	if err := svc.RunWithAPI(ctx, obs); err != nil {
		return err
	}
	log.Info("callflow stopped")
	return nil
}

// lineSink writes each event as one text line with its wall-clock time,
// as soon as it happens.
type lineSink struct {
	mu sync.Mutex
	w  io.Writer
}

func newLineSink(w io.Writer) *lineSink { return &lineSink{w: w} }

func (s *lineSink) Emit(e trace.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	day := time.Date(e.At.Year(), e.At.Month(), e.At.Day(), 0, 0, 0, 0, e.At.Location())
	// The timeline's clock is the time of day; write errors are not the
	// caller's to handle (the trace is best-effort diagnostics).
	_ = trace.WriteText(s.w, day, []trace.Event{e})
}
