package config

import (
	"fmt"

	"github.com/goccy/go-yaml/ast"

	"github.com/callflow/callflow/store"
)

// store decodes the store section: path (SQLite, the default) or postgres
// / postgres_file (a PostgreSQL DSN, inline or in a file). A DSN that does
// not parse is an error at its position; one read from a file is checked
// when Load reads the file, at the position of postgres_file.
func (d *decoder) store(c *Config, n ast.Node) {
	var pathN ast.Node
	var pg secret
	fs := map[string]func(ast.Node){
		"path": func(v ast.Node) { pathN = v; d.path(&c.Store.Path, "store.path")(v) },
	}
	d.secretFields(&pg, "postgres", "store", fs)
	d.fields(n, ck("store"), "store", fs)
	if pg.valueN == nil && pg.fileN == nil {
		return
	}
	if pathN != nil {
		d.errorf(pathN, "store: give path (SQLite) or postgres (PostgreSQL), not both")
	}
	c.Store.Path = ""
	switch {
	case pg.valueN != nil && pg.fileN != nil:
		// finishSecret reports it.
	case pg.valueN != nil && pg.value == "":
		d.errorf(pg.valueN, "store.postgres: empty DSN (want postgres://user@host:port/database or key=value pairs)")
	case pg.valueN != nil:
		if err := store.ParsePostgresDSN(pg.value); err != nil {
			d.errorf(pg.valueN, "store.postgres: %v", err)
			return
		}
		c.Store.Postgres = pg.value
	}
	before := len(c.secrets)
	d.finishSecret(c, &pg, n, "postgres", "store", false, func(c *Config) *string { return &c.Store.Postgres })
	if len(c.secrets) > before {
		c.secrets[len(c.secrets)-1].check = checkDSN
	}
}

func checkDSN(dsn string) error {
	if err := store.ParsePostgresDSN(dsn); err != nil {
		return fmt.Errorf("store.postgres_file: %w", err)
	}
	return nil
}
