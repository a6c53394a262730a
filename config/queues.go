package config

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"

	"github.com/callflow/callflow/adapter"
	"github.com/callflow/callflow/media"
	"github.com/callflow/callflow/phone"
	"github.com/callflow/callflow/queue"
)

var (
	// endpointRE is a switch endpoint: TECH/resource ("PJSIP/agent1", "user/1001",
	// "sofia/gateway/gw/1001").
	endpointRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]*/[^\s,;&|'"]+$`)
	// aniRE is an E.164-ish caller ID: optional '+', then 3 to 15 digits.
	aniRE = regexp.MustCompile(`^\+?[0-9]{3,15}$`)
	// mohRE is a music on hold class name.
	mohRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	// placeholderRE finds {…} placeholders in a dial template.
	placeholderRE = regexp.MustCompile(`\{[^}]*\}`)
)

func (d *decoder) trunks(c *Config, n ast.Node) {
	es, _ := d.entries(n, "trunks")
	for _, e := range es {
		what := "trunk " + e.key
		if err := checkPlainName(e.key); err != nil {
			d.errorf(e.keyN, "trunks: trunk name %v", err)
			continue
		}
		var t queue.Trunk
		var dialN ast.Node
		d.fields(e.value, ck("trunks", "*"), what, map[string]func(ast.Node){
			"dial": func(v ast.Node) { dialN = v; d.str(&t.Dial, what+": dial")(v) },
		})
		if dialN == nil {
			d.errorf(e.keyN, "%s: dial is required (e.g. \"PJSIP/{e164}@customer\")", what)
			continue
		}
		if err := checkDial(t); err != nil {
			d.errorf(dialN, "%s: dial %v", what, err)
			continue
		}
		c.Queue.Trunks[e.key] = t
	}
}

func checkDial(t queue.Trunk) error {
	ph := placeholderRE.FindAllString(t.Dial, -1)
	if len(ph) == 0 {
		return fmt.Errorf("%q has no {e164} or {digits} placeholder", t.Dial)
	}
	for _, p := range ph {
		if p != "{e164}" && p != "{digits}" {
			return fmt.Errorf("%q: unknown placeholder %s (want {e164} or {digits})", t.Dial, p)
		}
	}
	ep, err := t.Endpoint("+420601123456")
	if err != nil {
		return fmt.Errorf("%q: %v", t.Dial, err)
	}
	if !endpointRE.MatchString(ep) {
		return fmt.Errorf("%q does not give a switch endpoint TECH/resource", t.Dial)
	}
	return nil
}

func (d *decoder) queues(c *Config, n ast.Node) {
	es, _ := d.entries(n, "queues")
	for _, e := range es {
		if err := checkPlainName(e.key); err != nil {
			d.errorf(e.keyN, "queues: queue name %v", err)
			continue
		}
		before := len(d.errs)
		q, trunkN, agentsN, agents := d.queue(e.key, e.value)
		own := len(d.errs) > before
		q = q.WithDefaults()
		keyN := e.keyN
		i := len(c.Queue.Queues)
		d.later = append(d.later, func() {
			// Names resolve once the agents section is known (it may come later).
			q.Agents = d.resolveAgents("queue "+q.Name, agentsN, agents)
			c.Queue.Queues[i].Agents = q.Agents
			if q.Callback.Trunk != "" {
				if _, ok := c.Queue.Trunks[q.Callback.Trunk]; !ok {
					d.errorf(trunkN, "queue %s: callback.trunk %q is not defined under trunks", q.Name, q.Callback.Trunk)
					return
				}
			}
			if own {
				return // already reported; Validate would repeat it
			}
			// The engine's own rules, mapped to the queue's position.
			cfg := queue.Config{Queues: []queue.QueueConfig{q}, Trunks: c.Queue.Trunks}
			for _, err := range flatten(cfg.Validate()) {
				d.errorf(keyN, "%v", err)
			}
		})
		c.Queue.Queues = append(c.Queue.Queues, q)
	}
}

// flatten lists the errors of an errors.Join tree.
func flatten(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

// queue decodes one queue. Its agents are left for resolveAgents: it
// returns the trunk's node (for the reference check once every trunk is
// known), the agents list's node and its items as written.
func (d *decoder) queue(name string, n ast.Node) (queue.QueueConfig, ast.Node, ast.Node, []agentItem) {
	q := queue.QueueConfig{Name: name}
	what := "queue " + name
	var trunkN, agentsN ast.Node
	var agents []agentItem
	d.fields(n, ck("queues", "*"), what, map[string]func(ast.Node){
		"agents": func(v ast.Node) {
			agentsN = v
			agents = d.agentItems(what, v)
		},
		"strategy": func(v ast.Node) {
			s, ok := d.scalar(v, what+": strategy")
			switch st := queue.Strategy(s); {
			case !ok:
			case st == queue.Ordered || st == queue.RoundRobin || st == queue.LongestIdle:
				q.Strategy = st
			default:
				d.errorf(v, "%s: unknown strategy %q (want ordered, round_robin or longest_idle)", what, s)
			}
		},
		"in_queue_flow": d.flowName(&q.InQueueFlow, what+": in_queue_flow"),
		"max_wait":      d.duration(&q.MaxWait, what+": max_wait"),
		"max_entries":   d.count(&q.MaxEntries, what+": max_entries"),
		"music_class": func(v ast.Node) {
			s, ok := d.scalar(v, what+": music_class")
			if ok && !mohRE.MatchString(s) {
				d.errorf(v, "%s: music_class %q: want letters, digits, _ and -", what, s)
				return
			}
			q.MusicClass = s
		},
		"agent_timeout": d.positive(&q.AgentTimeout, what+": agent_timeout"),
		"agent_retry":   d.duration(&q.AgentRetry, what+": agent_retry"),
		"wrap_up":       d.duration(&q.WrapUp, what+": wrap_up"),
		"handle_time":   d.positive(&q.HandleTime, what+": handle_time"),
		"callback":      func(v ast.Node) { trunkN = d.callback(&q.Callback, what+": callback", v) },
	})
	return q, trunkN, agentsN, agents
}

// positive decodes a duration that must be more than 0 when given.
func (d *decoder) positive(dst *time.Duration, what string) func(ast.Node) {
	return func(n ast.Node) {
		var v time.Duration = -1
		d.duration(&v, what)(n)
		switch {
		case v == 0:
			d.errorf(n, "%s: must be more than 0 (leave it out for the default)", what)
		case v > 0:
			*dst = v
		}
	}
}

func checkEndpoint(s string) error {
	if !endpointRE.MatchString(s) {
		return fmt.Errorf("%q is not a switch endpoint TECH/resource (e.g. PJSIP/agent1, user/1001)", s)
	}
	return nil
}

// callback decodes a callback policy and returns the trunk's node (for the
// reference check once every trunk is known).
func (d *decoder) callback(cb *queue.CallbackPolicy, what string, n ast.Node) ast.Node {
	var aniN, trunkN ast.Node
	d.fields(n, ck("queues", "*", "callback"), what, map[string]func(ast.Node){
		"ani": func(v ast.Node) {
			aniN = v
			s, ok := d.scalar(v, what+".ani")
			if ok && !aniRE.MatchString(s) {
				d.errorf(v, "%s.ani: %q is not an E.164 number (e.g. \"+420222333444\")", what, s)
				return
			}
			cb.ANI = s
		},
		"trunk": func(v ast.Node) {
			trunkN = v
			d.str(&cb.Trunk, what+".trunk")(v)
		},
		"mode": func(v ast.Node) {
			s, ok := d.scalar(v, what+".mode")
			switch m := queue.Mode(s); {
			case !ok:
			case m == queue.AgentFirst || m == queue.CustomerFirst:
				cb.Mode = m
			default:
				d.errorf(v, "%s.mode: unknown mode %q (want agent_first or customer_first)", what, s)
			}
		},
		"max_attempts": func(v ast.Node) {
			n := -1
			d.count(&n, what+".max_attempts")(v)
			switch {
			case n == 0:
				d.errorf(v, "%s.max_attempts: must be at least 1", what)
			case n > 0:
				cb.MaxAttempts = n
			}
		},
		"retry_interval":   d.positive(&cb.RetryInterval, what+".retry_interval"),
		"customer_timeout": d.positive(&cb.CustomerTimeout, what+".customer_timeout"),
		"retry_on": d.strs(&cb.RetryOn, what+".retry_on", func(s string) error {
			if s != "busy" && s != "no_answer" && s != "failed" {
				return fmt.Errorf("unknown outcome %q (want busy, no_answer or failed)", s)
			}
			return nil
		}),
		"dedupe": d.boolean(&cb.Dedupe, what+".dedupe"),
		"on_call_in": func(v ast.Node) {
			s, ok := d.scalar(v, what+".on_call_in")
			switch ci := queue.CallIn(s); {
			case !ok:
			case ci == queue.CallInKeep || ci == queue.CallInCancel || ci == queue.CallInMerge:
				cb.OnCallIn = ci
			default:
				d.errorf(v, "%s.on_call_in: unknown value %q (want keep, cancel or merge)", what, s)
			}
		},
		"whisper": func(v ast.Node) {
			var ps []string
			d.strs(&ps, what+".whisper", func(s string) error { _, err := media.ParsePrompt(s); return err })(v)
			for _, p := range ps {
				pr, _ := media.ParsePrompt(p) // checked above
				cb.Whisper = append(cb.Whisper, pr)
			}
			if cb.Whisper == nil {
				cb.Whisper = []adapter.Prompt{}
			}
		},
		"window":        func(v ast.Node) { cb.Window = d.window(what+".window", v) },
		"number_policy": func(v ast.Node) { cb.NumberPolicy = d.policy(what+".number_policy", v) },
	})
	if aniN == nil {
		d.errorf(n, "%s: ani is required (the caller ID customers see)", what)
	}
	if trunkN == nil {
		d.errorf(n, "%s: trunk is required (how customers are dialled)", what)
	}
	return trunkN
}

var weekdays = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
	"sunday": time.Sunday, "monday": time.Monday, "tuesday": time.Tuesday, "wednesday": time.Wednesday,
	"thursday": time.Thursday, "friday": time.Friday, "saturday": time.Saturday,
}

// parseDays reads "mon" or a range "mon-fri" (wrapping: "fri-mon").
func parseDays(s string) ([]time.Weekday, error) {
	from, to, isRange := strings.Cut(strings.ToLower(strings.TrimSpace(s)), "-")
	a, ok := weekdays[from]
	if !ok {
		return nil, fmt.Errorf("unknown day %q (want mon, tue, wed, thu, fri, sat, sun or a range such as mon-fri)", s)
	}
	if !isRange {
		return []time.Weekday{a}, nil
	}
	b, ok := weekdays[to]
	if !ok {
		return nil, fmt.Errorf("unknown day %q (want mon, tue, wed, thu, fri, sat, sun or a range such as mon-fri)", s)
	}
	var out []time.Weekday
	for d := a; ; d = (d + 1) % 7 {
		out = append(out, d)
		if d == b {
			return out, nil
		}
	}
}

// parseClock reads "HH:MM" or "H:MM" (00:00 to 24:00) as minutes after
// midnight.
func parseClock(s string) (int, error) {
	hs, ms, ok := strings.Cut(s, ":")
	h, herr := strconv.Atoi(hs)
	m, merr := strconv.Atoi(ms)
	if !ok || herr != nil || merr != nil || len(hs) < 1 || len(hs) > 2 || len(ms) != 2 || strings.Trim(hs+ms, "0123456789") != "" {
		return 0, fmt.Errorf("%q is not HH:MM", s)
	}
	if h < 0 || m < 0 || m > 59 || h > 24 || (h == 24 && m != 0) {
		return 0, fmt.Errorf("%q is not a time of day 00:00-24:00", s)
	}
	return h*60 + m, nil
}

func (d *decoder) window(what string, n ast.Node) *queue.Window {
	w := &queue.Window{}
	var tzN, hoursN ast.Node
	d.fields(n, ck("queues", "*", "callback", "window"), what, map[string]func(ast.Node){
		"timezone": func(v ast.Node) {
			tzN = v
			s, ok := d.scalar(v, what+".timezone")
			if !ok {
				return
			}
			loc, err := time.LoadLocation(s)
			if err != nil || s == "" || strings.EqualFold(s, "local") {
				d.errorf(v, "%s.timezone: unknown time zone %q (want an IANA name such as Europe/Prague)", what, s)
				return
			}
			w.Location = loc
		},
		"hours": func(v ast.Node) {
			hoursN = v
			d.list(v, what+".hours", func(it ast.Node) {
				if h, ok := d.hours(what+".hours", it); ok {
					w.Hours = append(w.Hours, h)
				}
			})
		},
	})
	if tzN == nil {
		d.errorf(n, "%s: timezone is required", what)
	}
	if hoursN == nil {
		d.errorf(n, "%s: hours are required (a window without hours never opens)", what)
	} else if s, ok := hoursN.(*ast.SequenceNode); ok && len(s.Values) == 0 {
		d.errorf(hoursN, "%s: hours are empty (a window without hours never opens)", what)
	}
	return w
}

func (d *decoder) hours(what string, n ast.Node) (queue.Hours, bool) {
	var h queue.Hours
	var daysN, fromN, toN ast.Node
	ok := true
	d.fields(n, ck("queues", "*", "callback", "window", "hours", "*"), what, map[string]func(ast.Node){
		"days": func(v ast.Node) {
			daysN = v
			d.list(v, what+".days", func(it ast.Node) {
				s, sok := d.scalar(it, what+".days")
				if !sok {
					ok = false
					return
				}
				days, err := parseDays(s)
				if err != nil {
					d.errorf(it, "%s.days: %v", what, err)
					ok = false
					return
				}
				for _, day := range days {
					if !slices.Contains(h.Days, day) {
						h.Days = append(h.Days, day)
					}
				}
			})
		},
		"from": func(v ast.Node) { fromN = v; ok = d.clock(&h.From, what+".from", v) && ok },
		"to":   func(v ast.Node) { toN = v; ok = d.clock(&h.To, what+".to", v) && ok },
	})
	for _, req := range []struct {
		n    ast.Node
		name string
	}{{daysN, "days"}, {fromN, "from"}, {toN, "to"}} {
		if req.n == nil {
			d.errorf(n, "%s: %s is required", what, req.name)
			ok = false
		}
	}
	if ok && h.From >= h.To {
		d.errorf(toN, "%s: to must be after from (a span within one day; use 24:00 for midnight)", what)
		ok = false
	}
	return h, ok
}

func (d *decoder) clock(dst *int, what string, n ast.Node) bool {
	s, ok := d.scalar(n, what)
	if !ok {
		return false
	}
	m, err := parseClock(s)
	if err != nil {
		d.errorf(n, "%s: %v", what, err)
		return false
	}
	*dst = m
	return true
}

// policy decodes a number policy, checking each region, type and prefix at
// its own position with the policy's own Validate.
func (d *decoder) policy(what string, n ast.Node) phone.Policy {
	var p phone.Policy
	check := func(one phone.Policy) func(string) error {
		return func(string) error { return one.Validate() }
	}
	d.fields(n, ck("queues", "*", "callback", "number_policy"), what, map[string]func(ast.Node){
		"default_region": func(v ast.Node) {
			s, ok := d.scalar(v, what+".default_region")
			if !ok {
				return
			}
			if err := (phone.Policy{DefaultRegion: s}).Validate(); err != nil {
				d.errorf(v, "%s: %v", what, err)
				return
			}
			p.DefaultRegion = strings.ToUpper(s)
		},
		"allowed_regions": func(v ast.Node) {
			d.strs(&p.AllowedRegions, what+".allowed_regions", func(s string) error {
				return check(phone.Policy{AllowedRegions: []string{s}})(s)
			})(v)
			for i, r := range p.AllowedRegions {
				p.AllowedRegions[i] = strings.ToUpper(r)
			}
		},
		"allowed_types": d.types(&p.AllowedTypes, what+".allowed_types"),
		"denied_types":  d.types(&p.DeniedTypes, what+".denied_types"),
		"denied_prefixes": d.strs(&p.DeniedPrefixes, what+".denied_prefixes", func(s string) error {
			return check(phone.Policy{DeniedPrefixes: []string{s}})(s)
		}),
	})
	if err := p.Validate(); err != nil {
		d.errorf(n, "%s: %v", what, err)
	}
	return p
}

func (d *decoder) types(dst *[]phone.Type, what string) func(ast.Node) {
	return func(n ast.Node) {
		var ss []string
		d.strs(&ss, what, func(s string) error { _, err := phone.ParseType(s); return err })(n)
		out := make([]phone.Type, 0, len(ss))
		for _, s := range ss {
			t, _ := phone.ParseType(s) // checked above
			out = append(out, t)
		}
		*dst = out
	}
}
