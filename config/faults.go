package config

import (
	"fmt"
	"strings"
)

// FaultsConfig is a test facility: crash points for the crash tests
// (e2e/crash). Only a binary built with the build tag faultinject accepts
// the section (faults_inject.go); a production build refuses a config that
// has one, as a load error at the section's file:line:col
// (faults_production.go), so no config can make a shipped binary kill
// itself.
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

// String renders the crash point for logs.
func (f FaultsConfig) String() string {
	if f.KillAfter == "" {
		return "none"
	}
	return fmt.Sprintf("kill after %s #%d", f.KillAfter, f.Count)
}
