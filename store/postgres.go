package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// connectTimeout bounds the first connection when the DSN names no
// connect_timeout, so a start against an unreachable server fails clearly
// instead of hanging on TCP retries.
const connectTimeout = 10 * time.Second

// ErrConnect: the database cannot be reached or refused the login.
var ErrConnect = errors.New("store: cannot connect to the database")

// ParsePostgresDSN checks a PostgreSQL DSN (URL or key=value form) without
// connecting. Its error never repeats the password.
func ParsePostgresDSN(dsn string) error {
	_, err := pgx.ParseConfig(dsn)
	return err
}

// OpenPostgres connects to the PostgreSQL database named by dsn (URL or
// key=value form, as libpq) through jackc/pgx and migrates it. A DSN that
// does not parse, a server that cannot be reached and a schema newer than
// this program are errors before anything is written.
func OpenPostgres(ctx context.Context, dsn string) (*DB, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("store: postgres: %w", err)
	}
	where := fmt.Sprintf("postgres %s@%s:%d/%s", cfg.User, cfg.Host, cfg.Port, cfg.Database)
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = connectTimeout
	}
	// pgx prepares and caches every statement. A generic plan made while
	// the tables were small (a sequential scan) would stay as they grow:
	// plan each execution with its values instead.
	if _, ok := cfg.RuntimeParams["plan_cache_mode"]; !ok {
		cfg.RuntimeParams["plan_cache_mode"] = "force_custom_plan"
	}
	db := sql.OpenDB(stdlib.GetConnector(*cfg))
	// The committer holds one connection per batch; claims, attempts and
	// reporting share the rest.
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("%w: %s: %v", ErrConnect, where, err)
	}
	s, err := start(ctx, newConn(db, &postgresDialect))
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("store: open %s: %w", where, err)
	}
	return s, nil
}

// lockDedupe takes, in one order for every process, the dialect's lock on
// each (queue, number) a batch dedupes, so two processes cannot both insert
// an open callback for one number. SQLite needs none: its write
// transactions are serial.
func lockDedupe(ctx context.Context, t *tx, reqs []*regReq) error {
	if t.c.d.lockKeys == "" {
		return nil
	}
	var keys []int64
	seen := map[int64]bool{}
	for _, r := range reqs {
		if !r.dedupe {
			continue
		}
		k := dedupeKey(r.cb.Queue, r.cb.Number)
		if !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	return t.lock(ctx, keys)
}
