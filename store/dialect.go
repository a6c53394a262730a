package store

import (
	"context"
	"database/sql"
	"hash/fnv"
	"io/fs"
	"strconv"
	"strings"
	"sync"
)

// dialect is everything that differs between the SQLite and PostgreSQL
// backends. The store's SQL is written once, for SQLite, with ? placeholders
// and times as fixed-width UTC text (fmtTime); on PostgreSQL the placeholders
// are renumbered ($1, $2, …) by conn, the columns are timestamptz (text
// arguments are parsed by the server, read back values are parsed by
// parseTime) and the dialect adds what SQLite does not need: an advisory lock
// around migrations and dedupe, and SKIP LOCKED on claims.
//
// A new table needs a migration in both migrations/ and
// migrations/postgres/ with the same number and name (TestMigrationPairs
// checks it); its queries need nothing else.
type dialect struct {
	name string
	// numbered placeholders ($1) instead of ?.
	numbered bool
	// migrations holds the NNNN_name.sql files.
	migrations fs.FS
	// schemaTable creates the migration bookkeeping table.
	schemaTable string
	// lockMigrations, when set, serialises migrations between processes
	// opening one database at once.
	lockMigrations string
	// lockKeys, when set, takes transaction-scoped locks on the int64 keys
	// of its one array parameter, in array order (dedupe of concurrent
	// registrations from several processes).
	lockKeys string
	// arrays: the server takes array parameters, so batch statements pass
	// one array per column instead of one placeholder per value.
	arrays bool
	// committers is the number of group-commit goroutines (default 1).
	committers int
	// skipLocked is appended to the SELECT choosing a callback to claim.
	skipLocked string
	// shareLock is appended to the SELECT reading a fence's lease, so the
	// lease cannot change hands until the fenced write commits.
	shareLock string
}

var sqliteDialect = dialect{
	name:       "sqlite",
	migrations: mustSub(migrationFiles, "migrations"),
	schemaTable: `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at TEXT NOT NULL)`,
}

// migrationLockKey is the advisory lock key of migrations ("callflow").
const migrationLockKey = 0x63616c6c666c6f77

var postgresDialect = dialect{
	name:       "postgres",
	numbered:   true,
	migrations: mustSub(migrationFiles, "migrations/postgres"),
	schemaTable: `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at TIMESTAMPTZ NOT NULL)`,
	lockMigrations: `SELECT pg_advisory_xact_lock(` + strconv.FormatInt(migrationLockKey, 10) + `)`,
	lockKeys:       `SELECT pg_advisory_xact_lock(k) FROM unnest(?::bigint[]) AS k`,
	skipLocked:     ` FOR UPDATE SKIP LOCKED`,
	shareLock:      ` FOR SHARE`,
	arrays:         true,
	committers:     2,
}

func mustSub(f fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(f, dir)
	if err != nil {
		panic(err) // dir is a constant of this package
	}
	return sub
}

// dedupeKey is the lock key of one (queue, number) pair.
func dedupeKey(queue, number string) int64 {
	h := fnv.New64a()
	h.Write([]byte(queue))
	h.Write([]byte{0})
	h.Write([]byte(number))
	return int64(h.Sum64())
}

// rebinder rewrites ? placeholders to $N, outside quoted text. Results are
// cached: the store's queries are a small fixed set.
type rebinder struct {
	cache sync.Map // string → string
}

func (r *rebinder) rebind(q string) string {
	if v, ok := r.cache.Load(q); ok {
		return v.(string)
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	var quote byte
	for i := 0; i < len(q); i++ {
		ch := q[i]
		switch {
		case quote != 0:
			if ch == quote {
				quote = 0
			}
		case ch == '\'' || ch == '"':
			quote = ch
		case ch == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(ch)
	}
	out := b.String()
	r.cache.Store(q, out)
	return out
}

// conn is the store's database handle: a *sql.DB whose query methods take
// the store's ? placeholders on either backend. Everything in the package
// goes through it (and tx), never through the *sql.DB directly.
type conn struct {
	*sql.DB
	d  *dialect
	rb *rebinder
}

func newConn(db *sql.DB, d *dialect) *conn { return &conn{DB: db, d: d, rb: &rebinder{}} }

func (c *conn) q(query string) string {
	if !c.d.numbered {
		return query
	}
	return c.rb.rebind(query)
}

func (c *conn) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return c.DB.ExecContext(ctx, c.q(query), args...)
}

func (c *conn) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return c.DB.QueryContext(ctx, c.q(query), args...)
}

func (c *conn) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return c.DB.QueryRowContext(ctx, c.q(query), args...)
}

func (c *conn) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	return c.DB.PrepareContext(ctx, c.q(query))
}

func (c *conn) Exec(query string, args ...any) (sql.Result, error) {
	return c.ExecContext(context.Background(), query, args...)
}

func (c *conn) Query(query string, args ...any) (*sql.Rows, error) {
	return c.QueryContext(context.Background(), query, args...)
}

func (c *conn) QueryRow(query string, args ...any) *sql.Row {
	return c.QueryRowContext(context.Background(), query, args...)
}

func (c *conn) BeginTx(ctx context.Context, opts *sql.TxOptions) (*tx, error) {
	t, err := c.DB.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &tx{Tx: t, c: c}, nil
}

// tx is a transaction taking ? placeholders.
type tx struct {
	*sql.Tx
	c *conn
}

func (t *tx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return t.Tx.ExecContext(ctx, t.c.q(query), args...)
}

func (t *tx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return t.Tx.QueryContext(ctx, t.c.q(query), args...)
}

func (t *tx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return t.Tx.QueryRowContext(ctx, t.c.q(query), args...)
}

func (t *tx) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	return t.Tx.PrepareContext(ctx, t.c.q(query))
}

// lock takes the dialect's transaction-scoped locks on keys, in order, if
// it has such locks; one statement whatever the number of keys.
func (t *tx) lock(ctx context.Context, keys []int64) error {
	if t.c.d.lockKeys == "" || len(keys) == 0 {
		return nil
	}
	_, err := t.ExecContext(ctx, t.c.d.lockKeys, keys)
	return err
}
