// Command callflow runs contact-center call flows on a PBX.
//
//	callflow serve --config FILE [--trace FILE]
//	callflow validate FILE...
//	callflow simulate --config C --flow F --scenario S [--json] [--max-time D]
//	callflow graph FILE
//	callflow schema flow|config|scenario
//	callflow version
//
// main only wires: every subcommand lives in its own file and calls into the
// library packages.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// version is set at build time (-ldflags "-X main.version=…").
var version = "dev"

// exitError carries an exit code through run.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

// exitSecondSignal is the exit code when a second SIGTERM or SIGINT cuts
// a drain short.
const exitSecondSignal = 130

// errSignal is the cause of the run context's end on SIGTERM or SIGINT;
// it is a context.Canceled, the ordinary end of a run.
var errSignal = fmt.Errorf("stop signal: %w", context.Canceled)

func main() {
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	// The first signal ends the run context (serve drains); the second
	// exits at once. Ends with the process.
	go func() {
		sig := <-sigs
		cancel(fmt.Errorf("%w (%v)", errSignal, sig))
		sig = <-sigs
		fmt.Fprintf(os.Stderr, "callflow: second signal (%v): exiting at once, without finishing the drain\n", sig)
		os.Exit(exitSecondSignal)
	}()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	var ee exitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		os.Exit(ee.code)
	default:
		fmt.Fprintln(os.Stderr, "callflow:", err)
		os.Exit(1)
	}
}

const usage = `usage: callflow COMMAND [flags]

commands:
  serve                run the service (switch connection, flows, queues, callbacks)
  validate FILE...     check flow files; every error as file:line:col: message
  simulate             run a flow against a scenario in the simulator
  graph FILE           print a flow as a Mermaid flowchart
  schema KIND          print the JSON Schema of flow, config or scenario files
  version              print the version

Run "callflow COMMAND -h" for a command's flags.
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitError{2}
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "validate":
		return cmdValidate(rest, stdout, stderr)
	case "simulate":
		return cmdSimulate(ctx, rest, stdout, stderr)
	case "graph":
		return cmdGraph(rest, stdout, stderr)
	case "serve":
		return cmdServe(ctx, rest, stdout, stderr)
	case "schema":
		return cmdSchema(rest, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "callflow", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprintf(stderr, "callflow: unknown command %q\n\n%s", cmd, usage)
		return exitError{2}
	}
}

// newLogger builds the process logger: console lines on stderr.
func newLogger(stderr io.Writer, level zapcore.Level, json bool) *zap.Logger {
	encCfg := zap.NewProductionEncoderConfig()
	encCfg.EncodeTime = zapcore.ISO8601TimeEncoder
	var enc zapcore.Encoder
	if json {
		enc = zapcore.NewJSONEncoder(encCfg)
	} else {
		encCfg.EncodeLevel = zapcore.CapitalLevelEncoder
		enc = zapcore.NewConsoleEncoder(encCfg)
	}
	core := zapcore.NewCore(enc, zapcore.AddSync(stderr), level)
	return zap.New(core)
}

// newFlagSet returns a flag set whose errors and usage go to stderr.
func newFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: callflow %s\n\nflags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}
