// Package restart proves that a restarted callflow takes back every call
// it was serving (docs/restart.md): callers waiting in the queue (some in
// the in-queue flow's prompts, some on music), callers with a callback
// reservation open (from the queue and from the IVR), callers in the IVR,
// callbacks registered and waiting, and conversations with agents. The
// service is then (a) killed with SIGKILL and started again, or (b) sent
// SIGTERM, left to drain and exit, and a new process started on the same
// store: a systemd stop and start.
//
// The assertions come from outside the service: the sipp callers (who
// hung up: a caller who hears BYE from the switch was hung up by us), the
// agents' and the customer's sipp phones (INVITEs per callback number),
// the line as GET /v1/queues/support showed it before the restart, and the
// service's trace and metrics after it.
//
// Every test runs on each switch of e2etest.Switches (TestX/asterisk,
// TestX/freeswitch): each subtest starts its own switch under the
// machine-wide switch lock, so run the package on its own,
// go test ./e2e/restart. On FreeSWITCH the callers reach callflow through
// the shipped dialplan's callflow-by-number extension
// (deploy/freeswitch/dialplan/callflow.xml), which marks each call and
// parks it when its socket session ends with the process.
package restart
