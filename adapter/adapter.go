// Package adapter is the port between callflow's logic (flow VM, queues,
// callbacks) and the switches it drives (Asterisk over ARI, FreeSWITCH over
// ESL, and the in-memory simulator).
//
// A driver implements Switch and hands every inbound call to a Handler as a
// Call. All methods that talk to the switch take a context first and block
// until the operation has finished on the switch (a prompt played out, digits
// collected, a recording stopped). A call that hangs up makes every pending
// and later operation on it return an error wrapping ErrHangup.
//
// Code that runs under the simulator must block only inside methods of this
// package's interfaces or of a clock.Clock: those are the points where the
// simulated switch advances its virtual time.
package adapter

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors. Drivers wrap them with context; callers test with errors.Is.
var (
	// ErrHangup: the call has hung up (or was hung up) before or during the
	// operation.
	ErrHangup = errors.New("call hung up")
	// ErrBusy: an originated call was answered with busy.
	ErrBusy = errors.New("busy")
	// ErrNoAnswer: an originated call was not answered before its timeout.
	ErrNoAnswer = errors.New("no answer")
	// ErrFailed: an originated call failed for another reason (unreachable
	// endpoint, congestion, rejected, bad number).
	ErrFailed = errors.New("call failed")
	// ErrNotFound: the switch does not know the call or bridge.
	ErrNotFound = errors.New("not found")
	// ErrClosed: the connection to the switch is gone.
	ErrClosed = errors.New("switch connection closed")
)

// Prompt is one piece of media as a URI understood by every driver:
//
//	sound:NAME      a sound file of the switch's language pack (e.g. sound:hello-world)
//	recording:NAME  a recording made by Record
//	digits:1234     the digits read one by one
//	number:42       a number spoken as a number
//	silence:2       seconds of silence
//	tone:NAME       a tone (beep)
type Prompt string

// PlayOptions tune Call.Play.
type PlayOptions struct {
	// BargeIn stops the prompts at the first DTMF digit and returns it.
	BargeIn bool
}

// GatherOptions tune Call.Gather.
type GatherOptions struct {
	// Prompts are played first; a digit pressed during them stops them and
	// counts as the first collected digit (barge-in).
	Prompts []Prompt
	// MinDigits and MaxDigits bound the collected digits (MaxDigits >= 1).
	MinDigits, MaxDigits int
	// Terminator ends collection early (e.g. "#"); it is not returned.
	Terminator string
	// FirstTimeout is how long to wait for the first digit after the prompts;
	// InterDigitTimeout how long between digits.
	FirstTimeout, InterDigitTimeout time.Duration
}

// RecordOptions tune Call.Record.
type RecordOptions struct {
	// Name identifies the recording in the media store; unique per recording.
	Name string
	// Format of the stored file, e.g. "wav".
	Format string
	// MaxDuration stops the recording; SilenceTimeout stops it after that
	// much silence (0 = off).
	MaxDuration, SilenceTimeout time.Duration
	// Beep plays a beep before recording starts.
	Beep bool
	// Terminator is the DTMF digit that stops the recording (e.g. "#").
	Terminator string
}

// Recording is a finished recording.
type Recording struct {
	Name     string
	Format   string
	Duration time.Duration
	// Size of the stored audio in bytes, as far as the switch tells.
	Size int64
}

// Prompt returns the recording as playable media.
func (r Recording) Prompt() Prompt { return Prompt("recording:" + r.Name) }

// Direction tells who placed a call.
type Direction int

const (
	Inbound  Direction = iota // the caller called us
	Outbound                  // we originated it
)

func (d Direction) String() string {
	if d == Outbound {
		return "outbound"
	}
	return "inbound"
}

// CallInfo is what the switch told us about a call when it arrived.
type CallInfo struct {
	ID           string
	Direction    Direction
	CallerNumber string // ANI / From user
	CallerName   string
	Dialed       string   // DNIS: the number the caller dialled
	Args         []string // hand-over arguments (Stasis args, socket args)
	Endpoint     string   // for originated calls: the endpoint dialled
}

// Call is one channel under our control. Its methods are safe for use by
// one goroutine (the call's owner) plus Hangup from any goroutine.
type Call interface {
	ID() string
	Info() CallInfo
	// Answer answers an inbound call; answering an answered call is a no-op.
	Answer(ctx context.Context) error
	// Play plays prompts in order. With BargeIn it returns the first digit
	// pressed during them (the rest is not played), else "".
	Play(ctx context.Context, prompts []Prompt, opt PlayOptions) (digit string, err error)
	// Gather plays the prompts (with barge-in) and collects DTMF digits.
	// It returns the digits collected when MaxDigits is reached, the
	// terminator is pressed or a timeout expires; "" when nothing was
	// pressed. Digits pressed while no Play with barge-in or Gather runs
	// are discarded.
	Gather(ctx context.Context, opt GatherOptions) (digits string, err error)
	// Record records the caller's audio into the media store.
	Record(ctx context.Context, opt RecordOptions) (Recording, error)
	// Wait waits for d (d <= 0: until ctx is done). It returns nil after d,
	// ErrHangup if the call hangs up, or ctx's error.
	Wait(ctx context.Context, d time.Duration) error
	// Hangup ends the call with cause; hanging up a gone call is a no-op.
	Hangup(ctx context.Context, cause Cause) error
	// Cause is why the call ended, CauseUnknown while it is up.
	Cause() Cause
}

// OriginateRequest describes an outbound call.
type OriginateRequest struct {
	// Endpoint as the switch knows it: "PJSIP/agent1", "PJSIP/+420…@trunk",
	// "user/1001", "sofia/gateway/trunk/+420…".
	Endpoint string
	// CallerID is the ANI presented to the called party; CallerName its name.
	CallerID, CallerName string
	// Timeout is how long the far end may ring (0 = the driver's default, 30 s).
	Timeout time.Duration
	// Tag names the purpose in logs and traces ("agent", "customer").
	Tag string
	// ID, when set, is the id the new call gets (Asterisk channel id,
	// simulator call id): the caller chooses it so it can be written down
	// before the call exists (the queue engine logs each leg's id before
	// dialling). It must be unique, at most 64 characters of
	// [A-Za-z0-9._-]. Empty: the driver chooses.
	ID string
}

// Attacher is implemented by switches that can take control of a call that
// exists on the switch but not in this process, such as a leg originated by
// a process that crashed. Callers test for it with a type assertion; a
// switch without it cannot tell whether such legs still live.
type Attacher interface {
	// Attach returns the call with the given id as it is now: ringing
	// (originated, not answered yet) or answered. Its events are watched
	// from before the switch is asked, so a hang-up racing the attach is
	// seen. It returns an error wrapping ErrNotFound when the switch has no
	// such call, ErrClosed when the switch cannot be reached. Attaching a
	// call this process already controls returns that call.
	Attach(ctx context.Context, id string) (Call, error)
}

// BridgeKind selects how a bridge mixes media.
type BridgeKind int

const (
	// Holding: a queue's waiting room; members hear music on hold, not each other.
	Holding BridgeKind = iota
	// Mixing: a conversation.
	Mixing
)

func (k BridgeKind) String() string {
	if k == Mixing {
		return "mixing"
	}
	return "holding"
}

// BridgeOptions describe a new bridge.
type BridgeOptions struct {
	Kind BridgeKind
	// Name is a human name for logs and traces (e.g. the queue name).
	Name string
	// MusicClass is the music on hold class for a holding bridge ("default").
	MusicClass string
}

// Bridge joins calls.
type Bridge interface {
	ID() string
	// Add moves the call into the bridge (out of any other bridge).
	Add(ctx context.Context, c Call) error
	// Remove takes the call out of the bridge; removing a call that is not
	// in it, or has hung up, is a no-op.
	Remove(ctx context.Context, c Call) error
	// Destroy removes the bridge; its calls stay up.
	Destroy(ctx context.Context) error
}

// Handler runs an inbound call. ctx ends when the switch connection is shut
// down; the call's own end is seen through ErrHangup. When Handler returns
// the driver hangs the call up if it is still up.
type Handler func(ctx context.Context, c Call)

// Switch is a PBX we drive.
type Switch interface {
	// Name is "asterisk", "freeswitch" or "sim".
	Name() string
	// Serve delivers inbound calls to h, each on its own goroutine, until ctx
	// is done; it returns ctx's error or the error that ended the connection.
	Serve(ctx context.Context, h Handler) error
	// Originate dials an endpoint and returns the call once it is answered,
	// or an error wrapping ErrBusy, ErrNoAnswer or ErrFailed.
	Originate(ctx context.Context, req OriginateRequest) (Call, error)
	// NewBridge creates a bridge.
	NewBridge(ctx context.Context, opt BridgeOptions) (Bridge, error)
}

// Adopter is implemented by switches that can hand over the inbound calls
// a previous process left in the switch, so a restarted callflow takes
// them back (docs/restart.md). Callers test for it with a type assertion.
type Adopter interface {
	// Survivors lists the inbound calls in callflow's application that no
	// handler of this process runs. It waits for the switch connection.
	Survivors(ctx context.Context) ([]CallInfo, error)
	// Adopt takes control of a surviving inbound call and runs h on it as
	// Serve runs a new call's handler: on its own goroutine, the call hung
	// up when h returns. Serve must be running. It returns an error
	// wrapping ErrNotFound when the call is gone.
	Adopt(ctx context.Context, id string, h Handler) error
}

// Mover is implemented by calls that run over a connection that can play,
// collect and record but not bridge (Asterisk FastAGI). The flow VM calls
// Move before a notation that needs a bridge or an originate (queue, dial);
// Move hands the channel to the driver that can, and the same Call then
// goes on there with the same id. Moving a moved call is a no-op.
type Mover interface {
	Move(ctx context.Context) error
}
