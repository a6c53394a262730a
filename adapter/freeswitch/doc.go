// Package freeswitch drives FreeSWITCH (1.10) over the Event Socket
// (package esl) and implements the adapter port: Switch, Call and Bridge.
//
// Inbound calls arrive through the dialplan's "socket HOST:PORT async full"
// (an outbound-socket session per call). Per session the driver sends
// linger (bare: FreeSWITCH keeps the socket after the hang-up until we
// exit), myevents, "event plain RECORD_START RECORD_STOP", "nixevent" of
// the types it never waits for (sessionDropped), builds CallInfo
// from the connect reply's channel data (Caller-Caller-ID-Number/-Name,
// Caller-Destination-Number, and Args from the comma-separated channel
// variable callflow_args) and runs the handler; when it returns the call is
// hung up if still up and esl sends exit.
//
// One inbound connection originates ("bgapi originate" with our own
// origination_uuid and Job-UUID) and carries the events of originated
// channels. It subscribes a fixed event list and keeps a placeholder
// "filter Unique-ID callflow-idle-…" so that, as soon as it starts,
// FreeSWITCH sends only the channels we filter for: "filter Unique-ID U"
// is installed before each originate (and "filter Job-UUID J" by esl), and
// removed at CHANNEL_HANGUP_COMPLETE. Operations on originated calls are
// "sendmsg UUID" / "api uuid_…" on that connection.
//
// Every call has one dispatcher goroutine reading its ordered, lossless
// esl.Stream: it tracks answer and hang-up (Hangup-Cause of CHANNEL_HANGUP
// or CHANNEL_HANGUP_COMPLETE, whose duplicate header is read once) and
// hands events to the running operation's unbounded listener. Applications
// run with event-lock and our own Event-UUID; the listener is registered
// before sendmsg, and the operation ends at the CHANNEL_EXECUTE_COMPLETE
// whose Application-UUID is ours. DTMF outside Play with barge-in and
// Gather is discarded, as the port specifies.
//
// Prompts (validated by media.Split, so no value can split an argument):
//
//	sound:NAME      playback NAME, plus ".wav" when the last path segment has
//	                no extension (sound:ivr/ivr-welcome → ivr/ivr-welcome.wav,
//	                resolved by FreeSWITCH against its sound_prefix)
//	recording:NAME  playback RecordDir/NAME.wav
//	digits:D        playback digits/N.wav per key (digits/star.wav, digits/pound.wav)
//	number:N        the say application: "LANG number pronounced N"
//	silence:S       playback silence_stream://MS (S seconds in milliseconds)
//	tone:NAME       playback tone_stream://… for beep, ring, busy, congestion, dial
//
// Play sets playback_terminators to "none", or "any" for barge-in, and
// returns the key whose DTMF event arrived during the prompt. Gather plays
// its prompts with barge-in, then collects DTMF events itself, so the first
// and inter-digit timeouts are exact. Record runs "record PATH MAX_SECONDS
// [200 SILENCE_SECONDS]" with the terminator in playback_terminators, after
// a beep tone; its duration is record_ms (or record_seconds) from the
// completion, else RECORD_START→RECORD_STOP; only wav is recorded. Wait is
// a timer (the channel stays parked). Hangup sends the cause by its
// FreeSWITCH name (see CauseName) and waits for CHANNEL_HANGUP.
//
// Call ids (OriginateRequest.ID, adapter.Attacher): FreeSWITCH takes any
// string as origination_uuid but keeps only 36 characters of it
// (uuid_str[SWITCH_UUID_FORMATTED_LENGTH + 1] in switch_core_session.c;
// not in the captures, which use real UUIDs), and ESL filters read a
// leading '-' or '+' as a modifier. So the channel's Unique-ID is the id
// itself when it has at most 36 characters and starts with a letter or
// digit, else the UUIDv5 of the id in a fixed namespace (channelUUID);
// either way Call.ID() returns the id, and a restarted process finds the
// channel from the id it logged. Every command uses the Unique-ID. An
// originate whose "+OK <uuid>" names another channel (FreeSWITCH refused
// the uuid as a duplicate) kills that channel and fails. Attach asks
// "api uuid_exists U", then watches the channel and installs "filter
// Unique-ID U", then reads "api uuid_dump U" (Answer-State answered,
// ringing/early, hangup): the state is read after the events are watched,
// so nothing racing the attach is missed. The attached call is controlled
// like an originated one, through the inbound connection.
//
// Re-adoption (adapter.Adopter, adopt.go): the shipped dialplan marks each
// call it hands over with callflow_inbound=true and parks it after
// "socket", so a call outlives its session when the process exits.
// Survivors lists "show channels as json" and keeps the channels no call
// or session of this process holds whose uuid_dump carries the mark.
// Adopt controls such a call through the inbound connection like an
// attached one (watch, "filter Unique-ID U", uuid_dump, then
// "uuid_break U all" to stop what it still plays for the old process),
// with Direction Inbound and Args from callflow_args; the call is hung up
// (uuid_kill) when the handler returns.
//
// Originate ends the ring itself at exactly OriginateRequest.Timeout
// ("uuid_kill U NO_ANSWER", then ErrNoAnswer): FreeSWITCH compares
// originate_timeout in whole epoch seconds and gives up anywhere in
// (T-1 s, T], so it is sent as ceil(T)+1 and never fires first.
// Otherwise Originate waits for the BACKGROUND_JOB: "+OK" is an answered call
// (ignore_early_media=true), "-ERR USER_BUSY" ErrBusy, NO_ANSWER,
// NO_USER_RESPONSE, PROGRESS_TIMEOUT or ORIGINATOR_CANCEL ErrNoAnswer,
// every other cause ErrFailed; a cancelled ctx kills the channel
// (uuid_kill U ORIGINATOR_CANCEL). Caller ID numbers must be '+' and
// digits; caller names pass esl.SanitizeValue; everything goes through
// esl.VarBlock / esl.Originate, so a hostile name cannot add a variable,
// an argument or a command.
//
// Bridges: FreeSWITCH has no bridge object, so bridges live here. Holding:
// the member stays parked and hears "uuid_broadcast U MUSIC aleg"
// (Config.HoldMusic, or local_stream://CLASS); an operation on a holding
// member stops the music with "uuid_break U all" and restarts it after.
// Mixing joins two calls with "uuid_bridge A B" after setting
// hangup_after_bridge=false and park_after_bridge=true on both legs, so the
// one left behind when its peer hangs up is parked, not hung up (FreeSWITCH's
// default is to hang up the other leg); Remove parks the call (uuid_park).
// A mixing bridge holds at most two calls.
//
// Timeouts: a command that times out on an inbound connection closes and
// redials it (package esl); one that times out on an outbound session is a
// fault: it is logged and counted (Faults), and the channel is
// killed through the inbound connection (uuid_kill U
// NORMAL_TEMPORARY_FAILURE); the operation's error wraps esl.ErrTimeout and
// adapter.ErrHangup. After a redial, answered originated channels that
// uuid_exists no longer finds are marked hung up (cause normal); an
// Originate still waiting for its BACKGROUND_JOB reads its channel with
// uuid_dump and takes an answered one (docs/connection-loss.md).
//
// FreeSWITCH behaviours relied on (the first eight are in the 1.10.12
// transcripts of esl/testdata; the rest are exercised by the conformance
// suite on a real FreeSWITCH, TestRealFreeSWITCH):
//   - replies precede the events they cause; EXECUTE_COMPLETE carries our
//     Event-UUID as Application-UUID; myevents lacks RECORD_*;
//   - a bare linger never closes the socket: we send exit;
//   - a Job-UUID header on bgapi is honoured; with filters active only
//     filtered events arrive (hence the Job-UUID and Unique-ID filters);
//   - CHANNEL_HANGUP precedes the EXECUTE_COMPLETE of an interrupted
//     application: an application completing after it is reported with
//     ErrHangup;
//   - "-ERR CAUSE" bodies of a failed originate, sync or background;
//   - the linger notice carries the channel name raw, and a SIP caller's
//     holds its unescaped From user (newlines too): esl reads that header
//     as the session's known name (outbound-socket-hostile-caller.txt);
//   - originate_timeout ends the ring at a whole-second boundary, and
//     "uuid_kill U NO_ANSWER" of a ringing originate makes its job
//     "-ERR NO_ANSWER" at once (originate-ring-timeout.txt);
//   - without divert_events, DTMF events precede the completion of the
//     application that consumed them;
//   - playback, say and record stop at a key in playback_terminators
//     ("any" = every key) and fire the DTMF event as the key is read;
//   - uuid_break all stops an endless local_stream broadcast;
//   - park_after_bridge=true parks a uuid_bridge leg whose peer hung up,
//     and the outbound session keeps control of it (async full);
//   - the record application sets record_ms/record_seconds.
package freeswitch
