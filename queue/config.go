package queue

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/callflow/callflow/adapter"
	"github.com/callflow/callflow/phone"
)

// Config is the engine's configuration: every queue and the trunks
// callbacks are dialled through. Package config reads it from the service's
// YAML file; tests build it directly.
type Config struct {
	Queues []QueueConfig
	// Trunks by name: how an E.164 number becomes a switch endpoint.
	Trunks map[string]Trunk
	// AgentNames names agents by person: endpoint → name. Nodes that
	// serve different switches on one database know an agent by this name
	// (each node dials its own endpoint for it), so the agent is offered
	// one call at a time across the nodes (docs/nodes.md). An endpoint not
	// listed is named by itself.
	AgentNames map[string]string
}

// Strategy picks among free agents.
type Strategy string

const (
	// Ordered: the first free agent in config order.
	Ordered Strategy = "ordered"
	// RoundRobin: the free agent after the one picked last.
	RoundRobin Strategy = "round_robin"
	// LongestIdle: the free agent idle the longest.
	LongestIdle Strategy = "longest_idle"
)

// QueueConfig configures one queue.
type QueueConfig struct {
	Name string
	// Agents are switch endpoints ("PJSIP/agent1", "user/1001").
	Agents   []string
	Strategy Strategy
	// InQueueFlow is the default in-queue flow ("" = music only).
	InQueueFlow string
	// MaxWait sends a waiting caller to the queue notation's timeout exit
	// (0 = no limit).
	MaxWait time.Duration
	// MaxEntries makes the queue full at that many entries (0 = no limit).
	MaxEntries int
	// MusicClass of the holding bridge ("default").
	MusicClass string
	// AgentTimeout is how long an agent rings (default 15 s).
	AgentTimeout time.Duration
	// AgentRetry is how long an agent who did not answer, was busy or
	// failed is skipped (default 10 s).
	AgentRetry time.Duration
	// WrapUp is the pause an agent gets after a conversation (default 0).
	WrapUp time.Duration
	// HandleTime seeds the mean handle time used for the estimated wait
	// until real conversations have been measured (default 3 min).
	HandleTime time.Duration
	Callback   CallbackPolicy
}

// Mode is the order in which a callback's two legs are dialled.
type Mode string

const (
	AgentFirst    Mode = "agent_first"
	CustomerFirst Mode = "customer_first"
)

// CallIn says what happens to an open callback when the same number calls
// the queue again.
type CallIn string

const (
	CallInKeep   CallIn = "keep"   // both stay
	CallInCancel CallIn = "cancel" // the open callback is cancelled
	CallInMerge  CallIn = "merge"  // the caller takes the callback's place in line, the callback is cancelled
)

// CallbackPolicy configures a queue's callbacks.
type CallbackPolicy struct {
	// ANI is the caller ID presented to the customer.
	ANI string
	// Trunk names the entry of Config.Trunks used to reach customers.
	Trunk string
	Mode  Mode
	// MaxAttempts customer attempts before the callback fails (default 3).
	MaxAttempts int
	// RetryInterval between attempts (default 5 min).
	RetryInterval time.Duration
	// RetryOn lists the customer outcomes that cost an attempt and are
	// retried: "busy", "no_answer", "failed" (default all three). An
	// outcome not listed fails the callback at once. An agent that does not
	// answer never costs the customer an attempt.
	RetryOn []string
	// CustomerTimeout is how long the customer rings (default 30 s).
	CustomerTimeout time.Duration
	// Dedupe refuses a second open callback for the same number and queue.
	Dedupe bool
	// OnCallIn: what a new call from the same number does to its open callback.
	OnCallIn CallIn
	// Window limits when callbacks are dialled (nil = always).
	Window *Window
	// Whisper prompts are played to the agent before the callback's media.
	Whisper []adapter.Prompt
	// NumberPolicy every callback number must pass, at registration and
	// again right before dialling.
	NumberPolicy phone.Policy
}

// Window is a set of weekly opening hours in a time zone.
type Window struct {
	Location *time.Location
	Hours    []Hours
}

// Hours is one opening span on some weekdays, in minutes after midnight
// (From < To; To may be 24*60).
type Hours struct {
	Days     []time.Weekday
	From, To int
}

// Open reports whether t is inside the window.
func (w *Window) Open(t time.Time) bool {
	if w == nil {
		return true
	}
	lt := t.In(w.Location)
	min := lt.Hour()*60 + lt.Minute()
	for _, h := range w.Hours {
		for _, d := range h.Days {
			if d == lt.Weekday() && min >= h.From && min < h.To {
				return true
			}
		}
	}
	return false
}

// Next returns the first instant at or after t inside the window, and false
// when the window is never open.
func (w *Window) Next(t time.Time) (time.Time, bool) {
	if w == nil || w.Open(t) {
		return t, true
	}
	lt := t.In(w.Location)
	// Search day by day for a week (plus one day for spans starting earlier today).
	for day := 0; day <= 7; day++ {
		// The date at noon names the day; spans start at wall-clock times
		// built with time.Date, so a daylight-saving change that day does
		// not shift them (midnight plus minutes would).
		d := time.Date(lt.Year(), lt.Month(), lt.Day()+day, 12, 0, 0, 0, w.Location)
		best := time.Time{}
		for _, h := range w.Hours {
			for _, wd := range h.Days {
				if wd != d.Weekday() {
					continue
				}
				start := time.Date(d.Year(), d.Month(), d.Day(), h.From/60, h.From%60, 0, 0, w.Location)
				if !start.After(t) {
					// An open span covering t would have made Open true.
					continue
				}
				if best.IsZero() || start.Before(best) {
					best = start
				}
			}
		}
		if !best.IsZero() {
			return best.UTC(), true
		}
	}
	return time.Time{}, false
}

// Trunk maps an E.164 number to a switch endpoint.
type Trunk struct {
	// Dial is the endpoint template: "{e164}" is the number with '+',
	// "{digits}" without it. E.g. "PJSIP/{e164}@customer".
	Dial string
}

// Endpoint renders the trunk's endpoint for an E.164 number.
func (t Trunk) Endpoint(e164 string) (string, error) {
	if len(e164) < 2 || e164[0] != '+' || strings.Trim(e164[1:], "0123456789") != "" {
		return "", fmt.Errorf("trunk: %q is not an E.164 number", e164)
	}
	r := strings.NewReplacer("{e164}", e164, "{digits}", e164[1:])
	return r.Replace(t.Dial), nil
}

// WithDefaults fills the documented defaults.
func (q QueueConfig) WithDefaults() QueueConfig {
	if q.Strategy == "" {
		q.Strategy = Ordered
	}
	if q.MusicClass == "" {
		q.MusicClass = "default"
	}
	if q.AgentTimeout == 0 {
		q.AgentTimeout = 15 * time.Second
	}
	if q.AgentRetry == 0 {
		q.AgentRetry = 10 * time.Second
	}
	if q.HandleTime == 0 {
		q.HandleTime = 3 * time.Minute
	}
	c := &q.Callback
	if c.Mode == "" {
		c.Mode = AgentFirst
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = 3
	}
	if c.RetryInterval == 0 {
		c.RetryInterval = 5 * time.Minute
	}
	if c.RetryOn == nil {
		c.RetryOn = []string{"busy", "no_answer", "failed"}
	}
	if c.CustomerTimeout == 0 {
		c.CustomerTimeout = 30 * time.Second
	}
	if c.OnCallIn == "" {
		c.OnCallIn = CallInKeep
	}
	return q
}

// Validate reports every problem of the configuration.
func (c Config) Validate() error {
	var errs []error
	seen := map[string]bool{}
	for _, q := range c.Queues {
		if q.Name == "" {
			errs = append(errs, errors.New("queue without a name"))
			continue
		}
		if seen[q.Name] {
			errs = append(errs, fmt.Errorf("queue %s: defined twice", q.Name))
		}
		seen[q.Name] = true
		switch q.Strategy {
		case "", Ordered, RoundRobin, LongestIdle:
		default:
			errs = append(errs, fmt.Errorf("queue %s: unknown strategy %q", q.Name, q.Strategy))
		}
		switch q.Callback.Mode {
		case "", AgentFirst, CustomerFirst:
		default:
			errs = append(errs, fmt.Errorf("queue %s: unknown callback mode %q", q.Name, q.Callback.Mode))
		}
		switch q.Callback.OnCallIn {
		case "", CallInKeep, CallInCancel, CallInMerge:
		default:
			errs = append(errs, fmt.Errorf("queue %s: unknown on_call_in %q", q.Name, q.Callback.OnCallIn))
		}
		for _, o := range q.Callback.RetryOn {
			if o != "busy" && o != "no_answer" && o != "failed" {
				errs = append(errs, fmt.Errorf("queue %s: retry_on %q (want busy, no_answer or failed)", q.Name, o))
			}
		}
		if q.Callback.Trunk != "" {
			if _, ok := c.Trunks[q.Callback.Trunk]; !ok {
				errs = append(errs, fmt.Errorf("queue %s: unknown trunk %q", q.Name, q.Callback.Trunk))
			}
		}
		if err := q.Callback.NumberPolicy.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("queue %s: %w", q.Name, err))
		}
		if w := q.Callback.Window; w != nil {
			if w.Location == nil {
				errs = append(errs, fmt.Errorf("queue %s: callback window without a time zone", q.Name))
			}
			for _, h := range w.Hours {
				if h.From < 0 || h.To > 24*60 || h.From >= h.To {
					errs = append(errs, fmt.Errorf("queue %s: callback window hours %d-%d are not a span within a day", q.Name, h.From, h.To))
				}
			}
		}
	}
	return errors.Join(errs...)
}
