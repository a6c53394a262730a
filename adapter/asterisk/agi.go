package asterisk

import (
	"context"
	"errors"
	"fmt"

	"github.com/callflow/callflow/adapter"
	"github.com/callflow/callflow/ari"
)

// What the FastAGI driver (adapter/agi) asks of ARI for a channel that is
// still in the dialplan, not in the Stasis application.

// StoreRecording copies a recording Asterisk stored under its recording
// folder (the name without extension, as RECORD FILE wrote it) into the
// media store and returns its size and length. Without a media store it
// returns the recording with Size 0.
func (s *Switch) StoreRecording(ctx context.Context, name, format string) (adapter.Recording, error) {
	rec := adapter.Recording{Name: name, Format: format}
	st := s.cfg.Media
	if st == nil {
		return rec, nil
	}
	c := &call{sw: s, id: name}
	n, err := c.fetch(ctx, st, name, format)
	if err != nil {
		return rec, err
	}
	rec.Size = n
	if format == "wav" || format == "wav16" {
		if rec.Duration, err = wavDuration(st, name); err != nil {
			return rec, fmt.Errorf("asterisk: recording %s: %w", name, err)
		}
	}
	return rec, nil
}

// HangupChannel hangs up any channel by id with cause, in the Stasis
// application or not; a gone channel is not an error.
func (s *Switch) HangupChannel(ctx context.Context, id string, cause adapter.Cause) error {
	var err error
	if reason, ok := hangupReasons[cause]; ok {
		err = s.client.Hangup(ctx, id, reason)
	} else {
		err = s.client.HangupCode(ctx, id, cause.Q850())
	}
	if err != nil && !errors.Is(err, ari.ErrNotFound) {
		return fmt.Errorf("asterisk: hangup %s (%s): %w", id, cause, err)
	}
	return nil
}
