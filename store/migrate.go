package store

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"
)

// migrations/ holds SQLite's migrations, migrations/postgres/ PostgreSQL's:
// the same versions and names, each in its own SQL.
//
//go:embed migrations/*.sql migrations/postgres/*.sql
var migrationFiles embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

// migrations reads a dialect's embedded NNNN_name.sql files in version order.
func migrations(d *dialect) ([]migration, error) {
	entries, err := fs.ReadDir(d.migrations, ".")
	if err != nil {
		return nil, fmt.Errorf("store: read migrations: %w", err)
	}
	var ms []migration
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		name := e.Name()
		num, _, ok := strings.Cut(name, "_")
		if !ok || !strings.HasSuffix(name, ".sql") {
			return nil, fmt.Errorf("store: migration %s: name is not NNNN_name.sql", name)
		}
		v, err := strconv.Atoi(num)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("store: migration %s: bad version number", name)
		}
		body, err := fs.ReadFile(d.migrations, name)
		if err != nil {
			return nil, fmt.Errorf("store: read migration %s: %w", name, err)
		}
		ms = append(ms, migration{version: v, name: name, sql: string(body)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("store: migration %s: versions must be 1, 2, 3, … without gaps", m.name)
		}
	}
	return ms, nil
}

// LatestVersion is the schema version this program writes.
func LatestVersion() int {
	ms, err := migrations(&sqliteDialect)
	if err != nil {
		return 0
	}
	return len(ms)
}

// migrate brings the schema up to date in one transaction. It refuses a
// database whose schema is newer than the embedded migrations, writing
// nothing.
func migrate(ctx context.Context, db *conn, now time.Time) (applied int, err error) {
	ms, err := migrations(db.d)
	if err != nil {
		return 0, err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("store: migrate: begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if db.d.lockMigrations != "" {
		if _, err = tx.ExecContext(ctx, db.d.lockMigrations); err != nil {
			return 0, fmt.Errorf("store: migrate: lock: %w", err)
		}
	}
	if _, err = tx.ExecContext(ctx, db.d.schemaTable); err != nil {
		return 0, fmt.Errorf("store: migrate: create schema_migrations: %w", err)
	}
	var current int
	if err = tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return 0, fmt.Errorf("store: migrate: read version: %w", err)
	}
	if current > len(ms) {
		err = fmt.Errorf("%w: database at version %d, this program knows up to %d", ErrNewerSchema, current, len(ms))
		return 0, err
	}
	for _, m := range ms[current:] {
		if _, err = tx.ExecContext(ctx, m.sql); err != nil {
			return 0, fmt.Errorf("store: migration %s: %w", m.name, err)
		}
		if _, err = tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
			m.version, m.name, fmtTime(now)); err != nil {
			return 0, fmt.Errorf("store: migration %s: record: %w", m.name, err)
		}
		applied++
	}
	if err = tx.Commit(); err != nil {
		return 0, fmt.Errorf("store: migrate: commit: %w", err)
	}
	return applied, nil
}
