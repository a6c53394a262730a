package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestSchemaFilesCurrent: the committed schemas under docs/schema are
// exactly what `callflow schema KIND` prints, so editors and the example
// tests use the schema the loaders' tables give today.
func TestSchemaFilesCurrent(t *testing.T) {
	kinds := make([]string, 0, len(schemas))
	for k := range schemas {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	for _, kind := range kinds {
		out, errs, code := runCmd(t, "schema", kind)
		if code != 0 || errs != "" {
			t.Fatalf("callflow schema %s: exit %d, stderr %q", kind, code, errs)
		}
		var doc map[string]any
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatalf("callflow schema %s does not print JSON: %v", kind, err)
		}
		if doc["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
			t.Errorf("callflow schema %s: $schema = %v, want draft 2020-12", kind, doc["$schema"])
		}
		path := filepath.Join("..", "..", "docs", "schema", kind+".schema.json")
		committed, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v; create it with: go run ./cmd/callflow schema %s > docs/schema/%s.schema.json", err, kind, kind)
		}
		if string(committed) != out {
			t.Errorf("docs/schema/%s.schema.json differs from `callflow schema %s` (a loader's key table changed); regenerate it with:\n"+
				"  go run ./cmd/callflow schema %s > docs/schema/%s.schema.json", kind, kind, kind, kind)
		}
	}
}

func TestSchemaUsage(t *testing.T) {
	for _, args := range [][]string{{"schema"}, {"schema", "nosuch"}, {"schema", "flow", "config"}} {
		out, errs, code := runCmd(t, args...)
		if code != 2 || out != "" || !strings.Contains(errs, "usage: callflow schema flow|config|scenario") {
			t.Errorf("callflow %v: exit %d, stdout %q, stderr %q; want exit 2 and the usage", args, code, out, errs)
		}
	}
}
