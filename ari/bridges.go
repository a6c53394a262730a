package ari

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strings"
)

// Bridge types for CreateBridge.
const (
	BridgeHolding = "holding"
	BridgeMixing  = "mixing"
)

// CreateBridge creates a bridge with a caller-chosen id (empty = random).
// typ is "holding" or "mixing" (optionally with ARI's extra flags, e.g.
// "mixing,dtmf_events,proxy_media").
func (c *Client) CreateBridge(ctx context.Context, id, typ, name string) (Bridge, error) {
	var b Bridge
	if id == "" {
		id = NewID("br-")
	}
	if err := validateID("bridge id", id); err != nil {
		return b, err
	}
	for _, t := range strings.Split(typ, ",") {
		if err := oneOf("bridge type", t, BridgeHolding, BridgeMixing, "dtmf_events", "proxy_media", "video_sfu", "video_single"); err != nil || t == "" {
			return b, fmt.Errorf("ari: bridge type %q: %w", typ, ErrInvalidArgument)
		}
	}
	q := url.Values{"type": {typ}, "bridgeId": {id}}
	if name != "" {
		q.Set("name", name)
	}
	err := c.do(ctx, "POST", "/bridges", q, nil, &b)
	return b, err
}

// ListBridges lists every bridge.
func (c *Client) ListBridges(ctx context.Context) ([]Bridge, error) {
	var bs []Bridge
	err := c.do(ctx, "GET", "/bridges", nil, nil, &bs)
	return bs, err
}

// GetBridge returns a bridge's details (ErrNotFound if it is gone).
func (c *Client) GetBridge(ctx context.Context, id string) (Bridge, error) {
	var b Bridge
	if err := validateID("bridge id", id); err != nil {
		return b, err
	}
	err := c.do(ctx, "GET", escPath("bridges", id), nil, nil, &b)
	return b, err
}

// DestroyBridge shuts a bridge down; its channels stay up.
func (c *Client) DestroyBridge(ctx context.Context, id string) error {
	if err := validateID("bridge id", id); err != nil {
		return err
	}
	return c.do(ctx, "DELETE", escPath("bridges", id), nil, nil, nil)
}

// AddChannel moves a channel into a bridge (out of any other bridge).
func (c *Client) AddChannel(ctx context.Context, bridgeID, channelID string) error {
	if err := validateID("bridge id", bridgeID); err != nil {
		return err
	}
	if err := validateID("channel id", channelID); err != nil {
		return err
	}
	if strings.ContainsRune(channelID, ',') {
		return fmt.Errorf("ari: channel id %q: %w", channelID, ErrInvalidArgument)
	}
	return c.do(ctx, "POST", escPath("bridges", bridgeID, "addChannel"), url.Values{"channel": {channelID}}, nil, nil)
}

// RemoveChannel takes a channel out of a bridge.
func (c *Client) RemoveChannel(ctx context.Context, bridgeID, channelID string) error {
	if err := validateID("bridge id", bridgeID); err != nil {
		return err
	}
	if err := validateID("channel id", channelID); err != nil {
		return err
	}
	if strings.ContainsRune(channelID, ',') {
		return fmt.Errorf("ari: channel id %q: %w", channelID, ErrInvalidArgument)
	}
	return c.do(ctx, "POST", escPath("bridges", bridgeID, "removeChannel"), url.Values{"channel": {channelID}}, nil, nil)
}

// StartBridgeMOH plays music on hold to a bridge ("" = default class).
func (c *Client) StartBridgeMOH(ctx context.Context, bridgeID, class string) error {
	if err := validateID("bridge id", bridgeID); err != nil {
		return err
	}
	var q url.Values
	if class != "" {
		q = url.Values{"mohClass": {class}}
	}
	return c.do(ctx, "POST", escPath("bridges", bridgeID, "moh"), q, nil, nil)
}

// StopBridgeMOH stops music on hold in a bridge.
func (c *Client) StopBridgeMOH(ctx context.Context, bridgeID string) error {
	if err := validateID("bridge id", bridgeID); err != nil {
		return err
	}
	return c.do(ctx, "DELETE", escPath("bridges", bridgeID, "moh"), nil, nil, nil)
}

// PlayOnBridge plays media to every channel of a bridge.
func (c *Client) PlayOnBridge(ctx context.Context, bridgeID string, req PlayRequest) (Playback, error) {
	var pb Playback
	if err := validateID("bridge id", bridgeID); err != nil {
		return pb, err
	}
	q, err := req.query()
	if err != nil {
		return pb, err
	}
	err = c.do(ctx, "POST", escPath("bridges", bridgeID, "play"), q, nil, &pb)
	return pb, err
}

// GetPlayback returns a playback's state.
func (c *Client) GetPlayback(ctx context.Context, id string) (Playback, error) {
	var pb Playback
	if err := validateID("playback id", id); err != nil {
		return pb, err
	}
	err := c.do(ctx, "GET", escPath("playbacks", id), nil, nil, &pb)
	return pb, err
}

// StopPlayback stops a playback (ErrNotFound if it already ended).
func (c *Client) StopPlayback(ctx context.Context, id string) error {
	if err := validateID("playback id", id); err != nil {
		return err
	}
	return c.do(ctx, "DELETE", escPath("playbacks", id), nil, nil, nil)
}

// StopRecording stops a live recording and stores it.
func (c *Client) StopRecording(ctx context.Context, name string) error {
	if err := validateID("recording name", name); err != nil {
		return err
	}
	return c.do(ctx, "POST", escPath("recordings", "live", name, "stop"), nil, nil, nil)
}

// CancelRecording stops a live recording and discards it.
func (c *Client) CancelRecording(ctx context.Context, name string) error {
	if err := validateID("recording name", name); err != nil {
		return err
	}
	return c.do(ctx, "DELETE", escPath("recordings", "live", name), nil, nil, nil)
}

// GetStoredRecording returns a stored recording's name and format.
func (c *Client) GetStoredRecording(ctx context.Context, name string) (StoredRecording, error) {
	var r StoredRecording
	if err := validateID("recording name", name); err != nil {
		return r, err
	}
	err := c.do(ctx, "GET", escPath("recordings", "stored", name), nil, nil, &r)
	return r, err
}

// ListStoredRecordings lists the stored recordings.
func (c *Client) ListStoredRecordings(ctx context.Context) ([]StoredRecording, error) {
	var rs []StoredRecording
	err := c.do(ctx, "GET", "/recordings/stored", nil, nil, &rs)
	return rs, err
}

// DeleteStoredRecording deletes a stored recording.
func (c *Client) DeleteStoredRecording(ctx context.Context, name string) error {
	if err := validateID("recording name", name); err != nil {
		return err
	}
	return c.do(ctx, "DELETE", escPath("recordings", "stored", name), nil, nil, nil)
}

// DownloadRecording streams a stored recording's audio file into w and
// returns the number of bytes written. The whole transfer is bounded by
// Config.DownloadTimeout.
func (c *Client) DownloadRecording(ctx context.Context, name string, w io.Writer) (int64, error) {
	if err := validateID("recording name", name); err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.DownloadTimeout)
	defer cancel()
	path := escPath("recordings", "stored", name, "file")
	resp, err := c.send(ctx, "GET", path, nil, nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return n, fmt.Errorf("ari: GET %s: copy body: %w", path, err)
	}
	return n, nil
}

// Info returns GET /asterisk/info.
func (c *Client) Info(ctx context.Context) (AsteriskInfo, error) {
	var i AsteriskInfo
	err := c.do(ctx, "GET", "/asterisk/info", nil, nil, &i)
	return i, err
}
