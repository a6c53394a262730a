package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

func compiledScenarioSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	js, err := json.Marshal(ScenarioJSONSchema())
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("file:///scenario.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("file:///scenario.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func schemaAccepts(t *testing.T, s *jsonschema.Schema, src string) error {
	t.Helper()
	var v any
	if err := yaml.Unmarshal([]byte(src), &v); err != nil {
		t.Fatalf("yaml %q: %v", src, err)
	}
	js, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		t.Fatal(err)
	}
	return s.Validate(inst)
}

// TestScenarioSchemaMatchesLoader: the schema and ParseScenario accept and
// refuse the same scenarios for every key, every rule the schema tags
// state, and an unknown key at each level.
func TestScenarioSchemaMatchesLoader(t *testing.T) {
	s := compiledScenarioSchema(t)
	for _, c := range []struct {
		name, src string
		ok        bool
	}{
		{"every key", `prompt_duration: 1s
prompts: {"sound:x": 2}
callers:
  - {id: c1, at: 1, from: "+420601111222", name: Jan, to: 200, args: [a], dtmf: [{at: 1s, digits: "12#"}], speak: 2s, hangup_at: 9s}
agents:
  - {endpoint: PJSIP/a1, answer_after: 1s, talk: 5s, behaviour: busy, schedule: [{at: 3s, behaviour: answer}]}
customers:
  - {number: "+420601111222", answer_after: 0, talk: 1m, attempts: [no_answer, fail, answer]}
`, true},
		{"empty", "{}", true},
		{"unknown top key", "colour: red", false},
		{"unknown caller key", "callers: [{colour: red}]", false},
		{"unknown dtmf key", "callers: [{dtmf: [{digits: '1', colour: red}]}]", false},
		{"unknown party key", "agents: [{endpoint: PJSIP/a, colour: red}]", false},
		{"unknown step key", "agents: [{endpoint: PJSIP/a, schedule: [{behaviour: busy, colour: red}]}]", false},
		{"bad duration", "callers: [{at: soon}]", false},
		{"prompt_duration 0", "prompt_duration: 0s", false},
		{"talk 0", "agents: [{endpoint: PJSIP/a, talk: 0}]", false},
		{"agent without endpoint", "agents: [{talk: 1s}]", false},
		{"agent with number", "agents: [{endpoint: PJSIP/a, number: '1'}]", false},
		{"customer without number", "customers: [{talk: 1s}]", false},
		{"customer with endpoint", "customers: [{number: '1', endpoint: PJSIP/a}]", false},
		{"bad behaviour", "agents: [{endpoint: PJSIP/a, behaviour: sleepy}]", false},
		{"bad attempt", "customers: [{number: '1', attempts: [busy, sleepy]}]", false},
		{"empty attempts", "customers: [{number: '1', attempts: []}]", false},
		{"attempts with behaviour", "customers: [{number: '1', attempts: [busy], behaviour: busy}]", false},
		{"attempts with schedule", "customers: [{number: '1', attempts: [busy], schedule: [{at: 1s, behaviour: busy}]}]", false},
		{"step without behaviour", "agents: [{endpoint: PJSIP/a, schedule: [{at: 1s}]}]", false},
		{"dtmf without digits", "callers: [{dtmf: [{at: 1s}]}]", false},
		{"bad digit", "callers: [{dtmf: [{digits: '1x'}]}]", false},
		{"empty id", "callers: [{id: ' '}]", false},
		{"callers not a list", "callers: {from: x}", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, lerr := ParseScenario("s.yaml", []byte(c.src))
			serr := schemaAccepts(t, s, c.src)
			if (lerr == nil) != c.ok {
				t.Errorf("ParseScenario: %v, want ok %v", lerr, c.ok)
			}
			if (serr == nil) != c.ok {
				t.Errorf("schema: %v, want ok %v", serr, c.ok)
			}
		})
	}
}

// TestScenarioSchemaKeys: every key of the schema is one ParseScenario
// reads (its yaml keys), at every level.
func TestScenarioSchemaKeys(t *testing.T) {
	js, _ := json.Marshal(ScenarioJSONSchema())
	var doc map[string]any
	if err := json.Unmarshal(js, &doc); err != nil {
		t.Fatal(err)
	}
	// wrap places a key in a scenario at the level of the object path.
	levels := map[string]func(k string) string{
		"":                   func(k string) string { return k + ": ~" },
		"callers":            func(k string) string { return "callers: [{" + k + ": ~}]" },
		"callers.dtmf":       func(k string) string { return "callers: [{dtmf: [{" + k + ": ~}]}]" },
		"agents":             func(k string) string { return "agents: [{" + k + ": ~}]" },
		"customers":          func(k string) string { return "customers: [{" + k + ": ~}]" },
		"agents.schedule":    func(k string) string { return "agents: [{schedule: [{" + k + ": ~}]}]" },
		"customers.schedule": func(k string) string { return "customers: [{schedule: [{" + k + ": ~}]}]" },
	}
	var walk func(s map[string]any, path string)
	seen := 0
	walk = func(s map[string]any, path string) {
		if items, ok := s["items"].(map[string]any); ok {
			s = items
		}
		props, ok := s["properties"].(map[string]any)
		if !ok {
			return
		}
		wrap, ok := levels[path]
		if !ok {
			t.Fatalf("schema object at %q: add it to levels", path)
		}
		for _, k := range append(keysSorted(props), "zz_not_a_key") {
			_, err := ParseScenario("s.yaml", []byte(wrap(k)))
			unknown := err != nil && strings.Contains(err.Error(), fmt.Sprintf("unknown field %q", k))
			if unknown == (props[k] != nil) {
				t.Errorf("%s key %q: in the schema %v, ParseScenario calls it unknown %v (%v)", path, k, props[k] != nil, unknown, err)
			}
			seen++
		}
		for _, k := range keysSorted(props) {
			sub := props[k].(map[string]any)
			p := k
			if path != "" {
				p = path + "." + k
			}
			walk(sub, p)
		}
	}
	walk(doc, "")
	if seen < 25 {
		t.Errorf("checked %d keys; the walk missed levels", seen)
	}
}

func keysSorted(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
