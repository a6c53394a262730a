// Package clock abstracts time and concurrency for code that must run both
// in real time and under the simulator's virtual time.
//
// Code that may run under a simulated clock (flow VM, queues, dispatcher)
// gets its time, timers and goroutines only through a Clock: never
// time.Now, time.Sleep, time.After, context.WithTimeout or a bare go
// statement. The simulator runs one activity at a time and advances its
// virtual time when all of them are blocked in a Clock or adapter method.
package clock

import (
	"context"
	"time"
)

// Clock is the source of time, timers and concurrent activities.
type Clock interface {
	// Now is the current time (UTC).
	Now() time.Time
	// Sleep waits d; it returns ctx's error if ctx ends first.
	Sleep(ctx context.Context, d time.Duration) error
	// AfterFunc runs f in its own activity after d; stop cancels it and
	// reports whether it did so before f started.
	AfterFunc(d time.Duration, f func()) (stop func() bool)
	// Go runs f as a new concurrent activity. Every activity must end by
	// itself (its own context or its work finishing).
	Go(f func())
}

// Real is the wall clock.
type Real struct{}

var _ Clock = Real{}

func (Real) Now() time.Time { return time.Now().UTC() }

func (Real) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (Real) AfterFunc(d time.Duration, f func()) func() bool {
	return time.AfterFunc(d, f).Stop
}

func (Real) Go(f func()) { go f() }
