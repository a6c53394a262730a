package api

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/callflow/callflow/adapter"
	"github.com/callflow/callflow/flowvm"
	"github.com/callflow/callflow/media"
	"github.com/callflow/callflow/queue"
	"github.com/callflow/callflow/store"
)

// Limits of a create request.
const (
	maxMedia       = 16
	maxPromptLen   = 256
	maxNumberLen   = 64
	maxANILen      = 32
	maxPriorityAbs = 1000
)

// callbackJSON is a callback as the API shows it.
type callbackJSON struct {
	ID           int64          `json:"id"`
	Queue        string         `json:"queue"`
	Number       string         `json:"number"`
	ANI          string         `json:"ani"`
	Media        []string       `json:"media"`
	Priority     int            `json:"priority"`
	State        store.State    `json:"state"`
	AttemptCount int            `json:"attempt_count"`
	JoinedAt     time.Time      `json:"joined_at"`
	NextAt       *time.Time     `json:"next_at,omitempty"`
	NotBefore    *time.Time     `json:"not_before,omitempty"`
	NotAfter     *time.Time     `json:"not_after,omitempty"`
	CreatedAt    time.Time      `json:"created_at"`
	UpdatedAt    time.Time      `json:"updated_at"`
	CallerCallID string         `json:"caller_call_id,omitempty"`
	Attempts     *[]attemptJSON `json:"attempts,omitempty"`
}

type attemptJSON struct {
	N         int        `json:"n"`
	Leg       string     `json:"leg"`
	Endpoint  string     `json:"endpoint"`
	ANI       string     `json:"ani,omitempty"`
	ChannelID string     `json:"channel_id,omitempty"`
	StartedAt time.Time  `json:"started_at"`
	EndedAt   *time.Time `json:"ended_at,omitempty"`
	Outcome   string     `json:"outcome,omitempty"`
	Cause     string     `json:"cause,omitempty"`
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func toJSON(cb store.Callback) callbackJSON {
	media := cb.Media
	if media == nil {
		media = []string{}
	}
	return callbackJSON{
		ID: cb.ID, Queue: cb.Queue, Number: cb.Number, ANI: cb.ANI, Media: media, Priority: cb.Priority,
		State: cb.State, AttemptCount: cb.Attempts, JoinedAt: cb.JoinedAt.UTC(), NextAt: optTime(cb.NextAt),
		NotBefore: optTime(cb.NotBefore), NotAfter: optTime(cb.NotAfter), CreatedAt: cb.CreatedAt.UTC(),
		UpdatedAt: cb.UpdatedAt.UTC(), CallerCallID: cb.CallerCallID,
	}
}

// createBody is the body of POST /v1/callbacks.
type createBody struct {
	Queue     string     `json:"queue"`
	Number    string     `json:"number"`
	ANI       string     `json:"ani"`
	Media     []string   `json:"media"`
	NotBefore *time.Time `json:"not_before"`
	NotAfter  *time.Time `json:"not_after"`
	Priority  int        `json:"priority"`
}

func printable(s string) bool {
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

func (b createBody) validate() error {
	switch {
	case b.Queue == "":
		return errf(e422, "missing_field", "queue is required")
	case b.Number == "":
		return errf(e422, "missing_field", "number is required")
	case len(b.Number) > maxNumberLen || !printable(b.Number):
		return &apiError{Status: e422, Code: "invalid_number", Reason: "unparsable", Message: "number is not a phone number"}
	case len(b.ANI) > maxANILen || strings.Trim(strings.TrimPrefix(b.ANI, "+"), "0123456789") != "":
		return errf(e422, "invalid_ani", "ani must be digits with an optional leading +")
	case len(b.Media) > maxMedia:
		return errf(e422, "invalid_media", "at most %d media prompts", maxMedia)
	case b.Priority < -maxPriorityAbs || b.Priority > maxPriorityAbs:
		return errf(e422, "invalid_priority", "priority must be within ±%d", maxPriorityAbs)
	case b.NotBefore != nil && b.NotAfter != nil && !b.NotAfter.After(*b.NotBefore):
		return errf(e422, "invalid_window", "not_after must be after not_before")
	}
	for _, m := range b.Media {
		if len(m) > maxPromptLen {
			return errf(e422, "invalid_media", "media prompt longer than %d bytes", maxPromptLen)
		}
	}
	return nil
}

// prompts checks the media with the prompt check the flow loader and the
// flow run use; the message names every bad prompt and why.
func (b createBody) prompts() ([]adapter.Prompt, error) {
	ps, err := media.ParsePrompts(b.Media)
	if err != nil {
		return nil, errf(e422, "invalid_media", "media: %v", err)
	}
	return ps, nil
}

func (h *Handler) createCallback(w http.ResponseWriter, r *http.Request) error {
	if err := h.standby(); err != nil {
		return err
	}
	var b createBody
	if err := decodeJSON(w, r, &b); err != nil {
		return err
	}
	if err := b.validate(); err != nil {
		return err
	}
	ps, err := b.prompts()
	if err != nil {
		return err
	}
	req := queue.CreateRequest{Queue: b.Queue, Number: b.Number, ANI: b.ANI, Priority: b.Priority, Media: ps}
	if b.NotBefore != nil {
		req.NotBefore = b.NotBefore.UTC()
	}
	if b.NotAfter != nil {
		req.NotAfter = b.NotAfter.UTC()
	}
	res, err := h.opt.Engine.CreateCallback(r.Context(), req)
	if err != nil {
		return classify(err)
	}
	switch res.Outcome {
	case flowvm.Invalid:
		ae := &apiError{Status: e422, Code: "invalid_number", Message: "the number is refused by the queue's number policy"}
		if res.Rejection != nil {
			ae.Reason, ae.Message = string(res.Rejection.Reason), res.Rejection.Detail
		}
		return ae
	case flowvm.Duplicate:
		return &apiError{Status: e409, Code: "duplicate", CallbackID: res.Callback.ID,
			Message: "an open callback for this number and queue exists"}
	}
	w.Header().Set("Location", "/v1/callbacks/"+strconv.FormatInt(res.Callback.ID, 10))
	writeJSON(w, c201, map[string]callbackJSON{"callback": toJSON(res.Callback)})
	return nil
}

// query reads and checks query parameters.
type query struct {
	v   url.Values
	err *apiError
}

func (q *query) bad(format string, args ...any) {
	if q.err == nil {
		q.err = errf(e400, "bad_request", format, args...)
	}
}

// list reads a comma-separated or repeated parameter.
func (q *query) list(name string) []string {
	var out []string
	for _, v := range q.v[name] {
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

func (q *query) int64(name string) int64 {
	s := q.v.Get(name)
	if s == "" {
		return 0
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		q.bad("%s must be a non-negative integer", name)
	}
	return n
}

func (q *query) time(name string) time.Time {
	s := q.v.Get(name)
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		q.bad("%s must be an RFC 3339 time", name)
	}
	return t.UTC()
}

func (q *query) limit() int {
	n := q.int64("limit")
	if n > store.MaxLimit {
		q.bad("limit must be at most %d", store.MaxLimit)
	}
	return int(n)
}

func cursor(n int64) string {
	if n == 0 {
		return ""
	}
	return strconv.FormatInt(n, 10)
}

func (h *Handler) listCallbacks(w http.ResponseWriter, r *http.Request) error {
	q := &query{v: r.URL.Query()}
	f := store.CallbackFilter{Queue: q.v.Get("queue"), Number: q.v.Get("number"),
		CreatedFrom: q.time("created_from"), CreatedTo: q.time("created_to"), Limit: q.limit(), Before: q.int64("cursor")}
	for _, s := range q.list("state") {
		f.States = append(f.States, store.State(s))
	}
	if f.Number != "" && (len(f.Number) < 2 || f.Number[0] != '+' || strings.Trim(f.Number[1:], "0123456789") != "") {
		q.bad("number must be an E.164 number (+ and digits)")
	}
	if q.err != nil {
		return q.err
	}
	page, err := h.opt.Store.QueryCallbacks(r.Context(), f)
	if err != nil {
		return classify(err)
	}
	out := struct {
		Callbacks  []callbackJSON `json:"callbacks"`
		NextCursor string         `json:"next_cursor,omitempty"`
	}{Callbacks: []callbackJSON{}, NextCursor: cursor(page.Next)}
	for _, cb := range page.Callbacks {
		out.Callbacks = append(out.Callbacks, toJSON(cb))
	}
	writeJSON(w, ok200, out)
	return nil
}

func pathID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, errf(e400, "bad_request", "callback id must be a positive integer")
	}
	return id, nil
}

func (h *Handler) getCallback(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	cb, err := h.opt.Store.Get(r.Context(), id)
	if err != nil {
		return classify(err)
	}
	atts, err := h.opt.Store.Attempts(r.Context(), id)
	if err != nil {
		return classify(err)
	}
	out := toJSON(cb)
	list := []attemptJSON{}
	for _, a := range atts {
		list = append(list, attemptJSON{N: a.N, Leg: a.Leg, Endpoint: a.Endpoint, ANI: a.ANI,
			ChannelID: a.ChannelID, StartedAt: a.StartedAt.UTC(), EndedAt: optTime(a.EndedAt), Outcome: a.Outcome, Cause: a.Cause})
	}
	out.Attempts = &list
	writeJSON(w, ok200, map[string]callbackJSON{"callback": out})
	return nil
}

func (h *Handler) cancelCallback(w http.ResponseWriter, r *http.Request) error {
	if err := h.standby(); err != nil {
		return err
	}
	id, err := pathID(r)
	if err != nil {
		return err
	}
	cb, err := h.opt.Engine.CancelCallback(r.Context(), id)
	if err != nil {
		return classify(err)
	}
	writeJSON(w, ok200, map[string]callbackJSON{"callback": toJSON(cb)})
	return nil
}

type queueSummary struct {
	Name             string  `json:"name"`
	Length           int     `json:"length"`
	Live             int     `json:"live"`
	Callbacks        int     `json:"callbacks"`
	AgentsFree       int     `json:"agents_free"`
	Agents           int     `json:"agents"`
	EWTSeconds       float64 `json:"ewt_seconds"`
	MeanHandleSecond float64 `json:"mean_handle_seconds"`
	Abandons         int     `json:"abandons"`
}

func summary(s queue.QueueSnapshot) queueSummary {
	out := queueSummary{Name: s.Name, Length: len(s.Entries), Agents: len(s.Agents), Abandons: s.Abandons,
		EWTSeconds:       queue.EWT(len(s.Entries)+1, s.MeanHandle, len(s.Agents)).Seconds(),
		MeanHandleSecond: s.MeanHandle.Seconds()}
	for _, en := range s.Entries {
		switch en.Kind {
		case "live":
			out.Live++
		case "callback":
			out.Callbacks++
		}
	}
	for _, a := range s.Agents {
		if a.State == "free" {
			out.AgentsFree++
		}
	}
	return out
}

func (h *Handler) listQueues(w http.ResponseWriter, r *http.Request) error {
	out := struct {
		Queues []queueSummary `json:"queues"`
	}{Queues: []queueSummary{}}
	for _, name := range h.opt.Engine.QueueNames() {
		if s, ok := h.opt.Engine.Snapshot(name); ok {
			out.Queues = append(out.Queues, summary(s))
		}
	}
	writeJSON(w, ok200, out)
	return nil
}

type entryJSON struct {
	Position     int       `json:"position"`
	Kind         string    `json:"kind"`
	State        string    `json:"state"`
	CallID       string    `json:"call_id,omitempty"`
	CallbackID   int64     `json:"callback_id,omitempty"`
	Number       string    `json:"number,omitempty"`
	Priority     int       `json:"priority"`
	WaitingSince time.Time `json:"waiting_since"`
	EWTSeconds   float64   `json:"ewt_seconds"`
}

type agentJSON struct {
	Endpoint     string     `json:"endpoint"`
	State        string     `json:"state"`
	SkippedUntil *time.Time `json:"skipped_until,omitempty"`
}

func (h *Handler) getQueue(w http.ResponseWriter, r *http.Request) error {
	s, ok := h.opt.Engine.Snapshot(r.PathValue("name"))
	if !ok {
		return errf(e404, "not_found", "no such queue")
	}
	out := struct {
		queueSummary
		Entries []entryJSON `json:"entries"`
		Agents  []agentJSON `json:"agent_list"`
	}{queueSummary: summary(s), Entries: []entryJSON{}, Agents: []agentJSON{}}
	for _, en := range s.Entries {
		out.Entries = append(out.Entries, entryJSON{Position: en.Position, Kind: en.Kind, State: en.State, CallID: en.CallID,
			CallbackID: en.CallbackID, Number: en.Number, Priority: en.Priority, WaitingSince: en.JoinedAt.UTC(), EWTSeconds: en.EWT.Seconds()})
	}
	for _, a := range s.Agents {
		out.Agents = append(out.Agents, agentJSON{Endpoint: a.Endpoint, State: a.State, SkippedUntil: optTime(a.SkippedUntil)})
	}
	writeJSON(w, ok200, out)
	return nil
}

type eventJSON struct {
	ID         int64             `json:"id"`
	At         time.Time         `json:"at"`
	Kind       string            `json:"kind"`
	Queue      string            `json:"queue,omitempty"`
	CallbackID int64             `json:"callback_id,omitempty"`
	CallID     string            `json:"call_id,omitempty"`
	Detail     map[string]string `json:"detail"`
}

func (h *Handler) listEvents(w http.ResponseWriter, r *http.Request) error {
	q := &query{v: r.URL.Query()}
	f := store.EventFilter{Kinds: q.list("kind"), Queue: q.v.Get("queue"), CallbackID: q.int64("callback_id"),
		Since: q.time("since"), Until: q.time("until"), Limit: q.limit(), After: q.int64("cursor")}
	if q.err != nil {
		return q.err
	}
	page, err := h.opt.Store.QueryEvents(r.Context(), f)
	if err != nil {
		return classify(err)
	}
	out := struct {
		Events     []eventJSON `json:"events"`
		NextCursor string      `json:"next_cursor,omitempty"`
	}{Events: []eventJSON{}, NextCursor: cursor(page.Next)}
	for _, ev := range page.Events {
		d := ev.Detail
		if d == nil {
			d = map[string]string{}
		}
		out.Events = append(out.Events, eventJSON{ID: ev.ID, At: ev.At.UTC(), Kind: ev.Kind, Queue: ev.Queue,
			CallbackID: ev.CallbackID, CallID: ev.CallID, Detail: d})
	}
	writeJSON(w, ok200, out)
	return nil
}

func (h *Handler) healthz(w http.ResponseWriter, _ *http.Request) error {
	ok, detail := true, "unknown"
	if h.opt.Health != nil {
		ok, detail = h.opt.Health()
	}
	status, code := "ok", ok200
	if !ok {
		status, code = "unavailable", e503
	}
	writeJSON(w, code, map[string]string{"status": status, "switch": detail})
	return nil
}

func (h *Handler) metrics(w http.ResponseWriter, r *http.Request) error {
	if h.opt.Metrics == nil {
		return errf(e404, "not_found", "metrics are not enabled")
	}
	w.Header().Del("Cache-Control")
	h.opt.Metrics.ServeHTTP(w, r)
	return nil
}

func (h *Handler) recording(w http.ResponseWriter, r *http.Request) error {
	if h.opt.Media == nil {
		return errf(e404, "not_found", "no recording store")
	}
	h.opt.Media.ServeHTTP(w, r)
	return nil
}
