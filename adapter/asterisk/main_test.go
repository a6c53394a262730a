package asterisk

import (
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/callflow/callflow/adapter"
	"github.com/callflow/callflow/ari"
	"github.com/callflow/callflow/clock"
	"github.com/callflow/callflow/internal/asterisktest"
	"github.com/callflow/callflow/internal/sipptest"
	"github.com/callflow/callflow/media"
)

// One Asterisk and one Switch serve the whole test binary: the Stasis
// application has one websocket, and Serve runs once per Switch. Tests run
// one after another (Require hangs up what the previous test left).
var shared struct {
	once     sync.Once
	err      error
	ast      *asterisktest.Asterisk
	sw       *Switch
	store    *media.Store
	storeDir string
	stop     context.CancelFunc
	served   chan error

	mu       sync.Mutex
	handlers map[string]adapter.Handler // by dialled extension
}

var debugLog = flag.Bool("asterisk.debug", false, "log the driver at debug level")

func TestMain(m *testing.M) {
	code := asterisktest.Main(m)
	if shared.stop != nil {
		shared.stop()
		if err := <-shared.served; err != nil && !errors.Is(err, context.Canceled) {
			os.Stderr.WriteString("serve: " + err.Error() + "\n")
		}
		os.RemoveAll(shared.storeDir)
	}
	os.Exit(code)
}

func testLogger() *zap.Logger {
	lvl := zapcore.WarnLevel
	if *debugLog {
		lvl = zapcore.DebugLevel
	}
	enc := zapcore.NewConsoleEncoder(zap.NewDevelopmentEncoderConfig())
	return zap.New(zapcore.NewCore(enc, zapcore.Lock(os.Stderr), lvl))
}

// env returns the shared Asterisk and a serving Switch.
func env(t *testing.T) (*asterisktest.Asterisk, *Switch) {
	t.Helper()
	if testing.Short() {
		t.Skip("real Asterisk: skipped with -short")
	}
	a := asterisktest.Require(t)
	shared.once.Do(func() {
		shared.ast = a
		dir, err := os.MkdirTemp("", "asterisk-media-")
		if err != nil {
			shared.err = err
			return
		}
		shared.storeDir = dir
		if shared.store, err = media.Open(dir, 0, clock.Real{}); err != nil {
			shared.err = err
			return
		}
		sw, err := New(Config{
			ARI:   ari.Config{BaseURL: a.ARIURL, User: a.User, Pass: a.Pass, App: a.App, RequestTimeout: 5 * time.Second},
			Media: shared.store,
			// Asterisk runs on this host: recordings are copied from its
			// folder (the e2e tests cover the download over ARI).
			RecordingsDir: filepath.Dir(a.RecordingPath("x")),
		}, testLogger())
		if err != nil {
			shared.err = err
			return
		}
		shared.sw = sw
		shared.handlers = make(map[string]adapter.Handler)
		ctx, stop := context.WithCancel(context.Background())
		shared.stop = stop
		shared.served = make(chan error, 1)
		go func() { shared.served <- sw.Serve(ctx, route) }()
		wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		shared.err = sw.WaitConnected(wctx)
	})
	if shared.err != nil {
		t.Fatalf("shared switch: %v", shared.err)
	}
	return a, shared.sw
}

// route hands an inbound call to the handler registered for its extension.
func route(ctx context.Context, c adapter.Call) {
	shared.mu.Lock()
	h := shared.handlers[c.Info().Dialed]
	shared.mu.Unlock()
	if h != nil {
		h(ctx, c)
	}
}

// handle registers h for calls to ext until the test ends.
func handle(t *testing.T, ext string, h adapter.Handler) {
	t.Helper()
	shared.mu.Lock()
	shared.handlers[ext] = h
	shared.mu.Unlock()
	t.Cleanup(func() {
		shared.mu.Lock()
		delete(shared.handlers, ext)
		shared.mu.Unlock()
	})
}

type callerOutcome struct {
	res sipptest.Result
	err error
}

// dial runs a sipp caller in the background.
func dial(t *testing.T, a *asterisktest.Asterisk, c sipptest.Caller) <-chan callerOutcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	out := make(chan callerOutcome, 1)
	go func() {
		defer cancel()
		res, err := sipptest.RunCaller(ctx, c, a.SIPPort)
		out <- callerOutcome{res, err}
	}()
	return out
}

// finished waits for the caller and checks that sipp counted the call a
// success.
func finished(t *testing.T, ch <-chan callerOutcome) sipptest.Result {
	t.Helper()
	select {
	case o := <-ch:
		t.Cleanup(func() { o.res.Cleanup() })
		if o.err != nil {
			t.Fatalf("sipp caller: %v\nerrors: %s\nscreen: %s", o.err, o.res.Errors, o.res.Screen)
		}
		return o.res
	case <-time.After(100 * time.Second):
		t.Fatal("sipp caller did not finish")
	}
	return sipptest.Result{}
}

// result is what a handler hands back to its test.
type result struct {
	call    adapter.Call
	info    adapter.CallInfo
	digits  string
	rec     adapter.Recording
	err     error
	elapsed time.Duration
	cause   adapter.Cause
}

// await waits for the handler's result.
func await(t *testing.T, ch <-chan result, d time.Duration) result {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(d):
		t.Fatalf("no handler result within %v", d)
	}
	return result{}
}

// waitCause waits until the call reports a cause (the hang-up's events may
// still be on their way when an operation returned).
func waitCause(c adapter.Call) adapter.Cause {
	for i := 0; i < 50 && c.Cause() == adapter.CauseUnknown; i++ {
		time.Sleep(20 * time.Millisecond)
	}
	return c.Cause()
}
