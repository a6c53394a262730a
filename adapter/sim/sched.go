package sim

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/callflow/callflow/clock"
)

// Errors of the scheduler.
var (
	// ErrStopped: the scheduler is shutting down (its Run reached its end
	// time, its context ended, or an actor panicked); blocking primitives
	// return it instead of blocking.
	ErrStopped = errors.New("sim: scheduler stopped")
	// ErrNotActor: a blocking primitive was called from a goroutine that is
	// not a scheduler actor (or while Run is not running).
	ErrNotActor = errors.New("sim: blocking call outside a scheduler actor")
	// ErrRunning: Run was called while it runs, or after it returned.
	ErrRunning = errors.New("sim: scheduler already ran")
)

// wakeReason tells a parked actor why it runs again.
type wakeReason int

const (
	wakeStart  wakeReason = iota // first run of a new actor
	wakeTimer                    // its deadline passed
	wakeSignal                   // another activity woke it (may be spurious)
	wakeCtx                      // the context it waits with is done
	wakeStop                     // the scheduler shuts down
)

type actorState int

const (
	stateNew      actorState = iota // created, its goroutine not started yet
	stateRunnable                   // has a valid entry in the heap
	stateRunning                    // the one actor that runs now
	stateBlocked                    // parked in a primitive
	stateDone                       // finished, or cancelled before start
)

type actor struct {
	id     uint64
	fn     func()
	resume chan wakeReason // Run → actor handover; buffered 1
	// The fields below are guarded by Scheduler.mu.
	state   actorState
	gen     uint64          // invalidates older heap entries
	ctx     context.Context // the context it is blocked with (nil: none)
	pending bool            // woken while running: the next park returns at once
}

// entry is a wake-up: actor a runs at (at, seq) if gen still matches.
type entry struct {
	at     time.Time
	seq    uint64
	a      *actor
	gen    uint64
	reason wakeReason
}

type entryHeap []entry

func (h entryHeap) Len() int { return len(h) }
func (h entryHeap) Less(i, j int) bool {
	if !h[i].at.Equal(h[j].at) {
		return h[i].at.Before(h[j].at)
	}
	return h[i].seq < h[j].seq
}
func (h entryHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *entryHeap) Push(x any)   { *h = append(*h, x.(entry)) }
func (h *entryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

// Scheduler is a deterministic, virtual-time clock.Clock. See the package
// documentation for the rules that code running under it must follow.
type Scheduler struct {
	mu      sync.Mutex
	now     time.Time
	seq     uint64
	nextID  uint64
	entries entryHeap
	actors  []*actor // not done, in creation order
	current *actor
	yielded chan struct{} // actor → Run: "I parked or finished"

	running       bool
	finished      bool
	stopping      bool
	stopRequested bool
	reachedUntil  bool
	panics        []error
	onStop        []func()

	wg sync.WaitGroup // actor goroutines
}

var _ clock.Clock = (*Scheduler)(nil)

// NewScheduler returns a scheduler whose virtual time starts at start (UTC).
func NewScheduler(start time.Time) *Scheduler {
	return &Scheduler{now: start.UTC(), yielded: make(chan struct{})}
}

// Now is the current virtual time.
func (s *Scheduler) Now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.now
}

// ReachedUntil reports whether the last Run stopped because virtual time
// would have passed its until argument.
func (s *Scheduler) ReachedUntil() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reachedUntil
}

// OnStop registers f to run once when the scheduler starts shutting down,
// before blocked actors are woken. f runs on Run's goroutine while no actor
// runs; it must not block. The simulated switch uses it to hang up every
// live call.
func (s *Scheduler) OnStop(f func()) {
	s.mu.Lock()
	s.onStop = append(s.onStop, f)
	s.mu.Unlock()
}

// Go runs f as a new actor, runnable at the current virtual time. Calling
// Go after Run has returned is a programming error and panics.
func (s *Scheduler) Go(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.newActorLocked(f, s.now)
}

// AfterFunc runs f as a new actor at now+d. stop cancels it and reports
// whether it did so before f started. Timers still pending when Run shuts
// down never run.
func (s *Scheduler) AfterFunc(d time.Duration, f func()) (stop func() bool) {
	if d < 0 {
		d = 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.newActorLocked(f, s.now.Add(d))
	return func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		if a.state != stateNew {
			return false
		}
		a.state = stateDone
		return true
	}
}

func (s *Scheduler) newActorLocked(f func(), at time.Time) *actor {
	if s.finished {
		panic("sim: Go/AfterFunc after the scheduler's Run returned")
	}
	s.nextID++
	a := &actor{id: s.nextID, fn: f, resume: make(chan wakeReason, 1), state: stateNew}
	s.actors = append(s.actors, a)
	s.pushLocked(at, a, wakeStart)
	return a
}

func (s *Scheduler) pushLocked(at time.Time, a *actor, r wakeReason) {
	s.seq++
	heap.Push(&s.entries, entry{at: at, seq: s.seq, a: a, gen: a.gen, reason: r})
}

// Sleep waits d of virtual time. It returns ctx's error if ctx ends first
// and ErrStopped if the scheduler shuts down. d <= 0 returns ctx.Err()
// without yielding.
func (s *Scheduler) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	deadline := s.Now().Add(d)
	for {
		r, err := s.park(ctx, deadline, true)
		if err != nil {
			return fmt.Errorf("sim: sleep: %w", err)
		}
		switch r {
		case wakeTimer:
			return nil
		case wakeCtx:
			return ctx.Err()
		case wakeStop:
			return ErrStopped
		}
		// wakeSignal: nobody signals a sleeper on purpose; sleep on.
	}
}

// self is the running actor, or nil outside actors.
func (s *Scheduler) self() *actor {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.running {
		return nil
	}
	return s.current
}

// park blocks the running actor until deadline (if hasDeadline), a wake
// from another activity, ctx's end (ctx may be nil) or shutdown. It does
// not yield when the outcome is already known.
func (s *Scheduler) park(ctx context.Context, deadline time.Time, hasDeadline bool) (wakeReason, error) {
	s.mu.Lock()
	a := s.current
	if a == nil || !s.running {
		s.mu.Unlock()
		return 0, ErrNotActor
	}
	switch {
	case s.stopping:
		s.mu.Unlock()
		return wakeStop, nil
	case a.pending:
		a.pending = false
		s.mu.Unlock()
		return wakeSignal, nil
	case ctx != nil && ctx.Err() != nil:
		s.mu.Unlock()
		return wakeCtx, nil
	case hasDeadline && !deadline.After(s.now):
		s.mu.Unlock()
		return wakeTimer, nil
	}
	a.gen++
	a.state = stateBlocked
	a.ctx = ctx
	if hasDeadline {
		s.pushLocked(deadline, a, wakeTimer)
	}
	s.current = nil
	s.mu.Unlock()
	s.yielded <- struct{}{}
	return <-a.resume, nil
}

// wake makes a parked actor runnable now (a spurious wake is harmless:
// every waiter re-checks its condition).
func (s *Scheduler) wake(a *actor) {
	s.mu.Lock()
	s.wakeLocked(a, wakeSignal)
	s.mu.Unlock()
}

func (s *Scheduler) wakeLocked(a *actor, r wakeReason) {
	switch a.state {
	case stateBlocked:
		a.gen++
		a.state = stateRunnable
		a.ctx = nil
		s.pushLocked(s.now, a, r)
	case stateRunning:
		a.pending = true
	}
}

// scanCtxLocked makes blocked actors whose context is done runnable, in
// creation order, and drops finished actors from the list.
func (s *Scheduler) scanCtxLocked() {
	live := s.actors[:0]
	for _, a := range s.actors {
		if a.state == stateDone {
			continue
		}
		live = append(live, a)
		if a.state == stateBlocked && a.ctx != nil && a.ctx.Err() != nil {
			s.wakeLocked(a, wakeCtx)
		}
	}
	clear(s.actors[len(live):])
	s.actors = live
}

// popLocked returns the earliest valid entry.
func (s *Scheduler) popLocked() (entry, bool) {
	for s.entries.Len() > 0 {
		e := heap.Pop(&s.entries).(entry)
		if e.gen != e.a.gen || e.a.state == stateDone {
			continue
		}
		if e.reason == wakeStart && e.a.state != stateNew {
			continue
		}
		return e, true
	}
	return entry{}, false
}

// beginStop switches to shutdown: hooks run, then every blocked actor is
// woken with wakeStop. Called with s.mu held; releases it around hooks.
func (s *Scheduler) beginStopLocked() {
	if s.stopping {
		return
	}
	s.stopping = true
	hooks := s.onStop
	s.onStop = nil
	s.mu.Unlock()
	for _, f := range hooks {
		s.runHook(f)
	}
	s.mu.Lock()
	for _, a := range s.actors {
		if a.state == stateBlocked {
			s.wakeLocked(a, wakeStop)
		}
	}
}

func (s *Scheduler) runHook(f func()) {
	defer func() {
		if r := recover(); r != nil {
			s.mu.Lock()
			s.panics = append(s.panics, fmt.Errorf("sim: stop hook panicked: %v\n%s", r, debug.Stack()))
			s.mu.Unlock()
		}
	}()
	f()
}

// Run drives the simulation from the calling (non-actor) goroutine until
// quiescence (no actor runnable, no wake-up pending), until virtual time
// would pass until (zero: no limit), or until ctx is done. It then shuts
// down: stop hooks run, every blocked primitive returns an error and the
// actors run to their end, one at a time in scheduler order. Run returns
// after every actor goroutine has finished: nil, ctx's error, or the panics
// recovered from actors. Run can be called once.
func (s *Scheduler) Run(ctx context.Context, until time.Time) error {
	s.mu.Lock()
	if s.running || s.finished {
		s.mu.Unlock()
		return ErrRunning
	}
	s.running = true
	var ctxErr error
	for {
		if !s.stopping && ctx.Err() != nil {
			ctxErr = ctx.Err()
			s.beginStopLocked()
		}
		if !s.stopping && s.stopRequested {
			s.beginStopLocked()
		}
		s.scanCtxLocked()
		e, ok := s.popLocked()
		if !ok {
			if s.stopping {
				break
			}
			s.beginStopLocked()
			continue
		}
		if e.at.After(s.now) {
			if s.stopping {
				if e.reason == wakeStart {
					e.a.state = stateDone // a timer that never fires
				}
				continue
			}
			if !until.IsZero() && e.at.After(until) {
				heap.Push(&s.entries, e)
				if until.After(s.now) {
					s.now = until.UTC()
				}
				s.reachedUntil = true
				s.beginStopLocked()
				continue
			}
			s.now = e.at
		}
		a := e.a
		start := a.state == stateNew
		a.state = stateRunning
		a.ctx = nil
		s.current = a
		s.mu.Unlock()
		if start {
			s.wg.Add(1)
			go s.runActor(a)
		} else {
			a.resume <- e.reason
		}
		<-s.yielded
		s.mu.Lock()
		s.current = nil
	}
	s.running = false
	s.finished = true
	panics := s.panics
	s.mu.Unlock()
	s.wg.Wait()
	if len(panics) > 0 {
		return errors.Join(panics...)
	}
	if ctxErr != nil {
		return fmt.Errorf("sim: run: %w", ctxErr)
	}
	return nil
}

// runActor is an actor's goroutine; it ends when a.fn returns (or panics).
func (s *Scheduler) runActor(a *actor) {
	defer s.wg.Done()
	defer func() {
		r := recover()
		s.mu.Lock()
		if r != nil {
			s.panics = append(s.panics, fmt.Errorf("sim: actor %d panicked: %v\n%s", a.id, r, debug.Stack()))
			s.stopRequested = true
		}
		a.state = stateDone
		s.current = nil
		s.mu.Unlock()
		s.yielded <- struct{}{}
	}()
	a.fn()
}
