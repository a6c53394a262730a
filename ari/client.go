// Package ari is callflow's client for the Asterisk REST Interface: REST
// requests with a context and a per-request timeout on every call, typed
// errors, and a websocket event stream decoded into typed events and routed,
// in wire order and without loss, to per-key subscriptions.
//
// Usage: build a Client with New, start (*Client).Run in its own goroutine
// (it connects, reads, reconnects with backoff and re-syncs until its
// context ends), subscribe with Subscribe or Accept, and call the REST
// methods. The *AndWait helpers subscribe before they execute, so events
// Asterisk sends before its HTTP response (PlaybackStarted does) are seen.
package ari

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Config configures a Client.
type Config struct {
	// BaseURL of the ARI, e.g. http://127.0.0.1:8088/ari (required).
	BaseURL string
	// User and Pass of an ari.conf user; App is the Stasis application name
	// the websocket registers (required).
	User, Pass, App string
	// RequestTimeout bounds every REST request (default 10 s).
	RequestTimeout time.Duration
	// DownloadTimeout bounds a stored-recording download (default 2 min).
	DownloadTimeout time.Duration
	// HTTPClient is used for REST and the websocket handshake (default: a
	// client of its own with no overall timeout; RequestTimeout applies).
	HTTPClient *http.Client
	// ReconnectMin and ReconnectMax bound the capped exponential backoff
	// between websocket connection attempts (defaults 250 ms and 30 s).
	ReconnectMin, ReconnectMax time.Duration
	// PingInterval is how often the client pings Asterisk over the websocket
	// to detect a dead connection (default 20 s; the ping times out after
	// the same interval).
	PingInterval time.Duration
	// MaxMessageBytes is the websocket read limit (default 4 MiB).
	MaxMessageBytes int64
	// BacklogWarn is the number of undelivered events of one subscription
	// above which the subscription is reported as slow (default 1000). No
	// event is ever dropped.
	BacklogWarn int
	// OnStateChange, if set, is called from Run's goroutine on every
	// connection state change; it must not block.
	OnStateChange func(old, new State)
	// EventTypes, if not empty, is the application event filter: after
	// every websocket connection, before the re-sync, the client asks
	// Asterisk to send only these event types. Asterisk otherwise sends
	// every event of every channel in the application (ChannelVarset,
	// ChannelDialplan, …), and decoding them is most of an idle client's
	// work under load.
	EventTypes []string
	// RetryWhileDown, if positive, is how long a REST request that could
	// not reach Asterisk (connection refused, reset or closed: the
	// connection is being lost) waits for the event websocket to be up
	// again before it is sent again, from its first failure; 0 returns the
	// failure at once. Requests with a context that has ended, requests
	// Asterisk answered (any HTTP status) and timeouts are never retried,
	// nor Originate (its channel's events would be lost with the
	// connection) nor the re-sync itself. Run must be running.
	RetryWhileDown time.Duration
}

// Client talks to one Asterisk. Its methods are safe for concurrent use.
type Client struct {
	cfg    Config
	base   string // BaseURL without trailing slash
	wsURL  string
	http   *http.Client
	log    *zap.Logger
	router router

	running atomic.Bool
	stateMu sync.Mutex
	state   State
	stateCh chan struct{} // closed and replaced on every state change

	stats stats
}

// New checks cfg and returns a Client. It does not connect: call Run.
func New(cfg Config, log *zap.Logger) (*Client, error) {
	if log == nil {
		log = zap.NewNop()
	}
	u, err := url.Parse(cfg.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("ari: base URL: %w", err)
	}
	var wsScheme string
	switch u.Scheme {
	case "http":
		wsScheme = "ws"
	case "https":
		wsScheme = "wss"
	default:
		return nil, fmt.Errorf("ari: base URL %q: scheme must be http or https: %w", cfg.BaseURL, ErrInvalidArgument)
	}
	if u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("ari: base URL %q: want scheme://host[:port]/path: %w", cfg.BaseURL, ErrInvalidArgument)
	}
	if cfg.App == "" || strings.ContainsAny(cfg.App, ",/") {
		return nil, fmt.Errorf("ari: application name %q: %w", cfg.App, ErrInvalidArgument)
	}
	if err := checkEventTypes(cfg.EventTypes); err != nil {
		return nil, fmt.Errorf("%w: %w", err, ErrInvalidArgument)
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 10 * time.Second
	}
	if cfg.DownloadTimeout <= 0 {
		cfg.DownloadTimeout = 2 * time.Minute
	}
	if cfg.ReconnectMin <= 0 {
		cfg.ReconnectMin = 250 * time.Millisecond
	}
	if cfg.ReconnectMax < cfg.ReconnectMin {
		cfg.ReconnectMax = max(30*time.Second, cfg.ReconnectMin)
	}
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = 20 * time.Second
	}
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = 4 << 20
	}
	if cfg.BacklogWarn <= 0 {
		cfg.BacklogWarn = 1000
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Transport: newTransport()}
	}
	base := strings.TrimRight(u.String(), "/")
	ws := *u
	ws.Scheme = wsScheme
	ws.Path = strings.TrimRight(u.Path, "/") + "/events"
	ws.RawPath = ""
	ws.RawQuery = url.Values{"app": {cfg.App}, "api_key": {cfg.User + ":" + cfg.Pass}}.Encode()
	c := &Client{
		cfg:     cfg,
		base:    base,
		wsURL:   ws.String(),
		http:    hc,
		log:     log.With(zap.String("switch", "asterisk"), zap.String("app", cfg.App)),
		stateCh: make(chan struct{}),
	}
	c.router.init(c)
	return c, nil
}

// idleConnsPerHost is how many idle keep-alive connections to Asterisk the
// default transport keeps. net/http's default of 2 makes every request
// beyond two at once open a new connection and close it afterwards, and
// Asterisk's HTTP server starts a thread per connection: under a few hundred
// calls that churn cost both processes more CPU than the requests.
const idleConnsPerHost = 64

// newTransport is net/http's default transport keeping idleConnsPerHost
// idle connections.
func newTransport() *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = max(tr.MaxIdleConns, idleConnsPerHost)
	tr.MaxIdleConnsPerHost = idleConnsPerHost
	return tr
}

// App is the Stasis application name.
func (c *Client) App() string { return c.cfg.App }

// NewID returns a random identifier with the given prefix, for channel ids,
// playback ids, bridge ids and recording names chosen by the caller.
func NewID(prefix string) string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	return prefix + hex.EncodeToString(b[:])
}

// path joins escaped segments below the base URL: path("channels", id, "play").
func escPath(segs ...string) string {
	var b strings.Builder
	for _, s := range segs {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(s))
	}
	return b.String()
}

// apiMessage is an ARI error body: {"message": …}, or {"error": …} for some
// failures (originate to an unknown endpoint answers 500 {"error":"Allocation failed"}).
type apiMessage struct {
	Message string `json:"message"`
	Error   string `json:"error"`
}

// do sends one request. q may be nil; body, if non-nil, is sent as JSON; out,
// if non-nil, receives the decoded JSON answer.
// A request that could not reach Asterisk is sent again once the
// connection is back, within Config.RetryWhileDown (see retryable).
func (c *Client) do(ctx context.Context, method, path string, q url.Values, body, out any) error {
	var deadline time.Time
	for n := 0; ; n++ {
		err := c.doOnce(ctx, method, path, q, body, out)
		if err == nil || !c.retryable(ctx, err) {
			return err
		}
		if deadline.IsZero() {
			deadline = time.Now().Add(c.cfg.RetryWhileDown)
		}
		if !c.awaitRetry(ctx, deadline, n, err, method, path) {
			return err
		}
	}
}

// doOnce sends one request once.
func (c *Client) doOnce(ctx context.Context, method, path string, q url.Values, body, out any) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
	resp, err := c.send(ctx, method, path, q, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("ari: %s %s: decode answer: %w", method, path, err)
	}
	return nil
}

// send performs the request and returns the response of a 2xx answer; any
// other status becomes an *Error and the body is closed.
func (c *Client) send(ctx context.Context, method, path string, q url.Values, body any) (*http.Response, error) {
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("ari: %s %s: encode body: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, fmt.Errorf("ari: %s %s: %w", method, path, err)
	}
	req.SetBasicAuth(c.cfg.User, c.cfg.Pass)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	c.log.Debug("ari request", zap.String("method", method), zap.String("path", path), zap.String("query", req.URL.RawQuery))
	resp, err := c.http.Do(req)
	if err != nil {
		if cerr := context.Cause(ctx); cerr != nil && !errors.Is(err, cerr) {
			return nil, fmt.Errorf("ari: %s %s: %w (%w)", method, path, cerr, err)
		}
		return nil, fmt.Errorf("ari: %s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp, nil
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	e := &Error{Method: method, Path: path, Status: resp.StatusCode}
	var m apiMessage
	switch {
	case json.Unmarshal(raw, &m) != nil:
		e.Message = strings.TrimSpace(string(raw))
	case m.Message != "":
		e.Message = m.Message
	case m.Error != "":
		e.Message = m.Error
	default:
		e.Message = strings.TrimSpace(string(raw))
	}
	return nil, e
}
