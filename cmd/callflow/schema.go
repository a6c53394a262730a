package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/callflow/callflow/adapter/sim"
	"github.com/callflow/callflow/config"
	"github.com/callflow/callflow/flowvm"
)

// schemas are the JSON Schemas `callflow schema KIND` prints, each
// generated from the tables its loader reads. docs/schema/KIND.schema.json
// holds the committed copies (TestSchemaFilesCurrent).
var schemas = map[string]func() map[string]any{
	"flow":     flowvm.JSONSchema,
	"config":   config.JSONSchema,
	"scenario": sim.ScenarioJSONSchema,
}

// cmdSchema prints the JSON Schema (draft 2020-12) of flow files, the
// service configuration or simulator scenarios, for editors and
// validators.
func cmdSchema(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("schema", "schema flow|config|scenario", stderr)
	if err := fs.Parse(args); err != nil {
		return exitError{2}
	}
	if fs.NArg() != 1 || schemas[fs.Arg(0)] == nil {
		fs.Usage()
		return exitError{2}
	}
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false) // keep "option_<digit>" readable
	enc.SetIndent("", "  ")
	if err := enc.Encode(schemas[fs.Arg(0)]()); err != nil {
		return fmt.Errorf("schema %s: %w", fs.Arg(0), err)
	}
	return nil
}
