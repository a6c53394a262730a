package metrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/callflow/callflow/trace"
)

func TestAdoptionsCounted(t *testing.T) {
	m := New(Options{})
	for _, ev := range []trace.Event{
		{Source: trace.Queue, Call: "c1", Kind: "adopted", Attrs: map[string]string{"queue": "support", "as": "waiting"}},
		{Source: trace.Queue, Call: "c2", Kind: "adopted", Attrs: map[string]string{"queue": "support", "as": "waiting"}},
		{Source: trace.Queue, Call: "c3", Kind: "adopted", Attrs: map[string]string{"as": "ivr"}},
		{Source: trace.Queue, Call: "c4", Kind: "adopt_closed", Attrs: map[string]string{"queue": "support", "as": "closed"}},
		{Source: trace.Queue, Call: "c5", Kind: "adopt_refused", Attrs: map[string]string{"as": "refused"}},
	} {
		m.Emit(ev)
	}
	for _, c := range []struct {
		queue, result string
		want          float64
	}{{"support", "waiting", 2}, {"", "ivr", 1}, {"support", "closed", 1}, {"", "refused", 1}} {
		if got := testutil.ToFloat64(m.adoptions.WithLabelValues(c.queue, c.result)); got != c.want {
			t.Errorf("adoptions{queue=%q,result=%q} = %v, want %v", c.queue, c.result, got, c.want)
		}
	}
}
