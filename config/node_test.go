package config

import (
	"strings"
	"testing"
	"time"
)

func TestNodeSection(t *testing.T) {
	const pg = "store: {postgres: \"postgres://db/callflow\"}\n"
	tests := []struct {
		name    string
		yaml    string
		want    NodeConfig
		wantErr string // "line:col: substring"
	}{
		{name: "no node section: one node", yaml: sim + pg},
		{name: "id with the default lease", yaml: sim + pg + "node: {id: node-a}\n", want: NodeConfig{ID: "node-a", LeaseTTL: DefaultLeaseTTL}},
		{name: "lease ttl", yaml: sim + pg + "node:\n  id: b\n  lease_ttl: 4s\n", want: NodeConfig{ID: "b", LeaseTTL: 4 * time.Second}},
		{name: "node before the store section", yaml: sim + "node: {id: a}\n" + pg, want: NodeConfig{ID: "a", LeaseTTL: DefaultLeaseTTL}},
		{name: "postgres_file counts as postgres", yaml: sim + "store: {postgres_file: dsn}\nnode: {id: a}\n", want: NodeConfig{ID: "a", LeaseTTL: DefaultLeaseTTL}},
		{name: "sqlite refuses nodes", yaml: sim + "node: {id: node-a}\n", wantErr: "2:8: node: several nodes share a PostgreSQL database"},
		{name: "missing id", yaml: sim + pg + "node:\n  lease_ttl: 5s\n", wantErr: "4:3: node.id is required"},
		{name: "id not a plain name", yaml: sim + pg + "node: {id: \"a/b\"}\n", wantErr: "3:12: node.id: \"a/b\" is not a plain name"},
		{name: "lease too short", yaml: sim + pg + "node: {id: a, lease_ttl: 1s}\n", wantErr: "3:26: node.lease_ttl: 1s is less than 3s"},
		{name: "lease zero", yaml: sim + pg + "node: {id: a, lease_ttl: 0s}\n", wantErr: "3:26: node.lease_ttl: must be more than 0"},
		{name: "unknown key", yaml: sim + pg + "node: {id: a, ttl: 5s}\n", wantErr: `3:15: unknown key "ttl" in node`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("c.yaml", []byte(tc.yaml))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Node != tc.want {
				t.Fatalf("node %+v, want %+v", c.Node, tc.want)
			}
		})
	}
}
