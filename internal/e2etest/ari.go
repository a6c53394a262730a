package e2etest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/callflow/callflow/internal/asterisktest"
)

// Bridge is the part of an ARI bridge the tests look at.
type Bridge struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	BridgeType string   `json:"bridge_type"` // "holding" or "mixing"
	Channels   []string `json:"channels"`
}

// Bridges lists Asterisk's bridges (GET /ari/bridges), straight from
// Asterisk rather than through callflow.
func Bridges(ctx context.Context, ast *asterisktest.Asterisk) ([]Bridge, error) {
	ctx, cancel := context.WithTimeout(ctx, apiTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ast.ARIURL+"/bridges", nil)
	if err != nil {
		return nil, fmt.Errorf("e2etest: ari bridges: %w", err)
	}
	req.SetBasicAuth(ast.User, ast.Pass)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("e2etest: ari bridges: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("e2etest: ari bridges: read: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("e2etest: ari bridges: status %s: %s", resp.Status, body)
	}
	var out []Bridge
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, fmt.Errorf("e2etest: ari bridges: decode: %w", err)
	}
	return out, nil
}

// BridgeOf returns the bridge channel is in, if any.
func BridgeOf(ctx context.Context, ast *asterisktest.Asterisk, channel string) (Bridge, bool, error) {
	bs, err := Bridges(ctx, ast)
	if err != nil {
		return Bridge{}, false, err
	}
	for _, b := range bs {
		if slices.Contains(b.Channels, channel) {
			return b, true, nil
		}
	}
	return Bridge{}, false, nil
}

// WaitBridge polls until channel is in a bridge of type bridgeType
// ("holding", "mixing"), or in no bridge at all when bridgeType is "".
func WaitBridge(ctx context.Context, ast *asterisktest.Asterisk, channel, bridgeType string) (Bridge, error) {
	for {
		b, in, err := BridgeOf(ctx, ast, channel)
		if err != nil {
			return b, err
		}
		if bridgeType == "" && !in || in && b.BridgeType == bridgeType {
			return b, nil
		}
		select {
		case <-ctx.Done():
			return b, fmt.Errorf("e2etest: channel %s in bridge %+v, want %q: %w", channel, b, bridgeType, context.Cause(ctx))
		case <-time.After(pollInterval):
		}
	}
}

// ariChannels lists Asterisk's channels (GET /ari/channels).
func ariChannels(ctx context.Context, ast *asterisktest.Asterisk) ([]Channel, error) {
	ctx, cancel := context.WithTimeout(ctx, apiTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ast.ARIURL+"/channels", nil)
	if err != nil {
		return nil, fmt.Errorf("e2etest: ari channels: %w", err)
	}
	req.SetBasicAuth(ast.User, ast.Pass)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("e2etest: ari channels: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("e2etest: ari channels: read: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("e2etest: ari channels: status %s: %s", resp.Status, body)
	}
	var out []Channel
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, fmt.Errorf("e2etest: ari channels: decode: %w", err)
	}
	return out, nil
}
