package config

import (
	"slices"
	"strings"

	"github.com/goccy/go-yaml/ast"
)

// agents decodes the agents section: agent name → this node's switch
// endpoint for that agent. Nodes serving different switches on one
// database name an agent alike and each dials its own endpoint. The
// result is c.Queue.AgentNames, endpoint → name; queues resolve their
// names against it once the whole file is read (agents may come after
// queues).
func (d *decoder) agents(c *Config, n ast.Node) {
	es, _ := d.entries(n, "agents")
	if d.agentEPs == nil {
		d.agentEPs = map[string]string{}
	}
	names := map[string]string{}
	for _, e := range es {
		d.agentEPs[e.key] = "" // reported unless it turns out well
		if err := checkPlainName(e.key); err != nil {
			d.errorf(e.keyN, "agents: agent name %v", err)
			continue
		}
		if e.value == nil {
			d.errorf(e.keyN, "agents: %s names no endpoint (want a switch endpoint TECH/resource, e.g. PJSIP/%s)", e.key, e.key)
			continue
		}
		ep, ok := d.scalar(e.value, "agents: "+e.key)
		if !ok {
			continue
		}
		if err := checkEndpoint(ep); err != nil {
			d.errorf(e.value, "agents: %s: %v", e.key, err)
			continue
		}
		if first, dup := names[ep]; dup {
			d.errorf(e.keyN, "agents: %s and %s have the same endpoint %s", e.key, first, ep)
			continue
		}
		names[ep] = e.key
		d.agentEPs[e.key] = ep
	}
	c.Queue.AgentNames = names
}

// agentItem is an item of a queue's agents as written: a name from the
// agents section or (with a '/') a switch endpoint.
type agentItem struct {
	text string
	n    ast.Node
}

// agentItems decodes a queue's agents list, checking endpoints; names are
// resolved by resolveAgents once the agents section is known. An explicit
// empty list gives an empty, non-nil slice.
func (d *decoder) agentItems(what string, n ast.Node) []agentItem {
	out := []agentItem{}
	d.list(n, what+": agents", func(it ast.Node) {
		s, ok := d.scalar(it, what+": agents")
		if !ok {
			return
		}
		if strings.Contains(s, "/") {
			if err := checkEndpoint(s); err != nil {
				d.errorf(it, "%s: agents: %v", what, err)
				return
			}
		}
		out = append(out, agentItem{text: s, n: it})
	})
	return out
}

// resolveAgents turns a queue's agents items into endpoints: a name
// becomes its endpoint from the agents section. An undefined name is
// reported at its item; an endpoint listed twice (also once by name and
// once as itself) at the list. nil items (no agents key) give nil.
func (d *decoder) resolveAgents(what string, listN ast.Node, items []agentItem) []string {
	if items == nil {
		return nil
	}
	out := make([]string, 0, len(items))
	var written []string // out's items as written
	for _, it := range items {
		ep := it.text
		if !strings.Contains(ep, "/") {
			named, ok := d.agentEPs[it.text]
			if !ok {
				d.errorf(it.n, "%s: agent %q is not defined in agents (want a name from agents: or a switch endpoint TECH/resource)", what, it.text)
				continue
			}
			if named == "" {
				continue // its agents entry is reported
			}
			ep = named
		}
		if i := slices.Index(out, ep); i >= 0 {
			if written[i] == it.text {
				d.errorf(listN, "%s: agent %s listed twice", what, ep)
			} else {
				d.errorf(listN, "%s: agent %s listed twice (as %s and as %s)", what, ep, written[i], it.text)
			}
			continue
		}
		out = append(out, ep)
		written = append(written, it.text)
	}
	return out
}
