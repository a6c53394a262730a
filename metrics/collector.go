package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/callflow/callflow/queue"
	"github.com/callflow/callflow/store"
)

// Label values the collector always exports (zero included), so a series
// does not vanish when nothing is in that state.
var (
	entryKinds  = []string{"live", "reserved", "held", "callback"}
	agentStates = []string{"free", "ringing", "busy", "wrap_up", "skipped"}
)

var (
	descLength = prometheus.NewDesc("callflow_queue_length",
		"Entries in the queue's line (live, reserved, held and callback).", []string{"queue"}, nil)
	descEntries = prometheus.NewDesc("callflow_queue_entries",
		"Entries in the queue's line by kind.", []string{"queue", "kind"}, nil)
	descCallbacks = prometheus.NewDesc("callflow_queue_callbacks",
		"Open callbacks in the queue's line by state.", []string{"queue", "state"}, nil)
	descAgents = prometheus.NewDesc("callflow_queue_agents",
		"The queue's agents by state.", []string{"queue", "state"}, nil)
	descEWT = prometheus.NewDesc("callflow_queue_ewt_seconds",
		"Estimated wait of a caller joining now: (length+1) × mean handle time ÷ agents.", []string{"queue"}, nil)
	descMeanHandle = prometheus.NewDesc("callflow_queue_mean_handle_seconds",
		"Mean handle time of the queue's recent conversations.", []string{"queue"}, nil)
)

// queueCollector reads the engine's snapshots at scrape time.
type queueCollector struct{ q Queues }

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descLength, descEntries, descCallbacks, descAgents, descEWT, descMeanHandle} {
		ch <- d
	}
}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	for _, name := range c.q.QueueNames() {
		s, ok := c.q.Snapshot(name)
		if !ok {
			continue
		}
		kinds := map[string]int{}
		cbStates := map[string]int{}
		for _, en := range s.Entries {
			kinds[en.Kind]++
			if en.Kind == "callback" {
				cbStates[en.State]++
			}
		}
		agents := map[string]int{}
		for _, a := range s.Agents {
			agents[a.State]++
		}
		gauge := func(d *prometheus.Desc, v float64, labels ...string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
		}
		gauge(descLength, float64(len(s.Entries)), name)
		for _, k := range entryKinds {
			gauge(descEntries, float64(kinds[k]), name, k)
		}
		for _, st := range store.OpenStates {
			gauge(descCallbacks, float64(cbStates[string(st)]), name, string(st))
		}
		for _, st := range agentStates {
			gauge(descAgents, float64(agents[st]), name, st)
		}
		gauge(descEWT, queue.EWT(len(s.Entries)+1, s.MeanHandle, len(s.Agents)).Seconds(), name)
		gauge(descMeanHandle, s.MeanHandle.Seconds(), name)
	}
}
