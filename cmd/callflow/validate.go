package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/callflow/callflow/flowvm"
)

// cmdValidate checks flow files and prints every error as
// file:line:col: message. Exit 1 when any file has errors.
func cmdValidate(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("validate", "validate FILE...", stderr)
	if err := fs.Parse(args); err != nil {
		return exitError{2}
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return exitError{2}
	}
	failed := false
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
