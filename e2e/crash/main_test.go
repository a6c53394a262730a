// Package crash proves that callbacks survive crashes: `callflow serve` is
// killed with SIGKILL at chosen points of a callback's life (config
// faults.kill_after, which only a binary built with -tags faultinject
// accepts: the tests build theirs so; or by the test while the customer's
// phone rings) and started again on the same SQLite store, and the switch
// itself (Asterisk or FreeSWITCH) is restarted under a queue with pending
// callbacks. The assertions come from outside the service: the sipp UAS
// phones of the agent and the customer (INVITEs with From = ANI, To =
// number, Call-ID, arrival time), the switch's channel list sampled during
// the test (how many legs to the customer were up at once), and the
// service's HTTP API (callback state and attempt log).
//
// Every test runs on each switch of e2etest.Switches (TestX/asterisk,
// TestX/freeswitch); each subtest starts its own switch under the
// machine-wide switch lock, so run the package on its own:
// go test ./e2e/crash.
package crash
