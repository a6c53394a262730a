package ari

import (
	"bytes"
	"time"
)

// Time is an ARI timestamp. Asterisk writes "2006-01-02T15:04:05.000-0700"
// (no colon in the offset); RFC 3339 is accepted too. An unparsable or null
// value decodes as the zero time instead of failing the whole event.
type Time struct{ time.Time }

// TimeLayout is the layout Asterisk uses for timestamps.
const TimeLayout = "2006-01-02T15:04:05.000-0700"

var timeLayouts = []string{TimeLayout, "2006-01-02T15:04:05-0700", time.RFC3339Nano}

// UnmarshalJSON implements json.Unmarshaler.
func (t *Time) UnmarshalJSON(b []byte) error {
	t.Time = time.Time{}
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return nil
	}
	s := b[1 : len(b)-1]
	if len(s) == 0 || bytes.IndexByte(s, '\\') >= 0 {
		return nil
	}
	for _, l := range timeLayouts {
		if v, err := time.Parse(l, string(s)); err == nil {
			t.Time = v
			return nil
		}
	}
	return nil
}

// MarshalJSON writes the Asterisk layout (zero time as "").
func (t Time) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte(`""`), nil
	}
	return []byte(`"` + t.Format(TimeLayout) + `"`), nil
}

// CallerID is a name and number pair.
type CallerID struct {
	Name   string `json:"name"`
	Number string `json:"number"`
}

// DialplanCEP is a position in the dialplan.
type DialplanCEP struct {
	Context  string `json:"context"`
	Exten    string `json:"exten"`
	Priority int64  `json:"priority"`
	AppName  string `json:"app_name,omitempty"`
	AppData  string `json:"app_data,omitempty"`
}

// Channel is ARI's Channel model.
type Channel struct {
	ID           string            `json:"id"`
	Name         string            `json:"name"`
	State        string            `json:"state"` // Down, Rsrved, OffHook, Dialing, Ring, Ringing, Up, Busy, Dialing Offhook, Pre-ring, Unknown
	ProtocolID   string            `json:"protocol_id,omitempty"`
	Caller       CallerID          `json:"caller"`
	Connected    CallerID          `json:"connected"`
	AccountCode  string            `json:"accountcode"`
	Dialplan     DialplanCEP       `json:"dialplan"`
	CreationTime Time              `json:"creationtime"`
	Language     string            `json:"language"`
	ChannelVars  map[string]string `json:"channelvars,omitempty"`
	CallerRDNIS  string            `json:"caller_rdnis,omitempty"`
	TenantID     string            `json:"tenantid,omitempty"`
}

// Bridge is ARI's Bridge model.
type Bridge struct {
	ID            string   `json:"id"`
	Technology    string   `json:"technology"`
	BridgeType    string   `json:"bridge_type"`  // mixing, holding
	BridgeClass   string   `json:"bridge_class"` // stasis, base
	Creator       string   `json:"creator"`
	Name          string   `json:"name"`
	Channels      []string `json:"channels"`
	VideoMode     string   `json:"video_mode,omitempty"`
	VideoSourceID string   `json:"video_source_id,omitempty"`
	CreationTime  Time     `json:"creationtime"`
}

// Playback states.
const (
	PlaybackStateQueued     = "queued"
	PlaybackStatePlaying    = "playing"
	PlaybackStateContinuing = "continuing"
	PlaybackStateDone       = "done"
	PlaybackStateFailed     = "failed"
)

// Playback is ARI's Playback model.
type Playback struct {
	ID           string `json:"id"`
	MediaURI     string `json:"media_uri"`
	NextMediaURI string `json:"next_media_uri,omitempty"`
	TargetURI    string `json:"target_uri"` // channel:ID or bridge:ID
	Language     string `json:"language,omitempty"`
	State        string `json:"state"`
}

// LiveRecording is ARI's LiveRecording model. Durations are in seconds.
type LiveRecording struct {
	Name            string `json:"name"`
	Format          string `json:"format"`
	TargetURI       string `json:"target_uri"`
	State           string `json:"state"` // queued, recording, paused, done, failed, canceled
	Duration        int    `json:"duration,omitempty"`
	TalkingDuration int    `json:"talking_duration,omitempty"`
	SilenceDuration int    `json:"silence_duration,omitempty"`
	Cause           string `json:"cause,omitempty"`
}

// StoredRecording is ARI's StoredRecording model.
type StoredRecording struct {
	Name   string `json:"name"`
	Format string `json:"format"`
}

// AsteriskInfo is ARI's AsteriskInfo model (GET /asterisk/info).
type AsteriskInfo struct {
	Build *struct {
		OS      string `json:"os"`
		Kernel  string `json:"kernel"`
		Options string `json:"options"`
		Machine string `json:"machine"`
		Date    string `json:"date"`
		User    string `json:"user"`
	} `json:"build,omitempty"`
	System *struct {
		Version  string `json:"version"`
		EntityID string `json:"entity_id"`
	} `json:"system,omitempty"`
	Config *struct {
		Name            string  `json:"name"`
		DefaultLanguage string  `json:"default_language"`
		MaxChannels     int     `json:"max_channels"`
		MaxOpenFiles    int     `json:"max_open_files"`
		MaxLoad         float64 `json:"max_load"`
	} `json:"config,omitempty"`
	Status *struct {
		StartupTime    Time `json:"startup_time"`
		LastReloadTime Time `json:"last_reload_time"`
	} `json:"status,omitempty"`
}

// targetKey maps a playback/recording target URI to the routing key of its
// channel or bridge.
func targetKey(uri string) (Key, bool) {
	switch {
	case len(uri) > len("channel:") && uri[:len("channel:")] == "channel:":
		return ChannelKey(uri[len("channel:"):]), true
	case len(uri) > len("bridge:") && uri[:len("bridge:")] == "bridge:":
		return BridgeKey(uri[len("bridge:"):]), true
	}
	return "", false
}
