package asterisktest

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

func TestOptOut(t *testing.T) {
	tests := []struct {
		name     string
		env      map[string]string
		skip     bool
		refusal  bool // a reason without skip: the test must fail
		contains string
	}{
		{name: "nothing set: run", env: map[string]string{}},
		{name: "CI alone: run", env: map[string]string{"CI": "true"}},
		{name: "empty: run", env: map[string]string{SkipEnv: ""}},
		{name: "zero: run", env: map[string]string{SkipEnv: "0"}},
		{name: "opt-out outside CI: skip", env: map[string]string{SkipEnv: "1"}, skip: true, contains: SkipEnv + "=1"},
		{name: "opt-out with CI=false: skip", env: map[string]string{SkipEnv: "1", "CI": "false"}, skip: true},
		{name: "opt-out under CI: refused", env: map[string]string{SkipEnv: "1", "CI": "true"}, refusal: true, contains: "refused under CI=true"},
		{name: "other value: refused", env: map[string]string{SkipEnv: "yes"}, refusal: true, contains: "only 1 opts out"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			skip, reason := optOut(func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok })
			if skip != tt.skip {
				t.Fatalf("skip = %v, want %v (reason %q)", skip, tt.skip, reason)
			}
			if got := !skip && reason != ""; got != tt.refusal {
				t.Fatalf("refusal = %v, want %v (reason %q)", got, tt.refusal, reason)
			}
			if !strings.Contains(reason, tt.contains) {
				t.Fatalf("reason %q does not contain %q", reason, tt.contains)
			}
		})
	}
}

// recorder is a testing.TB that records Fatalf and Skip instead of ending
// the goroutine.
type recorder struct {
	testing.TB
	failed, skipped bool
	msg             string
}

func (r *recorder) Helper()                   {}
func (r *recorder) Fatalf(f string, a ...any) { r.failed, r.msg = true, fmt.Sprintf(f, a...) }
func (r *recorder) Skipf(f string, a ...any)  { r.skipped, r.msg = true, fmt.Sprintf(f, a...) }
func (r *recorder) Skip(a ...any)             { r.skipped, r.msg = true, fmt.Sprint(a...) }
func (r *recorder) SkipNow()                  { r.skipped = true }
func (r *recorder) Fatal(a ...any)            { r.failed, r.msg = true, fmt.Sprint(a...) }
func (r *recorder) Errorf(f string, a ...any) { r.failed, r.msg = true, fmt.Sprintf(f, a...) }
func (r *recorder) Logf(string, ...any)       {}
func (r *recorder) Cleanup(func())            {}
func (r *recorder) Setenv(string, string)     {}
func (r *recorder) Name() string              { return "recorder" }
func (r *recorder) Failed() bool              { return r.failed }
func (r *recorder) Skipped() bool             { return r.skipped }
func (r *recorder) TempDir() string           { return "" }
func (r *recorder) Log(...any)                {}
func (r *recorder) Error(a ...any)            { r.failed = true }
func (r *recorder) FailNow()                  { r.failed = true }
func (r *recorder) Fail()                     { r.failed = true }

// An environment failure (not root, install.sh failing) used to turn into a
// skip outside CI; it must fail the test wherever it happens.
func TestUnavailableFails(t *testing.T) {
	t.Setenv("CI", "") // restored after the test
	os.Unsetenv("CI")
	for _, err := range []error{
		fmt.Errorf("%w: install.sh /x: exit status 1", ErrUnavailable),
		fmt.Errorf("%w: must run as root", ErrUnavailable),
		fmt.Errorf("asterisktest: start.sh: exit status 1"),
	} {
		r := &recorder{}
		unavailable(r, err)
		if !r.failed || r.skipped {
			t.Errorf("unavailable(%v): failed=%v skipped=%v, want a failure", err, r.failed, r.skipped)
		}
		if !strings.Contains(r.msg, err.Error()) {
			t.Errorf("message %q does not name the error %q", r.msg, err)
		}
	}
}
