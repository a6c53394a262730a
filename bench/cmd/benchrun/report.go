package main

import (
	"fmt"
	"math"
	"strings"
	"text/tabwriter"
	"time"
)

// report collects every run and renders the one result table.
type report struct {
	started    time.Time
	switchName string       // Asterisk, FreeSWITCH
	level      int          // the applications' level
	control    []runMeasure // rising levels; the last may have failed
	apps       []runMeasure // callflow, peer (measured or skipped)
}

func (r report) find(name string) (runMeasure, bool) {
	for _, m := range r.apps {
		if m.name == name {
			return m, m.skipped == ""
		}
	}
	return runMeasure{name: name, skipped: "not run"}, false
}

func (r report) controlAt(level int) (runMeasure, bool) {
	for _, m := range r.control {
		if m.level == level {
			return m, true
		}
	}
	return runMeasure{}, false
}

func (r report) render() string {
	if r.switchName == "" {
		r.switchName = "Asterisk"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\ncontrol runs (%s, plain dialplan, no application):\n", r.switchName)
	for _, m := range r.control {
		verdict := "clean"
		if !m.load.Clean() {
			verdict = "NOT clean: " + failReasons(m.load)
		}
		fmt.Fprintf(&b, "  %4d concurrent: %d/%d calls ok, %d failed, peak %d, %s CPU %.2fs, %v — %s\n",
			m.level, m.load.Successful(), m.load.Planned(), m.load.Failed(), m.load.PeakConcurrent(),
			r.switchName, m.asteriskCPU.Seconds(), m.wall.Round(time.Second), verdict)
	}
	if r.level == 0 {
		b.WriteString("no level ran clean: no application figures\n")
		return b.String()
	}
	cf, cfOK := r.find("callflow")
	peer, peerOK := r.find("peer")
	ctl, ctlOK := r.controlAt(r.level)
	fmt.Fprintf(&b, "\nresults at %d concurrent calls (highest clean control level):\n", r.level)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\tcontrol\tcallflow\tpeer (node)\tcallflow/peer\t")
	type row struct {
		name string
		val  func(runMeasure) float64
		fmt  string
		ctl  bool // has a control value
	}
	rows := []row{
		{"calls ok/planned", nil, "", true},
		{"failed calls", func(m runMeasure) float64 { return float64(m.load.Failed()) }, "%.0f", true},
		{"app CPU s", func(m runMeasure) float64 { return m.appCPU.Seconds() }, "%.2f", false},
		{"app peak RSS MiB", func(m runMeasure) float64 { return float64(m.appRSS) / (1 << 20) }, "%.1f", false},
		{"DTMF→action p50 ms", func(m runMeasure) float64 { return ms(m.latency.P50) }, "%.0f", false},
		{"DTMF→action p99 ms", func(m runMeasure) float64 { return ms(m.latency.P99) }, "%.0f", false},
		{"DTMF without action", func(m runMeasure) float64 { return float64(m.latency.Unpaired) }, "%.0f", false},
		{r.switchName + " CPU s", func(m runMeasure) float64 { return m.asteriskCPU.Seconds() }, "%.2f", true},
		{"app CPU % of " + r.switchName, func(m runMeasure) float64 { return pct(m.appCPU, m.asteriskCPU) }, "%.1f", false},
		{"heap KiB per call", heapPerCall, "%.1f", false},
		{"calls at heap peak", func(m runMeasure) float64 {
			if m.profile == nil {
				return math.NaN()
			}
			return float64(m.profile.Peak().Calls)
		}, "%.0f", false},
		{"agent calls", func(m runMeasure) float64 { return float64(m.agentCalls) }, "%.0f", false},
		{"run wall s", func(m runMeasure) float64 { return m.wall.Seconds() }, "%.0f", true},
	}
	for _, rw := range rows {
		cells := []string{rw.name}
		for i, c := range []struct {
			m  runMeasure
			ok bool
		}{{ctl, ctlOK}, {cf, cfOK}, {peer, peerOK}} {
			switch {
			case !c.ok || (i == 0 && !rw.ctl):
				cells = append(cells, "-")
			case rw.val == nil:
				cells = append(cells, fmt.Sprintf("%d/%d", c.m.load.Successful(), c.m.load.Planned()))
			case math.IsNaN(rw.val(c.m)):
				cells = append(cells, "-")
			default:
				cells = append(cells, fmt.Sprintf(rw.fmt, rw.val(c.m)))
			}
		}
		ratio := "-"
		if cfOK && peerOK && rw.val != nil {
			if p := rw.val(peer); p != 0 && !math.IsNaN(p) && !math.IsNaN(rw.val(cf)) {
				ratio = fmt.Sprintf("%.2f", rw.val(cf)/p)
			}
		}
		fmt.Fprintln(tw, strings.Join(append(cells, ratio), "\t")+"\t")
	}
	tw.Flush()
	for _, m := range []runMeasure{cf, peer} {
		if m.skipped != "" {
			fmt.Fprintf(&b, "%s: skipped: %s\n", m.name, m.skipped)
		}
		if m.leftChannels > 0 {
			fmt.Fprintf(&b, "%s: %d channels were still up 30 s after the load\n", m.name, m.leftChannels)
		}
		if m.observerBad > 0 {
			fmt.Fprintf(&b, "%s: %d observer frames could not be decoded\n", m.name, m.observerBad)
		}
	}
	fmt.Fprintf(&b, "total wall time %v\n", time.Since(r.started).Round(time.Second))
	return b.String()
}

// heapPerCall is the live heap each served call adds, from the pprof heap
// samples (NaN when the run was not profiled).
func heapPerCall(m runMeasure) float64 {
	if m.profile == nil {
		return math.NaN()
	}
	b, ok := m.profile.BytesPerCall()
	if !ok {
		return math.NaN()
	}
	return b / 1024
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func pct(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return 100 * float64(a) / float64(b)
}
