package flowvm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/goccy/go-yaml"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// schemaDoc is JSONSchema as an editor reads it (through JSON).
func schemaDoc(t *testing.T) map[string]any {
	t.Helper()
	js, err := json.Marshal(JSONSchema())
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(js, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

func obj(t *testing.T, v any, path string) map[string]any {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("schema %s: want an object, got %T", path, v)
	}
	return m
}

func keysOf(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func strs(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	slices.Sort(out)
	return out
}

// loadErrs loads main.yaml and returns its error text ("" when it loads).
func loadErrs(src string) string {
	_, err := Load(fstest.MapFS{"main.yaml": {Data: []byte(src)}}, "main.yaml")
	if err == nil {
		return ""
	}
	return err.Error()
}

// notationFlow is a flow whose notation n has the given extra lines.
func notationFlow(typ string, lines ...string) string {
	var b strings.Builder
	b.WriteString("start: n\nnotations:\n  n:\n    type: " + typ + "\n")
	for _, l := range lines {
		b.WriteString("    " + l + "\n")
	}
	b.WriteString("  end:\n    type: hangup\n")
	return b.String()
}

// TestJSONSchemaMatchesLoader: every key the loader reads is in the schema
// and every key of the schema is one the loader reads, checked through the
// loader itself (a key it does not know is an "unknown" error), for the
// top level, every notation type, parameter and exit; required parameters
// and exits are required in both.
func TestJSONSchemaMatchesLoader(t *testing.T) {
	doc := schemaDoc(t)
	props := obj(t, doc["properties"], "properties")

	// Top level.
	var names []string
	for _, k := range flowKeys {
		names = append(names, k.name)
	}
	slices.Sort(names)
	if got := keysOf(props); !slices.Equal(got, names) {
		t.Errorf("schema top-level keys %v, loader's flowKeys %v", got, names)
	}
	for _, k := range append(keysOf(props), "zz_not_a_key") {
		errs := loadErrs(notationFlow("answer", "next: end") + k + ": x\n")
		unknown := strings.Contains(errs, fmt.Sprintf("unknown key %q", k))
		if inSchema := props[k] != nil; unknown == inSchema {
			t.Errorf("top-level key %q: in the schema %v, loader calls it unknown %v (%s)", k, inSchema, unknown, errs)
		}
	}
	req := strs(doc["required"])
	for _, k := range flowKeys {
		if slices.Contains(req, k.name) != k.required {
			t.Errorf("top-level key %q: required %v in the table, schema requires %v", k.name, k.required, req)
		}
		if k.required && !strings.Contains(loadErrs("description: x\n"), "missing "+k.name) {
			t.Errorf("the loader does not miss required key %q", k.name)
		}
	}

	defs := obj(t, doc["$defs"], "$defs")
	typeEnum := strs(obj(t, obj(t, obj(t, defs["notation"], "notation")["properties"], "notation.properties")["type"], "type")["enum"])
	if !slices.Equal(typeEnum, specNames()) {
		t.Errorf("schema notation types %v, loader's %v", typeEnum, specNames())
	}
	for _, typ := range append(slices.Clone(typeEnum), "zz_no_type") {
		unknown := strings.Contains(loadErrs(notationFlow(typ)), fmt.Sprintf("unknown notation %q", typ))
		if unknown == slices.Contains(typeEnum, typ) {
			t.Errorf("notation type %q: in the schema enum %v, loader calls it unknown %v", typ, !unknown, unknown)
		}
	}

	for _, typ := range specNames() {
		s := specs[typ]
		ns := obj(t, defs["notation_"+typ], "notation_"+typ)
		nprops := obj(t, ns["properties"], typ+".properties")
		// The loader's keys of this type: its fixed keys and parameters.
		want := []string{"type", "description"}
		if s.exitIndex("next") >= 0 {
			want = append(want, "next")
		}
		if len(s.exits) > 0 {
			want = append(want, "exits")
		}
		for _, p := range s.params {
			want = append(want, p.name)
		}
		slices.Sort(want)
		if got := keysOf(nprops); !slices.Equal(got, want) {
			t.Errorf("%s: schema keys %v, loader's %v", typ, got, want)
		}
		for _, k := range append(keysOf(nprops), "zz_not_a_key") {
			if k == "type" {
				continue
			}
			errs := loadErrs(notationFlow(typ, k+": end"))
			unknown := strings.Contains(errs, fmt.Sprintf("unknown parameter %q", k)) ||
				strings.Contains(errs, fmt.Sprintf("has no exit %q", k))
			if inSchema := nprops[k] != nil; unknown == inSchema {
				t.Errorf("%s key %q: in the schema %v, loader calls it unknown %v (%s)", typ, k, inSchema, unknown, errs)
			}
		}
		required := strs(ns["required"])
		missing := loadErrs(notationFlow(typ))
		for _, p := range s.params {
			if slices.Contains(required, p.name) != p.required {
				t.Errorf("%s parameter %q: required %v in the spec, schema requires %v", typ, p.name, p.required, required)
			}
			if strings.Contains(missing, fmt.Sprintf("missing parameter %q", p.name)) != p.required {
				t.Errorf("%s parameter %q: required %v in the schema, the loader's errors without it: %s", typ, p.name, p.required, missing)
			}
			ps := obj(t, nprops[p.name], typ+"."+p.name)
			if ps["description"] != p.doc {
				t.Errorf("%s parameter %q: schema description %q, spec doc %q", typ, p.name, ps["description"], p.doc)
			}
			if p.enum != nil && p.kind == pEnum && !slices.Equal(strs(ps["enum"]), slices.Sorted(slices.Values(p.enum))) {
				t.Errorf("%s parameter %q: schema enum %v, spec %v", typ, p.name, ps["enum"], p.enum)
			}
		}
		if len(s.exits) == 0 {
			continue
		}
		ex := obj(t, nprops["exits"], typ+".exits")
		eprops := obj(t, ex["properties"], typ+".exits.properties")
		var exitNames, reqExits []string
		for _, e := range s.exits {
			exitNames = append(exitNames, e.name)
			if e.required {
				reqExits = append(reqExits, e.name)
			}
		}
		slices.Sort(exitNames)
		if got := keysOf(eprops); !slices.Equal(got, exitNames) {
			t.Errorf("%s: schema exits %v, spec's %v", typ, got, exitNames)
		}
		for _, e := range append(keysOf(eprops), "zz_no_exit") {
			noExit := strings.Contains(loadErrs(notationFlow(typ, "exits: {"+e+": end}")), fmt.Sprintf("has no exit %q", e))
			if noExit == (eprops[e] != nil) {
				t.Errorf("%s exit %q: in the schema %v, loader says it has none %v", typ, e, eprops[e] != nil, noExit)
			}
		}
		var schemaReq []string
		if ex["required"] != nil {
			schemaReq = strs(ex["required"])
		}
		slices.Sort(reqExits)
		if !slices.Equal(schemaReq, reqExits) {
			t.Errorf("%s: schema requires exits %v, spec %v", typ, schemaReq, reqExits)
		}
		for _, e := range exitNames {
			if strings.Contains(missing, fmt.Sprintf("missing exit %q", e)) != slices.Contains(reqExits, e) {
				t.Errorf("%s exit %q: required %v in the schema, the loader's errors without it: %s", typ, e, slices.Contains(reqExits, e), missing)
			}
		}
	}
}

// compileSchema compiles a generated schema with the validator the tests
// of examples use on the committed files.
func compileSchema(t *testing.T, schema map[string]any) *jsonschema.Schema {
	t.Helper()
	js, err := json.Marshal(schema)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("file:///schema.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("file:///schema.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// yamlJSON decodes YAML into the JSON values an editor validates.
func yamlJSON(t *testing.T, src []byte) any {
	t.Helper()
	var v any
	if err := yaml.Unmarshal(src, &v); err != nil {
		t.Fatal(err)
	}
	js, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		t.Fatal(err)
	}
	return inst
}

// TestJSONSchemaAcceptsLoadableFlows: the schema is never stricter than
// the loader: every flow of the test corpora that loads validates.
func TestJSONSchemaAcceptsLoadableFlows(t *testing.T) {
	s := compileSchema(t, JSONSchema())
	corpus := map[string][]byte{"allFlow": []byte(allFlow)}
	for name, src := range allFiles() {
		corpus["allFiles/"+name] = []byte(src)
	}
	files, _ := filepath.Glob("testdata/good/*.yaml")
	seeds, _ := filepath.Glob("testdata/fuzz/FuzzLoad/*")
	if len(files) == 0 || len(seeds) == 0 {
		t.Fatal("no test flows or fuzz seeds found")
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		corpus[f] = data
	}
	for _, f := range seeds {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		// go test fuzz v1, then one []byte("…") line.
		_, arg, _ := strings.Cut(string(data), "\n")
		arg = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(arg), "[]byte("), ")")
		src, err := strconv.Unquote(arg)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		corpus[f] = []byte(src)
	}
	loaded := 0
	for name, src := range corpus {
		fsys := fstest.MapFS{"main.yaml": {Data: src}}
		for other, osrc := range allFiles() {
			if other != "main" {
				fsys[other+".yaml"] = &fstest.MapFile{Data: []byte(osrc)}
			}
		}
		for _, f := range files {
			if _, ok := fsys[filepath.Base(f)]; !ok {
				fsys[filepath.Base(f)] = &fstest.MapFile{Data: corpus[f]}
			}
		}
		if _, err := Load(fsys, "main.yaml"); err != nil {
			continue // the schema may or may not see why
		}
		loaded++
		if err := s.Validate(yamlJSON(t, src)); err != nil {
			t.Errorf("%s loads, but the schema rejects it: %v", name, err)
		}
	}
	t.Logf("%d of %d corpus flows load and validate", loaded, len(corpus))
	if loaded < len(files) {
		t.Errorf("only %d of %d corpus flows load; the corpus lost its good flows", loaded, len(corpus))
	}
}
