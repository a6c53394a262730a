// Package asterisk drives Asterisk 22 over ARI (package ari) and implements
// the adapter port: Switch, Call and Bridge.
//
// Inbound calls arrive as StasisStart of the application named in the ARI
// config (the dialplan's Stasis(callflow,<args>)); Serve runs the handler on
// a goroutine of its own for each. Channels this package originates carry
// OriginateMarker as their Stasis argument so they are never taken for
// inbound calls.
//
// Every Call owns one ordered, lossless event subscription on its channel
// and one dispatcher goroutine that reads it: the dispatcher tracks the
// hang-up (ChannelHangupRequest, StasisEnd, ChannelDestroyed) and hands the
// other events to the operation that is running (Play, Gather, Record).
// DTMF that arrives while no Play with barge-in or Gather runs is discarded,
// as the port specifies. Playback ids and recording names are chosen here and
// subscribed to before the request is sent.
//
// Decisions:
//   - Shutdown: when Serve's context ends, every handler's context ends; a
//     handler that returns leaves its inbound call hung up (normal clearing),
//     as after any handler. A channel left in a Stasis application nobody
//     drives would keep its caller in dead air, so calls are not left with
//     Asterisk. Calls returned by Originate belong to their owner.
//   - Reconnect: after the websocket comes back, calls whose channels
//     Asterisk no longer lists are marked hung up with cause normal (the
//     real cause was lost with the connection). A Play running across the
//     outage re-checks its playback; an Originate whose StasisStart or
//     ChannelDestroyed was lost looks its channel up. A request that could
//     not reach Asterisk waits for the reconnect and is sent again
//     (DefaultRetryWhileDown; docs/connection-loss.md).
//   - MaxDuration: Asterisk enforces a recording's limit only as audio
//     frames arrive, so a silent caller or a loaded machine overruns it;
//     Record stops the recording itself just past the limit and waits
//     RecordGrace at most for its RecordingFinished.
//   - An originated channel that enters Stasis with no Originate waiting for
//     it (the process restarted while it rang) is kept for OrphanGrace so
//     the queue engine's start-up reconciliation can Attach it (Switch
//     implements adapter.Attacher); unclaimed, it is hung up: nobody can
//     drive it, and a new, logged attempt may call again.
//   - OriginateRequest.ID becomes the channel id, so the engine can log it
//     before the channel exists.
//   - silence:N is played as sound:silence/N files of 1..10 s each, so
//     longer silences are split, not cut.
package asterisk
