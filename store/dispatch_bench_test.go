package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/callflow/callflow/internal/pgtest"
)

// BenchmarkDispatchDecisionTwoNodes measures the decision two nodes of
// different switches make before each offer on one real PostgreSQL: a
// node publishes its head and claims an agent (granted, or refused
// because the other node holds it or comes first), then releases what it
// got. Both nodes compete for the same four agents of one queue all the
// time. It reports the claim's latency (p50, p99) and how many claims
// were granted; every granted claim is checked never to overlap another
// of the same agent.
func BenchmarkDispatchDecisionTwoNodes(b *testing.B) {
	_, dsn := pgtest.Require(b)
	ctx := context.Background()
	const agents = 4
	type node struct {
		s     *DB
		owner string
	}
	var nodes []node
	for _, o := range []string{"switch-A", "switch-B"} {
		s, err := OpenPostgres(ctx, dsn)
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		if _, err := s.AcquireLease(ctx, o, o, time.Now(), time.Hour); err != nil {
			b.Fatal(err)
		}
		nodes = append(nodes, node{s, o})
	}
	var mu sync.Mutex
	var lat []time.Duration
	holder := map[string]string{} // agent → owner, checked on every grant
	granted := 0
	b.ResetTimer()
	var wg sync.WaitGroup
	per := (b.N + 1) / 2
	for _, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				agent := fmt.Sprintf("agent%d", i%agents)
				h := Head{JoinedAt: time.Now()}
				if err := n.s.PublishHead(ctx, n.owner, "sales", &h, time.Now()); err != nil {
					b.Error(err)
					return
				}
				t0 := time.Now()
				ver, err := n.s.ClaimAgent(ctx, n.owner, agent, "sales", h, time.Now(), time.Minute)
				d := time.Since(t0)
				mu.Lock()
				lat = append(lat, d)
				if err == nil {
					granted++
					if o := holder[agent]; o != "" {
						b.Errorf("%s granted to %s while %s holds it", agent, n.owner, o)
					}
					holder[agent] = n.owner
				}
				mu.Unlock()
				if err != nil {
					if !errors.Is(err, ErrAgentBusy) && !errors.Is(err, ErrNotFirst) {
						b.Error(err)
						return
					}
					continue
				}
				mu.Lock()
				delete(holder, agent)
				mu.Unlock()
				if err := n.s.ReleaseAgent(ctx, n.owner, agent, ver); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	slices.Sort(lat)
	if len(lat) == 0 {
		return
	}
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(granted)/float64(len(lat))*100, "granted-%")
}
