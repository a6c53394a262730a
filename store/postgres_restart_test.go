package store

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callflow/callflow/internal/pgtest"
)

// TestPostgresCrashUnderLoad crashes PostgreSQL (immediate shutdown, no
// checkpoint) while callers register, keeps it down, and starts it again.
// Every registration the store acknowledged must be there afterwards,
// registrations during the outage must fail (never "registered" without a
// commit), and the same store must register again once the server is back,
// without being reopened.
func TestPostgresCrashUnderLoad(t *testing.T) {
	c, dsn := pgtest.RequirePrivate(t)
	ctx := context.Background()
	s, err := OpenPostgres(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	const down = 3 * time.Second
	var (
		mu                          sync.Mutex
		acked                       = map[int64]string{} // id → number
		seq                         atomic.Int64
		before, during, after, errs atomic.Int64
		phase                       atomic.Int32 // 0 before, 1 down, 2 back
		stop                        = make(chan struct{})
		wg                          sync.WaitGroup
	)
	for range 16 {
		wg.Add(1)
		go func() { // ends when stop closes
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				i := seq.Add(1)
				num := fmt.Sprintf("+4207%08d", i)
				p := phase.Load()
				rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				cb, _, err := s.Register(rctx, newCB("sales", num, i), true)
				cancel()
				if err != nil {
					errs.Add(1)
					if phase.Load() == 0 { // failed while the server was up
						t.Errorf("register before the crash: %v", err)
					}
					time.Sleep(20 * time.Millisecond)
					continue
				}
				mu.Lock()
				acked[cb.ID] = num
				mu.Unlock()
				switch p {
				case 0:
					before.Add(1)
				case 1:
					during.Add(1)
				default:
					after.Add(1)
				}
			}
		}()
	}
	time.Sleep(500 * time.Millisecond)
	phase.Store(1)
	c.Crash()
	time.Sleep(down)
	if err := c.Restart(ctx); err != nil {
		close(stop)
		wg.Wait()
		t.Fatal(err)
	}
	phase.Store(2)
	deadline := time.Now().Add(20 * time.Second)
	for after.Load() < 50 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	close(stop)
	wg.Wait()

	all, err := s.ListAll(ctx)
	if err != nil {
		t.Fatalf("list after restart: %v", err)
	}
	stored := map[int64]string{}
	for _, cb := range all {
		stored[cb.ID] = cb.Number
	}
	lost := 0
	for id, num := range acked {
		if stored[id] != num {
			lost++
		}
	}
	t.Logf("acknowledged %d before the crash, %d while down (registered as the server went, or committed before it did), %d after; %d failed; %d rows stored; %d acknowledged lost",
		before.Load(), during.Load(), after.Load(), errs.Load(), len(all), lost)
	if lost != 0 {
		t.Fatalf("%d acknowledged registrations lost in the crash", lost)
	}
	if before.Load() == 0 || errs.Load() == 0 {
		t.Fatalf("the load did not span the crash: %d before, %d failed", before.Load(), errs.Load())
	}
	if after.Load() == 0 {
		t.Fatal("the store did not register again after the server came back")
	}
}
