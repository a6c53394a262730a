package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
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
