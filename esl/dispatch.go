package esl

import (
	"context"
	"sync"
	"sync/atomic"

	"go.uber.org/zap"
)

// DefaultSlowConsumer is the queue length at which a consumer that does
// not keep up is logged as a fault. Nothing is dropped: queues grow.
const DefaultSlowConsumer = 1000

// Stream is an ordered, lossless queue of events for one channel (or for
// an outbound session). Events are appended by the connection's reader
// goroutine without ever blocking it; Next takes them in wire order.
type Stream struct {
	key    string
	log    *zap.Logger
	slow   int
	faults *atomic.Int64
	onStop func()

	mu     sync.Mutex
	items  []*Event
	head   int
	wake   chan struct{} // capacity 1
	err    error         // set when closed; Next returns it once drained
	warned bool
}

func newStream(key string, log *zap.Logger, slow int, faults *atomic.Int64) *Stream {
	if slow <= 0 {
		slow = DefaultSlowConsumer
	}
	return &Stream{key: key, log: log, slow: slow, faults: faults, wake: make(chan struct{}, 1)}
}

// push appends e; it never blocks. A queue at the slow-consumer mark is a
// logged and counted fault (once per crossing), never a drop.
func (s *Stream) push(e *Event) {
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		s.log.Warn("esl event after stream end", zap.String("uuid", s.key), zap.String("event", e.Name()))
		return
	}
	s.items = append(s.items, e)
	n := len(s.items) - s.head
	if n >= s.slow && !s.warned {
		s.warned = true
		if s.faults != nil {
			s.faults.Add(1)
		}
		s.log.Warn("esl slow event consumer", zap.String("uuid", s.key), zap.Int("queued", n))
	} else if n < s.slow/2 {
		s.warned = false
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Next returns the next event in order. After the stream ends (Close, or
// the connection ended) it returns the queued events, then the reason:
// ErrClosed, ErrDisconnected or ErrConnLost.
func (s *Stream) Next(ctx context.Context) (*Event, error) {
	for {
		s.mu.Lock()
		if s.head < len(s.items) {
			e := s.items[s.head]
			s.items[s.head] = nil
			s.head++
			if s.head == len(s.items) {
				s.items, s.head = s.items[:0], 0
			}
			s.mu.Unlock()
			return e, nil
		}
		err := s.err
		s.mu.Unlock()
		if err != nil {
			return nil, err
		}
		select {
		case <-s.wake:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Len is the number of queued events.
func (s *Stream) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.items) - s.head
}

// Close stops routing events to the stream; queued events stay readable.
func (s *Stream) Close() {
	s.end(ErrClosed)
	if s.onStop != nil {
		s.onStop()
	}
}

func (s *Stream) end(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// dispatcher routes events by Unique-ID: to a watching Stream, else to
// the handler, called serially per Unique-ID (parallel across channels)
// by a drain goroutine that ends as soon as that channel's queue is empty.
type dispatcher struct {
	log     *zap.Logger
	slow    int
	handler func(*Event)
	faults  atomic.Int64
	dropped atomic.Int64

	mu      sync.Mutex
	streams map[string]*Stream
	queues  map[string]*handlerQueue
	wg      sync.WaitGroup
	ended   error
}

type handlerQueue struct {
	items  []*Event
	warned bool
}

func newDispatcher(log *zap.Logger, slow int, handler func(*Event)) *dispatcher {
	if slow <= 0 {
		slow = DefaultSlowConsumer
	}
	return &dispatcher{log: log, slow: slow, handler: handler,
		streams: map[string]*Stream{}, queues: map[string]*handlerQueue{}}
}

// watch opens the Stream of key ("" is invalid: non-channel events go to
// the handler).
func (d *dispatcher) watch(key string) *Stream {
	s := newStream(key, d.log, d.slow, &d.faults)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ended != nil {
		s.err = d.ended
		return s
	}
	if old := d.streams[key]; old != nil {
		old.end(ErrClosed)
	}
	d.streams[key] = s
	s.onStop = func() {
		d.mu.Lock()
		if d.streams[key] == s {
			delete(d.streams, key)
		}
		d.mu.Unlock()
	}
	return s
}

// route delivers e. After end it starts no handler: the event is
// counted and logged as dropped (the Conn is gone; its reader is waited
// for before end, so this is a guard, not a path events normally take).
func (d *dispatcher) route(e *Event) {
	key := e.UniqueID()
	d.mu.Lock()
	if d.ended != nil {
		d.mu.Unlock()
		d.dropped.Add(1)
		d.log.Warn("esl event after the connection ended", zap.String("uuid", key), zap.String("event", e.Name()))
		return
	}
	if s := d.streams[key]; s != nil && key != "" {
		d.mu.Unlock()
		s.push(e)
		return
	}
	if d.handler == nil {
		d.mu.Unlock()
		d.dropped.Add(1)
		d.log.Debug("esl event without consumer", zap.String("uuid", key), zap.String("event", e.Name()))
		return
	}
	q := d.queues[key]
	start := q == nil
	if start {
		q = &handlerQueue{}
		d.queues[key] = q
	}
	q.items = append(q.items, e)
	if len(q.items) >= d.slow && !q.warned {
		q.warned = true
		d.faults.Add(1)
		d.log.Warn("esl slow event handler", zap.String("uuid", key), zap.Int("queued", len(q.items)))
	}
	if start {
		d.wg.Add(1)
		go d.drain(key, q)
	}
	d.mu.Unlock()
}

// drain delivers q in order; it ends when q is empty.
func (d *dispatcher) drain(key string, q *handlerQueue) {
	defer d.wg.Done()
	for {
		d.mu.Lock()
		if len(q.items) == 0 {
			delete(d.queues, key)
			d.mu.Unlock()
			return
		}
		e := q.items[0]
		q.items[0] = nil
		q.items = q.items[1:]
		d.mu.Unlock()
		d.handler(e)
	}
}

// end closes every stream with err (their queued events stay readable)
// and waits for the handler queues to drain.
func (d *dispatcher) end(err error) {
	d.mu.Lock()
	if d.ended == nil {
		d.ended = err
	}
	streams := d.streams
	d.streams = map[string]*Stream{}
	d.mu.Unlock()
	for _, s := range streams {
		s.end(err)
	}
	d.wg.Wait()
}
