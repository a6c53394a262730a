package sim

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)

// log collects "offset name" lines from actors (guarded: actors run one at
// a time, but the test goroutine reads after Run).
type log struct {
	mu    sync.Mutex
	s     *Scheduler
	lines []string
}

func (l *log) add(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf("%s %s", l.s.Now().Sub(t0), fmt.Sprintf(format, args...)))
}

func (l *log) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// checkNoLeak waits (bounded) for the goroutine count to fall back to base.
func checkNoLeak(t *testing.T, base int) {
	t.Helper()
	for range 200 {
		if runtime.NumGoroutine() <= base {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	buf := make([]byte, 1<<16)
	t.Fatalf("goroutines leaked: %d > %d\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
}

func TestScheduler(t *testing.T) {
	tests := []struct {
		name    string
		until   time.Duration // 0: no limit
		setup   func(s *Scheduler, l *log)
		want    string
		wantErr string
		wantEnd time.Duration
	}{
		{
			name: "order by wake time then sequence",
			setup: func(s *Scheduler, l *log) {
				for i, d := range []time.Duration{3, 1, 2, 1} {
					s.Go(func() {
						l.add("start %d", i)
						if err := s.Sleep(context.Background(), d*time.Second); err != nil {
							l.add("err %v", err)
						}
						l.add("woke %d", i)
					})
				}
			},
			want:    "0s start 0\n0s start 1\n0s start 2\n0s start 3\n1s woke 1\n1s woke 3\n2s woke 2\n3s woke 0",
			wantEnd: 3 * time.Second,
		},
		{
			name: "time jumps and never moves while an actor runs",
			setup: func(s *Scheduler, l *log) {
				s.Go(func() {
					before := s.Now()
					for range 1000 {
						runtime.Gosched()
					}
					if !s.Now().Equal(before) {
						l.add("time moved")
					}
					_ = s.Sleep(context.Background(), time.Hour)
					l.add("after an hour")
				})
			},
			want:    "1h0m0s after an hour",
			wantEnd: time.Hour,
		},
		{
			name: "cancel hands over to the waiter deterministically",
			setup: func(s *Scheduler, l *log) {
				ctx, cancel := context.WithCancel(context.Background())
				s.Go(func() {
					err := s.Sleep(ctx, time.Minute)
					l.add("waiter: %v", err)
				})
				s.Go(func() {
					_ = s.Sleep(context.Background(), 5*time.Second)
					cancel()
					l.add("canceller cancelled")
					_ = s.Sleep(context.Background(), time.Second)
					l.add("canceller done")
				})
			},
			want:    "5s canceller cancelled\n5s waiter: context canceled\n6s canceller done",
			wantEnd: 6 * time.Second,
		},
		{
			name: "cancel by a finishing actor",
			setup: func(s *Scheduler, l *log) {
				ctx, cancel := context.WithCancelCause(context.Background())
				s.Go(func() {
					err := s.Sleep(ctx, time.Minute)
					l.add("waiter: %v cause %v", err, context.Cause(ctx))
				})
				s.AfterFunc(2*time.Second, func() { cancel(errors.New("agent connected")) })
			},
			want:    "2s waiter: context canceled cause agent connected",
			wantEnd: 2 * time.Second,
		},
		{
			name: "AfterFunc stop before start",
			setup: func(s *Scheduler, l *log) {
				stop := s.AfterFunc(10*time.Second, func() { l.add("fired") })
				s.AfterFunc(3*time.Second, func() { l.add("stop=%v", stop()) })
				late := s.AfterFunc(time.Second, func() { l.add("late fired") })
				s.AfterFunc(2*time.Second, func() { l.add("late stop=%v", late()) })
			},
			want:    "1s late fired\n2s late stop=false\n3s stop=true",
			wantEnd: 3 * time.Second,
		},
		{
			name:  "shutdown at until",
			until: 10 * time.Second,
			setup: func(s *Scheduler, l *log) {
				s.Go(func() {
					err := s.Sleep(context.Background(), time.Minute)
					l.add("sleeper: %v stopped=%v", err, errors.Is(err, ErrStopped))
					l.add("again: %v", s.Sleep(context.Background(), time.Second))
				})
				s.AfterFunc(20*time.Second, func() { l.add("never") })
				s.AfterFunc(4*time.Second, func() { l.add("tick") })
			},
			want:    "4s tick\n10s sleeper: sim: scheduler stopped stopped=true\n10s again: sim: scheduler stopped",
			wantEnd: 10 * time.Second,
		},
		{
			name: "quiescence stops an actor that can never wake",
			setup: func(s *Scheduler, l *log) {
				s.Go(func() {
					_ = s.Sleep(context.Background(), time.Second)
					err := s.Sleep(context.Background(), 0) // returns at once
					l.add("zero sleep: %v", err)
					ctx, cancel := context.WithCancel(context.Background())
					defer cancel()
					_, perr := s.park(ctx, time.Time{}, false)
					l.add("park: %v", perr)
				})
			},
			want:    "1s zero sleep: <nil>\n1s park: <nil>",
			wantEnd: time.Second,
		},
		{
			name: "panic is recovered and others shut down",
			setup: func(s *Scheduler, l *log) {
				s.Go(func() {
					err := s.Sleep(context.Background(), time.Hour)
					l.add("other: %v", err)
				})
				s.AfterFunc(time.Second, func() { panic("boom") })
			},
			want:    "1s other: sim: scheduler stopped",
			wantErr: "panicked: boom",
			wantEnd: time.Second,
		},
		{
			name: "nested Go runs after the spawner yields",
			setup: func(s *Scheduler, l *log) {
				s.Go(func() {
					s.Go(func() { l.add("child") })
					l.add("parent before yield")
					_ = s.Sleep(context.Background(), time.Millisecond)
					l.add("parent after")
				})
			},
			want:    "0s parent before yield\n0s child\n1ms parent after",
			wantEnd: time.Millisecond,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			base := runtime.NumGoroutine()
			s := NewScheduler(t0)
			l := &log{s: s}
			tc.setup(s, l)
			var until time.Time
			if tc.until > 0 {
				until = t0.Add(tc.until)
			}
			err := s.Run(context.Background(), until)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Run: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("Run error = %v, want it to contain %q", err, tc.wantErr)
			}
			if got := l.String(); got != tc.want {
				t.Errorf("log:\n%s\nwant:\n%s", got, tc.want)
			}
			if got := s.Now().Sub(t0); got != tc.wantEnd {
				t.Errorf("end time %s, want %s", got, tc.wantEnd)
			}
			if got := s.ReachedUntil(); got != (tc.until > 0) {
				t.Errorf("ReachedUntil = %v", got)
			}
			checkNoLeak(t, base)
		})
	}
}

func TestSchedulerRunContextCancel(t *testing.T) {
	base := runtime.NumGoroutine()
	s := NewScheduler(t0)
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	var mu sync.Mutex
	s.Go(func() {
		for {
			mu.Lock()
			n++
			if n == 5 {
				cancel() // the driver's ctx, seen at the next yield
			}
			mu.Unlock()
			if err := s.Sleep(context.Background(), time.Second); err != nil {
				return
			}
		}
	})
	err := s.Run(ctx, time.Time{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	if got := s.Now().Sub(t0); got != 4*time.Second {
		t.Errorf("stopped at %s, want 4s", got)
	}
	checkNoLeak(t, base)
}

func TestSchedulerMisuse(t *testing.T) {
	s := NewScheduler(t0)
	if err := s.Sleep(context.Background(), time.Second); !errors.Is(err, ErrNotActor) {
		t.Errorf("Sleep outside an actor = %v, want ErrNotActor", err)
	}
	if err := s.Run(context.Background(), time.Time{}); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if err := s.Run(context.Background(), time.Time{}); !errors.Is(err, ErrRunning) {
		t.Errorf("second Run = %v, want ErrRunning", err)
	}
	defer func() {
		if recover() == nil {
			t.Error("Go after Run did not panic")
		}
	}()
	s.Go(func() {})
}
