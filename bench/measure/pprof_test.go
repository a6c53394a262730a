package measure

import (
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"net/http/pprof"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestParseHeapAlloc(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    uint64
		wantErr bool
	}{
		{name: "memstats block", in: "heap profile: 1: 2 [3: 4] @ heap/1048576\n\n# runtime.MemStats\n# Alloc = 10\n# HeapAlloc = 123456\n# Sys = 9\n", want: 123456},
		{name: "missing", in: "heap profile: 1: 2 [3: 4] @ heap/1048576\n", wantErr: true},
		{name: "garbage value", in: "# HeapAlloc = lots\n", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseHeapAlloc(strings.NewReader(tc.in))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			if got != tc.want {
				t.Fatalf("got %d, want %d", got, tc.want)
			}
		})
	}
}

func TestBytesPerCall(t *testing.T) {
	tests := []struct {
		name   string
		res    ProfileResult
		want   float64
		wantOK bool
	}{
		{
			name:   "exact line",
			res:    ProfileResult{Base: HeapSample{0, 1000}, Samples: []HeapSample{{10, 1000 + 10*4096}, {20, 1000 + 20*4096}}},
			want:   4096,
			wantOK: true,
		},
		{
			name:   "noisy samples fit the slope",
			res:    ProfileResult{Base: HeapSample{0, 5000}, Samples: []HeapSample{{10, 15100}, {20, 24900}, {30, 35000}}},
			want:   1000,
			wantOK: true,
		},
		{name: "no load samples", res: ProfileResult{Base: HeapSample{0, 1000}}},
		{name: "one call count", res: ProfileResult{Base: HeapSample{5, 1000}, Samples: []HeapSample{{5, 2000}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := tc.res.BytesPerCall()
			if ok != tc.wantOK {
				t.Fatalf("ok = %v", ok)
			}
			if ok && math.Abs(got-tc.want) > tc.want*0.02 {
				t.Fatalf("got %.1f B/call, want %.1f", got, tc.want)
			}
		})
	}
}

func TestProfile(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	var calls atomic.Int64
	dir := t.TempDir()
	p, err := Profile(context.Background(), ProfileOptions{
		Addr: strings.TrimPrefix(srv.URL, "http://"), Dir: dir,
		CPUChunk: time.Second, HeapEvery: 200 * time.Millisecond,
		Calls: func(context.Context) (int, error) { return int(calls.Add(1)), nil },
	}, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	res := p.Stop()
	if res.Errors != 0 {
		t.Errorf("%d errors", res.Errors)
	}
	if len(res.CPUFiles) < 1 || res.HeapFile == "" {
		t.Fatalf("cpu files %v, heap file %q", res.CPUFiles, res.HeapFile)
	}
	for _, f := range append(res.CPUFiles, res.HeapFile) {
		if st, err := os.Stat(f); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v (empty or missing)", f, err)
		}
	}
	if res.Base.Calls != 1 || res.Base.HeapAlloc == 0 || len(res.Samples) < 3 {
		t.Fatalf("base %+v, %d samples", res.Base, len(res.Samples))
	}
	if pk := res.Peak(); pk.Calls != res.Samples[len(res.Samples)-1].Calls {
		t.Errorf("peak %+v is not the last (largest) sample", pk)
	}
}

func TestProfileNeedsOptions(t *testing.T) {
	if _, err := Profile(context.Background(), ProfileOptions{Addr: "127.0.0.1:1"}, nil); err == nil {
		t.Fatal("Profile accepted options without Dir and Calls")
	}
}
