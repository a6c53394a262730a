// Package e2e holds the end-to-end tests of the five example experiences:
// real SIP calls from sipp through a real switch to `callflow serve` (a
// subprocess), asserting on the service's trace, its HTTP API and what the
// agents' and customers' phones (sipp UAS) saw. Every test runs on each
// switch of e2etest.Switches as a subtest (TestX/asterisk on Asterisk 22,
// TestX/freeswitch on FreeSWITCH 1.10 with deploy/freeswitch), with the
// same assertions. Each subtest starts its own switch, so only one runs at
// a time (both take the machine-wide switch lock). Asterisk needs root to
// run in its chroot: those subtests fail when Asterisk cannot run and are
// skipped only on CALLFLOW_SKIP_ASTERISK=1 outside CI; the FreeSWITCH ones
// are skipped when FreeSWITCH is not installed, outside CI only
// (internal/asterisktest and internal/fstest decide).
package e2e
