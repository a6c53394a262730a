package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"

	"github.com/callflow/callflow/queue"
	"github.com/callflow/callflow/store"
)

// apiError is an error answered as
//
//	{"error": {"code": "invalid_number", "message": "…", …}}
type apiError struct {
	Status     int    `json:"-"`
	Code       string `json:"code"`
	Message    string `json:"message"`
	Reason     string `json:"reason,omitempty"`
	CallbackID int64  `json:"callback_id,omitempty"`
	cause      error
}

func (e *apiError) Error() string {
	if e.cause != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.cause)
	}
	return e.Code + ": " + e.Message
}

func (e *apiError) Unwrap() error { return e.cause }

func errf(status int, code, format string, args ...any) *apiError {
	return &apiError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// classify maps the engine's and the store's errors to API errors.
func classify(err error) error {
	var ae *apiError
	switch {
	case errors.As(err, &ae):
		return err
	case errors.Is(err, store.ErrNotFound):
		return &apiError{Status: e404, Code: "not_found", Message: "callback not found", cause: err}
	case errors.Is(err, store.ErrBadFilter):
		return &apiError{Status: e400, Code: "bad_request", Message: err.Error(), cause: err}
	case errors.Is(err, queue.ErrCallbackBusy):
		return &apiError{Status: e409, Code: "callback_busy", Message: "the callback is being dialled or is connected; try again when the attempt is over", cause: err}
	case errors.Is(err, queue.ErrCallbackClosed):
		return &apiError{Status: e409, Code: "callback_closed", Message: "the callback has already ended", cause: err}
	case errors.Is(err, queue.ErrUnknownQueue):
		return &apiError{Status: e422, Code: "unknown_queue", Message: "no such queue", cause: err}
	case errors.Is(err, queue.ErrNotStarted):
		return &apiError{Status: e503, Code: "not_ready", Message: "the queue engine is not running", cause: err}
	}
	return err
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	_ = enc.Encode(v) // the client went away: nothing to do
}

func writeError(w http.ResponseWriter, e *apiError) {
	writeJSON(w, e.Status, map[string]*apiError{"error": e})
}

// decodeJSON reads one JSON object of at most MaxBody bytes with no
// unknown fields into v.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return errf(e415, "unsupported_media_type", "Content-Type must be application/json")
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errf(e413, "body_too_large", "the body exceeds %d bytes", MaxBody)
		}
		return &apiError{Status: e400, Code: "bad_json", Message: "malformed JSON: " + err.Error(), cause: err}
	}
	if dec.More() {
		return errf(e400, "bad_json", "the body must hold exactly one JSON object")
	}
	// Read to the end so a trailing oversized body is also refused.
	var extra json.RawMessage
	if err := dec.Decode(&extra); err == nil {
		return errf(e400, "bad_json", "the body must hold exactly one JSON object")
	} else {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errf(e413, "body_too_large", "the body exceeds %d bytes", MaxBody)
		}
	}
	return nil
}
