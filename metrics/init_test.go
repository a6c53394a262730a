package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/callflow/callflow/trace"
)

func TestInitQueuesExportsZeroSeries(t *testing.T) {
	m := New(Options{})
	m.InitQueues([]string{"sales"})
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, tc := range []struct{ name, line string }{
		{"joined", `callflow_queue_joined_total{queue="sales"} 0`},
		{"abandons", `callflow_queue_abandons_total{queue="sales"} 0`},
		{"failed callbacks", `callflow_callbacks_total{event="failed",queue="sales"} 0`},
		{"completed callbacks", `callflow_callbacks_total{event="completed",queue="sales"} 0`},
		{"abandoned exits", `callflow_queue_exits_total{outcome="abandoned",queue="sales"} 0`},
		{"wait histogram", `callflow_queue_wait_seconds_count{queue="sales"} 0`},
		{"conversation histogram", `callflow_conversation_seconds_count{kind="callback",queue="sales"} 0`},
		{"dial attempts", `callflow_dial_attempts_total{leg="customer",queue="sales",result="busy"} 0`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(string(body), "\n"+tc.line+"\n") {
				t.Errorf("no line %q in\n%s", tc.line, body)
			}
		})
	}
}

// TestWithdrawnOfferCountsCancelled: an agent's ringing stopped because
// the caller stopped waiting is an agent dial attempt cancelled.
func TestWithdrawnOfferCountsCancelled(t *testing.T) {
	m := New(Options{})
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	attrs := map[string]string{"queue": "sales"}
	m.Emit(trace.Event{At: at, Call: "c1", Source: trace.Queue, Kind: "agent_offered", Text: "PJSIP/agent1", Attrs: attrs})
	m.Emit(trace.Event{At: at.Add(time.Second), Call: "c1", Source: trace.Queue, Kind: "agent_withdrawn", Text: "PJSIP/agent1", Attrs: attrs})
	if got := testutil.ToFloat64(m.dials.WithLabelValues("sales", "agent", "cancelled")); got != 1 {
		t.Errorf("cancelled agent dial attempts %v, want 1", got)
	}
}
