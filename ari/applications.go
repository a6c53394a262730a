package ari

import (
	"context"
	"fmt"
	"slices"
)

// Application is the state of a Stasis application as ARI reports it.
type Application struct {
	Name             string            `json:"name"`
	ChannelIDs       []string          `json:"channel_ids"`
	BridgeIDs        []string          `json:"bridge_ids"`
	EventsAllowed    []EventTypeFilter `json:"events_allowed"`
	EventsDisallowed []EventTypeFilter `json:"events_disallowed"`
}

// EventTypeFilter is one entry of an application event filter.
type EventTypeFilter struct {
	Type string `json:"type"`
}

// SetEventFilter asks Asterisk to send the application only the given event
// types (PUT /applications/{app}/eventFilter). An empty list clears the
// filter, so every event is sent again. Asterisk keeps the filter while the
// application is registered; the client applies Config.EventTypes itself on
// every connection.
func (c *Client) SetEventFilter(ctx context.Context, allowed []string) (Application, error) {
	body := struct {
		Allowed []EventTypeFilter `json:"allowed"`
	}{Allowed: make([]EventTypeFilter, 0, len(allowed))}
	for _, t := range allowed {
		body.Allowed = append(body.Allowed, EventTypeFilter{Type: t})
	}
	var app Application
	err := c.do(ctx, "PUT", escPath("applications", c.cfg.App, "eventFilter"), nil, body, &app)
	return app, err
}

// GetApplication returns the application's state, its event filter included.
func (c *Client) GetApplication(ctx context.Context) (Application, error) {
	var app Application
	err := c.do(ctx, "GET", escPath("applications", c.cfg.App), nil, nil, &app)
	return app, err
}

// KnownEventTypes lists the event types this package decodes into typed
// values, sorted.
func KnownEventTypes() []string {
	out := slices.Clone(knownEventTypes)
	slices.Sort(out)
	return out
}

// knownEventTypes is every type newEvent decodes; kept in one place so a
// filter can be checked against it.
var knownEventTypes = []string{
	"StasisStart", "StasisEnd", "ChannelCreated", "ChannelDestroyed",
	"ChannelHangupRequest", "ChannelStateChange", "ChannelDtmfReceived",
	"ChannelEnteredBridge", "ChannelLeftBridge", "ChannelVarset", "Dial",
	"BridgeCreated", "BridgeDestroyed", "PlaybackStarted",
	"PlaybackContinuing", "PlaybackFinished", "RecordingStarted",
	"RecordingFinished", "RecordingFailed", "ApplicationReplaced",
}

// checkEventTypes refuses a filter naming a type the package does not know,
// which would silently drop nothing and hide a typo.
func checkEventTypes(types []string) error {
	for _, t := range types {
		if !slices.Contains(knownEventTypes, t) {
			return fmt.Errorf("ari: event filter: unknown event type %q", t)
		}
	}
	return nil
}
