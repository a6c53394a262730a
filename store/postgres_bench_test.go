package store

import (
	"context"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/callflow/callflow/internal/pgtest"
)

// BenchmarkRegisterPostgres measures durable registrations per second on a
// real PostgreSQL (fsync and synchronous_commit on, the defaults) with
// concurrent callers sharing group commits, as BenchmarkRegister does on
// SQLite. It also reports the processor time one registration costs the
// server and this process, which does not depend on how busy the machine
// is: cores / (cost) bounds the rate an idle machine could reach.
func BenchmarkRegisterPostgres(b *testing.B) {
	c, dsn := pgtest.Require(b)
	ctx := context.Background()
	s, err := OpenPostgres(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	var n atomic.Int64
	b.SetParallelism(32)
	pg0, err := c.CPUTime()
	if err != nil {
		b.Fatal(err)
	}
	self0 := selfCPU()
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
	b.StopTimer()
	pg1, err := c.CPUTime()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "registrations/s")
	b.ReportMetric(float64((pg1-pg0).Microseconds())/float64(b.N), "server-cpu-µs/reg")
	b.ReportMetric(float64((selfCPU()-self0).Microseconds())/float64(b.N), "client-cpu-µs/reg")
}

// selfCPU is this process's user and system time.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
