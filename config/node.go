package config

import (
	"time"

	"github.com/goccy/go-yaml/ast"
)

// NodeConfig names this process among several callflow nodes sharing one
// PostgreSQL database (docs/nodes.md). The zero value (no node section)
// is a single node: no lease is taken.
type NodeConfig struct {
	// ID is the node's name, unique among the nodes of one database.
	ID string
	// LeaseTTL is how long the switch lease lasts without a renewal
	// (default DefaultLeaseTTL): a node that stops renewing is replaced
	// after at most this long. Renewed every LeaseTTL/3.
	LeaseTTL time.Duration
}

// DefaultLeaseTTL is node.lease_ttl's default.
const DefaultLeaseTTL = 10 * time.Second

// minLeaseTTL keeps the renewal interval (a third) above a database round
// trip and the nodes' clock skew.
const minLeaseTTL = 3 * time.Second

// node decodes the node section. It needs a PostgreSQL store (checked
// once the whole file is read: the store section may come later).
func (d *decoder) node(c *Config, n ast.Node) {
	nc := NodeConfig{LeaseTTL: DefaultLeaseTTL}
	var idN, ttlN ast.Node
	d.fields(n, ck("node"), "node", map[string]func(ast.Node){
		"id": func(v ast.Node) {
			idN = v
			d.str(&nc.ID, "node.id")(v)
			if err := checkPlainName(nc.ID); err != nil {
				d.errorf(v, "node.id: %v", err)
			}
		},
		"lease_ttl": func(v ast.Node) { ttlN = v; d.positive(&nc.LeaseTTL, "node.lease_ttl")(v) },
	})
	if idN == nil {
		d.errorf(n, "node.id is required (this node's name, unique among the nodes sharing the database)")
	}
	if ttlN != nil && nc.LeaseTTL > 0 && nc.LeaseTTL < minLeaseTTL {
		d.errorf(ttlN, "node.lease_ttl: %v is less than %v (the lease is renewed every third of it)", nc.LeaseTTL, minLeaseTTL)
	}
	c.Node = nc
	d.later = append(d.later, func() {
		if !c.postgresConfigured() {
			d.errorf(n, "node: several nodes share a PostgreSQL database; set store.postgres or store.postgres_file (SQLite serves one process: leave node out)")
		}
	})
}

// postgresConfigured tells whether the store is PostgreSQL, inline or
// through postgres_file (read later by Load).
func (c *Config) postgresConfigured() bool {
	if c.Store.Postgres != "" {
		return true
	}
	for _, s := range c.secrets {
		if s.dst(c) == &c.Store.Postgres {
			return true
		}
	}
	return false
}
