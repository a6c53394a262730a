// Package metrics is callflow's observability: a trace.Sink that turns the
// queue engine's and the flow VM's trace events into Prometheus metrics on a
// private registry, a collector that reads queue state at scrape time, and
// EventLog, a trace.Sink that appends the queue and callback lifecycle to
// the store's event log for reporting.
package metrics
