package config

import (
	"strings"
	"testing"
)

// FuzzParse checks that no input makes Parse panic (Parse turns a panic
// into an "internal error" so the service survives; here it is a failure)
// and that every error carries a position.
func FuzzParse(f *testing.F) {
	f.Add([]byte(goodYAML))
	f.Add([]byte(queueYAML + "      window: {timezone: UTC, hours: [{days: [mon-fri], from: \"08:00\", to: \"18:00\"}]}\n"))
	f.Add([]byte("a: &x {b: *x}\n"))
	f.Add([]byte("switch: {type: sim}\nqueues: {q: {callback: {<<: [*a, *b]}}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := Parse("f.yaml", data)
		if err == nil {
			return
		}
		if strings.Contains(err.Error(), "internal error reading YAML") {
			t.Fatalf("Parse panicked: %v", err)
		}
		list, ok := err.(ErrorList)
		if !ok || len(list) == 0 {
			t.Fatalf("error %T is not a non-empty ErrorList", err)
		}
	})
}
