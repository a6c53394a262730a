package asterisk

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/callflow/callflow/adapter"
	"github.com/callflow/callflow/ari"
	"github.com/callflow/callflow/media"
)

// Gather defaults for a zero FirstTimeout or InterDigitTimeout (the
// simulator's too).
const (
	DefaultFirstTimeout      = adapter.DefaultFirstTimeout
	DefaultInterDigitTimeout = adapter.DefaultInterDigitTimeout
)

// failedPlaybackWait is how long a failed playback waits for the hang-up
// that may have caused it.
const failedPlaybackWait = 500 * time.Millisecond

// maxSilenceFile is the longest sound:silence/N file of the core sounds.
const maxSilenceFile = 10

// mediaURIs turns prompts into ARI media URIs. sound:, recording:, digits:,
// number: and tone: pass through (tone:beep is the beep sound file, which
// ends by itself); silence:N becomes sound:silence/K files of 1..10 s.
func mediaURIs(prompts []adapter.Prompt) ([]string, error) {
	out := make([]string, 0, len(prompts))
	for _, p := range prompts {
		kind, v, err := media.Split(p)
		if err != nil {
			return nil, fmt.Errorf("asterisk: %w", err)
		}
		switch kind {
		case media.Silence:
			secs, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return nil, fmt.Errorf("asterisk: prompt %q: %w", p, err)
			}
			n := max(1, int(math.Round(secs)))
			for n > 0 {
				k := min(n, maxSilenceFile)
				out = append(out, "sound:silence/"+strconv.Itoa(k))
				n -= k
			}
		case media.Tone:
			if v == "beep" {
				out = append(out, "sound:beep")
			} else {
				out = append(out, "tone:"+v)
			}
		default:
			out = append(out, string(kind)+":"+v)
		}
	}
	return out, nil
}

// Play plays prompts in order; with BargeIn the first digit stops them and
// is returned.
func (c *call) Play(ctx context.Context, prompts []adapter.Prompt, opt adapter.PlayOptions) (string, error) {
	if err := c.errGone("play"); err != nil {
		return "", err
	}
	uris, err := mediaURIs(prompts)
	if err != nil {
		return "", err
	}
	if len(uris) == 0 {
		return "", nil
	}
	l := c.listen()
	defer c.unlisten(l)
	digits, err := c.play(ctx, l, "play", uris, opt.BargeIn)
	if err != nil || len(digits) == 0 {
		return "", err
	}
	return digits[:1], nil
}

// play plays uris and waits for PlaybackFinished. With bargeIn the first
// digit stops the playback; it and the digits that arrive until the
// playback has finished are returned, in order.
func (c *call) play(ctx context.Context, l *listener, op string, uris []string, bargeIn bool) (string, error) {
	pbID := ari.NewID("pb-")
	if _, err := c.sw.client.Play(ctx, c.id, ari.PlayRequest{PlaybackID: pbID, Media: uris}); err != nil {
		if ctx.Err() != nil {
			c.stopPlayback(ctx, pbID)
			return "", c.ctxErr(ctx, op)
		}
		return "", c.restErr(ctx, op, err)
	}
	var digits strings.Builder
	stopping := false
	for {
		select {
		case <-ctx.Done():
			c.stopPlayback(ctx, pbID)
			return "", c.ctxErr(ctx, op)
		case <-c.gone:
			return "", c.errGone(op)
		case <-l.resync:
			// PlaybackFinished may have been lost during the outage.
			if _, err := c.sw.client.GetPlayback(ctx, pbID); errors.Is(err, ari.ErrNotFound) {
				return digits.String(), nil
			}
		case ev := <-l.ch:
			switch e := ev.(type) {
			case *ari.PlaybackFinished:
				if e.Playback.ID != pbID {
					continue
				}
				if e.Playback.State == ari.PlaybackStateFailed && digits.Len() == 0 {
					if err := c.endingErr(op, failedPlaybackWait); err != nil {
						return "", err
					}
					return "", fmt.Errorf("asterisk: %s %v on %s: %w", op, uris, c.id, ari.ErrPlaybackFailed)
				}
				return digits.String(), nil
			case *ari.ChannelDtmfReceived:
				if !bargeIn {
					continue
				}
				digits.WriteString(e.Digit)
				if !stopping {
					stopping = true
					c.log.Debug("barge-in", zap.String("digit", e.Digit))
					if err := c.sw.client.StopPlayback(ctx, pbID); err != nil && !errors.Is(err, ari.ErrNotFound) {
						if ctx.Err() != nil {
							return "", c.ctxErr(ctx, op)
						}
						return "", c.restErr(ctx, op, err)
					}
				}
			}
		}
	}
}

// stopPlayback stops a playback after its operation's context ended.
func (c *call) stopPlayback(ctx context.Context, id string) {
	sctx, cancel := detached(ctx)
	defer cancel()
	if err := c.sw.client.StopPlayback(sctx, id); err != nil && !errors.Is(err, ari.ErrNotFound) {
		c.log.Warn("stop playback", zap.String("playback", id), zap.Error(err))
	}
}

// Gather plays the prompts with barge-in and collects digits until
// MaxDigits, the terminator or a timeout.
func (c *call) Gather(ctx context.Context, opt adapter.GatherOptions) (string, error) {
	col, err := adapter.NewCollector(opt)
	if err != nil {
		return "", fmt.Errorf("asterisk: gather %s: %w", c.id, err)
	}
	if err := c.errGone("gather"); err != nil {
		return "", err
	}
	uris, err := mediaURIs(opt.Prompts)
	if err != nil {
		return "", err
	}
	l := c.listen()
	defer c.unlisten(l)

	done := func(how string) (string, error) {
		c.log.Debug("gathered", zap.String("digits", col.Digits()), zap.String("end", how))
		return col.Digits(), nil
	}
	if len(uris) > 0 {
		pressed, err := c.play(ctx, l, "gather", uris, true)
		if err != nil {
			return "", err
		}
		for _, k := range pressed {
			if col.Add(string(k)) {
				return done("during prompts")
			}
		}
	}
	t := time.NewTimer(col.Timeout())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return "", c.ctxErr(ctx, "gather")
		case <-c.gone:
			return "", c.errGone("gather")
		case <-t.C:
			return done(col.TimeoutReason())
		case ev := <-l.ch:
			d, ok := ev.(*ari.ChannelDtmfReceived)
			if !ok {
				continue
			}
			if col.Add(d.Digit) {
				return done("complete")
			}
			t.Reset(col.Timeout())
		}
	}
}
