package asterisk

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode"

	"go.uber.org/zap"

	"github.com/callflow/callflow/adapter"
	"github.com/callflow/callflow/ari"
)

// originateMargin is how long Originate waits for Asterisk's verdict beyond
// the ring timeout before it gives up on its own.
const originateMargin = 15 * time.Second

// errOriginateOverdue is the cancel cause when Asterisk reported nothing in
// time.
var errOriginateOverdue = errors.New("no answer or hang-up reported in time")

// checkEndpoint accepts TECH/RESOURCE with a conservative character set
// (PJSIP/agent1, PJSIP/+420601111222@customer, Local/100@ctx/n).
func checkEndpoint(ep string) error {
	tech, res, ok := strings.Cut(ep, "/")
	if !ok || tech == "" || res == "" || len(ep) > 256 {
		return fmt.Errorf("asterisk: endpoint %q: want TECH/RESOURCE", ep)
	}
	for _, r := range tech {
		if !isASCIIAlnum(r) && r != '_' && r != '-' {
			return fmt.Errorf("asterisk: endpoint %q: technology contains %q", ep, r)
		}
	}
	for _, r := range res {
		if !isASCIIAlnum(r) && !strings.ContainsRune("+*#@._:/=-", r) {
			return fmt.Errorf("asterisk: endpoint %q: contains %q", ep, r)
		}
	}
	return nil
}

func isASCIIAlnum(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
}

// callerID renders the ARI callerId: the number alone, or "Name" <number>
// when a name is given. The number must be a plain dialable string; the
// name keeps letters, digits, spaces and a little punctuation (no quotes,
// angle brackets, backslashes, ':' or '@', so it can neither end its quotes
// nor look like a SIP URI to a naive parser) and is cut to 64 characters.
func callerID(number, name string) (string, error) {
	if number == "" {
		if cleanName(name) != "" {
			return "", errors.New("asterisk: caller name without caller number")
		}
		return "", nil
	}
	if len(number) > 64 {
		return "", fmt.Errorf("asterisk: caller number %q: longer than 64 characters", number)
	}
	for _, r := range number {
		if !isASCIIAlnum(r) && !strings.ContainsRune("+*#._-", r) {
			return "", fmt.Errorf("asterisk: caller number %q: contains %q", number, r)
		}
	}
	name = cleanName(name)
	if name == "" {
		return number, nil
	}
	return `"` + name + `" <` + number + `>`, nil
}

// cleanName keeps the safe characters of a caller name; runs of anything
// else that separates words become one space.
func cleanName(name string) string {
	var b strings.Builder
	n := 0
	for _, r := range name {
		if n == 64 {
			break
		}
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune(".,'-_&#()+/!?", r):
		case unicode.IsSpace(r) || unicode.IsControl(r):
			r = ' '
		default:
			continue
		}
		b.WriteRune(r)
		n++
	}
	return strings.Join(strings.Fields(b.String()), " ")
}

// originateErr maps why an originated channel never answered to the port's
// sentinel errors.
func originateErr(oe *ari.OriginateError) error {
	switch {
	case oe.Cause == int(adapter.CauseBusy) || oe.DialStatus == "BUSY":
		return adapter.ErrBusy
	case oe.Cause == 18 || oe.Cause == int(adapter.CauseNoAnswer) || oe.DialStatus == "NOANSWER":
		return adapter.ErrNoAnswer
	}
	return adapter.ErrFailed
}

// isTransport tells a request that never reached Asterisk (connection
// refused or reset): the switch is unreachable, not the endpoint.
func isTransport(err error) bool {
	var ue *url.Error
	return errors.As(err, &ue)
}

// Originate dials req.Endpoint with req.CallerID as ANI and returns the call
// once answered, or an error wrapping adapter.ErrBusy, ErrNoAnswer or
// ErrFailed. When ctx ends while it rings, the channel is hung up.
func (s *Switch) Originate(ctx context.Context, req adapter.OriginateRequest) (adapter.Call, error) {
	if err := checkEndpoint(req.Endpoint); err != nil {
		return nil, fmt.Errorf("asterisk: originate: %w: %w", adapter.ErrFailed, err)
	}
	cid, err := callerID(req.CallerID, req.CallerName)
	if err != nil {
		return nil, fmt.Errorf("asterisk: originate %s: %w: %w", req.Endpoint, adapter.ErrFailed, err)
	}
	if !s.running.Load() {
		return nil, fmt.Errorf("asterisk: originate %s: serve is not running: %w", req.Endpoint, adapter.ErrClosed)
	}
	if st := s.client.State(); st != ari.Connected {
		// Without the event connection the answer or hang-up of the new
		// channel would go unseen.
		return nil, fmt.Errorf("asterisk: originate %s: event connection is %s: %w", req.Endpoint, st, adapter.ErrClosed)
	}
	timeout := req.Timeout
	if timeout <= 0 {
		timeout = s.cfg.DefaultOriginateTimeout
	}
	id := req.ID
	if id == "" {
		id = ari.NewID("cf-")
	} else if err := checkID(id); err != nil {
		return nil, fmt.Errorf("asterisk: originate %s: %w: %w", req.Endpoint, adapter.ErrFailed, err)
	}
	log := s.log.With(zap.String("call_id", id), zap.String("endpoint", req.Endpoint), zap.String("tag", req.Tag))
	octx, cancel := context.WithTimeoutCause(ctx, timeout+originateMargin, errOriginateOverdue)
	defer cancel()
	t0 := time.Now()
	st, sub, err := s.client.OriginateAndWait(octx, ari.OriginateRequest{
		Endpoint:  req.Endpoint,
		AppArgs:   OriginateMarker,
		CallerID:  cid,
		Timeout:   timeout,
		ChannelID: id,
	})
	if err != nil {
		var oe *ari.OriginateError
		switch {
		case errors.As(err, &oe):
			serr := originateErr(oe)
			log.Info("originate failed", zap.Int("cause", oe.Cause), zap.String("dialstatus", oe.DialStatus), zap.Duration("after", time.Since(t0)))
			return nil, fmt.Errorf("asterisk: originate %s: %w (%w)", req.Endpoint, serr, err)
		case ctx.Err() != nil:
			return nil, fmt.Errorf("asterisk: originate %s: %w", req.Endpoint, context.Cause(ctx))
		case errors.Is(err, errOriginateOverdue):
			return nil, fmt.Errorf("asterisk: originate %s: %w (%w)", req.Endpoint, adapter.ErrNoAnswer, err)
		case errors.Is(err, ari.ErrClosed), isTransport(err):
			return nil, fmt.Errorf("asterisk: originate %s: %w (%w)", req.Endpoint, adapter.ErrClosed, err)
		}
		return nil, fmt.Errorf("asterisk: originate %s: %w (%w)", req.Endpoint, adapter.ErrFailed, err)
	}
	dialed := strings.SplitN(req.Endpoint, "/", 2)[1]
	dialed, _, _ = strings.Cut(dialed, "@")
	info := adapter.CallInfo{
		ID:           id,
		Direction:    adapter.Outbound,
		CallerNumber: req.CallerID,
		CallerName:   cleanName(req.CallerName),
		Dialed:       dialed,
		Args:         append([]string(nil), st.Args...),
		Endpoint:     req.Endpoint,
	}
	c := s.newCall(info, sub, true)
	log.Info("originate answered", zap.Duration("after", time.Since(t0)))
	return c, nil
}
