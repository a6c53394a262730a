package freeswitch

import (
	"testing"
	"time"
)

// Connected (the service's /healthz) is false before Serve, true once the
// inbound connection is up and the outbound listener open, and false again
// when the event socket goes away (FreeSWITCH stopped: the driver redials).
func TestConnected(t *testing.T) {
	idle, err := New(Config{Inbound: "127.0.0.1:1", Password: "pw", OutboundListen: "127.0.0.1:0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if idle.Connected() {
		t.Error("Connected before Serve")
	}
	e := start(t, nil)
	if !e.sw.Connected() {
		t.Fatal("not Connected after Ready")
	}
	e.srv.Close()
	deadline := time.Now().Add(5 * time.Second)
	for e.sw.Connected() {
		if time.Now().After(deadline) {
			t.Fatal("still Connected 5 s after the event socket closed")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
