package e2etest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/callflow/callflow/trace"
)

// Event is one line of the --trace file read back.
type Event struct {
	trace.Event
	// Index is the event's 0-based line number in the file: the order the
	// service emitted events in.
	Index int
	// Raw is the line as written.
	Raw string
}

// String is the line as written.
func (e Event) String() string { return e.Raw }

var (
	timeOfDay = regexp.MustCompile(`^(\d{2}):(\d{2}):(\d{2})\.(\d{3})$`)
	flowPos   = regexp.MustCompile(`^[^\s:]+:\d+:\d+$`)
	attrKey   = regexp.MustCompile(`^[a-z][a-z0-9_]*=`)
)

func isSource(s string) bool {
	switch s {
	case trace.Flow, trace.Switch, trace.Queue, trace.Callback:
		return true
	}
	return false
}

// ParseLine parses one line in the format of trace.WriteText as
// `callflow serve --trace` writes it: the wall-clock time of day, the call
// (may be empty), the source, the kind, a flow position for flow events,
// the text, and the attributes in brackets. day gives the date of the
// time of day (its location too).
func ParseLine(line string, day time.Time) (Event, error) {
	var e Event
	e.Raw = line
	tok, rest := cut(line)
	m := timeOfDay.FindStringSubmatch(tok)
	if m == nil {
		return e, fmt.Errorf("e2etest: trace line %q: no time of day", line)
	}
	// The pattern guarantees digits.
	h, _ := strconv.Atoi(m[1])
	mi, _ := strconv.Atoi(m[2])
	sec, _ := strconv.Atoi(m[3])
	ms, _ := strconv.Atoi(m[4])
	y, mo, d := day.Date()
	e.At = time.Date(y, mo, d, h, mi, sec, ms*int(time.Millisecond), day.Location())

	a, rest := cut(rest)
	b, after := cut(rest)
	if isSource(a) && !isSource(b) {
		// No call: the padding left the source second.
		e.Source = a
	} else {
		e.Call, e.Source, rest = a, b, after
		if !isSource(e.Source) {
			return e, fmt.Errorf("e2etest: trace line %q: unknown source %q", line, e.Source)
		}
	}
	e.Kind, rest = cut(rest)
	if e.Kind == "" {
		return e, fmt.Errorf("e2etest: trace line %q: no kind", line)
	}
	if e.Source == trace.Flow {
		if p, r := cut(rest); flowPos.MatchString(p) {
			e.Pos, rest = p, r
		}
	}
	e.Text, e.Attrs = splitAttrs(rest)
	return e, nil
}

// cut returns the first space-separated token of s and the rest with
// leading spaces removed.
func cut(s string) (tok, rest string) {
	s = strings.TrimLeft(s, " ")
	i := strings.IndexByte(s, ' ')
	if i < 0 {
		return s, ""
	}
	return s[:i], strings.TrimLeft(s[i:], " ")
}

// splitAttrs splits "text [k=v k2=v2]" into the text and the attributes.
// A value with spaces continues until the next "key=".
func splitAttrs(s string) (string, map[string]string) {
	if !strings.HasSuffix(s, "]") {
		return s, nil
	}
	// The attributes open at the last "[" that starts a line or follows a
	// space and is followed by "key="; a text may hold brackets too.
	i := len(s)
	for {
		i = strings.LastIndex(s[:i], "[")
		if i < 0 {
			return s, nil
		}
		if (i == 0 || s[i-1] == ' ') && attrKey.MatchString(s[i+1:]) {
			break
		}
	}
	body := s[i+1 : len(s)-1]
	attrs := map[string]string{}
	var last string
	for _, f := range strings.Split(body, " ") {
		if attrKey.MatchString(f) {
			k, v, _ := strings.Cut(f, "=")
			attrs[k], last = v, k
			continue
		}
		attrs[last] += " " + f
	}
	return strings.TrimRight(s[:i], " "), attrs
}

// ParseTrace parses every complete line of r. start is a time not after
// the first event (the service's start): it gives the date, and a time of
// day that goes back by more than 12 hours is taken as the next day.
func ParseTrace(r io.Reader, start time.Time) ([]Event, error) {
	var out []Event
	br := bufio.NewReader(r)
	day := time.Date(start.Year(), start.Month(), start.Day(), 0, 0, 0, 0, start.Location())
	prev := start.Add(-time.Minute)
	for n := 0; ; {
		line, err := br.ReadString('\n')
		if err == io.EOF {
			// A line without its newline is still being written.
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("e2etest: read trace: %w", err)
		}
		line = strings.TrimRight(line, "\r\n")
		if strings.TrimSpace(line) == "" {
			continue
		}
		e, err := ParseLine(line, day)
		if err != nil {
			return out, err
		}
		if e.At.Before(prev.Add(-12 * time.Hour)) {
			day = day.AddDate(0, 0, 1)
			e.At = e.At.AddDate(0, 0, 1)
		}
		prev = e.At
		e.Index = n
		n++
		out = append(out, e)
	}
}

// Match selects trace events; empty fields match anything.
type Match struct {
	Call, Source, Kind string
	// Text must be contained in the event's text.
	Text string
	// Attrs must all be present with these values.
	Attrs map[string]string
	// After skips events with Index <= After when set (use -1 for none:
	// the zero value 0 would skip the first line).
	After *int
}

// After returns a pointer for Match.After.
func After(index int) *int { return &index }

// Matches reports whether e is selected.
func (m Match) Matches(e Event) bool {
	if m.Call != "" && e.Call != m.Call || m.Source != "" && e.Source != m.Source || m.Kind != "" && e.Kind != m.Kind {
		return false
	}
	if m.Text != "" && !strings.Contains(e.Text, m.Text) {
		return false
	}
	if m.After != nil && e.Index <= *m.After {
		return false
	}
	for k, v := range m.Attrs {
		if got, ok := e.Attrs[k]; !ok || got != v {
			return false
		}
	}
	return true
}

func (m Match) String() string {
	parts := []string{}
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	add("call", m.Call)
	add("source", m.Source)
	add("kind", m.Kind)
	add("text", m.Text)
	keys := make([]string, 0, len(m.Attrs))
	for k := range m.Attrs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		add("attr."+k, m.Attrs[k])
	}
	if m.After != nil {
		parts = append(parts, fmt.Sprintf("after=%d", *m.After))
	}
	return "{" + strings.Join(parts, " ") + "}"
}

// Filter returns the events m selects, in order.
func Filter(events []Event, m Match) []Event {
	var out []Event
	for _, e := range events {
		if m.Matches(e) {
			out = append(out, e)
		}
	}
	return out
}

// InboundCalls returns the calls that ran a flow, in the order of their
// first flow event: the callers, in the order they arrived.
func InboundCalls(events []Event) []string {
	var ids []string
	for _, e := range events {
		if e.Source == trace.Flow && e.Call != "" && !slices.Contains(ids, e.Call) {
			ids = append(ids, e.Call)
		}
	}
	return ids
}

// Trace reads the service's trace file so far.
func (s *Service) Trace() ([]Event, error) {
	f, err := os.Open(s.TracePath)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("e2etest: %w", err)
	}
	defer f.Close()
	return ParseTrace(f, s.started)
}

// TraceText is the trace file's content (for failure messages).
func (s *Service) TraceText() string {
	b, _ := os.ReadFile(s.TracePath)
	return string(b)
}

// pollInterval is how often the Wait helpers look again.
const pollInterval = 50 * time.Millisecond

// WaitEvents waits until m selects at least n events and returns them.
func (s *Service) WaitEvents(ctx context.Context, m Match, n int) ([]Event, error) {
	for {
		evs, err := s.Trace()
		if err != nil {
			return nil, err
		}
		if got := Filter(evs, m); len(got) >= n {
			return got, nil
		}
		select {
		case <-ctx.Done():
			got := Filter(evs, m)
			return got, fmt.Errorf("e2etest: %d of %d trace events %v: %w", len(got), n, m, context.Cause(ctx))
		case <-s.Done():
			if evs, err = s.Trace(); err == nil {
				if got := Filter(evs, m); len(got) >= n {
					return got, nil
				}
			}
			return Filter(evs, m), fmt.Errorf("e2etest: callflow exited while waiting for trace event %v", m)
		case <-time.After(pollInterval):
		}
	}
}

// WaitEvent waits for the first event m selects.
func (s *Service) WaitEvent(ctx context.Context, m Match) (Event, error) {
	evs, err := s.WaitEvents(ctx, m, 1)
	if err != nil {
		return Event{}, err
	}
	return evs[0], nil
}

// WaitEventFor is WaitEvent with its own timeout.
func (s *Service) WaitEventFor(d time.Duration, m Match) (Event, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return s.WaitEvent(ctx, m)
}

// WaitInboundCall waits until at least n+1 calls ran a flow and returns the
// (n+1)-th: WaitInboundCall(ctx, 0) is the first caller's call id.
func (s *Service) WaitInboundCall(ctx context.Context, n int) (string, error) {
	for {
		evs, err := s.Trace()
		if err != nil {
			return "", err
		}
		if ids := InboundCalls(evs); len(ids) > n {
			return ids[n], nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("e2etest: inbound call #%d: %w", n+1, context.Cause(ctx))
		case <-s.Done():
			return "", fmt.Errorf("e2etest: callflow exited while waiting for inbound call #%d", n+1)
		case <-time.After(pollInterval):
		}
	}
}
