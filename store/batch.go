package store

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
)

// callbackInsert is the column list and one row's placeholders of a new
// callback; insertArgs gives that row's values.
const (
	callbackInsert = `INSERT INTO callbacks (queue, number_e164, ani, media, priority, joined_at, seq, state,
		attempts, next_at, not_before, not_after, created_at, updated_at, caller_call_id, owner) VALUES `
	callbackRow = `(?, ?, ?, ?, ?, ?, ?, 'registered', 0, NULL, ?, ?, ?, ?, ?, ?)`
)

func insertArgs(cb Callback) ([]any, error) {
	if cb.CreatedAt.IsZero() {
		cb.CreatedAt = time.Now()
	}
	if cb.JoinedAt.IsZero() {
		cb.JoinedAt = cb.CreatedAt
	}
	if cb.Media == nil {
		cb.Media = []string{}
	}
	media, err := json.Marshal(cb.Media)
	if err != nil {
		return nil, fmt.Errorf("store: register %s in %s: media: %w", cb.Number, cb.Queue, err)
	}
	return []any{cb.Queue, cb.Number, cb.ANI, string(media), cb.Priority, fmtTime(cb.JoinedAt), cb.Seq,
		nullTime(cb.NotBefore), nullTime(cb.NotAfter), fmtTime(cb.CreatedAt), fmtTime(cb.CreatedAt), cb.CallerCallID, cb.Owner}, nil
}

type lineKey struct{ queue, number string }

// registerBatch registers a batch inside tx with a fixed number of
// statements whatever its size (one to find the open callbacks the batch
// dedupes against, one multi-row insert), so a group commit costs a few
// round trips to a database server rather than two per registration. The
// results are those of registering each request alone, in order: a dedupe
// request is a Duplicate of the oldest open callback for its number,
// counting those inserted earlier in the same batch.
func registerBatch(ctx context.Context, t *tx, reqs []*regReq) ([]regRes, error) {
	existing, err := findOpenBatch(ctx, t, reqs)
	if err != nil {
		return nil, err
	}
	out := make([]regRes, len(reqs))
	first := map[lineKey]int{} // key → index in ins of its first insert
	dupOf := map[int]int{}     // request → index in ins it duplicates
	var ins []int              // requests to insert, in order
	for i, r := range reqs {
		k := lineKey{r.cb.Queue, r.cb.Number}
		if r.dedupe {
			if cb, ok := existing[k]; ok {
				out[i] = regRes{cb: cb, out: Duplicate}
				continue
			}
			if j, ok := first[k]; ok {
				dupOf[i] = j
				continue
			}
		}
		if _, ok := first[k]; !ok {
			first[k] = len(ins)
		}
		ins = append(ins, i)
	}
	if len(ins) == 0 {
		return out, nil
	}
	var query string
	var args []any
	if t.c.d.arrays {
		query, args, err = insertArrays(reqs, ins)
	} else {
		query, args, err = insertValues(reqs, ins)
	}
	if err != nil {
		return nil, err
	}
	rows, err := t.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: register %d callbacks: %w", len(ins), err)
	}
	defer rows.Close()
	var got []Callback
	for rows.Next() {
		cb, err := scanCallback(rows)
		if err != nil {
			return nil, fmt.Errorf("store: register %d callbacks: %w", len(ins), err)
		}
		got = append(got, cb)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: register %d callbacks: %w", len(ins), err)
	}
	// Neither engine promises RETURNING order; ids are handed out in
	// VALUES order, so sorting by id pairs rows with requests. Check it.
	sort.Slice(got, func(a, b int) bool { return got[a].ID < got[b].ID })
	if len(got) != len(ins) {
		return nil, fmt.Errorf("store: register %d callbacks: %d rows returned", len(ins), len(got))
	}
	for n, i := range ins {
		if cb := reqs[i].cb; got[n].Queue != cb.Queue || got[n].Number != cb.Number || got[n].Seq != cb.Seq {
			return nil, fmt.Errorf("store: register %d callbacks: returned rows out of order", len(ins))
		}
		out[i] = regRes{cb: got[n], out: Inserted}
	}
	for i, j := range dupOf {
		out[i] = regRes{cb: got[j], out: Duplicate}
	}
	return out, nil
}

// insertValues is a multi-row INSERT … VALUES of the requests ins.
func insertValues(reqs []*regReq, ins []int) (string, []any, error) {
	var q strings.Builder
	q.WriteString(callbackInsert)
	var args []any
	for n, i := range ins {
		a, err := insertArgs(reqs[i].cb)
		if err != nil {
			return "", nil, err
		}
		if n > 0 {
			q.WriteString(", ")
		}
		q.WriteString(callbackRow)
		args = append(args, a...)
	}
	q.WriteString(" RETURNING " + cbColumns)
	return q.String(), args, nil
}

// insertArrays is one INSERT … SELECT FROM unnest(arrays) of the requests
// ins: one statement text whatever the batch size, prepared once.
func insertArrays(reqs []*regReq, ins []int) (string, []any, error) {
	const cols = 13
	arrs := make([][]*string, cols)
	for _, i := range ins {
		a, err := insertArgs(reqs[i].cb)
		if err != nil {
			return "", nil, err
		}
		for c, v := range a {
			var p *string
			switch v := v.(type) {
			case nil:
			case string:
				p = &v
			default:
				s := fmt.Sprint(v)
				p = &s
			}
			arrs[c] = append(arrs[c], p)
		}
	}
	args := make([]any, cols)
	for c := range arrs {
		args[c] = arrs[c]
	}
	return callbackInsert[:strings.Index(callbackInsert, "VALUES")] + `
		SELECT q, n, a, m, p::integer, j::timestamptz, s::bigint, 'registered', 0, NULL,
			nb::timestamptz, na::timestamptz, c::timestamptz, u::timestamptz, cc, o
		FROM unnest(?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[],
			?::text[], ?::text[], ?::text[], ?::text[]) AS r(q, n, a, m, p, j, s, nb, na, c, u, cc, o)
		RETURNING ` + cbColumns, args, nil
}

// findOpenBatch returns, for each (queue, number) a dedupe request of the
// batch names, its oldest open callback.
func findOpenBatch(ctx context.Context, t *tx, reqs []*regReq) (map[lineKey]Callback, error) {
	seen := map[lineKey]bool{}
	var args []any
	for _, r := range reqs {
		k := lineKey{r.cb.Queue, r.cb.Number}
		if r.dedupe && !seen[k] {
			seen[k] = true
			args = append(args, k.queue, k.number)
		}
	}
	found := map[lineKey]Callback{}
	if len(args) == 0 {
		return found, nil
	}
	var query string
	if t.c.d.arrays {
		// One statement text whatever the batch size.
		var qs, ns []string
		for i := 0; i < len(args); i += 2 {
			qs, ns = append(qs, args[i].(string)), append(ns, args[i+1].(string))
		}
		args = []any{qs, ns}
		query = `SELECT ` + cbColumns + ` FROM callbacks WHERE state IN (` + openStateList() + `)
			AND (queue, number_e164) IN (SELECT q, n FROM unnest(?::text[], ?::text[]) AS k(q, n)) ORDER BY id`
	} else {
		// An OR of equalities, not a row-value IN: SQLite turns it into
		// lookups of the open-callback index, one per pair.
		pairs := strings.TrimSuffix(strings.Repeat("(queue = ? AND number_e164 = ?) OR ", len(args)/2), " OR ")
		query = `SELECT ` + cbColumns + ` FROM callbacks
			WHERE state IN (` + openStateList() + `) AND (` + pairs + `) ORDER BY id`
	}
	rows, err := t.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: register: find open callbacks: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		cb, err := scanCallback(rows)
		if err != nil {
			return nil, fmt.Errorf("store: register: find open callbacks: %w", err)
		}
		k := lineKey{cb.Queue, cb.Number}
		if _, ok := found[k]; !ok {
			found[k] = cb
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: register: find open callbacks: %w", err)
	}
	return found, nil
}
