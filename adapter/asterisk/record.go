package asterisk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/callflow/callflow/adapter"
	"github.com/callflow/callflow/ari"
	"github.com/callflow/callflow/media"
)

// recordParams checks opt and returns the ARI request for it.
func recordParams(opt adapter.RecordOptions) (ari.RecordRequest, error) {
	req := ari.RecordRequest{Name: opt.Name, Format: opt.Format, Beep: opt.Beep, IfExists: "overwrite"}
	if err := media.ValidateName(req.Name); err != nil {
		return req, fmt.Errorf("asterisk: record: %w", err)
	}
	if req.Format == "" {
		req.Format = "wav"
	}
	if !slices.Contains(media.Formats(), req.Format) {
		return req, fmt.Errorf("asterisk: record %s: format %q: %w", req.Name, req.Format, media.ErrFormat)
	}
	switch opt.Terminator {
	case "":
		req.TerminateOn = "none"
	case "#", "*":
		req.TerminateOn = opt.Terminator
	default:
		return req, fmt.Errorf("asterisk: record %s: terminator %q not supported (want \"#\", \"*\" or none)", req.Name, opt.Terminator)
	}
	if opt.MaxDuration < 0 || opt.SilenceTimeout < 0 {
		return req, fmt.Errorf("asterisk: record %s: negative duration", req.Name)
	}
	req.MaxDurationSeconds = ceilSeconds(opt.MaxDuration)
	req.MaxSilenceSeconds = ceilSeconds(opt.SilenceTimeout)
	return req, nil
}

func ceilSeconds(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	return int((d + time.Second - 1) / time.Second)
}

// Record records the caller until the maximum duration, the silence
// timeout, the terminator or the hang-up, and fetches the file into the
// media store. After a hang-up the recording made so far is still fetched
// and returned, together with an error wrapping adapter.ErrHangup. When ctx
// ends the recording is stopped on Asterisk (and kept there).
func (c *call) Record(ctx context.Context, opt adapter.RecordOptions) (adapter.Recording, error) {
	if err := c.errGone("record"); err != nil {
		return adapter.Recording{}, err
	}
	if opt.Name == "" {
		c.mu.Lock()
		c.recN++
		opt.Name = c.id + "-rec-" + strconv.Itoa(c.recN)
		c.mu.Unlock()
	}
	req, err := recordParams(opt)
	if err != nil {
		return adapter.Recording{}, err
	}
	rec := adapter.Recording{Name: req.Name, Format: req.Format}
	if st := c.sw.cfg.Media; st != nil {
		if _, err := st.Stat(req.Name); err == nil {
			return rec, fmt.Errorf("asterisk: record %s: %w", req.Name, media.ErrExists)
		} else if !errors.Is(err, media.ErrNotFound) {
			return rec, fmt.Errorf("asterisk: record %s: %w", req.Name, err)
		}
	}
	live, hangErr, err := c.record(ctx, req, opt.MaxDuration)
	if err != nil {
		return rec, err
	}
	if err := c.collect(ctx, &rec, live); err != nil {
		if hangErr != nil {
			return rec, fmt.Errorf("%w; %w", hangErr, err)
		}
		return rec, err
	}
	c.log.Debug("recorded", zap.String("name", rec.Name), zap.Duration("duration", rec.Duration), zap.Int64("size", rec.Size))
	return rec, hangErr
}

// record runs the recording on Asterisk and waits for its end. The
// listener ends with it, so the download that follows holds up no event.
func (c *call) record(ctx context.Context, req ari.RecordRequest, maxDur time.Duration) (live ari.LiveRecording, hangErr, err error) {
	l := c.listen()
	defer c.unlisten(l)
	if _, err := c.sw.client.Record(ctx, c.id, req); err != nil {
		if ctx.Err() != nil {
			c.stopRecording(ctx, req.Name)
			return live, nil, c.ctxErr(ctx, "record")
		}
		return live, nil, c.restErr(ctx, "record", err)
	}
	return c.waitRecording(ctx, l, req, maxDur)
}

// waitRecording waits for the end of the recording. hangErr is set when the
// call hung up meanwhile but the recording was still stored; err when there
// is no recording to return.
func (c *call) waitRecording(ctx context.Context, l *listener, req ari.RecordRequest, maxDur time.Duration) (live ari.LiveRecording, hangErr, err error) {
	// Asterisk checks a recording's limit only as audio frames arrive (about
	// once a second): a caller who falls silent, or a loaded machine, keeps
	// it recording well past MaxDuration. Past the limit we stop it
	// ourselves; if even then no RecordingFinished comes (lost in a
	// websocket outage), we stop waiting after RecordGrace.
	var deadlineC, stoppedC <-chan time.Time
	if maxDur > 0 {
		t := time.NewTimer(maxDur + recordStopSlack)
		defer t.Stop()
		deadlineC = t.C
	}
	goneC := c.gone
	var graceC <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			c.stopRecording(ctx, req.Name)
			return live, nil, c.ctxErr(ctx, "record")
		case <-goneC:
			goneC = nil
			hangErr = c.errGone("record")
			if errors.Is(hangErr, adapter.ErrClosed) {
				return live, nil, hangErr
			}
			t := time.NewTimer(RecordGrace)
			defer t.Stop()
			graceC = t.C
		case <-graceC:
			return live, nil, fmt.Errorf("%w: no RecordingFinished for %s", hangErr, req.Name)
		case <-deadlineC:
			deadlineC = nil
			err := c.sw.client.StopRecording(ctx, req.Name)
			if err != nil && !errors.Is(err, ari.ErrNotFound) && ctx.Err() == nil {
				c.log.Warn("stop recording at its limit", zap.String("name", req.Name), zap.Error(err))
			}
			// RecordingFinished normally follows at once.
			t := time.NewTimer(RecordGrace)
			defer t.Stop()
			stoppedC = t.C
		case <-stoppedC:
			c.log.Warn("recording ended without RecordingFinished", zap.String("name", req.Name))
			live.Name, live.Format = req.Name, req.Format
			return live, hangErr, nil
		case ev := <-l.ch:
			switch e := ev.(type) {
			case *ari.RecordingFinished:
				if e.Recording.Name == req.Name {
					if hangErr == nil {
						// Ended by the caller's hang-up, reported before StasisEnd?
						if c.hangupRequested() {
							hangErr = c.endingErr("record", time.Second)
						} else {
							hangErr = c.endingErr("record", 0)
						}
					}
					return e.Recording, hangErr, nil
				}
			case *ari.RecordingFailed:
				if e.Recording.Name == req.Name {
					err := fmt.Errorf("asterisk: record %s on %s: %s: %w", req.Name, c.id, e.Recording.Cause, ari.ErrRecordingFailed)
					if hangErr != nil {
						err = fmt.Errorf("%w; %w", hangErr, err)
					}
					return live, nil, err
				}
			}
		}
	}
}

// collect fills in duration and size, fetching the file into the media
// store when one is configured.
func (c *call) collect(ctx context.Context, rec *adapter.Recording, live ari.LiveRecording) error {
	rec.Duration = time.Duration(live.Duration) * time.Second
	st := c.sw.cfg.Media
	if st == nil {
		return nil
	}
	n, err := c.fetch(ctx, st, rec.Name, rec.Format)
	if err != nil {
		return err
	}
	rec.Size = n
	if rec.Format == "wav" || rec.Format == "wav16" {
		d, err := wavDuration(st, rec.Name)
		if err != nil {
			return fmt.Errorf("asterisk: record %s: %w", rec.Name, err)
		}
		rec.Duration = d
	}
	return nil
}

// fetch brings a stored recording into the media store: a copy from
// RecordingsDir when it holds the file, else a download over ARI. Nothing
// is stored when both fail.
func (c *call) fetch(ctx context.Context, st *media.Store, name, format string) (int64, error) {
	if dir := c.sw.cfg.RecordingsDir; dir != "" {
		n, err := copyRecording(ctx, st, dir, name, format)
		if err == nil {
			return n, nil
		}
		c.log.Warn("recording not copied from recordings_dir; downloading it over ARI",
			zap.String("name", name), zap.String("recordings_dir", dir), zap.Error(err))
	}
	return c.download(ctx, st, name, format)
}

// copyRecording copies dir/name.format into the media store.
func copyRecording(ctx context.Context, st *media.Store, dir, name, format string) (int64, error) {
	if name == "" || strings.ContainsAny(name+format, "/\\") || strings.HasPrefix(name, ".") {
		return 0, fmt.Errorf("asterisk: recording name %q is not a plain file name", name)
	}
	f, err := os.Open(filepath.Join(dir, name+"."+format))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	wctx, abandon := context.WithCancel(ctx)
	defer abandon()
	w, err := st.Create(wctx, name, format)
	if err != nil {
		return 0, fmt.Errorf("asterisk: copy recording %s: %w", name, err)
	}
	n, err := io.Copy(w, f)
	if err != nil {
		abandon()
		_ = w.Close() // abandoned: removes the temporary file
		return 0, fmt.Errorf("asterisk: copy recording %s: %w", name, err)
	}
	if err := w.Close(); err != nil {
		return 0, fmt.Errorf("asterisk: copy recording %s: %w", name, err)
	}
	return n, nil
}

// download fetches a stored recording over ARI into the media store.
// Nothing is stored when the download fails.
func (c *call) download(ctx context.Context, st *media.Store, name, format string) (int64, error) {
	wctx, abandon := context.WithCancel(ctx)
	defer abandon()
	w, err := st.Create(wctx, name, format)
	if err != nil {
		return 0, fmt.Errorf("asterisk: fetch recording %s: %w", name, err)
	}
	n, err := c.sw.client.DownloadRecording(ctx, name, w)
	if err != nil {
		abandon()
		_ = w.Close() // abandoned: removes the temporary file
		return 0, fmt.Errorf("asterisk: fetch recording %s: %w", name, err)
	}
	if err := w.Close(); err != nil {
		return 0, fmt.Errorf("asterisk: fetch recording %s: %w", name, err)
	}
	return n, nil
}

func wavDuration(st *media.Store, name string) (time.Duration, error) {
	f, _, err := st.Open(name)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	d, _, _, err := media.WAVInfo(f)
	return d, err
}

// stopRecording stops (and keeps) a recording after its operation's
// context ended.
func (c *call) stopRecording(ctx context.Context, name string) {
	sctx, cancel := detached(ctx)
	defer cancel()
	if err := c.sw.client.StopRecording(sctx, name); err != nil && !errors.Is(err, ari.ErrNotFound) {
		c.log.Warn("stop recording", zap.String("name", name), zap.Error(err))
	}
}
