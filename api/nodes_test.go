package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
)

func TestNodesRoute(t *testing.T) {
	single := newFixture(t, token)
	if r := single.get(t, "/v1/nodes"); r.status != 404 || r.errCode(t) != "not_found" {
		t.Fatalf("single node: %d %s", r.status, r.body)
	}
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	var fail atomic.Bool
	f := newFixture(t, token)
	h, err := New(Options{Engine: f.eng, Store: f.st, Token: token, Log: zaptest.NewLogger(t),
		Nodes: func(context.Context) (Nodes, error) {
			if fail.Load() {
				return Nodes{}, errors.New("store down")
			}
			return Nodes{Node: "a", LeaseTTLMS: 10000, Nodes: []NodeInfo{
				{ID: "a", StartedAt: at, LastRenewal: at.Add(time.Minute), Alive: true, Takeovers: 1,
					Leases: []LeaseInfo{{Name: "asterisk x", Token: 3, ExpiresAt: at.Add(70 * time.Second)}}},
				{ID: "b", StartedAt: at, LastRenewal: at},
			}}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	f.srv = srv
	if r := f.do(t, "GET", "/v1/nodes", "", "", ""); r.status != 401 {
		t.Fatalf("without token: %d", r.status)
	}
	r := f.get(t, "/v1/nodes")
	if r.status != http.StatusOK {
		t.Fatalf("%d %s", r.status, r.body)
	}
	var got Nodes
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatal(err)
	}
	if got.Node != "a" || len(got.Nodes) != 2 || got.Nodes[0].Leases[0].Token != 3 || got.Nodes[0].Takeovers != 1 ||
		!got.Nodes[0].Alive || got.Nodes[1].Leases == nil || len(got.Nodes[1].Leases) != 0 {
		t.Fatalf("nodes %s", r.body)
	}
	fail.Store(true)
	if r := f.get(t, "/v1/nodes"); r.status != 500 || r.errCode(t) != "internal" {
		t.Fatalf("store down: %d %s", r.status, r.body)
	}
}

func TestStandbyRefusesCallbackChanges(t *testing.T) {
	f := newFixture(t, token)
	var standby atomic.Bool
	standby.Store(true)
	h, err := New(Options{Engine: f.eng, Store: f.st, Token: token, Log: zaptest.NewLogger(t), Standby: standby.Load})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	f.srv = srv
	const body = `{"queue": "sales", "number": "+420601123456"}`
	if r := f.post(t, body); r.status != 503 || r.errCode(t) != "standby" {
		t.Fatalf("create on standby: %d %s", r.status, r.body)
	}
	if r := f.do(t, "DELETE", "/v1/callbacks/1", token, "", ""); r.status != 503 || r.errCode(t) != "standby" {
		t.Fatalf("cancel on standby: %d %s", r.status, r.body)
	}
	standby.Store(false)
	if r := f.post(t, body); r.status != 201 {
		t.Fatalf("create once active: %d %s", r.status, r.body)
	}
}
