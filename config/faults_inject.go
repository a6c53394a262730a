//go:build faultinject

package config

import (
	"regexp"

	"github.com/goccy/go-yaml/ast"
)

// FaultInjection reports whether this build accepts the faults: section.
const FaultInjection = true

var faultPoint = regexp.MustCompile(faultPointPattern)

func (d *decoder) faults(c *Config, n ast.Node) {
	d.fields(n, ck("faults"), "faults", map[string]func(ast.Node){
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
