package api

import (
	"context"
	"net/http"
	"time"
)

// Nodes is what GET /v1/nodes shows: this node and every node sharing the
// database, with the leases each holds (docs/nodes.md).
type Nodes struct {
	// Node is the id of the node that answered.
	Node string `json:"node"`
	// LeaseTTLMS is the answering node's lease time in milliseconds.
	LeaseTTLMS int64      `json:"lease_ttl_ms"`
	Nodes      []NodeInfo `json:"nodes"`
}

// NodeInfo is one node.
type NodeInfo struct {
	ID        string    `json:"id"`
	StartedAt time.Time `json:"started_at"`
	// LastRenewal is when the node last wrote its row: at start and with
	// every lease renewal round (a standby renews nothing but still
	// writes it while it waits).
	LastRenewal time.Time `json:"last_renewal"`
	// Alive: LastRenewal is within the answering node's lease time.
	Alive bool `json:"alive"`
	// Takeovers counts the leases the node took from another node.
	Takeovers int64 `json:"takeovers"`
	// Leases are the unexpired leases the node holds.
	Leases []LeaseInfo `json:"leases"`
}

// LeaseInfo is one lease (a switch connection).
type LeaseInfo struct {
	Name      string    `json:"name"`
	Token     int64     `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
}

// NodesFunc reports the nodes; set as Options.Nodes when the service runs
// as one of several nodes.
type NodesFunc func(ctx context.Context) (Nodes, error)

func (h *Handler) listNodes(w http.ResponseWriter, r *http.Request) error {
	if h.opt.Nodes == nil {
		return errf(e404, "not_found", "this callflow runs as a single node (no node section in its configuration)")
	}
	out, err := h.opt.Nodes(r.Context())
	if err != nil {
		return err
	}
	if out.Nodes == nil {
		out.Nodes = []NodeInfo{}
	}
	for i := range out.Nodes {
		if out.Nodes[i].Leases == nil {
			out.Nodes[i].Leases = []LeaseInfo{}
		}
	}
	writeJSON(w, ok200, out)
	return nil
}

// standby refuses a callback change on a standby node: the callbacks are
// the active node's engine's (docs/nodes.md).
func (h *Handler) standby() error {
	if h.opt.Standby != nil && h.opt.Standby() {
		return errf(e503, "standby", "this node is standby for its switch; register and cancel callbacks on the active node (GET /v1/nodes)")
	}
	return nil
}
