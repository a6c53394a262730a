package ari

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// GetChannel returns a channel's details (ErrNotFound if it is gone).
func (c *Client) GetChannel(ctx context.Context, id string) (Channel, error) {
	var ch Channel
	if err := validateID("channel id", id); err != nil {
		return ch, err
	}
	err := c.do(ctx, "GET", escPath("channels", id), nil, nil, &ch)
	return ch, err
}

// ListChannels lists every channel Asterisk has (not only this app's).
func (c *Client) ListChannels(ctx context.Context) ([]Channel, error) {
	var chs []Channel
	err := c.do(ctx, "GET", "/channels", nil, nil, &chs)
	return chs, err
}

// Answer answers a channel.
func (c *Client) Answer(ctx context.Context, id string) error {
	if err := validateID("channel id", id); err != nil {
		return err
	}
	return c.do(ctx, "POST", escPath("channels", id, "answer"), nil, nil, nil)
}

// Hang-up reasons understood by Hangup.
var hangupReasons = []string{"normal", "busy", "congestion", "no_answer", "timeout", "rejected",
	"unallocated", "normal_unspecified", "number_incomplete", "codec_mismatch", "interworking",
	"failure", "answered_elsewhere"}

// Hangup hangs a channel up with an ARI reason ("" = normal; see
// hangupReasons for the accepted names).
func (c *Client) Hangup(ctx context.Context, id, reason string) error {
	if err := validateID("channel id", id); err != nil {
		return err
	}
	if err := oneOf("hang-up reason", reason, hangupReasons...); err != nil {
		return err
	}
	var q url.Values
	if reason != "" {
		q = url.Values{"reason": {reason}}
	}
	return c.do(ctx, "DELETE", escPath("channels", id), q, nil, nil)
}

// HangupCode hangs a channel up with a Q.850 cause code (Asterisk ≥ 18).
func (c *Client) HangupCode(ctx context.Context, id string, code int) error {
	if err := validateID("channel id", id); err != nil {
		return err
	}
	if code <= 0 || code > 127 {
		return fmt.Errorf("ari: hang-up cause code %d: %w", code, ErrInvalidArgument)
	}
	return c.do(ctx, "DELETE", escPath("channels", id), url.Values{"reason_code": {strconv.Itoa(code)}}, nil, nil)
}

// PlayRequest describes media to play.
type PlayRequest struct {
	// PlaybackID is chosen by the caller so it can subscribe first; empty =
	// a fresh random id.
	PlaybackID string
	// Media URIs played in order (sound:, recording:, number:, digits:,
	// characters:, tone:); none may contain a comma.
	Media    []string
	Lang     string
	OffsetMs int
	SkipMs   int
}

func (r *PlayRequest) query() (url.Values, error) {
	if r.PlaybackID == "" {
		r.PlaybackID = NewID("pb-")
	}
	if err := validateID("playback id", r.PlaybackID); err != nil {
		return nil, err
	}
	if err := validateMedia(r.Media); err != nil {
		return nil, err
	}
	if r.OffsetMs < 0 || r.SkipMs < 0 {
		return nil, fmt.Errorf("ari: negative offsetms/skipms: %w", ErrInvalidArgument)
	}
	q := url.Values{"media": {strings.Join(r.Media, ",")}, "playbackId": {r.PlaybackID}}
	if r.Lang != "" {
		q.Set("lang", r.Lang)
	}
	if r.OffsetMs > 0 {
		q.Set("offsetms", strconv.Itoa(r.OffsetMs))
	}
	if r.SkipMs > 0 {
		q.Set("skipms", strconv.Itoa(r.SkipMs))
	}
	return q, nil
}

// Play starts media on a channel and returns the queued playback. Events of
// the playback may arrive before this returns: subscribe to
// PlaybackKey(req.PlaybackID) or ChannelKey(id) first (or use PlayAndWait).
func (c *Client) Play(ctx context.Context, id string, req PlayRequest) (Playback, error) {
	var pb Playback
	if err := validateID("channel id", id); err != nil {
		return pb, err
	}
	q, err := req.query()
	if err != nil {
		return pb, err
	}
	err = c.do(ctx, "POST", escPath("channels", id, "play"), q, nil, &pb)
	return pb, err
}

// RecordRequest describes a channel recording.
type RecordRequest struct {
	// Name of the stored recording (required; may not contain '/').
	Name string
	// Format such as "wav" (default "wav").
	Format             string
	MaxDurationSeconds int
	MaxSilenceSeconds  int
	Beep               bool
	// TerminateOn: "none" (default), "any", "*" or "#".
	TerminateOn string
	// IfExists: "fail" (default), "overwrite" or "append".
	IfExists string
}

// Record starts recording a channel. Subscribe to RecordingKey(req.Name)
// first, or use RecordAndWait.
func (c *Client) Record(ctx context.Context, id string, req RecordRequest) (LiveRecording, error) {
	var rec LiveRecording
	if err := validateID("channel id", id); err != nil {
		return rec, err
	}
	q, err := req.query()
	if err != nil {
		return rec, err
	}
	err = c.do(ctx, "POST", escPath("channels", id, "record"), q, nil, &rec)
	return rec, err
}

func (r *RecordRequest) query() (url.Values, error) {
	if err := validateID("recording name", r.Name); err != nil {
		return nil, err
	}
	if r.Format == "" {
		r.Format = "wav"
	}
	if err := validateID("recording format", r.Format); err != nil {
		return nil, err
	}
	if r.MaxDurationSeconds < 0 || r.MaxSilenceSeconds < 0 {
		return nil, fmt.Errorf("ari: negative recording limit: %w", ErrInvalidArgument)
	}
	if err := oneOf("terminateOn", r.TerminateOn, "none", "any", "*", "#"); err != nil {
		return nil, err
	}
	if err := oneOf("ifExists", r.IfExists, "fail", "overwrite", "append"); err != nil {
		return nil, err
	}
	q := url.Values{"name": {r.Name}, "format": {r.Format}}
	if r.MaxDurationSeconds > 0 {
		q.Set("maxDurationSeconds", strconv.Itoa(r.MaxDurationSeconds))
	}
	if r.MaxSilenceSeconds > 0 {
		q.Set("maxSilenceSeconds", strconv.Itoa(r.MaxSilenceSeconds))
	}
	q.Set("beep", strconv.FormatBool(r.Beep))
	if r.TerminateOn != "" {
		q.Set("terminateOn", r.TerminateOn)
	}
	if r.IfExists != "" {
		q.Set("ifExists", r.IfExists)
	}
	return q, nil
}

// OriginateRequest describes an outbound channel placed into the Stasis app.
type OriginateRequest struct {
	// Endpoint to dial, e.g. PJSIP/agent1 or PJSIP/+420123@trunk (required).
	Endpoint string
	// App receiving StasisStart when the far end answers (default: the
	// client's App); AppArgs is its comma-separated argument string.
	App, AppArgs string
	// CallerID presented to the far end ("name" <number> or a number).
	CallerID string
	// Timeout the far end may ring (0 = Asterisk's default of 30 s).
	Timeout time.Duration
	// ChannelID is chosen by the caller so it can subscribe first; empty =
	// a fresh random id. OtherChannelID names the ;2 leg of local channels.
	ChannelID, OtherChannelID string
	// Originator is the id of the channel on whose behalf we dial.
	Originator string
	// Formats restricts codecs ("ulaw,alaw"); only without Originator.
	Formats string
	// Variables set on the new channel (sent in the JSON body).
	Variables map[string]string
}

func (r *OriginateRequest) query(defApp string) (url.Values, any, error) {
	if r.Endpoint == "" || strings.IndexFunc(r.Endpoint, isCtl) >= 0 {
		return nil, nil, fmt.Errorf("ari: originate endpoint %q: %w", r.Endpoint, ErrInvalidArgument)
	}
	if r.ChannelID == "" {
		r.ChannelID = NewID("cf-")
	}
	if err := validateID("channel id", r.ChannelID); err != nil {
		return nil, nil, err
	}
	if r.App == "" {
		r.App = defApp
	}
	if r.Timeout < 0 {
		return nil, nil, fmt.Errorf("ari: negative originate timeout: %w", ErrInvalidArgument)
	}
	q := url.Values{"endpoint": {r.Endpoint}, "app": {r.App}, "channelId": {r.ChannelID}}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("appArgs", r.AppArgs)
	set("callerId", r.CallerID)
	set("otherChannelId", r.OtherChannelID)
	set("originator", r.Originator)
	set("formats", r.Formats)
	if r.Timeout > 0 {
		q.Set("timeout", strconv.Itoa(max(1, int((r.Timeout+time.Second-1)/time.Second))))
	}
	var body any
	if len(r.Variables) > 0 {
		body = struct {
			Variables map[string]string `json:"variables"`
		}{r.Variables}
	}
	return q, body, nil
}

// Originate places an outbound channel. Its events (ChannelDestroyed,
// StasisStart) may arrive before this returns: subscribe to
// ChannelKey(req.ChannelID) first, or use OriginateAndWait.
func (c *Client) Originate(ctx context.Context, req OriginateRequest) (Channel, error) {
	var ch Channel
	q, body, err := req.query(c.cfg.App)
	if err != nil {
		return ch, err
	}
	// Never retried: the new channel's events would be lost with the
	// connection (see Config.RetryWhileDown).
	err = c.do(withoutRetry(ctx), "POST", "/channels", q, body, &ch)
	return ch, err
}

// Continue sends a channel back to the dialplan; empty arguments keep the
// current position (next priority).
func (c *Client) Continue(ctx context.Context, id, dpContext, extension string, priority int) error {
	if err := validateID("channel id", id); err != nil {
		return err
	}
	q := url.Values{}
	if dpContext != "" {
		q.Set("context", dpContext)
	}
	if extension != "" {
		q.Set("extension", extension)
	}
	if priority > 0 {
		q.Set("priority", strconv.Itoa(priority))
	}
	return c.do(ctx, "POST", escPath("channels", id, "continue"), q, nil, nil)
}

// SetVar sets a channel variable (or dialplan function such as CALLERID(num)).
func (c *Client) SetVar(ctx context.Context, id, name, value string) error {
	if err := validateID("channel id", id); err != nil {
		return err
	}
	if name == "" {
		return fmt.Errorf("ari: empty variable name: %w", ErrInvalidArgument)
	}
	return c.do(ctx, "POST", escPath("channels", id, "variable"), url.Values{"variable": {name}, "value": {value}}, nil, nil)
}

// GetVar reads a channel variable (ErrNotFound if it is unset or the channel
// is gone).
func (c *Client) GetVar(ctx context.Context, id, name string) (string, error) {
	if err := validateID("channel id", id); err != nil {
		return "", err
	}
	if name == "" {
		return "", fmt.Errorf("ari: empty variable name: %w", ErrInvalidArgument)
	}
	var v struct {
		Value string `json:"value"`
	}
	err := c.do(ctx, "GET", escPath("channels", id, "variable"), url.Values{"variable": {name}}, nil, &v)
	return v.Value, err
}

// Ring indicates ringing to a channel; RingStop stops it.
func (c *Client) Ring(ctx context.Context, id string) error {
	if err := validateID("channel id", id); err != nil {
		return err
	}
	return c.do(ctx, "POST", escPath("channels", id, "ring"), nil, nil, nil)
}

// RingStop stops ringing indication on a channel.
func (c *Client) RingStop(ctx context.Context, id string) error {
	if err := validateID("channel id", id); err != nil {
		return err
	}
	return c.do(ctx, "DELETE", escPath("channels", id, "ring"), nil, nil, nil)
}

// SendDTMF sends DTMF digits (0-9 A-D * # and ',' for a pause) to a channel.
func (c *Client) SendDTMF(ctx context.Context, id, digits string, between time.Duration) error {
	if err := validateID("channel id", id); err != nil {
		return err
	}
	if digits == "" || strings.Trim(digits, "0123456789ABCDabcd*#,") != "" {
		return fmt.Errorf("ari: dtmf %q: %w", digits, ErrInvalidArgument)
	}
	q := url.Values{"dtmf": {digits}}
	if between > 0 {
		q.Set("between", strconv.FormatInt(between.Milliseconds(), 10))
	}
	return c.do(ctx, "POST", escPath("channels", id, "dtmf"), q, nil, nil)
}

// StartMOH plays music on hold to a channel ("" = default class).
func (c *Client) StartMOH(ctx context.Context, id, class string) error {
	if err := validateID("channel id", id); err != nil {
		return err
	}
	var q url.Values
	if class != "" {
		q = url.Values{"mohClass": {class}}
	}
	return c.do(ctx, "POST", escPath("channels", id, "moh"), q, nil, nil)
}

// StopMOH stops music on hold on a channel.
func (c *Client) StopMOH(ctx context.Context, id string) error {
	if err := validateID("channel id", id); err != nil {
		return err
	}
	return c.do(ctx, "DELETE", escPath("channels", id, "moh"), nil, nil, nil)
}

func isCtl(r rune) bool { return r < 0x20 || r == 0x7f }
