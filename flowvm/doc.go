// Package flowvm loads, checks, compiles and runs call flows.
//
// # Flow files
//
// A flow is one YAML file. Its name is the file's base name (an optional
// "flow:" key must repeat it); other flows are found by name as
// <name>.yaml in the same directory.
//
//	flow: main              # optional
//	start: welcome          # the first notation
//	resume: menu            # optional: where a restarted callflow takes a caller in this flow back (default: start)
//	in_queue: false         # true: an in-queue flow (checked as entered live in a queue)
//	vars:                   # user variables with literal initial values; their type is the value's
//	  attempts: 0
//	notations:
//	  welcome:
//	    type: play
//	    prompts: ["sound:welcome"]
//	    next: menu          # shorthand for exits: {next: menu}
//
// Every notation has a type, typed parameters and named exits wired in an
// "exits" mapping (exit → notation id of the same flow). An exit left
// unwired ends the flow when taken: a sub-flow returns to its caller, the
// entry flow ends the run (the switch driver hangs up), an in-queue flow
// leaves the caller on music. An unwired "error" exit is different: an
// I/O error there fails the run (the call is hung up with cause failure).
// Exits marked required below must be wired. A hang-up by the caller ends
// the run wherever it is.
//
// # Expressions and templates
//
// Conditions and values are expressions of github.com/expr-lang/expr,
// type-checked at load time against these variables:
//
//	caller.number, caller.name   string   the caller's ID
//	call.id                      string
//	dnis                         string   the number the caller dialled
//	args                         []string hand-over arguments
//	queue.name                   string   the queue the caller is in (or reserved in)
//	queue.position               int      1 = next; 0 = no entry
//	queue.ewt                    int      estimated wait in seconds
//	digits                       string   last digits from play (barge-in), gather or menu
//	recording                    string   last recording as prompt recording:NAME
//	recording_duration           int      its length in seconds
//	number_type, number_region   string   set by validate_number when valid
//	number_reason                string   set by validate_number when invalid
//	callback_id                  string   set by register_callback
//
// plus user variables from "vars", "set", and the "into" parameters of
// gather and validate_number (strings). A set target that is declared
// nowhere else takes the type of its expression. Variables are shared by
// a run's flows: sub-flows and the in-queue flow see and change the same
// ones. The builtin now() is disabled: time comes from the service clock
// (not_before/not_after are offsets from now).
//
// Templates (prompts, messages, endpoints) are literal text with ${expr}
// parts whose values are strings or numbers; "$${" is a literal "${".
//
// # Durations
//
// Every duration written in YAML — a notation's duration parameter here,
// the service configuration (max_wait, media.keep, …) and simulator
// scenarios (at, talk, …) — has one grammar, implemented once in
// internal/duration:
//
//   - a plain number is seconds, fractions allowed: 30, 1.5, 0 ("30"
//     quoted means the same);
//   - anything else is a Go duration: 500ms, 30s, 1m30s, 2h, 720h (units
//     ns, us, ms, s, m, h; there is no day unit);
//   - negative values and values over 1,000,000,000 seconds are errors.
//
// Zero is a valid duration; a parameter that needs a positive one (wait's
// duration) says so. Expressions that compute a time at run time
// (register_callback's not_before, not_after) take a duration value or
// an int of seconds.
//
// # Checks
//
// Load reports every problem at once as file:line:col: message: YAML
// syntax, unknown notations, missing, unknown or mistyped parameters,
// missing required exits, exits to unknown notations, unreachable
// notations, unknown flows, sub-flow cycles, expression type errors, and
// the callback reservation lifecycle: the validator follows every exit as
// possible and tracks whether a reservation (start_callback) is open,
// through call/return. register_callback and decline_callback reachable
// without a prior start_callback, start_callback with one already open,
// and queue, dial, hangup or the end of an entry or in-queue flow reached
// with one open are errors. A queue inside an in-queue flow is an error;
// start_callback outside a queue needs its queue parameter.
//
// # Running
//
// Program.Run runs the entry flow on a call. Every step emits a trace
// event (kind = notation type, pos = file:line:col, text "<id> → <exit>",
// details as attributes). Steps since the last real blocking count against
// a budget (Runtime.MaxSteps, default 10000) that a goto loop exceeds: only
// a notation that waits for the caller or for time (play, gather, menu,
// record, dial, queue, wait, announce_*) and ends without error resets it;
// answer, hangup and the callback notations count as steps; a panic in a
// notation becomes a positioned error and the call is hung up.
//
// # Notation reference
//
// announce_position
//
// Speaks the caller's position in the queue line: sound:queue-youarenext when first, else sound:queue-thereare, number:N, sound:queue-callswaiting. Says nothing without a queue entry.
//
// Parameters:
//
//   - prompts (list of prompt templates): prompts instead of the default (may use ${queue.position})
//
// Exits:
//
//   - next
//
// announce_wait
//
// Speaks the estimated wait rounded up to minutes: sound:queue-holdtime, number:M, sound:queue-minutes. Says nothing without a queue entry or an estimate.
//
// Parameters:
//
//   - prompts (list of prompt templates): prompts instead of the default (may use ${queue.ewt})
//
// Exits:
//
//   - next
//
// answer
//
// Answers the call (a no-op when it is answered already).
//
// Exits:
//
//   - next: the call is answered
//
// branch
//
// Takes the exit of the first condition that holds (when_1, when_2, …), else default.
//
// Parameters:
//
//   - conditions (list of {when, goto}, required): list of {when: bool expression, goto: notation id}
//
// Exits:
//
//   - when_<n>: condition n holds
//   - default (required): no condition holds
//
// call
//
// Runs another flow (file <flow>.yaml) as a sub-flow with the same variables; its end or return continues at next.
//
// Parameters:
//
//   - flow (flow name, required): sub-flow name
//
// Exits:
//
//   - next: the sub-flow returned
//
// decline_callback
//
// Makes the reserved entry live again at the same place (back to music inside a queue; not when next is a hangup, which follows at once).
//
// Exits:
//
//   - next
//   - error
//
// dial
//
// Calls an endpoint and connects the caller to it in a mixing bridge until one side hangs up. After the far end hangs up the flow continues at answered.
//
// Parameters:
//
//   - endpoint (template, required): switch endpoint, e.g. PJSIP/agent1 or PJSIP/${number}@trunk
//   - caller_id (template): caller ID presented (default: the caller's number)
//   - timeout (duration, default 30s): how long it may ring
//
// Exits:
//
//   - answered (required): the far end answered, talked and hung up
//   - busy
//   - no_answer
//   - failed
//
// gather
//
// Plays prompts (with barge-in) and collects DTMF digits into `digits` (and `into`). An attempt that collects fewer than min_digits is repeated, up to attempts in all.
//
// Parameters:
//
//   - prompts (list of prompt templates): prompts played before each attempt
//   - min_digits (int, default 1): fewest digits accepted
//   - max_digits (int, default 20): collection stops at this many digits
//   - terminator (one of "#", "*", "", default "#"): digit that ends collection early ("" = none)
//   - first_timeout (duration, default 5s): wait for the first digit
//   - inter_digit_timeout (duration, default 3s): wait between digits
//   - attempts (int, default 1): tries in all
//   - into (variable name): string variable that also receives the digits
//
// Exits:
//
//   - next: at least min_digits collected
//   - timeout: nothing pressed in the last attempt
//   - invalid: fewer than min_digits in the last attempt
//
// goto
//
// Continues at another notation of the same flow.
//
// Parameters:
//
//   - target (notation id, required): notation id (exit next)
//
// Exits:
//
//   - next: wired by target
//
// hangup
//
// Hangs the call up with a cause and ends the run. It has no exits.
//
// Parameters:
//
//   - cause (one of "normal", "busy", "no_answer", "rejected", "unallocated", "congestion", "failure", default "normal"): hang-up cause (Q.850 name)
//
// Exits: none.
//
// log
//
// Writes a message to the service log (and the trace).
//
// Parameters:
//
//   - message (template, required): the message, a template
//   - level (one of "debug", "info", "warn", "error", default "info"): log level
//
// Exits:
//
//   - next
//
// menu
//
// Plays a prompt and reads one digit; each option digit is an exit option_<digit>. A wrong digit plays invalid_prompt and asks again, as does silence, up to retries more times.
//
// Parameters:
//
//   - prompt (list of prompt templates, required): prompts of the menu
//   - options (map digit → notation id, required): digit → notation id
//   - timeout (duration, default 5s): wait for the digit after the prompt
//   - retries (int, default 2): repeats after a wrong digit or silence
//   - invalid_prompt (list of prompt templates): played after a wrong digit
//
// Exits:
//
//   - option_<digit>: that digit was pressed
//   - invalid: the last try got a digit that is no option
//   - timeout: the last try got no digit
//
// play
//
// Plays prompts. With barge_in a digit pressed during them stops the playback and is stored in `digits`.
//
// Parameters:
//
//   - prompts (list of prompt templates, required): prompt URIs (sound:, number:, digits:, recording:, silence:, tone:) as templates
//   - barge_in (bool, default false): stop at the first digit and store it in digits
//
// Exits:
//
//   - next: the prompts ended (or a digit stopped them)
//
// queue
//
// Puts the caller into a queue (holding bridge, music) and runs the in-queue flow on the same call and variables while the caller waits. The in-queue flow ends by itself or when an agent answers.
//
// Parameters:
//
//   - queue (string, required): queue name
//   - in_queue (flow name): in-queue flow (default: the queue's configured one)
//   - priority (int, default 0): higher is served first
//   - max_wait (duration, default 0s): overrides the queue's max wait (0 = the queue's)
//
// Exits:
//
//   - connected (required): an agent talked with the caller, who is still there
//   - callback (required): a callback was registered and the in-queue flow ended
//   - timeout (required): max wait passed
//   - full: the queue's max_entries was reached
//   - error: the queue engine failed
//
// record
//
// Records the caller into the media store as <call id>-<notation id>-<n>. Sets recording to the playable prompt recording:NAME and recording_duration to whole seconds.
//
// Parameters:
//
//   - max_length (duration, default 1m0s): longest recording
//   - beep (bool, default true): beep before recording
//   - terminator (one of "#", "*", "", default "#"): digit that stops the recording ("" = none)
//   - silence_timeout (duration, default 0s): stop after this much silence (0 = off)
//   - format (one of "wav", "gsm", "ulaw", "alaw", "sln", default "wav"): file format
//
// Exits:
//
//   - next: recorded
//   - error: the switch could not record
//
// register_callback
//
// Turns the reservation into a durable callback keeping its place; committed before registered is taken. Sets callback_id. duplicate, invalid and error leave the reservation open.
//
// Parameters:
//
//   - number (expression of string): number to call back (default caller.number)
//   - queue (string): queue (default: the reservation's)
//   - ani (template): caller ID shown to the customer (default: the queue's)
//   - media (list of prompt templates): prompts played to the agent first, e.g. [sound:callback-whisper, ${recording}]
//   - not_before (expression of duration or int seconds): earliest dial time as an offset from now (duration or seconds)
//   - not_after (expression of duration or int seconds): latest dial time as an offset from now (duration or seconds)
//   - priority (int): overrides the entry's priority
//
// Exits:
//
//   - registered (required): committed; the reservation is closed
//   - duplicate (required): an open callback for this number and queue exists
//   - invalid (required): the number fails the queue's number policy
//   - error: storage or engine failure
//
// return
//
// Ends the current flow: a sub-flow returns to its caller's next; the entry flow ends the run; an in-queue flow leaves the caller on music.
//
// Exits: none.
//
// set
//
// Assigns variables from expressions, in order. A variable not declared elsewhere takes its expression's type.
//
// Parameters:
//
//   - vars (map variable → expression, required): variable → expression
//
// Exits:
//
//   - next
//
// start_callback
//
// Turns the caller's queue entry into a reserved entry that keeps its place (music stops). Outside a queue it takes a new reserved place in the named queue.
//
// Parameters:
//
//   - queue (string): queue (required outside a queue)
//
// Exits:
//
//   - next: the reservation is open
//   - error: no reservation
//
// validate_number
//
// Checks a phone number against a number policy and normalises it to E.164. Sets number_type and number_region (valid) or number_reason (invalid: unparsable, invalid, region, type, prefix).
//
// Parameters:
//
//   - number (expression of string): the number (default caller.number)
//   - default_region (string): ISO 3166 region for national numbers, e.g. CZ
//   - allowed_regions (list of strings): regions allowed (empty = any)
//   - allowed_types (one of "fixed_line", "fixed_line_or_mobile", "mobile", "pager", "personal_number", "premium_rate", "shared_cost", "toll_free", "uan", "unknown", "voicemail", "voip"): types allowed (empty = any not denied)
//   - denied_types (one of "fixed_line", "fixed_line_or_mobile", "mobile", "pager", "personal_number", "premium_rate", "shared_cost", "toll_free", "uan", "unknown", "voicemail", "voip"): types refused (absent = premium_rate, shared_cost, unknown)
//   - denied_prefixes (list of strings): E.164 prefixes refused, e.g. +882
//   - into (variable name): string variable receiving the E.164 number
//
// Exits:
//
//   - valid (required): the number passes the policy
//   - invalid (required): it does not
//
// wait
//
// Waits (the caller hears silence, or music when in a queue's holding bridge).
//
// Parameters:
//
//   - duration (duration, required): how long to wait
//
// Exits:
//
//   - next: the time passed
//
// (end of reference)
package flowvm
