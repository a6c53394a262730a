// Package connloss proves that callflow rides out the loss of its control
// connection to the switch without a restart (docs/connection-loss.md):
// Asterisk's ARI (REST and the event websocket) or FreeSWITCH's inbound
// event socket is cut in the middle of the load by a TCP proxy
// (internal/tcpproxy) that resets every connection and refuses new ones
// for a few seconds, then lets them through again. The switch and every
// call on it stay up meanwhile.
//
// The population at the cut: a conversation with an agent, callers waiting
// in the queue (some in the in-queue flow's prompts, some on music) while
// a busy agent is offered calls, callers in the IVR whose prompt is asked
// for during the cut, and callbacks waiting in the line; one more caller
// dials while the connection is cut. After the restore the driver
// reconnects and re-syncs, and the test asserts from outside the service:
// every caller is offered an agent, in line order; nobody is hung up by
// callflow (every sipp caller hangs up itself); every callback is dialled
// and completed once; the conversation is completed once.
//
// Each subtest starts its own switch and takes the machine-wide switch
// lock (as in e2e), so only one switch runs at a time.
package connloss
