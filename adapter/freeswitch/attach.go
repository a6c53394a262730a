package freeswitch

import (
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"strings"

	"go.uber.org/zap"

	"github.com/callflow/callflow/adapter"
	"github.com/callflow/callflow/esl"
)

var _ adapter.Attacher = (*Switch)(nil)

// maxUUIDLen is the longest Unique-ID FreeSWITCH keeps: a session's
// uuid_str holds SWITCH_UUID_FORMATTED_LENGTH (36) characters, and
// switch_core_session_set_uuid copies a longer origination_uuid cut to
// that length. It checks neither the form nor the characters of the
// value.
const maxUUIDLen = 36

// idNamespace is the UUIDv5 namespace of call ids that FreeSWITCH cannot
// hold verbatim (a fixed, random UUID: 3c1f6a52-8d0e-4b7a-9f21-6e5d4c3b2a19).
var idNamespace = [16]byte{0x3c, 0x1f, 0x6a, 0x52, 0x8d, 0x0e, 0x4b, 0x7a, 0x9f, 0x21, 0x6e, 0x5d, 0x4c, 0x3b, 0x2a, 0x19}

// checkCallID accepts the call ids the port allows
// (adapter.OriginateRequest.ID): 1 to 64 characters of [A-Za-z0-9._-].
func checkCallID(id string) error {
	if id == "" || len(id) > 64 {
		return fmt.Errorf("call id %q: want 1 to 64 characters", id)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !isAlnum(c) && c != '.' && c != '_' && c != '-' {
			return fmt.Errorf("call id %q: contains %q", id, c)
		}
	}
	return nil
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// channelUUID is the FreeSWITCH Unique-ID of the call with id (a valid
// call id): id itself when FreeSWITCH keeps it verbatim and it is a safe
// event filter value (at most 36 characters, starting with a letter or
// digit: "filter Unique-ID -x" would read the '-' as "exclude"); else
// the UUIDv5 of id in idNamespace. The mapping is deterministic, so a
// restarted process finds the channel from the id it logged; Call.ID()
// is always id.
func channelUUID(id string) string {
	if len(id) <= maxUUIDLen && isAlnum(id[0]) {
		return id
	}
	return uuidV5(idNamespace, id)
}

// uuidV5 is the name-based (SHA-1) UUID of name in namespace ns (RFC 9562
// §5.5), in its lowercase 8-4-4-4-12 form.
func uuidV5(ns [16]byte, name string) string {
	h := sha1.New()
	h.Write(ns[:])
	h.Write([]byte(name))
	var b [16]byte
	copy(b[:], h.Sum(nil))
	b[6] = b[6]&0x0f | 0x50
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// Attach implements adapter.Attacher for channels on FreeSWITCH that this
// process does not control, such as a leg originated by a process that
// crashed; everything goes through the inbound connection, as for an
// originated call. The steps: uuid_exists (false: ErrNotFound at once);
// watch the channel's events and install "filter Unique-ID U"; then
// uuid_dump, read after the filter, so an answer or hang-up racing the
// attach is either in the dump or in the event stream. Answer-State
// "answered" gives an answered call, "ringing" or "early" a ringing one
// (its CHANNEL_ANSWER is seen later), "hangup" or "-ERR No such channel"
// ErrNotFound. A call this Switch tracks is returned as it is, or
// ErrNotFound when its hang-up has been seen. ErrClosed: Serve has ended,
// or no inbound connection answered within the command timeout. The
// attached call's Info comes from the dump: CallerNumber/CallerName from
// origination_caller_id_number/_name (else the caller profile), Dialed
// from Caller-Destination-Number, Endpoint is the channel's name.
func (s *Switch) Attach(ctx context.Context, id string) (adapter.Call, error) {
	if err := checkCallID(id); err != nil {
		return nil, fmt.Errorf("freeswitch: attach: %w: %w", adapter.ErrNotFound, err)
	}
	select {
	case s.attaching <- struct{}{}:
		defer func() { <-s.attaching }()
	case <-ctx.Done():
		return nil, fmt.Errorf("freeswitch: attach %s: %w", id, ctx.Err())
	}
	if c, err := s.tracked(id); c != nil || err != nil {
		return c, err
	}
	conn, err := s.inbound(ctx)
	if err != nil {
		return nil, fmt.Errorf("freeswitch: attach %s: %w", id, err)
	}
	uuid := channelUUID(id)
	out, err := s.attachAPI(ctx, conn, "uuid_exists", uuid)
	if err != nil {
		return nil, fmt.Errorf("freeswitch: attach %s: %w", id, err)
	}
	if strings.TrimSpace(out) != "true" {
		return nil, fmt.Errorf("freeswitch: attach %s: uuid_exists %s: %s: %w", id, uuid, out, adapter.ErrNotFound)
	}

	c := s.newCall(adapter.CallInfo{ID: id, Direction: adapter.Outbound}, nil, nil, false)
	c.uuid = uuid
	if uuid != id {
		c.log = c.log.With(zap.String("uuid", uuid))
	}
	// Reserved before the stream is opened (a second stream for the uuid
	// would end the first); Originate may have taken the id meanwhile.
	if !s.trackNew(c) {
		if c, err := s.tracked(id); c != nil || err != nil {
			return c, err
		}
		return nil, fmt.Errorf("freeswitch: attach %s: tracked call went away while attaching: %w", id, adapter.ErrNotFound)
	}
	c.events = conn.Watch(uuid)
	go c.dispatch() // ends when cleanup closes the stream or the connection ends
	fail := func(err error) (adapter.Call, error) {
		c.markGone(adapter.CauseUnknown, "attach failed")
		c.cleanup()
		return nil, err
	}
	fctx, cancel := context.WithTimeout(ctx, s.cfg.CommandTimeout)
	err = conn.AddFilter(fctx, esl.Filter{Header: "Unique-ID", Value: uuid})
	cancel()
	if err != nil {
		return fail(fmt.Errorf("freeswitch: attach %s: filter: %w", id, s.unreachable(ctx, err)))
	}
	out, err = s.attachAPI(ctx, conn, "uuid_dump", uuid)
	var re *esl.ReplyError
	if errors.As(err, &re) && strings.Contains(strings.ToLower(re.Text), "no such channel") {
		return fail(fmt.Errorf("freeswitch: attach %s: gone before uuid_dump: %w", id, adapter.ErrNotFound))
	}
	if err != nil {
		return fail(fmt.Errorf("freeswitch: attach %s: %w", id, err))
	}
	d, err := esl.ParsePlainEvent([]byte(out))
	if err != nil {
		return fail(fmt.Errorf("freeswitch: attach %s: uuid_dump: %w", id, err))
	}
	state := d.Get("Answer-State")
	switch state {
	case "answered", "ringing", "early":
	case "hangup":
		return fail(fmt.Errorf("freeswitch: attach %s: hanging up: %w", id, adapter.ErrNotFound))
	default:
		return fail(fmt.Errorf("freeswitch: attach %s: uuid_dump: unknown Answer-State %q", id, state))
	}
	c.info = dumpInfo(id, d)
	c.mu.Lock()
	c.answered = c.answered || state == "answered"
	c.mu.Unlock()
	c.log.Info("call attached", zap.String("state", state), zap.String("channel", d.Get("Channel-Name")))
	return c, nil
}

// tracked returns the live call this Switch tracks under id, an error
// wrapping ErrNotFound when its hang-up has been seen, or nothing.
func (s *Switch) tracked(id string) (*call, error) {
	s.mu.Lock()
	c := s.calls[id]
	s.mu.Unlock()
	switch {
	case c == nil:
		return nil, nil
	case c.isGone():
		return nil, fmt.Errorf("freeswitch: attach %s: hung up (%v): %w", id, c.Cause(), adapter.ErrNotFound)
	}
	return c, nil
}

// attachAPI runs "api CMD UUID" bounded by the command timeout, with
// errors classified by unreachable.
func (s *Switch) attachAPI(ctx context.Context, conn *esl.Conn, cmd, uuid string) (string, error) {
	actx, cancel := context.WithTimeout(ctx, s.cfg.CommandTimeout)
	defer cancel()
	out, err := conn.API(actx, esl.API{Cmd: cmd, Args: uuid})
	if err != nil {
		return out, fmt.Errorf("%s %s: %w", cmd, uuid, s.unreachable(ctx, err))
	}
	return out, nil
}

// unreachable adds adapter.ErrClosed to an error that means the switch
// cannot be reached: the connection ended, a reply timed out (the
// connection is redialled), or the command-timeout context ran out while
// ctx is still alive (esl waits for a redial that has not succeeded).
// -ERR replies and ctx's own end stay as they are.
func (s *Switch) unreachable(ctx context.Context, err error) error {
	var re *esl.ReplyError
	switch {
	case errors.As(err, &re), ctx.Err() != nil:
		return err
	case errors.Is(err, esl.ErrClosed), errors.Is(err, esl.ErrDisconnected), errors.Is(err, esl.ErrConnLost),
		errors.Is(err, esl.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%w: %w", adapter.ErrClosed, err)
	}
	return err
}

// dumpInfo builds an attached call's CallInfo from its uuid_dump.
func dumpInfo(id string, d *esl.Event) adapter.CallInfo {
	first := func(names ...string) string {
		for _, n := range names {
			if v := d.Get(n); v != "" {
				return v
			}
		}
		return ""
	}
	return adapter.CallInfo{ID: id, Direction: adapter.Outbound,
		CallerNumber: first("variable_origination_caller_id_number", "Caller-Orig-Caller-ID-Number", "Caller-Caller-ID-Number"),
		CallerName:   first("variable_origination_caller_id_name", "Caller-Orig-Caller-ID-Name", "Caller-Caller-ID-Name"),
		Dialed:       d.Get("Caller-Destination-Number"),
		Endpoint:     d.Get("Channel-Name")}
}
