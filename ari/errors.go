package ari

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode"
)

// Sentinel errors. Every error returned by this package wraps one of them or
// an error of the standard library (context, net); test with errors.Is.
var (
	// ErrNotFound: Asterisk answered 404 (no such channel, bridge, playback,
	// recording).
	ErrNotFound = errors.New("not found")
	// ErrConflict: Asterisk answered 409, typically "channel not in Stasis
	// application" or a bridge/recording already in use.
	ErrConflict = errors.New("conflict")
	// ErrUnprocessable: Asterisk answered 422 (e.g. a recording name that
	// already exists with ifExists=fail, a bad media URI).
	ErrUnprocessable = errors.New("unprocessable")
	// ErrPrecondition: Asterisk answered 412 (channel in the wrong state).
	ErrPrecondition = errors.New("precondition failed")
	// ErrBadRequest: Asterisk answered 400 (missing or invalid parameter).
	ErrBadRequest = errors.New("bad request")
	// ErrUnauthorized: Asterisk answered 401 or 403 (wrong ARI user/password).
	ErrUnauthorized = errors.New("unauthorized")
	// ErrServer: Asterisk answered 5xx.
	ErrServer = errors.New("server error")
	// ErrInvalidArgument: a value was rejected before any request was sent.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrHangup: the channel hung up (StasisEnd or ChannelDestroyed) while a
	// helper waited on it.
	ErrHangup = errors.New("channel hung up")
	// ErrClosed: the client was shut down (Run returned) while waiting.
	ErrClosed = errors.New("ari client closed")
	// ErrPlaybackFailed: a playback finished in state "failed" (e.g. missing
	// sound file).
	ErrPlaybackFailed = errors.New("playback failed")
	// ErrRecordingFailed: Asterisk reported RecordingFailed.
	ErrRecordingFailed = errors.New("recording failed")
	// ErrOriginateFailed: an originated channel was destroyed before it
	// entered the Stasis application; errors.As to *OriginateError gives the
	// Q.850 cause.
	ErrOriginateFailed = errors.New("originate failed")
)

// Error is a non-2xx answer of the ARI REST interface.
type Error struct {
	Method  string // HTTP method
	Path    string // path below the base URL, e.g. /channels/123/play
	Status  int    // HTTP status code
	Message string // Asterisk's "message" field, or the raw body
}

func (e *Error) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	return fmt.Sprintf("ari: %s %s: %d %s", e.Method, e.Path, e.Status, msg)
}

// Is maps the status code to this package's sentinel errors.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.Status == http.StatusNotFound
	case ErrConflict:
		return e.Status == http.StatusConflict
	case ErrUnprocessable:
		return e.Status == http.StatusUnprocessableEntity
	case ErrPrecondition:
		return e.Status == http.StatusPreconditionFailed
	case ErrBadRequest:
		return e.Status == http.StatusBadRequest
	case ErrUnauthorized:
		return e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden
	case ErrServer:
		return e.Status >= 500
	}
	return false
}

// OriginateError tells why an originated channel never entered Stasis.
type OriginateError struct {
	ChannelID string
	Endpoint  string
	// Cause is the Q.850 hang-up cause of ChannelDestroyed (17 busy, 19 no
	// answer, 21 rejected, 1 unallocated, 34 congestion, …).
	Cause     int
	CauseText string
	// DialStatus is the last dialstatus of a Dial event for the channel
	// ("BUSY", "NOANSWER", "CHANUNAVAIL", "CONGESTION"), if one arrived.
	DialStatus string
}

func (e *OriginateError) Error() string {
	s := fmt.Sprintf("ari: originate %s (channel %s): cause %d %s", e.Endpoint, e.ChannelID, e.Cause, e.CauseText)
	if e.DialStatus != "" {
		s += ", dialstatus " + e.DialStatus
	}
	return s
}

// Unwrap makes errors.Is(err, ErrOriginateFailed) true.
func (e *OriginateError) Unwrap() error { return ErrOriginateFailed }

// validateID checks an identifier (channel id, bridge id, playback id,
// recording name) before it becomes a path segment.
func validateID(kind, id string) error {
	if id == "" {
		return fmt.Errorf("ari: empty %s: %w", kind, ErrInvalidArgument)
	}
	if id == "." || id == ".." {
		return fmt.Errorf("ari: %s %q: %w", kind, id, ErrInvalidArgument)
	}
	if len(id) > 256 {
		return fmt.Errorf("ari: %s longer than 256 bytes: %w", kind, ErrInvalidArgument)
	}
	for _, r := range id {
		if r == '/' || r == '\\' || unicode.IsControl(r) || r == unicode.ReplacementChar {
			return fmt.Errorf("ari: %s %q contains %q: %w", kind, id, r, ErrInvalidArgument)
		}
	}
	return nil
}

// validateMedia checks media URIs; ARI splits the media parameter on commas,
// so a URI must not contain one.
func validateMedia(media []string) error {
	if len(media) == 0 {
		return fmt.Errorf("ari: no media: %w", ErrInvalidArgument)
	}
	for _, m := range media {
		if m == "" || strings.ContainsRune(m, ',') || strings.IndexFunc(m, unicode.IsControl) >= 0 {
			return fmt.Errorf("ari: media URI %q: %w", m, ErrInvalidArgument)
		}
	}
	return nil
}

func oneOf(kind, v string, allowed ...string) error {
	if v == "" {
		return nil
	}
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return fmt.Errorf("ari: %s %q (want one of %s): %w", kind, v, strings.Join(allowed, ", "), ErrInvalidArgument)
}
