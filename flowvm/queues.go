package flowvm

import (
	"context"
	"errors"
	"time"

	"github.com/callflow/callflow/adapter"
)

// DeclineOptions tells DeclineCallback what the flow does right after.
type DeclineOptions struct {
	// HangupNext: the flow hangs the caller up next (decline_callback's
	// next exit is a hangup notation). The place is given back as by any
	// decline, but the caller is not put back into the holding bridge only
	// to leave it a moment later: that join and leave made the switch work
	// harder than the rest of such a caller's wait (docs/performance.md).
	HangupNext bool
}

// Queues is what the VM needs from the queue and callback engine. The
// engine (package queue) implements it; the VM never sees lines, agents or
// storage.
//
// All methods identify the caller by its adapter.Call; a call has at most
// one entry in one queue at a time.
type Queues interface {
	// Info reports a configured queue; ok is false for an unknown queue.
	Info(queue string) (info QueueInfo, ok bool)

	// Enter puts the call into the queue's line (or revives the place kept
	// by an earlier start_callback/decline_callback in the IVR) and into the
	// queue's holding bridge with music on hold, then runs req.InQueue while
	// the call waits. It returns when the caller's wait is over:
	//   - Connected: an agent talked with the caller and hung up; the caller
	//     is still there (out of every bridge).
	//   - Callback: a callback was registered and req.InQueue has returned.
	//   - Timeout: the queue's (or req's) max wait passed.
	//   - Full: the queue's max_entries was reached; the call never entered.
	// When an agent answers while req.InQueue runs, the context passed to
	// InQueue is cancelled with cause ErrAgentConnected; InQueue must then
	// return promptly. When InQueue returns early (nil error) with the entry
	// live, the caller stays on music until an agent or the timeout.
	// A caller that hangs up makes Enter return an error wrapping
	// adapter.ErrHangup (counted as an abandon unless a callback was registered).
	Enter(ctx context.Context, call adapter.Call, req EnterRequest) (EnterResult, error)

	// StartCallback turns the call's entry into a reserved entry that keeps
	// its place: the call leaves the holding bridge (music stops). Outside a
	// queue (queue names one) it takes a new reserved place in that queue.
	// queue "" means the queue the call is in.
	StartCallback(ctx context.Context, call adapter.Call, queue string) error

	// DeclineCallback makes the reserved entry live again at the same place:
	// inside Enter the caller goes back into the holding bridge (unless
	// opt.HangupNext); in the IVR the place is kept for the caller's next
	// Enter on that queue.
	DeclineCallback(ctx context.Context, call adapter.Call, opt DeclineOptions) error

	// RegisterCallback turns the reserved entry into a durable callback entry
	// at the same place. It returns only after the callback is committed to
	// storage. Duplicate and Invalid outcomes leave the reservation open.
	RegisterCallback(ctx context.Context, call adapter.Call, req CallbackRequest) (RegisterResult, error)

	// Status reports the call's place in a queue line; ok is false when the
	// call has no entry.
	Status(call adapter.Call) (st QueueStatus, ok bool)

	// Release ends whatever the call still holds (it is ending or has hung
	// up). An open reservation is released and counted as an abandon;
	// abandoned reports that.
	Release(ctx context.Context, call adapter.Call) (abandoned bool)
}

// ErrAgentConnected is the cancel cause of the in-queue flow's context when
// an agent has answered for the caller.
var ErrAgentConnected = errors.New("agent connected")

// ErrNotReserved: decline/register without an open reservation.
var ErrNotReserved = errors.New("no open callback reservation")

// QueueInfo is the part of a queue's configuration the VM uses.
type QueueInfo struct {
	Name string
	// InQueueFlow is the queue's default in-queue flow ("" = none).
	InQueueFlow string
}

// EnterRequest asks to enter a queue.
type EnterRequest struct {
	Queue    string
	Priority int // higher first; 0 is the default
	// MaxWait overrides the queue's max wait (0 = the queue's).
	MaxWait time.Duration
	// InQueue runs the in-queue flow; nil = music only.
	InQueue func(ctx context.Context) error
	// Resume names the queue notation ("flow/notation"): a restarted
	// process runs the caller from it again (Program.Resume).
	Resume string
}

// Outcome is how a wait in a queue ended.
type Outcome int

const (
	Connected Outcome = iota + 1
	Callback
	Timeout
	Full
)

func (o Outcome) String() string {
	switch o {
	case Connected:
		return "connected"
	case Callback:
		return "callback"
	case Timeout:
		return "timeout"
	case Full:
		return "full"
	}
	return "unknown"
}

// EnterResult reports how Enter ended.
type EnterResult struct {
	Outcome Outcome
	Agent   string        // the agent endpoint that talked with the caller
	Waited  time.Duration // time in the line
}

// CallbackRequest describes a callback to register.
type CallbackRequest struct {
	// Number to dial as the caller gave it; the queue's number policy
	// validates and normalises it to E.164.
	Number string
	// Queue to dial from; "" = the queue of the reservation.
	Queue string
	// ANI presented to the customer; "" = the queue's default ANI.
	ANI string
	// Media played to the agent before the customer is dialed.
	Media []adapter.Prompt
	// NotBefore / NotAfter bound when the callback may be dialed (zero = no bound).
	NotBefore, NotAfter time.Time
	// Priority overrides the entry's priority when non-nil.
	Priority *int
}

// RegisterOutcome is the exit register_callback takes.
type RegisterOutcome int

const (
	Registered RegisterOutcome = iota + 1
	Duplicate
	Invalid
)

func (o RegisterOutcome) String() string {
	switch o {
	case Registered:
		return "registered"
	case Duplicate:
		return "duplicate"
	case Invalid:
		return "invalid"
	}
	return "unknown"
}

// RegisterResult reports a registration.
type RegisterResult struct {
	Outcome RegisterOutcome
	ID      string // callback id when Registered (or the existing one when Duplicate)
	E164    string // the normalised number
	Reason  string // why Invalid
}

// QueueStatus is a caller's place in a line.
type QueueStatus struct {
	Queue string
	// Position is 1 + the number of entries ahead (live, reserved, callback).
	Position int
	// EWT is the estimated wait: Position × the queue's mean handle time ÷
	// agents logged in.
	EWT time.Duration
	// Reserved is true while a callback reservation is open.
	Reserved bool
}
