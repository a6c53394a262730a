package asterisk

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/callflow/callflow/adapter"
	"github.com/callflow/callflow/ari"
	"github.com/callflow/callflow/internal/sipptest"
)

func TestCheckID(t *testing.T) {
	tests := []struct {
		name, id string
		ok       bool
	}{
		{name: "engine id", id: "cb-12-a3-customer", ok: true},
		{name: "dots and underscores", id: "a.b_c", ok: true},
		{name: "empty", id: ""},
		{name: "slash", id: "a/b"},
		{name: "space", id: "a b"},
		{name: "too long", id: string(make([]byte, 65))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := checkID(tc.id); (err == nil) != tc.ok {
				t.Errorf("checkID(%q) = %v, want ok %v", tc.id, err, tc.ok)
			}
		})
	}
}

func TestEndpointOf(t *testing.T) {
	tests := []struct{ name, channel, endpoint, dialed string }{
		{name: "agent", channel: "PJSIP/agent1-0000002a", endpoint: "PJSIP/agent1", dialed: "agent1"},
		{name: "trunk", channel: "PJSIP/customer-00000003", endpoint: "PJSIP/customer", dialed: "customer"},
		{name: "no suffix", channel: "PJSIP/x", endpoint: "PJSIP/x", dialed: "x"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := endpointOf(tc.channel); got != tc.endpoint {
				t.Errorf("endpointOf(%q) = %q, want %q", tc.channel, got, tc.endpoint)
			}
			if got := dialedOf(tc.channel); got != tc.dialed {
				t.Errorf("dialedOf(%q) = %q, want %q", tc.channel, got, tc.dialed)
			}
		})
	}
}

// TestAttachRinging attaches a leg another "process" originated while it
// rings, hangs it up, and finds it gone afterwards.
func TestAttachRinging(t *testing.T) {
	a, sw := env(t)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	u, err := sipptest.StartUAS(ctx, sipptest.UASOptions{Port: a.AgentPorts[3], Mode: sipptest.NoAnswer, Calls: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Stop()
	id := ari.NewID("attach-ring-")
	done := make(chan error, 1)
	go func() {
		_, err := sw.Originate(ctx, adapter.OriginateRequest{ID: id, Endpoint: "PJSIP/agent4", CallerID: "100", Timeout: 20 * time.Second, Tag: "agent"})
		done <- err
	}()
	if _, err := u.WaitCalls(ctx, 1); err != nil {
		t.Fatal(err)
	}
	// The Originate above registers its call only on answer, so Attach
	// looks the ringing channel up as a restarted process would.
	c, err := sw.Attach(ctx, id)
	if err != nil {
		t.Fatalf("attach ringing leg: %v", err)
	}
	if c.ID() != id {
		t.Errorf("attached id %q, want %q", c.ID(), id)
	}
	if err := c.Hangup(ctx, adapter.CauseNormal); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("originate answered after the ringing leg was hung up")
		}
		t.Logf("originate after hang-up: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("originate still waiting 10 s after its leg was hung up")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := sw.Attach(ctx, id)
		if errors.Is(err, adapter.ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("attach after hang-up: %v, want ErrNotFound", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := sw.Attach(ctx, "no-such-channel"); !errors.Is(err, adapter.ErrNotFound) {
		t.Errorf("attach unknown: %v, want ErrNotFound", err)
	}
}

// TestAttachOrphan: a leg placed by a previous process answers with nobody
// waiting; it is kept for the grace period and Attach takes it over.
func TestAttachOrphan(t *testing.T) {
	a, sw := env(t)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	u, err := sipptest.StartUAS(ctx, sipptest.UASOptions{Port: a.AgentPorts[2], Mode: sipptest.Answer, Calls: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Stop()
	id := ari.NewID("attach-orphan-")
	// Placed around the driver, as the crashed process had done.
	if _, err := sw.client.Originate(ctx, ari.OriginateRequest{Endpoint: "PJSIP/agent3", AppArgs: OriginateMarker, CallerID: "100", ChannelID: id}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		sw.mu.Lock()
		_, parked := sw.orphans[id]
		sw.mu.Unlock()
		if parked {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("answered orphan was not parked")
		}
		time.Sleep(50 * time.Millisecond)
	}
	c, err := sw.Attach(ctx, id)
	if err != nil {
		t.Fatalf("attach orphan: %v", err)
	}
	if _, err := c.Play(ctx, []adapter.Prompt{"tone:beep"}, adapter.PlayOptions{}); err != nil {
		t.Errorf("play to the attached orphan: %v", err)
	}
	if err := c.Wait(ctx, 200*time.Millisecond); err != nil {
		t.Errorf("attached orphan not up: %v", err)
	}
	if err := c.Hangup(ctx, adapter.CauseNormal); err != nil {
		t.Fatal(err)
	}
}
