package ari

import (
	"sync"
	"sync/atomic"

	"go.uber.org/zap"
)

// Key selects the events a Subscription receives.
type Key string

// AllKey receives every event, including the synthetic *Resynced.
const AllKey Key = "all"

// TypeKey receives every event of one type (EventBase.Type:
// "ChannelLeftBridge", "ApplicationReplaced", …; "Resynced" for the
// synthetic event after every connection). A subscriber that needs a few
// types takes them this way rather than reading every event from AllKey.
func TypeKey(typ string) Key { return Key("type:" + typ) }

// ChannelKey receives a channel's events, and the events of playbacks and
// recordings whose target is the channel.
func ChannelKey(id string) Key { return Key("channel:" + id) }

// BridgeKey receives a bridge's events (entered/left, destroyed, and its
// playbacks and recordings).
func BridgeKey(id string) Key { return Key("bridge:" + id) }

// PlaybackKey receives the events of one playback.
func PlaybackKey(id string) Key { return Key("playback:" + id) }

// RecordingKey receives the events of one live recording.
func RecordingKey(name string) Key { return Key("recording:" + name) }

// Stats counts what the event reader saw.
type Stats struct {
	Events         uint64 // messages decoded into an event (any type)
	Unknown        uint64 // events of a type this package does not know
	Invalid        uint64 // known type whose fields did not decode (delivered as *UnknownEvent)
	Malformed      uint64 // messages that are not JSON objects with a type (skipped, logged at debug)
	Unrouted       uint64 // events no subscription wanted
	SlowSubscriber uint64 // times a subscription's backlog went above Config.BacklogWarn
	Connects       uint64 // successful websocket connections
	Disconnects    uint64 // websocket connections lost or failed attempts
	Retries        uint64 // REST requests sent again after the connection came back (Config.RetryWhileDown)
}

type stats struct {
	events, unknown, invalid, malformed, unrouted, slow, connects, disconnects, retries atomic.Uint64
}

// Stats returns a snapshot of the counters.
func (c *Client) Stats() Stats {
	s := &c.stats
	return Stats{
		Events: s.events.Load(), Unknown: s.unknown.Load(), Invalid: s.invalid.Load(),
		Malformed: s.malformed.Load(), Unrouted: s.unrouted.Load(), SlowSubscriber: s.slow.Load(),
		Connects: s.connects.Load(), Disconnects: s.disconnects.Load(), Retries: s.retries.Load(),
	}
}

// router maps keys to subscriptions. The reader goroutine routes under the
// read lock; Subscribe/Close take the write lock, so a subscription made
// before a request is sent sees every event routed after it.
type router struct {
	c        *Client
	mu       sync.RWMutex
	subs     map[Key][]*Subscription
	accept   []*Subscription
	closed   bool
	scratch  []Key           // reader-only
	seen     []*Subscription // reader-only
	typeKeys map[string]Key  // reader-only: TypeKey of each type seen
}

func (r *router) init(c *Client) {
	r.c = c
	r.subs = make(map[Key][]*Subscription)
	r.typeKeys = make(map[string]Key)
}

// typeKey returns TypeKey(typ) without building the string again for
// every event.
func (r *router) typeKey(typ string) Key {
	k, ok := r.typeKeys[typ]
	if !ok {
		k = TypeKey(typ)
		r.typeKeys[typ] = k
	}
	return k
}

// Subscription is an ordered, unbounded queue of events for some keys. An
// event matching several keys of one subscription is delivered once.
// Events are delivered on C in the order they were read from the websocket.
// Close it when done; after Run returns, C delivers the backlog and is
// closed.
type Subscription struct {
	r      *router
	keys   []Key
	accept bool
	out    chan Event

	mu        sync.Mutex
	queue     []Event
	head      int
	finishing bool // client shut down: deliver the backlog, then close out
	slow      bool
	notify    chan struct{} // cap 1: queue grew or finishing was set
	done      chan struct{} // closed by Close
	closeOnce sync.Once
}

// Subscribe returns a subscription receiving the events routed to any of
// keys. Events routed before Subscribe returns are not delivered to it.
func (c *Client) Subscribe(keys ...Key) *Subscription {
	return c.router.add(keys, false)
}

// Accept returns a subscription receiving an *Incoming for every StasisStart
// whose channel no subscription is keyed on (inbound calls; originated
// channels are claimed by OriginateAndWait). Incoming.Sub is created by the
// reader before it routes the next event, so it misses nothing. With several
// Accept subscriptions the oldest open one gets each call.
func (c *Client) Accept() *Subscription {
	return c.router.add(nil, true)
}

func (r *router) add(keys []Key, accept bool) *Subscription {
	s := &Subscription{
		r:      r,
		keys:   append([]Key(nil), keys...),
		accept: accept,
		out:    make(chan Event),
		notify: make(chan struct{}, 1),
		done:   make(chan struct{}),
	}
	r.mu.Lock()
	if r.closed {
		s.finishing = true
	} else {
		r.register(s)
	}
	r.mu.Unlock()
	// The pump ends when Close is called, or after the backlog is
	// delivered once the client has shut down.
	go s.pump()
	return s
}

// register must be called with r.mu held for writing.
func (r *router) register(s *Subscription) {
	if s.accept {
		r.accept = append(r.accept, s)
	}
	for _, k := range s.keys {
		r.subs[k] = append(r.subs[k], s)
	}
}

func (r *router) remove(s *Subscription) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s.accept {
		r.accept = deleteSub(r.accept, s)
	}
	for _, k := range s.keys {
		l := deleteSub(r.subs[k], s)
		if len(l) == 0 {
			delete(r.subs, k)
		} else {
			r.subs[k] = l
		}
	}
}

func deleteSub(l []*Subscription, s *Subscription) []*Subscription {
	for i, x := range l {
		if x == s {
			return append(l[:i:i], l[i+1:]...)
		}
	}
	return l
}

// route delivers ev to every interested subscription. Called only from the
// reader goroutine (Run).
func (r *router) route(ev Event) {
	r.scratch = append(ev.routeKeys(r.scratch[:0]), AllKey, r.typeKey(ev.Header().Type))
	r.seen = r.seen[:0]
	r.mu.RLock()
	for _, k := range r.scratch {
		for _, s := range r.subs[k] {
			if !containsSub(r.seen, s) {
				r.seen = append(r.seen, s)
			}
		}
	}
	r.mu.RUnlock()
	for _, s := range r.seen {
		s.push(ev)
	}
	delivered := len(r.seen) > 0
	clear(r.seen)
	// Offered after routing, so the new per-channel subscription starts with
	// the events after StasisStart.
	if st, ok := ev.(*StasisStart); ok && r.offerIncoming(st) {
		delivered = true
	}
	if !delivered {
		r.c.stats.unrouted.Add(1)
	}
}

// offerIncoming hands a StasisStart of an unclaimed channel to the oldest
// acceptor, with a new subscription on the channel registered before any
// later event is routed.
func (r *router) offerIncoming(st *StasisStart) bool {
	key := ChannelKey(st.Channel.ID)
	r.mu.Lock()
	if len(r.accept) == 0 || len(r.subs[key]) > 0 || st.Channel.ID == "" {
		r.mu.Unlock()
		return false
	}
	acc := r.accept[0]
	sub := &Subscription{
		r: r, keys: []Key{key}, out: make(chan Event),
		notify: make(chan struct{}, 1), done: make(chan struct{}),
	}
	r.register(sub)
	r.mu.Unlock()
	go sub.pump() // ends like any subscription's pump
	acc.push(&Incoming{
		EventBase: EventBase{Type: "Incoming", Application: st.Application, Timestamp: st.Timestamp, AsteriskID: st.AsteriskID},
		Start:     st,
		Sub:       sub,
	})
	return true
}

func containsSub(l []*Subscription, s *Subscription) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// shutdown marks every subscription finishing (deliver backlog, close C).
func (r *router) shutdown() {
	r.mu.Lock()
	r.closed = true
	var all []*Subscription
	for _, l := range r.subs {
		for _, s := range l {
			if !containsSub(all, s) {
				all = append(all, s)
			}
		}
	}
	for _, s := range r.accept {
		if !containsSub(all, s) {
			all = append(all, s)
		}
	}
	r.subs = make(map[Key][]*Subscription)
	r.accept = nil
	r.mu.Unlock()
	for _, s := range all {
		s.finish()
	}
}

// C delivers the events.
func (s *Subscription) C() <-chan Event { return s.out }

// Keys returns the keys the subscription was made with.
func (s *Subscription) Keys() []Key { return append([]Key(nil), s.keys...) }

// Backlog is the number of events queued and not yet received from C.
func (s *Subscription) Backlog() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue) - s.head
}

// Close stops delivery and discards the backlog (closing the
// subscriptions of undelivered *Incoming events). C is closed. Close is
// idempotent and safe from any goroutine.
func (s *Subscription) Close() {
	s.closeOnce.Do(func() {
		s.r.remove(s)
		close(s.done)
		s.mu.Lock()
		rest := s.queue[s.head:]
		s.queue, s.head = nil, 0
		s.mu.Unlock()
		for _, ev := range rest {
			if in, ok := ev.(*Incoming); ok {
				in.Sub.Close()
			}
		}
	})
}

func (s *Subscription) push(ev Event) {
	s.mu.Lock()
	select {
	case <-s.done:
		s.mu.Unlock()
		if in, ok := ev.(*Incoming); ok {
			in.Sub.Close()
		}
		return
	default:
	}
	s.queue = append(s.queue, ev)
	n := len(s.queue) - s.head
	becameSlow := false
	if n > s.r.c.cfg.BacklogWarn && !s.slow {
		s.slow, becameSlow = true, true
	}
	s.mu.Unlock()
	select {
	case s.notify <- struct{}{}:
	default:
	}
	if becameSlow {
		s.r.c.stats.slow.Add(1)
		s.r.c.log.Warn("slow event subscriber", zap.Any("keys", s.keys), zap.Int("backlog", n))
	}
}

func (s *Subscription) finish() {
	s.mu.Lock()
	s.finishing = true
	s.mu.Unlock()
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// pop returns the next event, or ok=false with finishing set if the queue is
// empty.
func (s *Subscription) pop() (ev Event, ok, finishing bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.head == len(s.queue) {
		return nil, false, s.finishing
	}
	ev = s.queue[s.head]
	s.queue[s.head] = nil
	s.head++
	switch n := len(s.queue) - s.head; {
	case n == 0 && cap(s.queue) > 4096:
		s.queue, s.head = nil, 0
	case n == 0:
		s.queue, s.head = s.queue[:0], 0
	case s.head >= 1024 && s.head*2 >= len(s.queue):
		s.queue = append(s.queue[:0], s.queue[s.head:]...)
		s.head = 0
	}
	if s.slow && len(s.queue)-s.head < s.r.c.cfg.BacklogWarn/2 {
		s.slow = false
	}
	return ev, true, false
}

func (s *Subscription) pump() {
	defer close(s.out)
	for {
		ev, ok, finishing := s.pop()
		if !ok {
			if finishing {
				return
			}
			select {
			case <-s.notify:
				continue
			case <-s.done:
				return
			}
		}
		select {
		case s.out <- ev:
		case <-s.done:
			if in, ok := ev.(*Incoming); ok {
				in.Sub.Close()
			}
			return
		}
	}
}
