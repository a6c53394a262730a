package ari

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"
)

// cleanupTimeout bounds the best-effort requests a helper sends after its
// context ended (stop a playback, hang up an abandoned originate).
const cleanupTimeout = 5 * time.Second

// PlayOptions tune PlayAndWait.
type PlayOptions struct {
	// PlaybackID to use (empty = random).
	PlaybackID string
	Lang       string
	// StopOnDTMF stops the playback at the first DTMF digit of the channel
	// and returns that digit.
	StopOnDTMF bool
}

// PlayResult is the outcome of PlayAndWait.
type PlayResult struct {
	Playback Playback // as last reported (state done, or failed)
	Digit    string   // the digit that stopped it (StopOnDTMF)
}

// PlayAndWait plays media on a channel and waits until the playback has
// finished. It subscribes before it sends the request, so it sees
// PlaybackFinished even when it arrives before the HTTP answer. It waits
// for no PlaybackStarted or PlaybackContinuing, so an application event
// filter may leave them out.
// Errors: ErrHangup (wrapped) if the channel leaves Stasis first,
// ErrPlaybackFailed if Asterisk reports the playback failed, ctx's error
// (the playback is then stopped), or the REST error.
func (c *Client) PlayAndWait(ctx context.Context, channelID string, media []string, opt PlayOptions) (PlayResult, error) {
	req := PlayRequest{PlaybackID: opt.PlaybackID, Media: media, Lang: opt.Lang}
	if req.PlaybackID == "" {
		req.PlaybackID = NewID("pb-")
	}
	if err := validateID("channel id", channelID); err != nil {
		return PlayResult{}, err
	}
	sub := c.Subscribe(ChannelKey(channelID), PlaybackKey(req.PlaybackID))
	defer sub.Close()
	pb, err := c.Play(ctx, channelID, req)
	if err != nil {
		return PlayResult{}, err
	}
	res := PlayResult{Playback: pb}
	stopping := false
	for {
		select {
		case <-ctx.Done():
			c.bestEffort(ctx, "stop playback", func(cctx context.Context) error { return c.StopPlayback(cctx, req.PlaybackID) })
			return res, fmt.Errorf("ari: play on %s: %w", channelID, context.Cause(ctx))
		case ev, ok := <-sub.C():
			if !ok {
				return res, fmt.Errorf("ari: play on %s: %w", channelID, ErrClosed)
			}
			switch e := ev.(type) {
			case *PlaybackFinished:
				if e.Playback.ID != req.PlaybackID {
					continue
				}
				res.Playback = e.Playback
				if e.Playback.State == PlaybackStateFailed {
					return res, fmt.Errorf("ari: play %v on %s: %w", media, channelID, ErrPlaybackFailed)
				}
				return res, nil
			case *ChannelDtmfReceived:
				if opt.StopOnDTMF && res.Digit == "" && e.Channel.ID == channelID {
					res.Digit = e.Digit
					stopping = true
					if err := c.StopPlayback(ctx, req.PlaybackID); err != nil && !errors.Is(err, ErrNotFound) {
						return res, err
					}
				}
			case *StasisEnd, *ChannelDestroyed:
				if stopping {
					return res, nil
				}
				return res, fmt.Errorf("ari: play on %s: %w", channelID, ErrHangup)
			}
		}
	}
}

// bestEffort runs a cleanup request detached from ctx (which has ended) and
// logs its failure.
func (c *Client) bestEffort(ctx context.Context, what string, f func(context.Context) error) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	if err := f(cctx); err != nil && !errors.Is(err, ErrNotFound) {
		c.log.Warn("ari cleanup failed", zap.String("what", what), zap.Error(err))
	}
}

// RecordAndWait records a channel until Asterisk reports RecordingFinished
// (limit reached, silence, terminator digit, StopRecording) or
// RecordingFailed. If the caller hangs up while recording, Asterisk still
// stores the audio: RecordAndWait then waits up to 5 s for the recording's
// end and returns it together with an error wrapping ErrHangup. On ctx's end
// the recording is stopped and stored.
func (c *Client) RecordAndWait(ctx context.Context, channelID string, req RecordRequest) (LiveRecording, error) {
	if req.Name == "" {
		req.Name = NewID("rec-")
	}
	if err := validateID("channel id", channelID); err != nil {
		return LiveRecording{}, err
	}
	sub := c.Subscribe(ChannelKey(channelID), RecordingKey(req.Name))
	defer sub.Close()
	rec, err := c.Record(ctx, channelID, req)
	if err != nil {
		return rec, err
	}
	var grace <-chan time.Time
	hungUp := false
	for {
		select {
		case <-ctx.Done():
			c.bestEffort(ctx, "stop recording", func(cctx context.Context) error { return c.StopRecording(cctx, req.Name) })
			return rec, fmt.Errorf("ari: record %s on %s: %w", req.Name, channelID, context.Cause(ctx))
		case <-grace:
			return rec, fmt.Errorf("ari: record %s on %s: no RecordingFinished after hang-up: %w", req.Name, channelID, ErrHangup)
		case ev, ok := <-sub.C():
			if !ok {
				return rec, fmt.Errorf("ari: record %s on %s: %w", req.Name, channelID, ErrClosed)
			}
			switch e := ev.(type) {
			case *RecordingFinished:
				if e.Recording.Name != req.Name {
					continue
				}
				rec = e.Recording
				if hungUp {
					return rec, fmt.Errorf("ari: record %s on %s: %w", req.Name, channelID, ErrHangup)
				}
				return rec, nil
			case *RecordingFailed:
				if e.Recording.Name != req.Name {
					continue
				}
				rec = e.Recording
				return rec, fmt.Errorf("ari: record %s on %s: %s: %w", req.Name, channelID, e.Recording.Cause, ErrRecordingFailed)
			case *StasisEnd, *ChannelDestroyed:
				if !hungUp {
					hungUp = true
					t := time.NewTimer(5 * time.Second)
					defer t.Stop()
					grace = t.C
				}
			}
		}
	}
}

// OriginateAndWait originates a channel into the Stasis app and waits until
// it is answered (StasisStart). It subscribes to the channel id before it
// sends the request. On success the returned subscription, keyed on the
// channel, is the caller's to keep and Close: it delivers every event of
// the channel after its StasisStart, so nothing is missed in between. If the
// channel is destroyed first, the error is an *OriginateError (Cause 17 =
// busy, 19 = no answer, …) wrapping ErrOriginateFailed. When ctx ends first
// the channel is hung up.
func (c *Client) OriginateAndWait(ctx context.Context, req OriginateRequest) (*StasisStart, *Subscription, error) {
	if req.ChannelID == "" {
		req.ChannelID = NewID("cf-")
	}
	if err := validateID("channel id", req.ChannelID); err != nil {
		return nil, nil, err
	}
	sub := c.Subscribe(ChannelKey(req.ChannelID))
	keep := false
	defer func() {
		if !keep {
			sub.Close()
		}
	}()
	if _, err := c.Originate(ctx, req); err != nil {
		return nil, nil, err
	}
	dialStatus := ""
	// The channel's StasisStart or ChannelDestroyed is lost when the
	// connection drops meanwhile: after a reconnect the channel is looked
	// up instead (originateAfterResync).
	stateC, down := c.stateChanged(), false
	for {
		select {
		case <-stateC:
			stateC = c.stateChanged()
			switch c.State() {
			case Connected:
				if !down {
					continue
				}
				down = false
				st, done, err := c.originateAfterResync(ctx, req, dialStatus)
				if !done {
					continue
				}
				if err == nil {
					keep = true
				}
				return st, sub, err
			case Stopped:
				// The subscription closes too; its case below ends the wait.
			default:
				down = true
			}
		case <-ctx.Done():
			c.bestEffort(ctx, "hang up abandoned originate", func(cctx context.Context) error {
				return c.Hangup(cctx, req.ChannelID, "normal")
			})
			return nil, nil, fmt.Errorf("ari: originate %s: %w", req.Endpoint, context.Cause(ctx))
		case ev, ok := <-sub.C():
			if !ok {
				return nil, nil, fmt.Errorf("ari: originate %s: %w", req.Endpoint, ErrClosed)
			}
			switch e := ev.(type) {
			case *Dial:
				if e.Peer.ID == req.ChannelID && e.Dialstatus != "" {
					dialStatus = e.Dialstatus
				}
			case *StasisStart:
				if e.Channel.ID == req.ChannelID {
					keep = true
					return e, sub, nil
				}
			case *ChannelDestroyed:
				if e.Channel.ID == req.ChannelID {
					return nil, nil, &OriginateError{
						ChannelID: req.ChannelID, Endpoint: req.Endpoint,
						Cause: e.Cause, CauseText: e.CauseText, DialStatus: dialStatus,
					}
				}
			}
		}
	}
}

// stateChanged returns a channel closed at the next connection state
// change.
func (c *Client) stateChanged() <-chan struct{} {
	c.stateMu.Lock()
	defer c.stateMu.Unlock()
	return c.stateCh
}

// originateAfterResync looks up an originated channel whose events may
// have been lost while the connection was down: answered and in the
// application, it is returned as if its StasisStart had arrived (the real
// one, if it was only delayed, reaches the subscription later and is
// ignored there); gone, it is an *OriginateError without a cause (the
// cause was lost); still ringing, done is false and the wait goes on.
func (c *Client) originateAfterResync(ctx context.Context, req OriginateRequest, dialStatus string) (st *StasisStart, done bool, err error) {
	ch, err := c.GetChannel(ctx, req.ChannelID)
	switch {
	case errors.Is(err, ErrNotFound):
		c.log.Info("originated channel gone after reconnect", zap.String("channel", req.ChannelID))
		return nil, true, &OriginateError{ChannelID: req.ChannelID, Endpoint: req.Endpoint, DialStatus: dialStatus}
	case err != nil:
		// Asterisk did not answer: the next reconnect (or ctx) decides.
		c.log.Warn("look up originated channel after reconnect", zap.String("channel", req.ChannelID), zap.Error(err))
		return nil, false, nil
	}
	app, args := stasisApp(ch)
	if app != c.cfg.App {
		return nil, false, nil
	}
	c.log.Info("originated channel answered while the connection was down", zap.String("channel", req.ChannelID))
	return &StasisStart{
		EventBase: EventBase{Type: "StasisStart", Application: c.cfg.App, Timestamp: Time{time.Now().UTC()}},
		Args:      args,
		Channel:   ch,
	}, true, nil
}

// stasisApp returns the Stasis application a channel runs and its
// arguments, from its dialplan location (Stasis(app,arg1,…)); "" when it
// runs no Stasis application.
func stasisApp(ch Channel) (string, []string) {
	if !strings.EqualFold(ch.Dialplan.AppName, "Stasis") {
		return "", nil
	}
	parts := strings.Split(ch.Dialplan.AppData, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts[0], parts[1:]
}
