package freeswitch

import (
	"context"
	"fmt"
	"math"
	"path"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/callflow/callflow/adapter"
	"github.com/callflow/callflow/esl"
	"github.com/callflow/callflow/media"
)

// Gather defaults when GatherOptions leaves a timeout at zero.
const (
	DefaultFirstTimeout      = adapter.DefaultFirstTimeout
	DefaultInterDigitTimeout = adapter.DefaultInterDigitTimeout
)

// tones maps tone:NAME to FreeSWITCH tone_stream definitions (TGML).
var tones = map[string]string{
	"beep":       "tone_stream://%(500,0,800)",
	"ring":       "tone_stream://%(2000,4000,440,480)",
	"busy":       "tone_stream://%(500,500,480,620)",
	"congestion": "tone_stream://%(250,250,480,620)",
	"dial":       "tone_stream://%(10000,0,350,440)",
}

// step is one application run for a prompt.
type step struct{ app, arg string }

// mediaSteps turns prompts into FreeSWITCH applications (see the package
// doc for the mapping). Every value has been validated by media.Split, so
// it holds only characters that cannot split an argument.
func (s *Switch) mediaSteps(prompts []adapter.Prompt) ([]step, error) {
	out := make([]step, 0, len(prompts))
	for _, p := range prompts {
		kind, v, err := media.Split(p)
		if err != nil {
			return nil, fmt.Errorf("freeswitch: %w", err)
		}
		switch kind {
		case media.Sound:
			if !strings.Contains(path.Base(v), ".") {
				v += ".wav"
			}
			out = append(out, step{"playback", v})
		case media.Recorded:
			out = append(out, step{"playback", s.recordingPath(v, "wav")})
		case media.Digits:
			for i := 0; i < len(v); i++ {
				out = append(out, step{"playback", digitFile(v[i])})
			}
		case media.Number:
			out = append(out, step{"say", s.cfg.Language + " number pronounced " + v})
		case media.Silence:
			secs, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return nil, fmt.Errorf("freeswitch: prompt %q: %w", p, err)
			}
			ms := max(1, int(math.Round(secs*1000)))
			out = append(out, step{"playback", "silence_stream://" + strconv.Itoa(ms)})
		case media.Tone:
			t, ok := tones[v]
			if !ok {
				return nil, fmt.Errorf("freeswitch: prompt %q: unknown tone (want one of beep, ring, busy, congestion, dial)", p)
			}
			out = append(out, step{"playback", t})
		default:
			return nil, fmt.Errorf("freeswitch: prompt %q: kind %q not supported", p, kind)
		}
	}
	return out, nil
}

// digitFile is the sound file that reads one key: digits/N.wav, with
// digits/star.wav and digits/pound.wav for * and #.
func digitFile(k byte) string {
	switch k {
	case '*':
		return "digits/star.wav"
	case '#':
		return "digits/pound.wav"
	}
	return "digits/" + string(k) + ".wav"
}

// Play plays prompts in order, one application per prompt. With BargeIn
// playback_terminators is "any": FreeSWITCH stops the prompt at the first
// key, whose DTMF event gives the digit, and the remaining prompts are not
// played.
func (c *call) Play(ctx context.Context, prompts []adapter.Prompt, opt adapter.PlayOptions) (string, error) {
	steps, err := c.sw.mediaSteps(prompts)
	if err != nil {
		return "", err
	}
	if err := c.errGone("play"); err != nil {
		return "", err
	}
	l := c.listen()
	defer c.unlisten(l)
	keys, err := c.play(ctx, l, "play", steps, opt.BargeIn)
	if err != nil || len(keys) == 0 {
		return "", err
	}
	return keys[0], nil
}

// play runs steps; with bargeIn it stops after the step during which a key
// was pressed and returns every key pressed during that step, in order.
func (c *call) play(ctx context.Context, l *listener, op string, steps []step, bargeIn bool) ([]string, error) {
	if len(steps) == 0 {
		return nil, nil
	}
	resume := c.pauseMusic(ctx)
	defer resume()
	term := "none"
	if bargeIn {
		term = "any"
	}
	if err := c.setVar(ctx, op, "playback_terminators", term); err != nil {
		return nil, err
	}
	var keys []string
	onEvent := func(e *esl.Event) {
		if bargeIn && e.Name() == "DTMF" {
			keys = append(keys, e.Get("DTMF-Digit"))
		}
	}
	for _, st := range steps {
		done, err := c.execute(ctx, l, op, st.app, st.arg, onEvent)
		if err != nil {
			return nil, err
		}
		if r := done.Get("Application-Response"); r == "FILE NOT FOUND" || strings.HasPrefix(r, "-ERR") {
			c.log.Warn("prompt not played", zap.String("app", st.app), zap.String("arg", st.arg), zap.String("response", r))
		}
		if len(keys) > 0 {
			return keys, nil
		}
	}
	return nil, nil
}

// Gather plays the prompts with barge-in, then collects DTMF events: the
// first timeout runs after the prompts, the inter-digit timeout after each
// key; MaxDigits or the terminator end collection at once.
func (c *call) Gather(ctx context.Context, opt adapter.GatherOptions) (string, error) {
	col, err := adapter.NewCollector(opt)
	if err != nil {
		return "", fmt.Errorf("freeswitch: gather %s: %w", c.id, err)
	}
	steps, err := c.sw.mediaSteps(opt.Prompts)
	if err != nil {
		return "", err
	}
	if err := c.errGone("gather"); err != nil {
		return "", err
	}
	l := c.listen()
	defer c.unlisten(l)
	done := func(how string) (string, error) {
		c.log.Debug("gathered", zap.String("digits", col.Digits()), zap.String("end", how))
		return col.Digits(), nil
	}
	keys, err := c.play(ctx, l, "gather", steps, true)
	if err != nil {
		return "", err
	}
	for _, k := range keys {
		if col.Add(k) {
			return done("during prompts")
		}
	}
	t := time.NewTimer(col.Timeout())
	defer t.Stop()
	for {
		for e, ok := l.pop(); ok; e, ok = l.pop() {
			if e.Name() != "DTMF" {
				continue
			}
			if col.Add(e.Get("DTMF-Digit")) {
				return done("complete")
			}
			t.Reset(col.Timeout())
		}
		select {
		case <-l.wake:
		case <-t.C:
			return done(col.TimeoutReason())
		case <-c.gone:
			return "", c.errGone("gather")
		case <-ctx.Done():
			return "", c.ctxErr(ctx, "gather")
		}
	}
}
