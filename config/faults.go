package config

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/goccy/go-yaml/ast"
)

// FaultsConfig is a test facility: crash points for the crash tests
// (e2e/crash). It is never needed in production and is off when the
// section is absent.
//
//	faults:
//	  kill_after: callback.dialing_customer   # <trace source>.<kind>
//	  count: 1                                # the n-th such event (default 1)
//
// `callflow serve` then SIGKILLs its own process right after the n-th
// trace event of that source and kind has been emitted (written to the
// --trace file), in the goroutine that emitted it: the kill lands between
// the commit the event reports and the next side effect.
type FaultsConfig struct {
	// KillAfter is "source.kind" ("" = no crash point).
	KillAfter string
	// Count is which occurrence kills (default 1).
	Count int
}

// Source and Kind split KillAfter.
func (f FaultsConfig) Source() string { s, _, _ := strings.Cut(f.KillAfter, "."); return s }

// Kind is the trace kind of KillAfter.
func (f FaultsConfig) Kind() string { _, k, _ := strings.Cut(f.KillAfter, "."); return k }

var faultPoint = regexp.MustCompile(`^(flow|switch|queue|callback)\.[a-z0-9_-]{1,64}$`)

func (d *decoder) faults(c *Config, n ast.Node) {
	d.fields(n, "faults", map[string]func(ast.Node){
		"kill_after": func(v ast.Node) {
			s, ok := d.scalar(v, "faults.kill_after")
			if !ok {
				return
			}
			if !faultPoint.MatchString(s) {
				d.errorf(v, "faults.kill_after: %q is not <source>.<kind> (source flow, switch, queue or callback)", s)
				return
			}
			c.Faults.KillAfter = s
		},
		"count": d.count(&c.Faults.Count, "faults.count"),
	})
	if c.Faults.Count == 0 {
		c.Faults.Count = 1
	}
}

// String renders the crash point for logs.
func (f FaultsConfig) String() string {
	if f.KillAfter == "" {
		return "none"
	}
	return fmt.Sprintf("kill after %s #%d", f.KillAfter, f.Count)
}
