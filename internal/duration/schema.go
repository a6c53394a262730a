package duration

// Pattern matches the written forms Parse accepts, for a JSON Schema: a
// plain number of seconds or a Go duration, with an optional leading '+'.
// It checks the form only; Parse also refuses values longer than Max. The
// expression is valid both in Go's RE2 and in ECMA-262 (editors).
const Pattern = `^\+?(([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?|(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+)$`

// Schema is the JSON Schema (draft 2020-12) of a duration: a number of
// seconds from 0 to Max, or a string of Pattern's form.
func Schema() map[string]any {
	return map[string]any{
		"description": "A duration: " + Grammar + ". No days; not negative; at most 1000000000 s.",
		"anyOf": []any{
			map[string]any{"type": "number", "minimum": 0, "maximum": int64(Max.Seconds())},
			map[string]any{"type": "string", "pattern": Pattern},
		},
	}
}

// ZeroPattern matches the string forms of a zero duration ("0", "0s",
// "0.0m"), for schemas of durations that must be more than 0.
const ZeroPattern = `^\+?((0+(\.0*)?|\.0+)([eE][+-]?[0-9]+)?|((0+(\.0*)?|\.0+)(ns|us|µs|μs|ms|s|m|h))+)$`
