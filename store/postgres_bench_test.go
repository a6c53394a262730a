package store

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/callflow/callflow/internal/pgtest"
)

// BenchmarkRegisterPostgres measures durable registrations per second on a
// real PostgreSQL (fsync and synchronous_commit on, the defaults) with
// concurrent callers sharing group commits, as BenchmarkRegister does on
// SQLite.
func BenchmarkRegisterPostgres(b *testing.B) {
	_, dsn := pgtest.Require(b)
	ctx := context.Background()
	s, err := OpenPostgres(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	var n atomic.Int64
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			if _, _, err := s.Register(ctx, newCB("sales", fmt.Sprintf("+4206%08d", i), i), true); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "registrations/s")
}
