package examples_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// The committed schemas (docs/schema) are what `callflow schema` prints
// (cmd/callflow TestSchemaFilesCurrent); these tests check files against
// them with a real validator.

// compileSchema compiles docs/schema/<kind>.schema.json.
func compileSchema(t *testing.T, kind string) *jsonschema.Schema {
	t.Helper()
	path := filepath.Join("..", "docs", "schema", kind+".schema.json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	c := jsonschema.NewCompiler()
	url := "file:///callflow/" + kind + ".schema.json"
	if err := c.AddResource(url, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(url)
	if err != nil {
		t.Fatalf("compile %s: %v", path, err)
	}
	return s
}

// yamlInstance decodes a YAML file into the JSON values a validator sees,
// as an editor's YAML language server does.
func yamlInstance(data []byte) (any, error) {
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		return nil, err
	}
	v, err := jsonable(v)
	if err != nil {
		return nil, err
	}
	js, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return jsonschema.UnmarshalJSON(bytes.NewReader(js))
}

// jsonable turns YAML values into JSON ones: mapping keys become strings.
func jsonable(v any) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			j, err := jsonable(e)
			if err != nil {
				return nil, err
			}
			x[k] = j
		}
		return x, nil
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			j, err := jsonable(e)
			if err != nil {
				return nil, err
			}
			out[fmt.Sprint(k)] = j
		}
		return out, nil
	case []any:
		for i, e := range x {
			j, err := jsonable(e)
			if err != nil {
				return nil, err
			}
			x[i] = j
		}
		return x, nil
	case nil, string, bool, int, int64, uint64, float64:
		return x, nil
	}
	return nil, fmt.Errorf("YAML value %T (%v) has no JSON form", v, v)
}

// leafErrors lists a validation error's leaves as "instance: message".
func leafErrors(err error) []string {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return []string{err.Error()}
	}
	p := message.NewPrinter(language.English)
	var out []string
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			out = append(out, "/"+strings.Join(e.InstanceLocation, "/")+": "+e.ErrorKind.LocalizedString(p))
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	return out
}

func validateFile(t *testing.T, s *jsonschema.Schema, path string) error {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := yamlInstance(data)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return s.Validate(inst)
}

func glob(t *testing.T, patterns ...string) []string {
	t.Helper()
	var out []string
	for _, p := range patterns {
		m, err := filepath.Glob(p)
		if err != nil || len(m) == 0 {
			t.Fatalf("no files match %s (%v)", p, err)
		}
		out = append(out, m...)
	}
	return out
}

// schemaFiles are the files each schema must accept. Those that ship or
// that the simulator reads as examples must also name their schema on the
// first line (modeline: true).
var schemaFiles = []struct {
	kind     string
	patterns []string
	modeline bool
}{
	{"flow", []string{"flows/*.yaml", "testdata/notations/main.yaml", "testdata/notations/greeting.yaml"}, true},
	{"config", []string{"config/*.yaml"}, true},
	{"scenario", []string{"scenarios/*.yaml", "testdata/notations/scenario.yaml", "../adapter/sim/testdata/example.yaml"}, true},
	// Flows elsewhere in the repository: the demo's and the benchmark's,
	// and the loader's good fixtures.
	{"flow", []string{"../deploy/demo/flows/*.yaml", "../bench/callflow/flows/*.yaml", "../flowvm/testdata/good/*.yaml"}, false},
}

func TestSchemaAcceptsExamples(t *testing.T) {
	compiled := map[string]*jsonschema.Schema{}
	for _, set := range schemaFiles {
		s := compiled[set.kind]
		if s == nil {
			s = compileSchema(t, set.kind)
			compiled[set.kind] = s
		}
		for _, path := range glob(t, set.patterns...) {
			t.Run(set.kind+"/"+path, func(t *testing.T) {
				if err := validateFile(t, s, path); err != nil {
					t.Errorf("%s does not validate against the %s schema:\n%s", path, set.kind, strings.Join(leafErrors(err), "\n"))
				}
				if set.modeline {
					checkModeline(t, path, set.kind)
				}
			})
		}
	}
}

// checkModeline: the first line names the schema of the file's kind by a
// path that resolves from the file's folder.
func checkModeline(t *testing.T, path, kind string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(string(data), "\n")
	const prefix = "# yaml-language-server: $schema="
	ref, ok := strings.CutPrefix(first, prefix)
	if !ok {
		t.Fatalf("%s: first line %q, want %s<path to docs/schema/%s.schema.json>", path, first, prefix, kind)
	}
	target := filepath.Join(filepath.Dir(path), ref)
	want := filepath.Join("..", "docs", "schema", kind+".schema.json")
	if filepath.Clean(target) != filepath.Clean(want) {
		t.Errorf("%s: modeline names %s (resolves to %s), want the %s schema %s", path, ref, target, kind, want)
	}
	if _, err := os.Stat(target); err != nil {
		t.Errorf("%s: modeline schema: %v", path, err)
	}
}

// badFlows classifies every fixture of flowvm/testdata/bad (the loader's
// expected errors are its "# want:" lines). A shape error is one a schema
// sees in the file alone: an unknown key, a wrong type, a missing required
// parameter or exit, a value outside an enum, a range or a pattern. A
// semantic error needs the program: dangling or unreachable notations,
// sub-flow cycles and missing flows, expression and template types,
// callback reservations, in-queue rules. The schema must reject every
// fixture with a shape error, at each listed instance location, and accept
// the fixtures whose errors are all semantic. A fixture that is not YAML
// is refused before any schema.
var badFlows = map[string]struct {
	class string   // "shape", "semantic" or "syntax"
	at    []string // shape: "location: message part" each leaf error list must hold
	why   string
}{
	"params.yaml": {class: "shape", at: []string{
		"/notations/g/min_digits: want integer",                     // wrong type
		"/notations/g/max_digits: minimum",                          // out of range
		"/notations/g/first_timeout: 'soon' does not match pattern", // bad duration
		"/notations/g/terminator: value must be one of",             // bad enum
		"/notations/g: additional properties 'colour'",              // unknown parameter
		"/notations/g/into: does not match pattern",                 // not a variable name
		"/notations/p: missing property 'prompts'",                  // missing required parameter
		// option "12" is not one digit (the validator places propertyNames errors at "/")
		"/: '12' does not match pattern '^[0-9*#]$'",
		"/notations/m/exits: additional properties 'bogus'",
		"/notations/h/cause: value must be one of",
	}, why: "all but 'unreachable notation h' are shape errors"},
	"exits.yaml": {class: "shape", at: []string{
		"/notations/b: missing property 'exits'",                       // branch without its required exit default
		"/notations/q/exits: missing properties 'callback', 'timeout'", // queue's required exits
	}, why: "missing required exits are shape errors; the unknown start and the dangling when_1 are semantic"},
	"unknown_notation.yaml": {class: "shape", at: []string{
		"/notations/oops/type: value must be one of",
	}, why: "an unknown notation type is a bad enum"},
	"cycle_a.yaml":     {class: "semantic", why: "sub-flow cycle"},
	"cycle_b.yaml":     {class: "semantic", why: "sub-flow cycle"},
	"exprs.yaml":       {class: "semantic", why: "expression and template type errors"},
	"inqueue.yaml":     {class: "semantic", why: "queue inside an in-queue flow, reservation open"},
	"reservation.yaml": {class: "semantic", why: "callback reservation rules over the flow graph"},
	"subflows.yaml":    {class: "semantic", why: "a called flow that does not exist"},
	"prompts.yaml":     {class: "semantic", why: "prompts are text to the schema; the loader checks them with media.ParsePrompt"},
	"yamlsyntax.yaml":  {class: "syntax", why: "not YAML"},
}

func TestSchemaRejectsShapeErrors(t *testing.T) {
	s := compileSchema(t, "flow")
	files := glob(t, "../flowvm/testdata/bad/*.yaml")
	for _, path := range files {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			c, ok := badFlows[name]
			if !ok {
				t.Fatalf("%s is not classified: add it to badFlows as a shape, semantic or syntax error", path)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			inst, err := yamlInstance(data)
			if c.class == "syntax" {
				if err == nil {
					t.Fatalf("%s decodes as YAML, but it is classified as a syntax error", path)
				}
				return
			}
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			verr := s.Validate(inst)
			switch c.class {
			case "semantic":
				if verr != nil {
					t.Errorf("%s has only semantic errors (%s), but the schema rejects it:\n%s", path, c.why, strings.Join(leafErrors(verr), "\n"))
				}
			case "shape":
				if verr == nil {
					t.Fatalf("%s has shape errors (%s), but the schema accepts it", path, c.why)
				}
				leaves := leafErrors(verr)
				for _, want := range c.at {
					loc, msg, _ := strings.Cut(want, ": ")
					if !slices.ContainsFunc(leaves, func(l string) bool {
						lloc, lmsg, _ := strings.Cut(l, ": ")
						return lloc == loc && strings.Contains(lmsg, msg)
					}) {
						t.Errorf("%s: no schema error at %s containing %q; got:\n%s", path, loc, msg, strings.Join(leaves, "\n"))
					}
				}
			default:
				t.Fatalf("%s: unknown class %q", name, c.class)
			}
		})
	}
	for name := range badFlows {
		if !slices.ContainsFunc(files, func(p string) bool { return filepath.Base(p) == name }) {
			t.Errorf("badFlows lists %s, which is not in flowvm/testdata/bad", name)
		}
	}
}

// draft07Keywords are the schema keywords whose meaning draft-07 and draft
// 2020-12 share: editors' YAML language servers implement draft-07, the
// tests' validator 2020-12.
var draft07Keywords = map[string]bool{
	"$schema": true, "$ref": true, "$defs": true, "$comment": true, "title": true, "description": true, "default": true,
	"type": true, "enum": true, "const": true, "pattern": true, "minLength": true, "minimum": true, "maximum": true,
	"properties": true, "additionalProperties": true, "required": true, "propertyNames": true, "minProperties": true,
	"items": true, "minItems": true, "anyOf": true, "allOf": true, "oneOf": true, "not": true, "if": true, "then": true,
}

// TestSchemaKeywords: the generated schemas use only keywords in
// draft07Keywords, so editors read them as the validator does.
func TestSchemaKeywords(t *testing.T) {
	for _, kind := range []string{"flow", "config", "scenario"} {
		data, err := os.ReadFile(filepath.Join("..", "docs", "schema", kind+".schema.json"))
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := json.Unmarshal(data, &doc); err != nil {
			t.Fatal(err)
		}
		var walk func(s map[string]any, path string)
		walk = func(s map[string]any, path string) {
			for k, v := range s {
				if !draft07Keywords[k] {
					t.Errorf("%s schema %s: keyword %q is not one draft-07 editors read the same way", kind, path, k)
				}
				switch k {
				case "properties", "$defs":
					for name, sub := range v.(map[string]any) {
						walk(sub.(map[string]any), path+"/"+k+"/"+name)
					}
				case "anyOf", "allOf", "oneOf":
					for i, sub := range v.([]any) {
						walk(sub.(map[string]any), fmt.Sprintf("%s/%s/%d", path, k, i))
					}
				case "items", "additionalProperties", "propertyNames", "not", "if", "then":
					if sub, ok := v.(map[string]any); ok {
						walk(sub, path+"/"+k)
					}
				}
			}
		}
		walk(doc, "#")
	}
}
