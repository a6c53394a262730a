package metrics

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/callflow/callflow/store"
	"github.com/callflow/callflow/trace"
)

// Appender writes event log lines in one batch (store.SQLite implements it).
type Appender interface {
	AppendEvents(ctx context.Context, evs []store.Event) error
}

// eventLogBuffer is how many lines wait for the writer before Emit blocks.
const eventLogBuffer = 4096

// eventLogBatch is the most lines one commit writes; eventLogLinger is how
// long the writer waits for more lines after the first of a batch. The
// store writes the queues' line rows waiting at that moment in the same
// commit; its own wait for them (store.lineLinger) is longer.
const (
	eventLogBatch  = 256
	eventLogLinger = 100 * time.Millisecond
)

// eventLogRetry is how long the writer waits before retrying a failed batch.
const eventLogRetry = time.Second

// ErrEventLogClosed: the event log was closed.
var ErrEventLogClosed = errors.New("metrics: event log closed")

// EventLog is a trace.Sink that appends the queue and callback lifecycle
// to the store's event log for reporting: joined, reserved, declined,
// connected (with the wait), conversation_end (with the handle time),
// timeout, full, left, and callback_registered, _duplicate, _invalid,
// _connected, _completed (with the handle time), _failed, _expired,
// _cancelled, _retry_wait, _requeued, _interrupted. Abandons are not
// mapped: the queue engine appends them itself (kind "abandon").
//
// Lines are written by one writer goroutine in batches (one commit per
// batch). Emit blocks while the buffer is full rather than dropping a line;
// it never drops one while the log is open. The goroutine ends on Close,
// after writing what was emitted before. A batch the store refuses is
// retried until Close; lines that could not be written by then are logged
// and counted (Lost).
type EventLog struct {
	st  Appender
	log *zap.Logger

	mu       sync.RWMutex // guards closed against sends on ch
	closed   bool
	ch       chan store.Event
	done     chan struct{}
	quit     chan struct{}
	quitOnce sync.Once
	lost     atomic.Int64

	tmu    sync.Mutex
	timing *timing
}

var _ trace.Sink = (*EventLog)(nil)

// NewEventLog starts the writer; call Close to stop it.
func NewEventLog(st Appender, log *zap.Logger) *EventLog {
	if log == nil {
		log = zap.NewNop()
	}
	l := &EventLog{st: st, log: log, ch: make(chan store.Event, eventLogBuffer),
		done: make(chan struct{}), quit: make(chan struct{}), timing: newTiming()}
	go l.writer() // ends when Close closes ch
	return l
}

// Lost is how many lines could not be written (store errors until Close,
// or events emitted after Close).
func (l *EventLog) Lost() int64 { return l.lost.Load() }

// Close writes what is buffered and stops the writer.
func (l *EventLog) Close() error {
	// quit first: a writer retrying a failing store stops waiting and keeps
	// draining, so an Emit blocked on a full buffer returns and Lock succeeds.
	l.quitOnce.Do(func() { close(l.quit) })
	l.mu.Lock()
	if !l.closed {
		l.closed = true
		close(l.ch)
	}
	l.mu.Unlock()
	<-l.done
	if n := l.Lost(); n > 0 {
		return errors.New("metrics: event log lost " + strconv.FormatInt(n, 10) + " lines")
	}
	return nil
}

// Emit implements trace.Sink.
func (l *EventLog) Emit(ev trace.Event) {
	if ev.Source != trace.Queue && ev.Source != trace.Callback {
		return
	}
	l.tmu.Lock()
	m := l.timing.observe(ev)
	l.tmu.Unlock()
	se, ok := mapEvent(ev, m)
	if !ok {
		return
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		l.lost.Add(1)
		l.log.Error("event log closed: line not written", zap.String("kind", se.Kind), zap.String("queue", se.Queue))
		return
	}
	l.ch <- se
}

func (l *EventLog) writer() {
	defer close(l.done)
	linger := time.NewTimer(eventLogLinger)
	linger.Stop()
	for first := range l.ch {
		// Lines arrive one at a time as calls progress; waiting a moment
		// for more lets them share one synchronous commit instead of each
		// taking its own. Close ends the wait at once (l.ch closed).
		batch := []store.Event{first}
		linger.Reset(eventLogLinger)
	fill:
		for len(batch) < eventLogBatch {
			select {
			case ev, ok := <-l.ch:
				if !ok {
					break fill
				}
				batch = append(batch, ev)
			case <-linger.C:
				break fill
			}
		}
		linger.Stop()
		l.write(batch)
	}
}

// write appends a batch, retrying a failed one until Close; once closing,
// a batch gets one more try and is counted as lost if that fails.
func (l *EventLog) write(batch []store.Event) {
	for {
		err := l.st.AppendEvents(context.Background(), batch)
		if err == nil {
			return
		}
		select {
		case <-l.quit:
			l.lost.Add(int64(len(batch)))
			l.log.Error("event log lines lost at close", zap.Int("lines", len(batch)), zap.Error(err))
			return
		default:
		}
		l.log.Error("append event log; retrying", zap.Int("lines", len(batch)), zap.Error(err))
		t := time.NewTimer(eventLogRetry)
		select {
		case <-t.C:
		case <-l.quit:
			t.Stop()
		}
	}
}

// mapEvent turns a trace event into an event log line.
func mapEvent(ev trace.Event, m measure) (store.Event, bool) {
	se := store.Event{At: ev.At, Queue: ev.Attrs["queue"], Detail: map[string]string{}}
	detail := func(kv ...string) {
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] != "" {
				se.Detail[kv[i]] = kv[i+1]
			}
		}
	}
	ms := func(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }
	if ev.Source == trace.Queue {
		se.CallID = ev.Call
		switch ev.Kind {
		case "joined", "reserved", "declined":
			se.Kind = ev.Kind
			detail("position", ev.Attrs["position"], "text", ev.Text)
		case "timeout", "full", "left":
			se.Kind = ev.Kind
			detail("text", ev.Text)
		case "abandoned":
			se.Kind = "abandon"
			detail("reason", ev.Text, "position", ev.Attrs["position"])
		case "connected":
			se.Kind = "connected"
			detail("agent", ev.Text)
			if m.hasWait {
				detail("wait_ms", ms(m.wait))
			}
		case "conversation_end":
			se.Kind = "conversation_end"
			detail("ended_by", ev.Text)
			if m.hasHandle {
				detail("handle_ms", ms(m.handle))
			}
		case "registered", "callback_duplicate", "callback_invalid":
			se.Kind = "callback_" + trimCallback(ev.Kind)
			se.CallbackID = callbackID(ev)
			detail("origin", "flow", "number", ev.Attrs["number"], "ani", ev.Attrs["ani"])
			if ev.Kind == "callback_invalid" {
				detail("reason", ev.Text)
			}
		default:
			return store.Event{}, false
		}
		return se, true
	}
	switch ev.Kind {
	case "registered", "duplicate", "invalid", "connected", "completed", "failed", "expired",
		"cancelled", "retry_wait", "requeued", "interrupted":
		se.Kind = "callback_" + ev.Kind
	default:
		return store.Event{}, false
	}
	se.CallbackID = callbackID(ev)
	switch ev.Kind {
	case "registered":
		detail("origin", ev.Attrs["origin"], "number", ev.Attrs["number"], "ani", ev.Attrs["ani"], "position", ev.Attrs["position"])
	case "invalid":
		detail("origin", ev.Attrs["origin"], "reason", ev.Text)
	case "connected":
		detail("agent", ev.Text, "attempt", ev.Attrs["attempt"])
	default:
		detail("reason", ev.Text, "attempt", ev.Attrs["attempt"], "next", ev.Attrs["next"])
		if m.hasHandle {
			detail("handle_ms", ms(m.handle))
		}
	}
	return se, true
}

func trimCallback(kind string) string {
	if len(kind) > len("callback_") && kind[:len("callback_")] == "callback_" {
		return kind[len("callback_"):]
	}
	return kind
}
