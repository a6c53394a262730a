package config

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// tableDoc writes a config document from the key table that reaches every
// section (one entry in each map, one item in each list of sections) and
// sets every other key to a scalar. Values are not meant to be valid.
func tableDoc(k *key, indent string, b *strings.Builder) {
	for _, c := range k.keys {
		if c.testOnly && !FaultInjection {
			continue
		}
		b.WriteString(indent + c.name + ":")
		switch c.kind {
		case kSection:
			b.WriteString("\n")
			tableDoc(c, indent+"  ", b)
		case kMap:
			b.WriteString("\n" + indent + "  n1:")
			if c.values.kind == kSection {
				b.WriteString("\n")
				tableDoc(c.values, indent+"    ", b)
			} else {
				b.WriteString(" x\n")
			}
		case kList:
			if c.items.kind == kSection {
				b.WriteString("\n" + indent + "  - ")
				var item strings.Builder
				tableDoc(c.items, indent+"    ", &item)
				b.WriteString(strings.TrimPrefix(item.String(), indent+"    "))
			} else {
				b.WriteString(" [x]\n")
			}
		default:
			b.WriteString(" x\n")
		}
	}
}

// TestKeyTableMatchesDecoders: a file holding every key of the table
// reaches every decoder; none calls a key unknown, and none reads keys
// its table entry lacks (fields reports that as an internal error).
func TestKeyTableMatchesDecoders(t *testing.T) {
	var b strings.Builder
	tableDoc(configKeys, "", &b)
	doc := b.String()
	_, err := Parse("all.yaml", []byte(doc))
	if err == nil {
		t.Fatalf("a file of junk values parsed:\n%s", doc)
	}
	reached := 0
	for _, line := range strings.Split(err.Error(), "\n") {
		if strings.Contains(line, "internal error") || strings.Contains(line, "unknown key") {
			t.Errorf("%s", line)
		}
		reached++
	}
	if t.Failed() || reached < 20 {
		t.Logf("document:\n%s\nerrors:\n%v", doc, err)
	}
	wants := []string{"switch.asterisk.url", "switch.freeswitch.inbound", "trunk n1: dial", "callback.window.hours.days", "number_policy.denied_prefixes", "shutdown_timeout"}
	if FaultInjection {
		wants = append(wants, "faults.count")
	}
	for _, want := range wants {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("no error mentions %q: the decoders were not all reached\n%v", want, err)
		}
	}
}

// TestCheckHandlersReportsDrift: a decoder reading a key its table entry
// lacks, or missing one it lists, is an internal error.
func TestCheckHandlersReportsDrift(t *testing.T) {
	noop := func(ast.Node) {}
	for name, fs := range map[string]map[string]func(ast.Node){
		"missing": {"level": noop},
		"extra":   {"level": noop, "format": noop, "colour": noop},
	} {
		d := &decoder{file: "c.yaml"}
		d.checkHandlers(ck("log"), fs)
		if len(d.errs) != 1 || !strings.Contains(d.errs[0].Msg, "internal error: the decoder of log reads") {
			t.Errorf("%s: errors %v, want one internal error", name, d.errs)
		}
	}
	d := &decoder{file: "c.yaml"}
	d.checkHandlers(ck("log"), map[string]func(ast.Node){"level": noop, "format": noop})
	if len(d.errs) != 0 {
		t.Errorf("matching handlers: %v", d.errs)
	}
}

// TestJSONSchemaMatchesKeyTable walks the schema (as an editor reads it,
// through JSON) and the key table together: the same keys at every level,
// the same required ones, no test-only section.
func TestJSONSchemaMatchesKeyTable(t *testing.T) {
	js, err := json.Marshal(JSONSchema())
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(js, &doc); err != nil {
		t.Fatal(err)
	}
	if doc["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
		t.Errorf("$schema = %v", doc["$schema"])
	}
	var walk func(k *key, s map[string]any, path string)
	walk = func(k *key, s map[string]any, path string) {
		switch k.kind {
		case kSection:
			props, _ := s["properties"].(map[string]any)
			var want, req []string
			for _, c := range k.keys {
				if c.testOnly {
					continue
				}
				want = append(want, c.name)
				if c.kind == kSecret {
					want = append(want, c.name+"_file")
				} else if c.required {
					req = append(req, c.name)
				}
			}
			slices.Sort(want)
			got := make([]string, 0, len(props))
			for p := range props {
				got = append(got, p)
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("%s: schema keys %v, table %v", path, got, want)
			}
			if s["additionalProperties"] != false {
				t.Errorf("%s: schema allows unknown keys", path)
			}
			var gotReq []string
			if r, ok := s["required"].([]any); ok {
				for _, x := range r {
					gotReq = append(gotReq, x.(string))
				}
			}
			if !slices.Equal(gotReq, req) {
				t.Errorf("%s: schema requires %v, table %v", path, gotReq, req)
			}
			for _, c := range k.keys {
				if cs, ok := props[c.name].(map[string]any); ok {
					walk(c, cs, path+"."+c.name)
				}
			}
		case kMap:
			walk(k.values, s["additionalProperties"].(map[string]any), path+".*")
		case kList:
			if alts, ok := s["anyOf"].([]any); ok {
				walk(k.items, alts[0].(map[string]any), path+"[]")
				s = alts[1].(map[string]any)
			}
			walk(k.items, s["items"].(map[string]any), path+"[]")
		case kEnum:
			var got []string
			for _, x := range s["enum"].([]any) {
				got = append(got, x.(string))
			}
			if !slices.Equal(got, k.enum) {
				t.Errorf("%s: schema enum %v, table %v", path, got, k.enum)
			}
		}
	}
	walk(configKeys, doc, "config")
}

// TestJSONSchemaAcceptsParsedConfigs: the schema is never stricter than
// Parse on the configs of these tests, and it refuses shape errors Parse
// refuses.
func TestJSONSchemaAcceptsParsedConfigs(t *testing.T) {
	js, err := json.Marshal(JSONSchema())
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("file:///config.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("file:///config.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	validate := func(src string) error {
		var v any
		if err := yaml.Unmarshal([]byte(src), &v); err != nil {
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
		return s.Validate(inst)
	}
	for _, c := range []struct {
		name, src string
		ok        bool
	}{
		{"good", goodYAML, true},
		{"queue", queueYAML, true},
		{"window", queueYAML + "      window: {timezone: UTC, hours: [{days: [mon-fri, sun], from: \"8:00\", to: \"24:00\"}]}\n", true},
		{"one day", queueYAML + "      window: {timezone: UTC, hours: [{days: sat, from: \"08:00\", to: \"12:00\"}]}\n", true},
		{"hours not a list", queueYAML + "      window: {timezone: UTC, hours: {days: sat, from: \"08:00\", to: \"12:00\"}}\n", false},
		{"number durations", queueYAML + "    max_wait: 30\n    agent_timeout: 12.5\n    wrap_up: 0\n    agent_retry: \"45\"\nmedia: {keep: 86400}\n", true},
		{"policy", queueYAML + "      number_policy: {default_region: cz, allowed_types: mobile, denied_types: [], denied_prefixes: [\"+882\"]}\n", true},
		{"token file", sim + "api: {token_file: tok}\n", true},
		{"unknown key", sim + "queus: {}\n", false},
		{"missing switch", "log: {level: info}\n", false},
		{"unknown switch", "switch: {type: asterix}\n", false},
		{"asterisk section missing", "switch:\n  type: asterisk\n", false},
		{"freeswitch section missing", "switch:\n  type: freeswitch\n", false},
		{"freeswitch", "switch:\n  type: freeswitch\n  freeswitch: {password_file: pw}\n", true},
		{"password and password_file", "switch:\n  type: asterisk\n  asterisk: {url: \"http://h/ari\", username: u, password: p, password_file: f}\n", false},
		{"asterisk password missing", "switch:\n  type: asterisk\n  asterisk: {url: \"http://h/ari\", username: u}\n", false},
		{"token and token_file", sim + "api: {token: a, token_file: b}\n", false},
		{"bad duration", sim + "media: {keep: 30 days}\n", false},
		{"zero positive", sim + "shutdown_timeout: 0s\n", false},
		{"bad strategy", queueYAML + "    strategy: random\n", false},
		{"bad agent", sim + "queues: {q: {agents: [\"PJSIP/a b\"]}}\n", false},
		{"agent names", sim + "agents: {alice: PJSIP/alice, bob: \"sofia/gateway/pbx1/bob\", \"7\": user/7}\nqueues: {q: {agents: [alice, bob, 7, PJSIP/carol]}, r: {agents: bob}}\n", true},
		{"agent name not plain", sim + "agents: {\"a.b\": PJSIP/x}\n", false},
		{"agent endpoint not an endpoint", sim + "agents: {alice: alice}\n", false},
		{"agents a list", sim + "agents: [PJSIP/alice]\n", false},
		{"callback without trunk", sim + "queues: {q: {callback: {ani: \"+420222333444\"}}}\n", false},
		{"max_attempts 0", queueYAML + "      max_attempts: 0\n", false},
		{"bad clock", queueYAML + "      window: {timezone: UTC, hours: [{days: [mon], from: \"8\", to: \"18:00\"}]}\n", false},
		{"empty hours", queueYAML + "      window: {timezone: UTC, hours: []}\n", false},
		{"bad queue name", sim + "queues: {\"a/b\": {}}\n", false},
		{"bad listen", sim + "api: {listen: localhost}\n", false},
	} {
		_, perr := Parse("c.yaml", []byte(c.src))
		serr := validate(c.src)
		if (perr == nil) != c.ok || (serr == nil) != c.ok {
			t.Errorf("%s: Parse error %v, schema error %v; want both ok %v", c.name, perr, serr, c.ok)
		}
	}
}
