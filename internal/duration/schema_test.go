package duration

import (
	"regexp"
	"strings"
	"testing"
)

// TestPatternAgreesWithParse: the schema's pattern accepts exactly the
// forms Parse accepts (range errors aside, which a pattern cannot see).
func TestPatternAgreesWithParse(t *testing.T) {
	re := regexp.MustCompile(Pattern)
	for _, s := range []string{
		"30", "0", "1.5", "0.3", ".5", "+2", "2e3", "2E+3", "1.", "1m30s", "500ms", "720h", "0s", "1.5h", ".5s",
		"3us", "3µs", "3μs", "10ns", "1h2m3s4ms", "+5s",
		"-5", "-1h", "soon", "5 s", "1d", "", "0x10", "inf", ".inf", "NaN", "s", ".s", "1e3s", "1..5", "5S", "h1",
	} {
		_, err := Parse(s)
		parses := err == nil || strings.Contains(err.Error(), "longer than")
		if got := re.MatchString(s); got != parses {
			t.Errorf("Pattern matches %q: %v; Parse accepts it: %v (%v)", s, got, parses, err)
		}
	}
}
