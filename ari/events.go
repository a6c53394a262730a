package ari

import (
	"encoding/json"
	"errors"
	"fmt"

	// jsonv1 is encoding/json's v1 semantics on the json v2 engine (the
	// staging module of encoding/json/v2, by the Go team): the same
	// results, twice as fast and one allocation instead of 23 for a
	// ChannelDtmfReceived (BenchmarkDecodeEvent). Every event a call gets
	// is decoded here, the largest single cost of callflow on Asterisk
	// (docs/performance.md).
	jsonv1 "github.com/go-json-experiment/json/v1"
)

// ErrMalformed: a websocket message is not a JSON object with a "type".
var ErrMalformed = errors.New("malformed event")

// EventBase holds the fields every ARI event carries.
type EventBase struct {
	Type        string `json:"type"`
	Application string `json:"application"`
	Timestamp   Time   `json:"timestamp"`
	AsteriskID  string `json:"asterisk_id,omitempty"`
}

// Header returns the common fields.
func (b *EventBase) Header() *EventBase { return b }

// Event is one decoded ARI event: a pointer to one of the types below,
// *UnknownEvent for a type this package does not know, or the synthetic
// *Resynced and *Incoming.
type Event interface {
	Header() *EventBase
	// routeKeys appends the keys the event is routed to (besides AllKey).
	routeKeys(dst []Key) []Key
}

// StasisStart: a channel entered the application (inbound call, or an
// originated channel that answered).
type StasisStart struct {
	EventBase
	Args           []string `json:"args"`
	Channel        Channel  `json:"channel"`
	ReplaceChannel *Channel `json:"replace_channel,omitempty"`
}

// StasisEnd: a channel left the application.
type StasisEnd struct {
	EventBase
	Channel Channel `json:"channel"`
}

// ChannelCreated: a channel was created (seen for originated channels).
type ChannelCreated struct {
	EventBase
	Channel Channel `json:"channel"`
}

// ChannelDestroyed: a channel is gone; Cause is the Q.850 cause.
type ChannelDestroyed struct {
	EventBase
	Cause     int     `json:"cause"`
	CauseText string  `json:"cause_txt"`
	TechCause int     `json:"tech_cause,omitempty"`
	Channel   Channel `json:"channel"`
}

// ChannelHangupRequest: a hang-up was requested on a channel.
type ChannelHangupRequest struct {
	EventBase
	Cause     int     `json:"cause,omitempty"`
	TechCause int     `json:"tech_cause,omitempty"`
	Soft      bool    `json:"soft,omitempty"`
	Channel   Channel `json:"channel"`
}

// ChannelStateChange: a channel's state changed (Ringing, Up, …).
type ChannelStateChange struct {
	EventBase
	Channel Channel `json:"channel"`
}

// ChannelDtmfReceived: a DTMF digit ended on a channel.
type ChannelDtmfReceived struct {
	EventBase
	Digit      string  `json:"digit"`
	DurationMs int     `json:"duration_ms"`
	Channel    Channel `json:"channel"`
}

// ChannelEnteredBridge: a channel joined a bridge.
type ChannelEnteredBridge struct {
	EventBase
	Bridge  Bridge   `json:"bridge"`
	Channel *Channel `json:"channel,omitempty"`
}

// ChannelLeftBridge: a channel left a bridge.
type ChannelLeftBridge struct {
	EventBase
	Bridge  Bridge  `json:"bridge"`
	Channel Channel `json:"channel"`
}

// ChannelVarset: a channel variable (or a global one, Channel nil) was set.
type ChannelVarset struct {
	EventBase
	Variable string   `json:"variable"`
	Value    string   `json:"value"`
	Channel  *Channel `json:"channel,omitempty"`
}

// Dial: progress of a dial attempt; Dialstatus is empty while it rings, then
// ANSWER, BUSY, NOANSWER, CANCEL, CONGESTION, CHANUNAVAIL, …
type Dial struct {
	EventBase
	Caller     *Channel `json:"caller,omitempty"`
	Peer       Channel  `json:"peer"`
	Forward    string   `json:"forward,omitempty"`
	Forwarded  *Channel `json:"forwarded,omitempty"`
	Dialstring string   `json:"dialstring,omitempty"`
	Dialstatus string   `json:"dialstatus"`
}

// BridgeCreated: a bridge was created.
type BridgeCreated struct {
	EventBase
	Bridge Bridge `json:"bridge"`
}

// BridgeDestroyed: a bridge was destroyed.
type BridgeDestroyed struct {
	EventBase
	Bridge Bridge `json:"bridge"`
}

// PlaybackStarted: a playback began.
type PlaybackStarted struct {
	EventBase
	Playback Playback `json:"playback"`
}

// PlaybackContinuing: a playback of several media moved to the next one.
type PlaybackContinuing struct {
	EventBase
	Playback Playback `json:"playback"`
}

// PlaybackFinished: a playback ended (state done or failed).
type PlaybackFinished struct {
	EventBase
	Playback Playback `json:"playback"`
}

// RecordingStarted: a live recording began.
type RecordingStarted struct {
	EventBase
	Recording LiveRecording `json:"recording"`
}

// RecordingFinished: a live recording ended and is stored.
type RecordingFinished struct {
	EventBase
	Recording LiveRecording `json:"recording"`
}

// RecordingFailed: a live recording failed; Recording.Cause says why.
type RecordingFailed struct {
	EventBase
	Recording LiveRecording `json:"recording"`
}

// ApplicationReplaced: another websocket registered the same application
// name; this connection no longer receives events.
type ApplicationReplaced struct {
	EventBase
}

// UnknownEvent is an event of a type this package does not decode, or a
// known type whose fields did not decode (Err is then set). Raw is the whole
// message.
type UnknownEvent struct {
	EventBase
	Raw json.RawMessage
	Err error
}

// Resynced is synthetic: delivered to AllKey subscribers after every
// (re)connection of the websocket, before any event read on it. Channels and
// Bridges are everything Asterisk listed (GET /channels, GET /bridges) right
// after the websocket was up; events read afterwards may repeat what the
// lists already show. Reconnect is false for the first connection of Run.
type Resynced struct {
	EventBase
	Reconnect bool
	Channels  []Channel
	Bridges   []Bridge
}

// Incoming is synthetic: delivered to Accept subscribers for a StasisStart
// whose channel had no subscriber. Sub is already keyed on the channel and
// receives every later event of it; its owner must Close it.
type Incoming struct {
	EventBase
	Start *StasisStart
	Sub   *Subscription
}

func chKeys(dst []Key, chs ...*Channel) []Key {
	for _, c := range chs {
		if c != nil && c.ID != "" {
			dst = append(dst, ChannelKey(c.ID))
		}
	}
	return dst
}

func (e *StasisStart) routeKeys(d []Key) []Key          { return chKeys(d, &e.Channel, e.ReplaceChannel) }
func (e *StasisEnd) routeKeys(d []Key) []Key            { return chKeys(d, &e.Channel) }
func (e *ChannelCreated) routeKeys(d []Key) []Key       { return chKeys(d, &e.Channel) }
func (e *ChannelDestroyed) routeKeys(d []Key) []Key     { return chKeys(d, &e.Channel) }
func (e *ChannelHangupRequest) routeKeys(d []Key) []Key { return chKeys(d, &e.Channel) }
func (e *ChannelStateChange) routeKeys(d []Key) []Key   { return chKeys(d, &e.Channel) }
func (e *ChannelDtmfReceived) routeKeys(d []Key) []Key  { return chKeys(d, &e.Channel) }
func (e *ChannelVarset) routeKeys(d []Key) []Key        { return chKeys(d, e.Channel) }
func (e *Dial) routeKeys(d []Key) []Key                 { return chKeys(d, &e.Peer, e.Caller, e.Forwarded) }
func (e *ApplicationReplaced) routeKeys(d []Key) []Key  { return d }
func (e *UnknownEvent) routeKeys(d []Key) []Key         { return d }
func (e *Resynced) routeKeys(d []Key) []Key             { return d }
func (e *Incoming) routeKeys(d []Key) []Key             { return d }

func (e *ChannelEnteredBridge) routeKeys(d []Key) []Key {
	return chKeys(append(d, BridgeKey(e.Bridge.ID)), e.Channel)
}
func (e *ChannelLeftBridge) routeKeys(d []Key) []Key {
	return chKeys(append(d, BridgeKey(e.Bridge.ID)), &e.Channel)
}
func (e *BridgeCreated) routeKeys(d []Key) []Key   { return append(d, BridgeKey(e.Bridge.ID)) }
func (e *BridgeDestroyed) routeKeys(d []Key) []Key { return append(d, BridgeKey(e.Bridge.ID)) }

func playbackKeys(d []Key, p *Playback) []Key {
	d = append(d, PlaybackKey(p.ID))
	if k, ok := targetKey(p.TargetURI); ok {
		d = append(d, k)
	}
	return d
}
func (e *PlaybackStarted) routeKeys(d []Key) []Key    { return playbackKeys(d, &e.Playback) }
func (e *PlaybackContinuing) routeKeys(d []Key) []Key { return playbackKeys(d, &e.Playback) }
func (e *PlaybackFinished) routeKeys(d []Key) []Key   { return playbackKeys(d, &e.Playback) }

func recordingKeys(d []Key, r *LiveRecording) []Key {
	d = append(d, RecordingKey(r.Name))
	if k, ok := targetKey(r.TargetURI); ok {
		d = append(d, k)
	}
	return d
}
func (e *RecordingStarted) routeKeys(d []Key) []Key  { return recordingKeys(d, &e.Recording) }
func (e *RecordingFinished) routeKeys(d []Key) []Key { return recordingKeys(d, &e.Recording) }
func (e *RecordingFailed) routeKeys(d []Key) []Key   { return recordingKeys(d, &e.Recording) }

// newEvent returns an empty typed event for a known type, nil otherwise.
func newEvent(typ string) Event {
	switch typ {
	case "StasisStart":
		return new(StasisStart)
	case "StasisEnd":
		return new(StasisEnd)
	case "ChannelCreated":
		return new(ChannelCreated)
	case "ChannelDestroyed":
		return new(ChannelDestroyed)
	case "ChannelHangupRequest":
		return new(ChannelHangupRequest)
	case "ChannelStateChange":
		return new(ChannelStateChange)
	case "ChannelDtmfReceived":
		return new(ChannelDtmfReceived)
	case "ChannelEnteredBridge":
		return new(ChannelEnteredBridge)
	case "ChannelLeftBridge":
		return new(ChannelLeftBridge)
	case "ChannelVarset":
		return new(ChannelVarset)
	case "Dial":
		return new(Dial)
	case "BridgeCreated":
		return new(BridgeCreated)
	case "BridgeDestroyed":
		return new(BridgeDestroyed)
	case "PlaybackStarted":
		return new(PlaybackStarted)
	case "PlaybackContinuing":
		return new(PlaybackContinuing)
	case "PlaybackFinished":
		return new(PlaybackFinished)
	case "RecordingStarted":
		return new(RecordingStarted)
	case "RecordingFinished":
		return new(RecordingFinished)
	case "RecordingFailed":
		return new(RecordingFailed)
	case "ApplicationReplaced":
		return new(ApplicationReplaced)
	}
	return nil
}

// DecodeEvent decodes one websocket message. It returns an error wrapping
// ErrMalformed when data is not a JSON object with a string "type"; an event
// of an unknown type, or of a known type whose fields do not decode, comes
// back as *UnknownEvent (with Err set in the second case) and a nil error.
// DecodeEvent never panics; the returned event does not alias data.
func DecodeEvent(data []byte) (Event, error) {
	typ, ok := peekType(data)
	if !ok {
		// Anything unusual (escapes, a non-string type, no type): let
		// encoding/json decide, as it decides for the whole message.
		var peek struct {
			Type string `json:"type"`
		}
		if err := jsonv1.Unmarshal(data, &peek); err != nil {
			return nil, fmt.Errorf("ari: decode event: %w: %v", ErrMalformed, err)
		}
		typ = peek.Type
	}
	if typ == "" {
		return nil, fmt.Errorf("ari: decode event: %w: no type", ErrMalformed)
	}
	ev := newEvent(typ)
	if ev == nil {
		var base EventBase
		if err := jsonv1.Unmarshal(data, &base); err != nil {
			return nil, fmt.Errorf("ari: decode event: %w: %v", ErrMalformed, err)
		}
		return &UnknownEvent{EventBase: base, Raw: json.RawMessage(append([]byte(nil), data...))}, nil
	}
	if err := jsonv1.Unmarshal(data, ev); err != nil {
		var syn *jsonv1.SyntaxError
		if errors.As(err, &syn) {
			return nil, fmt.Errorf("ari: decode event: %w: %v", ErrMalformed, err)
		}
		var base EventBase
		_ = jsonv1.Unmarshal(data, &base) // best effort: the header for logs
		base.Type = typ
		return &UnknownEvent{
			EventBase: base,
			Raw:       json.RawMessage(append([]byte(nil), data...)),
			Err:       fmt.Errorf("ari: decode %s: %w", base.Type, err),
		}, nil
	}
	return ev, nil
}

// peekType finds the string value of the top-level "type" key without
// decoding the message: one pass that skips every other value. As
// encoding/json does, it matches the key case-insensitively and keeps the
// last occurrence. ok is false when the message is not a plain object, a
// "type" key or value holds an escape, a "type" value is not a string, or
// there is no "type", or the type is not printable ASCII: the caller then asks encoding/json, so the result
// never differs from a full decode. It does not validate the rest: the
// typed decode that follows does.
func peekType(data []byte) (typ string, ok bool) {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return "", false
	}
	i++
	var found []byte
	for {
		i = skipSpace(data, i)
		if i >= len(data) {
			return "", false
		}
		if data[i] == '}' {
			break
		}
		if data[i] == ',' {
			i++
			continue
		}
		if data[i] != '"' {
			return "", false
		}
		key, next, esc := scanString(data, i)
		if next < 0 {
			return "", false
		}
		isType := len(key) == 4 && (key[0]|0x20) == 't' && (key[1]|0x20) == 'y' && (key[2]|0x20) == 'p' && (key[3]|0x20) == 'e'
		if esc && len(key) >= 4 {
			return "", false // an escaped key might spell "type"
		}
		i = skipSpace(data, next)
		if i >= len(data) || data[i] != ':' {
			return "", false
		}
		i = skipSpace(data, i+1)
		if isType {
			if i >= len(data) || data[i] != '"' {
				return "", false
			}
			v, next, esc := scanString(data, i)
			if next < 0 || esc || !plainASCII(v) {
				return "", false // encoding/json would rewrite it
			}
			found, i = v, next
			continue
		}
		if i = skipValue(data, i); i < 0 {
			return "", false
		}
	}
	if found == nil {
		return "", false
	}
	return string(found), true
}

func plainASCII(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c >= 0x7f {
			return false
		}
	}
	return true
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// scanString reads the JSON string starting at b[i] == '"' and returns its
// raw contents, the index after the closing quote (-1 if unterminated) and
// whether it holds an escape.
func scanString(b []byte, i int) (raw []byte, next int, esc bool) {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			esc = true
			j++
		case '"':
			return b[i+1 : j], j + 1, esc
		}
	}
	return nil, -1, esc
}

// skipValue returns the index after the JSON value starting at b[i], or -1
// when the message ends first. Nested strings are skipped whole, so
// brackets inside them do not count.
func skipValue(b []byte, i int) int {
	depth := 0
	for i < len(b) {
		switch c := b[i]; c {
		case '"':
			_, next, _ := scanString(b, i)
			if next < 0 {
				return -1
			}
			i = next
			if depth == 0 {
				return i
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth < 0 {
				return i // the end of the enclosing object: an empty value
			}
			if depth == 0 {
				return i + 1
			}
		case ',':
			if depth == 0 {
				return i
			}
		}
		i++
	}
	return -1
}
