// Package store keeps callbacks, their dial attempts and an event log
// durably. Consumers depend on the narrow interface they need (Callbacks
// for the queue engine, Events for anything that only appends to the log);
// DB implements both, on SQLite (the default) or PostgreSQL.
//
// Every state change is an atomic claim: it succeeds only when the callback
// is still in the state the caller saw, so two dispatchers can never both
// dial one callback. Illegal transitions are refused with ErrIllegal, lost
// claims with ErrConflict.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// State is a callback's place in its durable state machine:
//
//	registered → dialing → connected → completed
//	dialing → retry_wait → registered   (same place in line)
//	dialing → registered                (agent did not answer, or interrupted)
//	→ failed, cancelled, expired
type State string

const (
	Registered State = "registered"
	Dialing    State = "dialing"
	Connected  State = "connected"
	Completed  State = "completed"
	RetryWait  State = "retry_wait"
	Failed     State = "failed"
	Cancelled  State = "cancelled"
	Expired    State = "expired"
)

// OpenStates are the states of a callback that is not finished.
var OpenStates = []State{Registered, Dialing, Connected, RetryWait}

// Open reports whether the callback is not finished.
func (s State) Open() bool {
	switch s {
	case Registered, Dialing, Connected, RetryWait:
		return true
	}
	return false
}

var legal = map[State][]State{
	Registered: {Dialing, Failed, Cancelled, Expired},
	Dialing:    {Registered, Connected, RetryWait, Failed},
	Connected:  {Completed},
	RetryWait:  {Registered, Failed, Cancelled, Expired},
}

// Legal reports whether from → to is a transition of the state machine.
func Legal(from, to State) bool {
	for _, s := range legal[from] {
		if s == to {
			return true
		}
	}
	return false
}

// Errors.
var (
	// ErrNotFound: no callback with that id.
	ErrNotFound = errors.New("store: callback not found")
	// ErrIllegal: the transition is not part of the state machine.
	ErrIllegal = errors.New("store: illegal transition")
	// ErrConflict: the callback is no longer in the expected state (someone
	// else claimed it first).
	ErrConflict = errors.New("store: callback not in expected state")
	// ErrNewerSchema: the database was written by a newer version.
	ErrNewerSchema = errors.New("store: database schema is newer than this program")
	// ErrClosed: the store has been closed.
	ErrClosed = errors.New("store: closed")
)

// Callback is one durable callback.
type Callback struct {
	ID    int64
	Queue string
	// Number is the E.164 number to dial.
	Number string
	// ANI is presented to the customer.
	ANI string
	// Media are prompt URIs played to the agent before the customer is dialled.
	Media    []string
	Priority int
	// JoinedAt and Seq are the sort key the caller had in the line.
	JoinedAt time.Time
	Seq      int64
	State    State
	// Attempts is the number of customer attempts made.
	Attempts int
	// NextAt is when a retry_wait callback may be dialled again.
	NextAt              time.Time
	NotBefore, NotAfter time.Time
	CreatedAt           time.Time
	UpdatedAt           time.Time
	// CallerCallID is the call that registered it.
	CallerCallID string
	// Owner is the switch whose node dispatches it: the switch's lease
	// name on nodes that serve different switches on one database
	// (docs/nodes.md), "" for a single node.
	Owner string
}

// Change is what a transition writes besides the state.
type Change struct {
	// At is the time of the transition (updated_at).
	At time.Time
	// Attempts, when non-nil, replaces the attempt count.
	Attempts *int
	// NextAt replaces next_at (zero clears it).
	NextAt time.Time
	// Fence, when set, makes the transition only while the lease is held
	// with its token at At, checked in the same statement (on PostgreSQL
	// the lease row is read FOR SHARE, so a takeover cannot commit in
	// between); otherwise nothing changes and the error is ErrLeaseLost.
	Fence Fence
}

// Leg of an attempt.
const (
	LegAgent    = "agent"
	LegCustomer = "customer"
)

// Attempt is one dialled leg of one callback attempt.
type Attempt struct {
	ID         int64
	CallbackID int64
	// N is the customer attempt this leg belongs to (1-based). A dispatch
	// interrupted by a crash or a lost switch uses up no attempt, but the
	// next dispatch still takes a new N once a customer leg was logged
	// under the old one: one N never dials the customer twice.
	N         int
	Leg       string
	Endpoint  string
	ANI       string
	ChannelID string
	StartedAt time.Time
	EndedAt   time.Time
	Outcome   string
	Cause     string
}

// Event is one line of the append-only event log.
type Event struct {
	At         time.Time
	Kind       string
	Queue      string
	CallbackID int64
	CallID     string
	Detail     map[string]string
}

// Events appends to the event log.
type Events interface {
	AppendEvent(ctx context.Context, ev Event) error
}

// RegisterOutcome tells what Register did.
type RegisterOutcome int

const (
	// Inserted: a new callback was committed.
	Inserted RegisterOutcome = iota + 1
	// Duplicate: an open callback for the same number and queue exists;
	// nothing was written.
	Duplicate
)

// Callbacks is what the queue engine needs.
type Callbacks interface {
	// Register commits a new callback in state registered and returns it
	// with its id, only after the commit is durable. With dedupe, an
	// existing open callback for the same number and queue is returned
	// instead, with Duplicate.
	Register(ctx context.Context, cb Callback, dedupe bool) (Callback, RegisterOutcome, error)
	// FindOpen returns the open callback for number and queue, if any.
	FindOpen(ctx context.Context, queue, number string) (Callback, bool, error)
	// FromCall returns the oldest callback, in any state, that the call
	// callID registered for number in queue, if any. A caller whose flow
	// runs again after a restart (re-adoption) may reach the same
	// register_callback a second time; this is how the engine tells.
	FromCall(ctx context.Context, queue, number, callID string) (Callback, bool, error)
	// Get returns one callback.
	Get(ctx context.Context, id int64) (Callback, error)
	// Transition atomically moves a callback from one state to another.
	Transition(ctx context.Context, id int64, from, to State, ch Change) (Callback, error)
	// StartAttempt records a leg about to be dialled, with the channel id
	// it will get, and returns its id; it is committed before the leg is
	// originated.
	StartAttempt(ctx context.Context, a Attempt) (int64, error)
	// EndAttempt closes a leg with its outcome.
	EndAttempt(ctx context.Context, attemptID int64, at time.Time, channelID, outcome, cause string) error
	// CloseOpenAttempts closes every unfinished leg of a callback (recovery).
	CloseOpenAttempts(ctx context.Context, callbackID int64, at time.Time, outcome string) (int, error)
	// Attempts lists a callback's legs in order.
	Attempts(ctx context.Context, callbackID int64) ([]Attempt, error)
	// ListOpen returns every open callback in line order per queue.
	ListOpen(ctx context.Context) ([]Callback, error)
}

func illegal(from, to State) error {
	return fmt.Errorf("%w: %s → %s", ErrIllegal, from, to)
}
