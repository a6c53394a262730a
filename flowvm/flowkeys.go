package flowvm

import (
	"strings"

	"github.com/goccy/go-yaml/ast"
)

// flowKey is one top-level key of a flow file. The table flowKeys is what
// the loader accepts and what the JSON Schema (JSONSchema) lists.
type flowKey struct {
	name     string
	required bool
	kind     pkind // for the schema; pAssign-like maps are described by schema
	doc      string
	// schema is the key's JSON Schema when kind does not say it all.
	schema func() map[string]any
	decode func(l *loader, f *flowSrc, v ast.Node)
}

// flowKeys is every top-level key of a flow file, in the order the
// documentation lists them.
var flowKeys = []*flowKey{
	{name: "flow", kind: pFlow, doc: "the flow's name; when given it must equal the file name without .yaml",
		decode: func(l *loader, f *flowSrc, v ast.Node) {
			s, ok, _ := scalar(v)
			if !ok || s != f.name {
				l.errs.add(posOf(f.file, v), "flow name %q does not match the file name %q", s, f.name)
			}
		}},
	{name: "start", required: true, kind: pNotation, doc: "id of the notation the flow starts at",
		decode: func(l *loader, f *flowSrc, v ast.Node) {
			s, ok, _ := scalar(v)
			if !ok || s == "" {
				l.errs.add(posOf(f.file, v), "start: want a notation id")
				return
			}
			f.start, f.startPos = s, posOf(f.file, v)
		}},
	{name: "in_queue", kind: pBool, doc: "true: the flow runs while a caller waits in a queue (queue notations name such flows too)",
		decode: func(l *loader, f *flowSrc, v ast.Node) {
			b, ok := unwrap(v).(*ast.BoolNode)
			if !ok {
				l.errs.add(posOf(f.file, v), "in_queue: want true or false")
				return
			}
			f.inQueue = f.inQueue || b.Value
		}},
	{name: "description", kind: pString, doc: "free text for readers; ignored by the loader",
		decode: func(*loader, *flowSrc, ast.Node) {}},
	{name: "vars", doc: "variables of the flow with their initial literal values (name → string, number or bool)",
		schema: func() map[string]any {
			return map[string]any{
				"type":                 "object",
				"propertyNames":        map[string]any{"pattern": identRe.String()},
				"additionalProperties": map[string]any{"type": []any{"string", "number", "boolean"}},
			}
		},
		decode: func(l *loader, f *flowSrc, v ast.Node) {
			vkvs, ok := mapping(v)
			if !ok {
				l.errs.add(posOf(f.file, v), "vars: want a mapping of name → literal value")
				return
			}
			for _, vkv := range vkvs {
				name, vp := keyText(vkv), posOf(f.file, vkv.Key)
				if !identRe.MatchString(name) {
					l.errs.add(vp, "vars: %q is not a variable name", name)
					continue
				}
				val, err := literal(vkv.Value)
				if err != nil {
					l.errs.add(posOf(f.file, vkv.Value), "vars: %s: %v", name, err)
					continue
				}
				f.vars = append(f.vars, varDecl{name: name, pos: vp, val: val})
			}
		}},
	{name: "notations", required: true, doc: "the flow's notations: id → notation (letters, digits, _ and -)",
		schema: func() map[string]any {
			return map[string]any{
				"type":                 "object",
				"propertyNames":        map[string]any{"pattern": notationIDPattern},
				"additionalProperties": map[string]any{"$ref": "#/$defs/notation"},
			}
		},
		decode: func(_ *loader, f *flowSrc, v ast.Node) { f.notations = v }},
}

// notationIDPattern is idRe as applied to an id (a '-' counts as '_').
const notationIDPattern = `^[A-Za-z_-][A-Za-z0-9_-]*$`

func flowKeyNamed(name string) *flowKey {
	for _, k := range flowKeys {
		if k.name == name {
			return k
		}
	}
	return nil
}

func flowKeyNames() string {
	names := make([]string, len(flowKeys))
	for i, k := range flowKeys {
		names[i] = k.name
	}
	return strings.Join(names, ", ")
}

// notationKey is a key every notation may have besides its parameters.
type notationKey struct {
	name, doc string
}

// notationKeys are the keys parseNotation reads itself; every other key of
// a notation is a parameter of its spec.
var notationKeys = []notationKey{
	{"type", "the notation type"},
	{"description", "free text for readers; ignored by the loader"},
	{"next", "the notation taken after this one (exit next; same as exits: {next: …})"},
	{"exits", "exit name → id of the notation taken on that exit"},
}
