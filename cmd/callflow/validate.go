package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/callflow/callflow/config"
	"github.com/callflow/callflow/flowvm"
	"github.com/callflow/callflow/internal/service"
)

// cmdValidate checks flow files (and with --config a service
// configuration and every flow it uses) and prints every error as
// file:line:col: message. Exit 1 when anything has errors.
func cmdValidate(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("validate", "validate [--config FILE] [FLOW...]", stderr)
	cfgPath := fs.String("config", "", "also check this service configuration and the flows it uses")
	if err := fs.Parse(args); err != nil {
		return exitError{2}
	}
	if fs.NArg() == 0 && *cfgPath == "" {
		fs.Usage()
		return exitError{2}
	}
	failed := false
	if *cfgPath != "" && !validateConfig(*cfgPath, stdout) {
		failed = true
	}
	for _, file := range fs.Args() {
		if _, err := flowvm.LoadFiles(file); err != nil {
			failed = true
			var list flowvm.ErrorList
			if errors.As(err, &list) {
				for _, e := range list {
					fmt.Fprintln(stdout, e)
				}
				continue
			}
			fmt.Fprintf(stdout, "%s: %v\n", file, err)
			continue
		}
		fmt.Fprintf(stdout, "%s: ok\n", file)
	}
	if failed {
		return exitError{1}
	}
	return nil
}

// validateConfig checks a service configuration and the flows it names;
// it reports whether all is well.
func validateConfig(path string, stdout io.Writer) bool {
	cfg, err := config.Load(path)
	if err != nil {
		var list config.ErrorList
		if errors.As(err, &list) {
			for _, e := range list {
				fmt.Fprintln(stdout, e)
			}
		} else {
			fmt.Fprintf(stdout, "%s: %v\n", path, err)
		}
		return false
	}
	if _, err := service.LoadFlows(cfg); err != nil {
		printFlowErrors(stdout, err)
		return false
	}
	fmt.Fprintf(stdout, "%s: ok\n", path)
	return true
}

// printFlowErrors prints flow load errors one per line.
func printFlowErrors(w io.Writer, err error) {
	var list flowvm.ErrorList
	if errors.As(err, &list) {
		for _, e := range list {
			fmt.Fprintln(w, e)
		}
		return
	}
	fmt.Fprintln(w, err)
}

// cmdGraph prints a flow (and the flows it references) as a Mermaid
// flowchart.
func cmdGraph(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("graph", "graph FILE", stderr)
	if err := fs.Parse(args); err != nil {
		return exitError{2}
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return exitError{2}
	}
	prog, err := flowvm.LoadFiles(fs.Arg(0))
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
	return prog.Graph(stdout)
}
