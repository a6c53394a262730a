// Package switchtest is the conformance suite every switch driver passes:
// the simulator (adapter/sim), Asterisk (adapter/asterisk) and FreeSWITCH
// (adapter/freeswitch) run the same cases against the same expectations.
//
// The far ends of a call differ per switch (a sim scenario, sipp processes,
// an ESL test server), so a case is declarative: its inbound callers are
// timelines of Steps (Pause, DTMF, Audio, Hangup) that start when the call
// is answered; its agents and customers are Parties that answer, are busy
// or do not answer. A Harness turns those into whatever plays the far ends
// on its switch, serves the inbound calls with the case's Handler, and
// returns a Result: what the handler recorded through Env.Record and what
// the far ends saw (who hung up, with which cause, the From and To of every
// call an agent or customer received).
//
// Run runs every case of Cases as a subtest:
//
//	func TestConformance(t *testing.T) { switchtest.Run(t, switchtest.NewSim(zaptest.NewLogger(t))) }
//
// Timings: a Result carries its harness's Tolerance. The simulator is exact
// (Tolerance 0) and its durations equal the script's; on a real switch the
// checks compare durations only within the tolerance, and never pin the
// length of a real prompt.
//
// Timelines: a caller's steps count from the moment the call is answered
// (the sim harness assumes the handler answers at once, which every case
// does). A timeline that does not end with Hangup keeps the caller on the
// line until the switch hangs up. Digits of one DTMF step are DigitGap
// apart. Agents are addressed by index (Env.AgentEndpoint(0) is the first
// Party of Case.Agents); customers by their E.164 number through the
// harness's trunk (Env.CustomerEndpoint).
package switchtest
