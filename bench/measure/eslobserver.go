package measure

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/callflow/callflow/esl"
)

// eslTypes maps the FreeSWITCH events the ESL observer subscribes to onto
// the ARI event types Pair reads, so one pairing serves both switches:
// DTMF is the digit, PLAYBACK_START (a prompt or a beep) and RECORD_START
// are the application acting on it. CHANNEL_UNBRIDGE is left out: on
// FreeSWITCH a waiting caller is in no bridge (its music is a broadcast),
// so an unbridge is only ever the end of an agent conversation, and a
// digit pressed while talking would pair with the agent hanging up.
var eslTypes = map[string]string{
	"DTMF":           "ChannelDtmfReceived",
	"PLAYBACK_START": "PlaybackStarted",
	"RECORD_START":   "RecordingStarted",
}

// ESLObserver is a second inbound event-socket connection to FreeSWITCH,
// subscribed to the digit and action events of every channel: it sees the
// events of the measured application's calls without touching them.
type ESLObserver struct {
	conn *esl.Conn
	mu   sync.Mutex
	evs  []Event
	bad  int   // events that could not be decoded
	lost error // the connection was redialled: events of the gap are lost
}

// ObserveESL connects to FreeSWITCH's event socket at addr and records
// events until Close or ctx ends.
func ObserveESL(ctx context.Context, addr, password string) (*ESLObserver, error) {
	o := &ESLObserver{}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := esl.Dial(dctx, addr, password, esl.Options{
		OnEvent: o.add,
		OnReconnect: func(context.Context) {
			o.mu.Lock()
			o.lost = errors.New("measure: observer connection was redialled: events lost")
			o.mu.Unlock()
		},
	})
	if err != nil {
		return nil, fmt.Errorf("measure: observer dial %s: %w", addr, err)
	}
	names := make([]string, 0, len(eslTypes))
	for n := range eslTypes {
		names = append(names, n)
	}
	slices.Sort(names)
	if err := conn.Subscribe(dctx, "plain", names...); err != nil {
		conn.Close()
		return nil, fmt.Errorf("measure: observer subscribe: %w", err)
	}
	o.conn = conn
	return o, nil
}

func (o *ESLObserver) add(e *esl.Event) {
	ev, ok, err := decodeESL(e)
	o.mu.Lock()
	defer o.mu.Unlock()
	switch {
	case err != nil:
		o.bad++
	case ok:
		o.evs = append(o.evs, ev)
	}
}

// decodeESL keeps the events of eslTypes that name a channel; the time is
// FreeSWITCH's Event-Date-Timestamp (microseconds since the epoch).
func decodeESL(e *esl.Event) (Event, bool, error) {
	typ, ok := eslTypes[e.Name()]
	if !ok {
		return Event{}, false, nil
	}
	us, err := strconv.ParseInt(e.Get("Event-Date-Timestamp"), 10, 64)
	if err != nil {
		return Event{}, false, fmt.Errorf("measure: %s Event-Date-Timestamp: %w", e.Name(), err)
	}
	ev := Event{Type: typ, Time: time.UnixMicro(us), Channel: e.UniqueID(), Digit: e.Get("DTMF-Digit")}
	if ev.Channel == "" {
		if typ == "ChannelDtmfReceived" {
			return Event{}, false, errors.New("measure: DTMF without a Unique-ID")
		}
		return Event{}, false, nil
	}
	return ev, true, nil
}

// Close ends the connection and returns the events seen, each channel's in
// arrival order, and how many could not be decoded. The error reports a
// connection that ended or was redialled before Close.
func (o *ESLObserver) Close() ([]Event, int, error) {
	var early error
	select {
	case <-o.conn.Done():
		early = fmt.Errorf("measure: observer connection ended early: %w", o.conn.Err())
	default:
	}
	o.conn.Close()
	o.mu.Lock()
	defer o.mu.Unlock()
	if early == nil {
		early = o.lost
	}
	return slices.Clone(o.evs), o.bad, early
}
