package freeswitch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/callflow/callflow/adapter"
	"github.com/callflow/callflow/esl"
	"github.com/callflow/callflow/media"
)

// SilenceThreshold is the energy level below which the record application
// counts a frame as silence (its silence_thresh argument).
const SilenceThreshold = 200

// recordFormats are the formats the record application writes here
// (mod_sndfile picks the encoding from the extension).
var recordFormats = map[string]bool{"wav": true}

var recSeq atomic.Int64

// recordArgs checks opt and returns the record application's argument:
// "PATH MAX_SECONDS [SILENCE_THRESH SILENCE_SECONDS]" and the terminator
// value for playback_terminators.
func (s *Switch) recordArgs(opt adapter.RecordOptions) (arg, term string, err error) {
	if err := media.ValidateName(opt.Name); err != nil {
		return "", "", fmt.Errorf("freeswitch: record: %w", err)
	}
	if !recordFormats[opt.Format] {
		return "", "", fmt.Errorf("freeswitch: record %s: format %q: %w (FreeSWITCH records wav here)", opt.Name, opt.Format, media.ErrFormat)
	}
	switch opt.Terminator {
	case "":
		term = "none"
	case "#", "*":
		term = opt.Terminator
	default:
		return "", "", fmt.Errorf("freeswitch: record %s: terminator %q not supported (want \"#\", \"*\" or none)", opt.Name, opt.Terminator)
	}
	if opt.MaxDuration < 0 || opt.SilenceTimeout < 0 {
		return "", "", fmt.Errorf("freeswitch: record %s: negative duration", opt.Name)
	}
	arg = s.recordingPath(opt.Name, opt.Format) + " " + strconv.Itoa(ceilSeconds(opt.MaxDuration))
	if opt.SilenceTimeout > 0 {
		arg += " " + strconv.Itoa(SilenceThreshold) + " " + strconv.Itoa(ceilSeconds(opt.SilenceTimeout))
	}
	return arg, term, nil
}

func ceilSeconds(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	return int((d + time.Second - 1) / time.Second)
}

// Record runs the record application into RecordDir/NAME.FORMAT. The
// terminator travels in playback_terminators, a beep is a tone played
// first. The duration comes from the record_ms (or record_seconds)
// variable FreeSWITCH sets, else from RECORD_START to RECORD_STOP. After a
// hang-up the recording made so far is returned with an error wrapping
// adapter.ErrHangup (FreeSWITCH keeps the file).
func (c *call) Record(ctx context.Context, opt adapter.RecordOptions) (adapter.Recording, error) {
	if opt.Name == "" {
		opt.Name = c.id + "-rec-" + strconv.FormatInt(recSeq.Add(1), 10)
	}
	if opt.Format == "" {
		opt.Format = "wav"
	}
	arg, term, err := c.sw.recordArgs(opt)
	if err != nil {
		return adapter.Recording{}, err
	}
	rec := adapter.Recording{Name: opt.Name, Format: opt.Format}
	if err := c.errGone("record"); err != nil {
		return rec, err
	}
	l := c.listen()
	defer c.unlisten(l)
	resume := c.pauseMusic(ctx)
	defer resume()
	if opt.Beep {
		if _, err := c.play(ctx, l, "record beep", []step{{"playback", tones["beep"]}}, false); err != nil {
			return rec, err
		}
	}
	if err := c.setVar(ctx, "record", "playback_terminators", term); err != nil {
		return rec, err
	}
	var started, stopped time.Time
	var stopEv *esl.Event
	onEvent := func(e *esl.Event) {
		switch e.Name() {
		case "RECORD_START":
			started = time.Now()
		case "RECORD_STOP":
			stopped, stopEv = time.Now(), e
		}
	}
	done, err := c.execute(ctx, l, "record", "record", arg, onEvent)
	// A hang-up ends the recording: take the events that made it.
	for e, ok := l.pop(); ok; e, ok = l.pop() {
		onEvent(e)
	}
	if err != nil && !errors.Is(err, adapter.ErrHangup) {
		return rec, err
	}
	rec.Duration = recordDuration(done, stopEv, started, stopped)
	if fi, serr := os.Stat(c.sw.recordingPath(rec.Name, rec.Format)); serr == nil {
		rec.Size = fi.Size()
	}
	c.log.Debug("recorded", zap.String("name", rec.Name), zap.Duration("duration", rec.Duration), zap.Int64("size", rec.Size))
	return rec, err
}

// recordDuration prefers FreeSWITCH's record_ms, then record_seconds (on
// the EXECUTE_COMPLETE, else the RECORD_STOP), then the wall-clock time
// between RECORD_START and RECORD_STOP (or now, after a hang-up).
func recordDuration(done, stop *esl.Event, started, stopped time.Time) time.Duration {
	for _, e := range []*esl.Event{done, stop} {
		if e == nil {
			continue
		}
		if ms, err := strconv.ParseInt(e.Get("variable_record_ms"), 10, 64); err == nil && ms >= 0 {
			return time.Duration(ms) * time.Millisecond
		}
		if secs, err := strconv.ParseInt(e.Get("variable_record_seconds"), 10, 64); err == nil && secs >= 0 {
			return time.Duration(secs) * time.Second
		}
	}
	if started.IsZero() {
		return 0
	}
	if stopped.IsZero() {
		stopped = time.Now()
	}
	return stopped.Sub(started)
}
