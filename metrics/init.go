package metrics

// Label values InitQueues creates at zero for every queue.
var (
	exitOutcomes   = []string{"connected", "abandoned", "timeout", "full", "callback", "left"}
	callbackEvents = []string{"registered", "duplicate", "invalid", "connected", "completed", "failed", "expired", "cancelled", "retry_wait", "requeued", "interrupted"}
	dialResults    = []string{"answered", "busy", "no_answer", "failed", "cancelled"}
)

// InitQueues creates the event counters and the histograms of each
// queue at zero, so that every series an alert or a dashboard reads exists
// from the first scrape on: a rate over a series that appears only with its
// first event misses that event, and an absent series cannot be told from
// a broken scrape.
func (m *Metrics) InitQueues(names []string) {
	for _, q := range names {
		m.joined.WithLabelValues(q)
		m.abandons.WithLabelValues(q)
		m.wait.WithLabelValues(q)
		for _, o := range exitOutcomes {
			m.exits.WithLabelValues(q, o)
		}
		for _, e := range callbackEvents {
			m.callbacks.WithLabelValues(q, e)
		}
		for _, kind := range []string{"live", "callback"} {
			m.handle.WithLabelValues(q, kind)
		}
		for _, r := range dialResults {
			m.dials.WithLabelValues(q, "agent", r)
			m.dials.WithLabelValues(q, "customer", r)
		}
	}
}
