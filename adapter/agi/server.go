// Package agi runs flows on Asterisk channels handed to callflow with
// AGI(agi://HOST:PORT/FLOW,ARGS) instead of Stasis().
//
// A Call speaks FastAGI (package agi at the repository root) for
// everything that needs no bridge: answer, prompts, digits, recording,
// hang-up. A bridge (a queue's holding bridge, a dial's mixing bridge) needs
// the channel in the Stasis application: before such a notation the flow
// VM calls Move (adapter.Mover), which runs EXEC Stasis with a one-time
// token; the ARI driver sees StasisStart with that token, the service hands
// the ARI call to Claim, and from then on the same Call delegates to it.
// The call id (the Asterisk unique id) and the flow run stay the same, so
// the trace is one call from start to end.
package agi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/callflow/callflow/adapter"
	wire "github.com/callflow/callflow/agi"
)

// HandoverMarker is the first Stasis argument of a channel moved from AGI
// into the Stasis application; the second is the one-time token.
const HandoverMarker = "callflow-agi"

// Defaults of Config.
const (
	DefaultRecordDir       = "/var/spool/asterisk/recording"
	DefaultHandoverTimeout = 10 * time.Second
	DefaultEnvTimeout      = 5 * time.Second
	// cleanupTimeout bounds commands sent after the caller's context ended.
	cleanupTimeout = 5 * time.Second
)

// ARI is what the driver needs of the ARI driver (adapter/asterisk.Switch):
// recordings are fetched and channels hung up from outside the AGI session.
type ARI interface {
	StoreRecording(ctx context.Context, name, format string) (adapter.Recording, error)
	HangupChannel(ctx context.Context, id string, cause adapter.Cause) error
}

// Config configures a Server.
type Config struct {
	// App is the Stasis application the ARI driver serves ("callflow").
	App string
	// ARI fetches recordings and hangs up channels (required).
	ARI ARI
	// RecordDir is Asterisk's recording folder, where ARI's stored
	// recordings live (default DefaultRecordDir): RECORD FILE writes there
	// and recording: prompts are played from there.
	RecordDir string
	// HandoverTimeout bounds Move: from EXEC Stasis to StasisStart
	// (default DefaultHandoverTimeout); the token expires with it.
	HandoverTimeout time.Duration
	// EnvTimeout bounds the wait for the AGI environment block
	// (default DefaultEnvTimeout).
	EnvTimeout time.Duration
}

// Server accepts FastAGI sessions and runs a handler for each as a Call.
type Server struct {
	cfg Config
	log *zap.Logger

	mu      sync.Mutex
	pending map[string]*handover // by token
}

// handover is one Move waiting for its StasisStart.
type handover struct {
	channel string
	arrived chan adapter.Call // buffered 1: the ARI call
	done    <-chan struct{}   // closed when the flow run has ended
}

// New checks cfg and returns a Server.
func New(cfg Config, log *zap.Logger) (*Server, error) {
	if cfg.ARI == nil {
		return nil, errors.New("agi: config needs the ARI driver")
	}
	if cfg.App == "" {
		return nil, errors.New("agi: config needs the Stasis application name")
	}
	if cfg.RecordDir == "" {
		cfg.RecordDir = DefaultRecordDir
	}
	if cfg.HandoverTimeout <= 0 {
		cfg.HandoverTimeout = DefaultHandoverTimeout
	}
	if cfg.EnvTimeout <= 0 {
		cfg.EnvTimeout = DefaultEnvTimeout
	}
	if log == nil {
		log = zap.NewNop()
	}
	return &Server{cfg: cfg, log: log.With(zap.String("switch", "asterisk-agi")), pending: map[string]*handover{}}, nil
}

// Serve accepts sessions on l until ctx ends and runs h for each on its own
// goroutine, as an inbound Call. When h returns, a call still on AGI is
// hung up and its session closed; a moved call is released to the ARI
// handler that Claim blocked, which hangs it up. Serve returns ctx's error
// after closing l; running handlers keep going until their calls end.
func (s *Server) Serve(ctx context.Context, l net.Listener, h adapter.Handler) error {
	return wire.Serve(ctx, l, s.cfg.EnvTimeout, func(ctx context.Context, sess *wire.Session) {
		c := s.newCall(sess)
		defer c.finish(ctx)
		defer func() {
			if r := recover(); r != nil {
				c.log.Error("call handler panicked", zap.Any("panic", r), zap.ByteString("stack", debug.Stack()))
			}
		}()
		c.log.Info("inbound agi call", zap.String("caller", c.info.CallerNumber), zap.String("dialed", c.info.Dialed), zap.Strings("args", c.info.Args))
		h(ctx, c)
	})
}

// IsHandover reports whether an ARI call's Stasis arguments say it was moved
// from AGI (it must then go to Claim, never start a flow of its own).
func IsHandover(info adapter.CallInfo) bool {
	return len(info.Args) > 0 && info.Args[0] == HandoverMarker
}

// Claim takes an ARI call that entered Stasis with HandoverMarker and a
// token. A token is good once, for the channel that Move named, until Move
// gives up. Claim hands the call to the waiting flow run and blocks until
// that run has ended (or ctx ends); the caller (the ARI handler) then
// returns and the ARI driver hangs the call up if it is still up. An
// unknown, used or expired token, or a token of another channel, returns
// an error at once: the caller should hang that channel up.
func (s *Server) Claim(ctx context.Context, c adapter.Call) error {
	info := c.Info()
	if !IsHandover(info) || len(info.Args) != 2 {
		return fmt.Errorf("agi: channel %s entered stasis without a hand-over token", c.ID())
	}
	tok := info.Args[1]
	s.mu.Lock()
	ho, ok := s.pending[tok]
	if ok && ho.channel == c.ID() {
		delete(s.pending, tok)
	}
	s.mu.Unlock()
	switch {
	case !ok:
		return fmt.Errorf("agi: channel %s: unknown, used or expired hand-over token", c.ID())
	case ho.channel != c.ID():
		return fmt.Errorf("agi: channel %s presented the hand-over token of channel %s", c.ID(), ho.channel)
	}
	ho.arrived <- c
	select {
	case <-ho.done:
	case <-ctx.Done():
	}
	return nil
}

// expect registers a hand-over for channel and returns its token.
func (s *Server) expect(channel string, done <-chan struct{}) (string, *handover, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", nil, fmt.Errorf("agi: hand-over token: %w", err)
	}
	tok := hex.EncodeToString(b)
	ho := &handover{channel: channel, arrived: make(chan adapter.Call, 1), done: done}
	s.mu.Lock()
	s.pending[tok] = ho
	s.mu.Unlock()
	return tok, ho, nil
}

// forget removes a token that was not claimed.
func (s *Server) forget(tok string) {
	s.mu.Lock()
	delete(s.pending, tok)
	s.mu.Unlock()
}

// Pending is the number of hand-overs waiting for their StasisStart.
func (s *Server) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending)
}

// callInfo turns the AGI environment into CallInfo. The flow is the request
// path (agi://host:port/FLOW), followed by AGI()'s arguments, as
// Stasis(app,FLOW,ARGS) gives them. Asterisk writes "unknown" for an absent
// caller number or name; that becomes "".
func callInfo(env wire.Env) adapter.CallInfo {
	info := adapter.CallInfo{
		ID:           env["uniqueid"],
		Direction:    adapter.Inbound,
		CallerNumber: known(env["callerid"]),
		CallerName:   known(env["calleridname"]),
		Dialed:       env["extension"],
	}
	flow := ""
	if u, err := url.Parse(env["request"]); err == nil {
		flow = strings.Trim(u.Path, "/")
	}
	info.Args = append([]string{flow}, env.Args()...)
	return info
}

func known(s string) string {
	if s == "unknown" {
		return ""
	}
	return s
}
