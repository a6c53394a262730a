package e2etest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// apiTimeout bounds one API request.
const apiTimeout = 10 * time.Second

// QueueEntry is one entry of GET /v1/queues/{name}.
type QueueEntry struct {
	Position   int    `json:"position"`
	Kind       string `json:"kind"`
	State      string `json:"state"`
	CallID     string `json:"call_id"`
	CallbackID int64  `json:"callback_id"`
	Number     string `json:"number"`
}

// QueueAgent is one agent of GET /v1/queues/{name}.
type QueueAgent struct {
	Endpoint string `json:"endpoint"`
	State    string `json:"state"`
}

// Queue is GET /v1/queues/{name}.
type Queue struct {
	Name     string       `json:"name"`
	Length   int          `json:"length"`
	Live     int          `json:"live"`
	Abandons int          `json:"abandons"`
	Entries  []QueueEntry `json:"entries"`
	Agents   []QueueAgent `json:"agent_list"`
}

// Position returns the position of callID in the line, 0 when absent.
func (q Queue) Position(callID string) int {
	for _, e := range q.Entries {
		if e.CallID == callID {
			return e.Position
		}
	}
	return 0
}

// Attempt is one dialled leg of a callback.
type Attempt struct {
	N         int    `json:"n"`
	Leg       string `json:"leg"`
	Endpoint  string `json:"endpoint"`
	ANI       string `json:"ani"`
	ChannelID string `json:"channel_id"`
	Outcome   string `json:"outcome"`
}

// Callback is one callback of GET /v1/callbacks.
type Callback struct {
	ID           int64      `json:"id"`
	Queue        string     `json:"queue"`
	Number       string     `json:"number"`
	ANI          string     `json:"ani"`
	Media        []string   `json:"media"`
	State        string     `json:"state"`
	AttemptCount int        `json:"attempt_count"`
	CallerCallID string     `json:"caller_call_id"`
	Attempts     *[]Attempt `json:"attempts"`
}

// StoredEvent is one entry of GET /v1/events.
type StoredEvent struct {
	ID         int64             `json:"id"`
	At         time.Time         `json:"at"`
	Kind       string            `json:"kind"`
	Queue      string            `json:"queue"`
	CallbackID int64             `json:"callback_id"`
	CallID     string            `json:"call_id"`
	Detail     map[string]string `json:"detail"`
}

// get sends an authenticated (when auth) GET to the API.
func (s *Service) get(ctx context.Context, path string, auth bool) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, apiTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.APIURL+path, nil)
	if err != nil {
		return 0, nil, fmt.Errorf("e2etest: api %s: %w", path, err)
	}
	if auth {
		req.Header.Set("Authorization", "Bearer "+s.Token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("e2etest: api %s: %w", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, nil, fmt.Errorf("e2etest: api %s: read: %w", path, err)
	}
	return resp.StatusCode, body, nil
}

// getJSON GETs path with the token and decodes a 200 answer into v.
func (s *Service) getJSON(ctx context.Context, path string, v any) error {
	code, body, err := s.get(ctx, path, true)
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return fmt.Errorf("e2etest: api %s: status %d: %s", path, code, strings.TrimSpace(string(body)))
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("e2etest: api %s: decode: %w", path, err)
	}
	return nil
}

// Queue returns GET /v1/queues/{name}.
func (s *Service) Queue(ctx context.Context, name string) (Queue, error) {
	var q Queue
	err := s.getJSON(ctx, "/v1/queues/"+url.PathEscape(name), &q)
	return q, err
}

// Callbacks returns GET /v1/callbacks (newest first, as the API lists them).
func (s *Service) Callbacks(ctx context.Context) ([]Callback, error) {
	var out struct {
		Callbacks []Callback `json:"callbacks"`
	}
	err := s.getJSON(ctx, "/v1/callbacks", &out)
	return out.Callbacks, err
}

// Callback returns GET /v1/callbacks/{id} with its attempts.
func (s *Service) Callback(ctx context.Context, id int64) (Callback, error) {
	var out struct {
		Callback Callback `json:"callback"`
	}
	err := s.getJSON(ctx, "/v1/callbacks/"+strconv.FormatInt(id, 10), &out)
	return out.Callback, err
}

// Events returns GET /v1/events, filtered by kind when kind is not empty.
func (s *Service) Events(ctx context.Context, kind string) ([]StoredEvent, error) {
	path := "/v1/events"
	if kind != "" {
		path += "?kind=" + url.QueryEscape(kind)
	}
	var out struct {
		Events []StoredEvent `json:"events"`
	}
	err := s.getJSON(ctx, path, &out)
	return out.Events, err
}

// Metric returns the value of one sample of GET /metrics: name with the
// labels given (others may be present); found is false when no sample
// matches.
func (s *Service) Metric(ctx context.Context, name string, labels map[string]string) (value float64, found bool, err error) {
	code, body, err := s.get(ctx, "/metrics", true)
	if err != nil {
		return 0, false, err
	}
	if code != http.StatusOK {
		return 0, false, fmt.Errorf("e2etest: api /metrics: status %d", code)
	}
	return findSample(string(body), name, labels)
}

// findSample reads the Prometheus text format.
func findSample(text, name string, labels map[string]string) (float64, bool, error) {
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		var lbl string
		switch {
		case strings.HasPrefix(rest, "{"):
			end := strings.Index(rest, "}")
			if end < 0 {
				return 0, false, fmt.Errorf("e2etest: metrics line %q: unterminated labels", line)
			}
			lbl, rest = rest[1:end], rest[end+1:]
		case strings.HasPrefix(rest, " "):
		default:
			continue // a longer metric name
		}
		if !hasLabels(lbl, labels) {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			return 0, false, fmt.Errorf("e2etest: metrics line %q: no value", line)
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return 0, false, fmt.Errorf("e2etest: metrics line %q: %w", line, err)
		}
		return v, true, nil
	}
	return 0, false, sc.Err()
}

func hasLabels(lbl string, want map[string]string) bool {
	for k, v := range want {
		if !strings.Contains(","+lbl+",", ","+k+"="+strconv.Quote(v)+",") {
			return false
		}
	}
	return true
}
