package ari

import (
	"context"
	"errors"
	"net/url"
	"time"

	"go.uber.org/zap"
)

// noRetryKey marks a context whose requests are never retried (see
// withoutRetry).
type noRetryKey struct{}

// withoutRetry returns ctx with the retry while down turned off: for the
// requests of the connection itself (event filter and re-sync, sent while
// the state is Connecting) and for Originate, whose channel's events would
// be lost with the connection.
func withoutRetry(ctx context.Context) context.Context {
	return context.WithValue(ctx, noRetryKey{}, true)
}

// unreachable tells an error of a request that never got an answer from
// Asterisk because the connection failed (refused, reset, closed), not a
// timeout of a slow Asterisk and not an HTTP status.
func unreachable(err error) bool {
	var ue *url.Error
	if !errors.As(err, &ue) || ue.Timeout() {
		return false
	}
	var ae *Error
	return !errors.As(err, &ae) && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

// retryable reports whether a failed request is sent again once the
// connection is back: Config.RetryWhileDown is set, Run runs, ctx allows
// it and is still live, and the request never reached an answer.
func (c *Client) retryable(ctx context.Context, err error) bool {
	if c.cfg.RetryWhileDown <= 0 || ctx.Err() != nil || !c.running.Load() || c.State() == Stopped {
		return false
	}
	if v, _ := ctx.Value(noRetryKey{}).(bool); v {
		return false
	}
	return unreachable(err)
}

// retryPause is the first pause before a retry; it doubles up to
// retryPauseMax. The pause lets the websocket notice the loss before the
// client waits for it to be back.
const (
	retryPause    = 100 * time.Millisecond
	retryPauseMax = time.Second
)

// awaitRetry waits before attempt n+1 of a request: a short pause, then
// until the event connection is up again, at most until deadline. It
// reports whether to send the request again.
func (c *Client) awaitRetry(ctx context.Context, deadline time.Time, n int, err error, method, path string) bool {
	if time.Now().After(deadline) {
		return false
	}
	wctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	pause := retryPause << min(n, 4)
	t := time.NewTimer(min(pause, retryPauseMax))
	defer t.Stop()
	select {
	case <-t.C:
	case <-wctx.Done():
		return false
	}
	if n == 0 {
		c.log.Info("ari request could not reach asterisk; retrying once the connection is back",
			zap.String("method", method), zap.String("path", path), zap.Error(err))
	}
	if werr := c.WaitState(wctx, Connected); werr != nil {
		return false
	}
	c.stats.retries.Add(1)
	return true
}
