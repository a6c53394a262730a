package config

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func TestStoreSection(t *testing.T) {
	tests := []struct {
		name         string
		yaml         string
		wantPostgres string
		wantPath     bool   // the SQLite path stays set
		wantErr      string // "line:col: substring"
	}{
		{name: "default is sqlite", yaml: sim, wantPath: true},
		{name: "postgres url", yaml: sim + "store: {postgres: \"postgres://cf:pw@db.example:5432/callflow?sslmode=require\"}\n",
			wantPostgres: "postgres://cf:pw@db.example:5432/callflow?sslmode=require"},
		{name: "postgres key value", yaml: sim + "store: {postgres: \"host=127.0.0.1 port=5433 user=cf dbname=callflow\"}\n",
			wantPostgres: "host=127.0.0.1 port=5433 user=cf dbname=callflow"},
		{name: "malformed url", yaml: sim + "store:\n  postgres: \"postgres://cf:s3cret@db:notaport/callflow\"\n",
			wantErr: "3:13: store.postgres: cannot parse"},
		{name: "unknown parameter form", yaml: sim + "store: {postgres: \"host=db port\"}\n", wantErr: "2:19: store.postgres:"},
		{name: "empty dsn", yaml: sim + "store: {postgres: \"\"}\n", wantErr: "2:19: store.postgres: empty DSN"},
		{name: "path and postgres", yaml: sim + "store: {path: x.db, postgres: \"postgres://db/callflow\"}\n", wantErr: "2:15: store: give path (SQLite) or postgres"},
		{name: "postgres and postgres_file", yaml: sim + "store: {postgres: \"postgres://db/c\", postgres_file: f}\n", wantErr: "store: give postgres or postgres_file, not both"},
		{name: "unknown key", yaml: sim + "store: {dsn: \"postgres://db/c\"}\n", wantErr: `2:9: unknown key "dsn" in store`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("c.yaml", []byte(tc.yaml))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Fatalf("error repeats the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Store.Postgres != tc.wantPostgres || (c.Store.Path != "") != tc.wantPath {
				t.Fatalf("store %+v, want postgres %q, path set %v", c.Store, tc.wantPostgres, tc.wantPath)
			}
		})
	}
}

func TestStorePostgresFile(t *testing.T) {
	tests := []struct {
		name    string
		dsn     string
		want    string
		wantErr string
	}{
		{name: "good", dsn: "postgres://cf@127.0.0.1:5432/callflow\n", want: "postgres://cf@127.0.0.1:5432/callflow"},
		{name: "malformed", dsn: "postgres://cf:s3cret@db:notaport/callflow\n", wantErr: "c.yaml:2:24: "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "dsn"), tc.dsn, 0o600)
			path := filepath.Join(dir, "c.yaml")
			writeFile(t, path, sim+"store: {postgres_file: dsn}\n", 0o600)
			c, err := Load(path)
			if tc.wantErr != "" {
				var list ErrorList
				if err == nil || !errors.As(err, &list) || !strings.HasPrefix(err.Error(), filepath.Join(dir, tc.wantErr)) {
					t.Fatalf("err %v, want prefix %q", err, filepath.Join(dir, tc.wantErr))
				}
				if !strings.Contains(err.Error(), "store.postgres_file: cannot parse") || strings.Contains(err.Error(), "s3cret") {
					t.Fatalf("err %v: want a parse error without the password", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Store.Postgres != tc.want || c.Store.Path != "" {
				t.Fatalf("store %+v, want postgres %q and no path", c.Store, tc.want)
			}
		})
	}
}
