package measure

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ProfileOptions configures Profile: the net/http/pprof endpoint of the
// application under test and how to sample it.
type ProfileOptions struct {
	Addr      string        // host:port of the application's pprof server
	Dir       string        // where cpu-NN.pprof and heap-peak.pprof go
	CPUChunk  time.Duration // length of each CPU profile (default 10 s)
	HeapEvery time.Duration // heap sampling period (default 5 s)
	// Calls returns how many calls the application serves right now (the
	// benchmark counts the caller channels on Asterisk).
	Calls  func(ctx context.Context) (int, error)
	Client *http.Client // default: 30 s more than CPUChunk
}

// HeapSample is the live heap (HeapAlloc right after a forced GC) with the
// number of calls being served at that moment.
type HeapSample struct {
	Calls     int
	HeapAlloc uint64
}

// ProfileResult is what a profiling session collected.
type ProfileResult struct {
	CPUFiles []string     // consecutive CPU profiles; `go tool pprof -top` merges them
	HeapFile string       // heap profile taken at the peak number of calls ("" if none)
	Base     HeapSample   // before the load
	Samples  []HeapSample // during the load
	Errors   int          // samples or chunks that failed (logged through Logf)
}

// Peak is the sample with the most calls (the first of equals).
func (r ProfileResult) Peak() HeapSample {
	var p HeapSample
	for _, s := range r.Samples {
		if s.Calls > p.Calls {
			p = s
		}
	}
	return p
}

// BytesPerCall is the live heap each call adds: the least-squares slope of
// HeapAlloc over the number of calls, through the base sample and every
// sample of the load. ok is false without two distinct call counts.
func (r ProfileResult) BytesPerCall() (perCall float64, ok bool) {
	pts := append([]HeapSample{r.Base}, r.Samples...)
	var n, sx, sy, sxx, sxy float64
	for _, p := range pts {
		x, y := float64(p.Calls), float64(p.HeapAlloc)
		n++
		sx += x
		sy += y
		sxx += x * x
		sxy += x * y
	}
	d := n*sxx - sx*sx
	if n < 2 || d == 0 {
		return 0, false
	}
	return (n*sxy - sx*sy) / d, true
}

// Profiling is a running profiling session; Stop ends it.
type Profiling struct {
	o      ProfileOptions
	logf   func(string, ...any)
	cancel context.CancelFunc
	stop   chan struct{} // closed by Stop: no new CPU chunk, no new sample
	wg     sync.WaitGroup
	mu     sync.Mutex
	res    ProfileResult
}

// Profile takes the base heap sample, then until Stop records consecutive
// CPU profiles and samples the heap, keeping a heap profile at the peak
// number of calls. Its goroutines end on Stop or when ctx ends.
func Profile(ctx context.Context, o ProfileOptions, logf func(string, ...any)) (*Profiling, error) {
	if o.Addr == "" || o.Dir == "" || o.Calls == nil {
		return nil, errors.New("measure: profile: Addr, Dir and Calls are required")
	}
	if o.CPUChunk <= 0 {
		o.CPUChunk = 10 * time.Second
	}
	if o.HeapEvery <= 0 {
		o.HeapEvery = 5 * time.Second
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: o.CPUChunk + 30*time.Second}
	}
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("measure: profile: %w", err)
	}
	base, err := sampleHeap(ctx, o)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	p := &Profiling{o: o, logf: logf, cancel: cancel, stop: make(chan struct{})}
	p.res.Base = base
	p.wg.Add(2)
	// Both end when Stop closes p.stop (after the chunk in flight) or ctx ends.
	go p.cpuLoop(ctx)
	go p.heapLoop(ctx)
	return p, nil
}

// Stop waits for the CPU chunk in flight, ends the session and returns what
// it collected.
func (p *Profiling) Stop() ProfileResult {
	close(p.stop)
	p.wg.Wait()
	p.cancel()
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.res
}

func (p *Profiling) stopped() bool {
	select {
	case <-p.stop:
		return true
	default:
		return false
	}
}

func (p *Profiling) failed(format string, args ...any) {
	p.mu.Lock()
	p.res.Errors++
	p.mu.Unlock()
	p.logf(format, args...)
}

func (p *Profiling) cpuLoop(ctx context.Context) {
	defer p.wg.Done()
	for i := 0; !p.stopped() && ctx.Err() == nil; i++ {
		path := filepath.Join(p.o.Dir, fmt.Sprintf("cpu-%02d.pprof", i))
		secs := strconv.Itoa(int(p.o.CPUChunk.Round(time.Second) / time.Second))
		if err := fetch(ctx, p.o.Client, p.o.Addr, "/debug/pprof/profile?seconds="+secs, path); err != nil {
			p.failed("measure: cpu profile %d: %v", i, err)
			continue
		}
		p.mu.Lock()
		p.res.CPUFiles = append(p.res.CPUFiles, path)
		p.mu.Unlock()
	}
}

func (p *Profiling) heapLoop(ctx context.Context) {
	defer p.wg.Done()
	t := time.NewTicker(p.o.HeapEvery)
	defer t.Stop()
	peak := 0
	for {
		select {
		case <-p.stop:
			return
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s, err := sampleHeap(ctx, p.o)
		if err != nil {
			p.failed("%v", err)
			continue
		}
		p.mu.Lock()
		p.res.Samples = append(p.res.Samples, s)
		p.mu.Unlock()
		if s.Calls <= peak {
			continue
		}
		peak = s.Calls
		path := filepath.Join(p.o.Dir, "heap-peak.pprof")
		if err := fetch(ctx, p.o.Client, p.o.Addr, "/debug/pprof/heap", path); err != nil {
			p.failed("measure: heap profile: %v", err)
			continue
		}
		p.mu.Lock()
		p.res.HeapFile = path
		p.mu.Unlock()
	}
}

// sampleHeap counts the calls, then reads HeapAlloc after a forced GC.
func sampleHeap(ctx context.Context, o ProfileOptions) (HeapSample, error) {
	calls, err := o.Calls(ctx)
	if err != nil {
		return HeapSample{}, fmt.Errorf("measure: heap sample: calls: %w", err)
	}
	var buf bytes.Buffer
	if err := get(ctx, o.Client, o.Addr, "/debug/pprof/heap?gc=1&debug=1", &buf); err != nil {
		return HeapSample{}, fmt.Errorf("measure: heap sample: %w", err)
	}
	alloc, err := parseHeapAlloc(&buf)
	if err != nil {
		return HeapSample{}, err
	}
	return HeapSample{Calls: calls, HeapAlloc: alloc}, nil
}

// parseHeapAlloc finds "# HeapAlloc = N" in a debug=1 heap profile.
func parseHeapAlloc(r io.Reader) (uint64, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "# HeapAlloc = ")
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSpace(rest), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("measure: heap profile: HeapAlloc %q: %w", rest, err)
		}
		return n, nil
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("measure: heap profile: %w", err)
	}
	return 0, errors.New("measure: heap profile: no HeapAlloc line")
}

func fetch(ctx context.Context, c *http.Client, addr, path, file string) error {
	var buf bytes.Buffer
	if err := get(ctx, c, addr, path, &buf); err != nil {
		return err
	}
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("measure: %w", err)
	}
	return nil
}

func get(ctx context.Context, c *http.Client, addr, path string, w io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		return fmt.Errorf("measure: pprof: %w", err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("measure: pprof GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("measure: pprof GET %s: status %d: %s", path, resp.StatusCode, bytes.TrimSpace(b))
	}
	if _, err := io.Copy(w, io.LimitReader(resp.Body, 256<<20)); err != nil {
		return fmt.Errorf("measure: pprof GET %s: %w", path, err)
	}
	return nil
}
