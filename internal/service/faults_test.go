//go:build faultinject

package service

import (
	"testing"

	"github.com/callflow/callflow/config"
	"github.com/callflow/callflow/trace"
)

func TestKillSink(t *testing.T) {
	ev := func(source, kind string) trace.Event { return trace.Event{Source: source, Kind: kind} }
	stream := []trace.Event{
		ev("queue", "registered"), ev("callback", "dialing_agent"), ev("callback", "dialing_customer"),
		ev("callback", "dialing_agent"), ev("callback", "connected"),
	}
	tests := []struct {
		name     string
		faults   config.FaultsConfig
		wantKill int // index of the event after which kill runs; -1: never
	}{
		{name: "off", faults: config.FaultsConfig{}, wantKill: -1},
		{name: "first occurrence", faults: config.FaultsConfig{KillAfter: "callback.dialing_agent", Count: 1}, wantKill: 1},
		{name: "second occurrence", faults: config.FaultsConfig{KillAfter: "callback.dialing_agent", Count: 2}, wantKill: 3},
		{name: "kind of another source", faults: config.FaultsConfig{KillAfter: "flow.registered", Count: 1}, wantKill: -1},
		{name: "never reached", faults: config.FaultsConfig{KillAfter: "callback.connected", Count: 2}, wantKill: -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &trace.Recorder{}
			killedAt := -1
			s := KillSink(tc.faults, rec, func(trace.Event) { killedAt = len(rec.Events()) - 1 })
			for _, e := range stream {
				s.Emit(e)
			}
			if killedAt != tc.wantKill {
				t.Fatalf("killed after event %d, want %d", killedAt, tc.wantKill)
			}
			if n := len(rec.Events()); n != len(stream) {
				t.Fatalf("next saw %d events, want %d", n, len(stream))
			}
		})
	}
}
