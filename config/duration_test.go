package config

import (
	"testing"
	"time"
)

// TestParseNumberDurations: a plain number is seconds here as in flows and
// scenarios (one grammar, internal/duration), so `max_wait: 30` is 30 s.
func TestParseNumberDurations(t *testing.T) {
	src := queueYAML + "    max_wait: 30\n    agent_timeout: 12.5\n    wrap_up: 0\n    agent_retry: \"45\"\n" +
		"media: {keep: 86400}\n"
	c, err := Parse("c.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	q := c.Queue.Queues[0]
	got := []time.Duration{q.MaxWait, q.AgentTimeout, q.WrapUp, q.AgentRetry, c.Media.Keep}
	want := []time.Duration{30 * time.Second, 12500 * time.Millisecond, 0, 45 * time.Second, 24 * time.Hour}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("durations = %v, want %v", got, want)
			break
		}
	}
}
