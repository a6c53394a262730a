//go:build !faultinject

package config

import "github.com/goccy/go-yaml/ast"

// FaultInjection reports whether this build accepts the faults: section.
const FaultInjection = false

// faults refuses the section: crash injection exists only in test builds
// (go build -tags faultinject).
func (d *decoder) faults(_ *Config, n ast.Node) {
	d.errorf(n, "faults: crash injection is a test facility this binary was built without (build with -tags faultinject); remove the section")
}
