package main

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"go.uber.org/zap"
)

func TestCheckLoopback(t *testing.T) {
	tests := []struct {
		name    string
		addr    string
		wantErr bool
	}{
		{name: "ipv4 loopback", addr: "127.0.0.1:6060"},
		{name: "other 127/8 address", addr: "127.0.0.2:6060"},
		{name: "ipv6 loopback", addr: "[::1]:6060"},
		{name: "any address", addr: ":6060", wantErr: true},
		{name: "all interfaces", addr: "0.0.0.0:6060", wantErr: true},
		{name: "public address", addr: "192.0.2.1:6060", wantErr: true},
		{name: "host name", addr: "localhost:6060", wantErr: true},
		{name: "no port", addr: "127.0.0.1", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := checkLoopback(tc.addr); (err != nil) != tc.wantErr {
				t.Fatalf("checkLoopback(%q) = %v, want error %v", tc.addr, err, tc.wantErr)
			}
		})
	}
}

func TestServePprof(t *testing.T) {
	if _, _, err := servePprof("0.0.0.0:0", zap.NewNop()); err == nil {
		t.Fatal("servePprof accepted a non-loopback address")
	}
	addr, stop, err := servePprof("127.0.0.1:0", zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	tests := []struct {
		name, path, want string
	}{
		{name: "index", path: "/debug/pprof/", want: "goroutine"},
		{name: "heap with memstats", path: "/debug/pprof/heap?debug=1", want: "HeapAlloc"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := http.Get("http://" + addr.String() + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), tc.want) {
				t.Fatalf("status %d, body lacks %q:\n%.300s", resp.StatusCode, tc.want, body)
			}
		})
	}
}
