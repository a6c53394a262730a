package measure

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// Event is what the observer keeps of one ARI event.
type Event struct {
	Type    string    // ChannelDtmfReceived, PlaybackStarted, …
	Time    time.Time // the event's own "timestamp" (Asterisk's clock)
	Channel string    // the channel the event is about ("" for bridge targets)
	Digit   string    // ChannelDtmfReceived only
}

// actionTypes are the events that show an application reacting to a digit.
var actionTypes = map[string]bool{"PlaybackStarted": true, "RecordingStarted": true, "ChannelLeftBridge": true}

// Observer is a second ARI application subscribed to every event source
// (subscribeAll), so it sees the events of the measured application's
// channels without touching them.
type Observer struct {
	conn *websocket.Conn
	done chan struct{} // closed when the reader has ended
	mu   sync.Mutex
	evs  []Event
	bad  int   // events that could not be decoded
	err  error // why the reader ended, nil after Close
}

// ObserverURL builds the websocket URL of an observer application on the
// ARI at ariURL ("http://127.0.0.1:8088/ari").
func ObserverURL(ariURL, app, user, pass string) (string, error) {
	u, err := url.Parse(ariURL)
	if err != nil {
		return "", fmt.Errorf("measure: ari url: %w", err)
	}
	switch u.Scheme {
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	default:
		return "", fmt.Errorf("measure: ari url %q: scheme must be http or https", ariURL)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/events"
	q := url.Values{}
	q.Set("app", app)
	q.Set("subscribeAll", "true")
	q.Set("api_key", user+":"+pass)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// Observe connects to wsURL and records events until Close or ctx ends.
func Observe(ctx context.Context, wsURL string) (*Observer, error) {
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(dctx, wsURL, nil)
	if err != nil {
		return nil, fmt.Errorf("measure: observer dial: %w", err)
	}
	conn.SetReadLimit(1 << 20)
	o := &Observer{conn: conn, done: make(chan struct{})}
	// Ends when the connection closes: Close, ctx, or Asterisk going away.
	go o.read(ctx)
	return o, nil
}

func (o *Observer) read(ctx context.Context) {
	defer close(o.done)
	for {
		_, data, err := o.conn.Read(ctx)
		if err != nil {
			o.mu.Lock()
			o.err = err
			o.mu.Unlock()
			return
		}
		ev, ok, err := decode(data)
		o.mu.Lock()
		switch {
		case err != nil:
			o.bad++
		case ok:
			o.evs = append(o.evs, ev)
		}
		o.mu.Unlock()
	}
}

// Close ends the connection and returns the events seen, in arrival order,
// and how many frames could not be decoded. The error reports a connection
// that ended before Close.
func (o *Observer) Close() ([]Event, int, error) {
	o.mu.Lock()
	early := o.err
	o.mu.Unlock()
	_ = o.conn.Close(websocket.StatusNormalClosure, "done")
	<-o.done
	o.mu.Lock()
	defer o.mu.Unlock()
	if early != nil {
		early = fmt.Errorf("measure: observer connection ended early: %w", early)
	}
	return slices.Clone(o.evs), o.bad, early
}

type wireEvent struct {
	Type      string `json:"type"`
	Timestamp string `json:"timestamp"`
	Digit     string `json:"digit"`
	Channel   *struct {
		ID string `json:"id"`
	} `json:"channel"`
	Playback *struct {
		TargetURI string `json:"target_uri"`
	} `json:"playback"`
	Recording *struct {
		TargetURI string `json:"target_uri"`
	} `json:"recording"`
}

// ariTime is the layout of ARI's event timestamps.
const ariTime = "2006-01-02T15:04:05.000-0700"

// decode keeps DTMF and action events; other events report ok=false.
func decode(data []byte) (Event, bool, error) {
	var w wireEvent
	if err := json.Unmarshal(data, &w); err != nil {
		return Event{}, false, fmt.Errorf("measure: decode event: %w", err)
	}
	if w.Type != "ChannelDtmfReceived" && !actionTypes[w.Type] {
		return Event{}, false, nil
	}
	ts, err := time.Parse(ariTime, w.Timestamp)
	if err != nil {
		return Event{}, false, fmt.Errorf("measure: %s timestamp: %w", w.Type, err)
	}
	ev := Event{Type: w.Type, Time: ts, Digit: w.Digit}
	switch {
	case w.Playback != nil:
		ev.Channel, _ = strings.CutPrefix(w.Playback.TargetURI, "channel:")
		if strings.Contains(ev.Channel, ":") {
			ev.Channel = ""
		}
	case w.Recording != nil:
		ev.Channel, _ = strings.CutPrefix(w.Recording.TargetURI, "channel:")
		if strings.Contains(ev.Channel, ":") {
			ev.Channel = ""
		}
	case w.Channel != nil:
		ev.Channel = w.Channel.ID
	}
	if ev.Channel == "" && w.Type == "ChannelDtmfReceived" {
		return Event{}, false, errors.New("measure: ChannelDtmfReceived without a channel")
	}
	return ev, ev.Channel != "", nil
}
