package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"sync"
	"syscall"
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
	pprofAddr := fs.String("pprof", "", "serve net/http/pprof on this loopback address (127.0.0.1:PORT or [::1]:PORT)")
	if err := fs.Parse(args); err != nil {
		return exitError{2}
	}
	if *cfgPath == "" || fs.NArg() != 0 {
		fs.Usage()
		return exitError{2}
	}
	if *pprofAddr != "" {
		if err := checkLoopback(*pprofAddr); err != nil {
			fmt.Fprintln(stderr, "serve: --pprof:", err)
			return exitError{2}
		}
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
	if *pprofAddr != "" {
		_, stop, err := servePprof(*pprofAddr, log)
		if err != nil {
			return err
		}
		defer stop()
	}

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
	// Crash points are a test facility (config faults:, e2e/crash); only a
	// build with -tags faultinject has them, others get a KillSink that
	// never kills.
	svcSink := service.KillSink(cfg.Faults, obs.Sink(), func(e trace.Event) {
		log.Warn("faults: killing the process", zap.String("after", cfg.Faults.String()), zap.String("call_id", e.Call))
		_ = log.Sync()
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	})
	svc, err := service.New(ctx, cfg, service.Options{Log: log, Trace: svcSink})
	if err != nil {
		return err
	}
	log.Info("callflow serving", zap.String("switch", string(cfg.Switch.Type)), zap.String("version", version),
		zap.Duration("shutdown_timeout", cfg.ShutdownTimeout))
	done := make(chan error, 1)
	// Ends after the drain (or a switch failure): the API stopped, the
	// event log flushed, the store's accepted commits written.
	go func() {
		err := svc.RunWithAPI(ctx, obs)
		if cerr := svc.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("serve: close store: %w", cerr)
		}
		done <- err
	}()
	var start time.Time
	select {
	case err = <-done:
	case <-ctx.Done():
		start = time.Now()
		log.Info("draining", zap.NamedError("cause", context.Cause(ctx)), zap.Duration("shutdown_timeout", cfg.ShutdownTimeout))
		timer := time.NewTimer(cfg.ShutdownTimeout)
		defer timer.Stop()
		select {
		case err = <-done:
		case <-timer.C:
			log.Error("shutdown_timeout passed before the drain finished; exiting now", zap.Duration("shutdown_timeout", cfg.ShutdownTimeout))
			return exitError{1}
		}
	}
	if err != nil {
		return err
	}
	if ctx.Err() == nil {
		log.Info("callflow stopped")
		return nil
	}
	if start.IsZero() {
		start = time.Now()
	}
	log.Info("callflow drained; calls left up in the switch", zap.Duration("took", time.Since(start)))
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

// checkLoopback accepts only host:port addresses whose host is a loopback IP
// literal: profiles expose memory contents and must never leave the machine.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q: %w", addr, err)
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%q: the host must be a loopback IP address (127.0.0.1 or ::1)", addr)
	}
	return nil
}

// servePprof serves the net/http/pprof handlers on addr (on its own mux,
// never the API's) until the returned stop is called. It returns the address
// it listens on (addr may have port 0).
func servePprof(addr string, log *zap.Logger) (net.Addr, func(), error) {
	if err := checkLoopback(addr); err != nil {
		return nil, nil, fmt.Errorf("serve: pprof: %w", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("serve: pprof: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	// Ends when stop closes the server.
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("pprof server", zap.Error(err))
		}
	}()
	log.Info("pprof serving", zap.String("addr", ln.Addr().String()))
	return ln.Addr(), func() {
		_ = srv.Close()
		<-done
	}, nil
}
