// Package sim is callflow's simulated switch: an in-memory adapter.Switch
// driven by a deterministic, virtual-time Scheduler (a clock.Clock). The
// same scenario gives byte-identical traces on every run, on any machine,
// under -race.
//
// # Scheduler
//
// Activities ("actors") are goroutines started by Scheduler.Go and
// Scheduler.AfterFunc (and by the Switch for each caller and DTMF or
// hang-up timer). Exactly one actor runs at a time; the others are parked
// inside the scheduler. Runnable actors resume in order of (wake time,
// sequence number at which they became runnable). When none is runnable,
// virtual time jumps to the earliest pending wake-up; it never moves while
// an actor runs. Whenever an actor yields or ends, blocked actors whose
// context is done are made runnable at the current time, in creation order,
// so cancelling another actor's context and then blocking hands over
// deterministically (contexts are how actors signal each other).
//
// Run drives everything from a non-actor goroutine until quiescence, until
// virtual time would pass its end time, or until its context ends; then it
// shuts down (blocked primitives fail: Sleep with ErrStopped, call
// operations with adapter.ErrHangup, every live call hung up "by sim"),
// lets the actors run to their end and returns once all their goroutines
// have finished. A panic in an actor is recovered and returned by Run.
//
// Rules for code that runs under the scheduler:
//   - block only in Scheduler methods (Sleep) and the sim Switch, Call and
//     Bridge methods; never time.Sleep, time.After, time.Now, timers,
//     context.WithTimeout/WithDeadline, channel or WaitGroup waits on other
//     actors, or a bare go statement (use Go / AfterFunc);
//   - never hold a mutex across a blocking call (one actor runs at a time,
//     so a lock held while parked deadlocks the simulation);
//   - to wake another actor, cancel the context it waits with.
//
// # Switch
//
// New builds a Switch from a Scenario. Serve schedules every caller at its
// start time and returns at once; each caller's handler runs in its own
// actor. Call ids: callers "caller-N" in scenario order (or their id);
// originated legs "<tag>-<n>" (tag "out" by default, n counting per tag),
// or OriginateRequest.ID when set (an id used before fails the originate).
// Switch implements adapter.Attacher: Attach returns a ringing or answered
// call by id (ErrNotFound once it has ended), so crash recovery can be
// tested by leaving legs of a "dead" process on the switch; hanging up an
// attached ringing leg ends its Originate with ErrFailed.
// Prompts last PromptDuration (Options, default 1s), overridden by the
// scenario's prompt_duration, then per URI by its prompts map; "silence:N"
// lasts N seconds unless mapped. Gather timeouts default to 5s when 0.
// Recordings are kept in memory (Switch.Recording); Size is a 44-byte WAV
// header plus 16000 bytes per second.
//
// Every switch operation is written to the trace.Sink (Source
// trace.Switch, At the virtual time): incoming, answer, play, barge-in,
// dtmf, dtmf-ignored, gather, gathered, record, recorded, wait, hangup
// ("<cause> by caller|callee|app|sim"), originate, originate-answered /
// -busy / -no-answer / -failed / -cancelled, bridge-enter, bridge-leave,
// attach ("ringing" or "answered").
//
// # Scenario file
//
// All times are durations in the grammar of flows and the service
// configuration (see flowvm's package doc: a plain number is seconds,
// else a Go duration such as 1.5s or 2m), relative to the switch's
// creation (callers' dtmf and hangup_at: relative to the caller's
// start). Unknown keys are
// errors; every error reads file:line:col: message.
//
//	prompt_duration: 1s                 # optional default for every prompt
//	prompts:                            # optional per-prompt durations
//	  "sound:queue-periodic-announce": 3s
//	callers:
//	  - id: caller-1                    # optional, default caller-N
//	    at: 0s                          # start time
//	    from: "+420601111222"           # caller number (numbers kept as written)
//	    name: "Jan Novak"               # optional caller name
//	    to: "200"                       # dialled number
//	    args: [support]                 # optional hand-over args
//	    dtmf:                           # several digits in one item arrive 250ms apart
//	      - {at: 5s, digits: "1"}
//	      - {at: 9.5s, digits: "420601111222#"}
//	    speak: 4s                       # talk time when recorded (default: until terminator or max)
//	    hangup_at: 60s                  # optional
//	agents:                             # matched by exact endpoint
//	  - endpoint: PJSIP/agent1
//	    answer_after: 2s                # default 2s
//	    talk: 20s                       # default 30s, counted from joining a mixing bridge with another call
//	    behaviour: busy                 # answer (default) | busy | no_answer | fail; in force before the first step
//	    schedule: [{at: 30s, behaviour: answer}]
//	customers:                          # matched when the endpoint contains the number
//	  - number: "+420601111222"
//	    attempts: [no_answer, answer]   # n-th originate uses the n-th, the last repeats
//	    talk: 15s
//
// Busy rejects after 1s, no_answer rings out the request's timeout (default
// 30s), fail rejects at once; an answer_after not shorter than the timeout
// is a no-answer. attempts cannot be combined with behaviour or schedule.
package sim
