package sippharness

import (
	"bufio"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/callflow/callflow/adapter"
	"github.com/callflow/callflow/adapter/switchtest"
	"github.com/callflow/callflow/internal/sipptest"
)

// sipMessage is one SIP message of sipp's -trace_msg log.
type sipMessage struct {
	received bool
	first    string // request or status line
	headers  map[string]string
}

// msgHead starts a message in sipp's -trace_msg log, e.g. "UDP message
// sent (511 bytes):", "UDP message received [252] bytes :" or
// "Unexpected UDP message received:" (a repeat of one already logged).
var msgHead = regexp.MustCompile(`(?i)^(unexpected )?\w+ message (received|sent)\b`)

// parseMessages reads the first line and the headers of every message of
// sipp's message trace; a repeat logged as unexpected is skipped.
func parseMessages(log string) []sipMessage {
	var msgs []sipMessage
	var cur *sipMessage
	inHeaders := false
	sc := bufio.NewScanner(strings.NewReader(log))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if m := msgHead.FindStringSubmatch(line); m != nil {
			cur, inHeaders = nil, false
			if m[1] == "" {
				msgs = append(msgs, sipMessage{received: strings.EqualFold(m[2], "received"), headers: map[string]string{}})
				cur = &msgs[len(msgs)-1]
			}
			continue
		}
		switch {
		case cur == nil:
		case cur.first == "":
			if line != "" {
				cur.first, inHeaders = line, true
			}
		case line == "":
			inHeaders = false
		case inHeaders:
			if k, v, ok := strings.Cut(line, ":"); ok {
				k = strings.ToLower(strings.TrimSpace(k))
				if _, dup := cur.headers[k]; !dup {
					cur.headers[k] = strings.TrimSpace(v)
				}
			}
		}
	}
	return msgs
}

var q850 = regexp.MustCompile(`(?i)Q\.850\s*;\s*cause\s*=\s*(\d+)`)

// sipStatusCause maps a final SIP response to the cause it carries
// (RFC 3398 in reverse, for the statuses Asterisk sends).
func sipStatusCause(code int) adapter.Cause {
	switch code {
	case 404, 484:
		return adapter.CauseUnallocated
	case 486, 600:
		return adapter.CauseBusy
	case 408, 480:
		return adapter.CauseNoAnswer
	case 403, 603:
		return adapter.CauseRejected
	case 503:
		return adapter.CauseCongestion
	}
	return adapter.CauseFailure
}

// Outcome reads what the caller saw from its message trace.
func Outcome(r sipptest.Result, err error) switchtest.CallerOutcome {
	var o switchtest.CallerOutcome
	var lines []string
	for _, m := range parseMessages(r.Messages) {
		dir := "<-"
		if !m.received {
			dir = "->"
		}
		lines = append(lines, dir+" "+m.first)
		if !m.received {
			continue
		}
		cseq := strings.ToUpper(m.headers["cseq"])
		if code, ok := statusCode(m.first); ok && strings.HasSuffix(cseq, "INVITE") {
			switch {
			case code >= 200 && code < 300:
				o.Answered = true
			case code >= 300:
				o.HungUpBy = switchtest.BySwitch
				o.Cause = sipStatusCause(code)
				if rm := q850.FindStringSubmatch(m.headers["reason"]); rm != nil {
					n, _ := strconv.Atoi(rm[1])
					o.Cause = adapter.CauseFromQ850(n)
				}
			}
		}
		if strings.HasPrefix(m.first, "BYE ") {
			if rm := q850.FindStringSubmatch(m.headers["reason"]); rm != nil {
				n, _ := strconv.Atoi(rm[1])
				o.Cause = adapter.CauseFromQ850(n)
			}
		}
	}
	switch r.HungUpBy {
	case "remote":
		o.HungUpBy = switchtest.BySwitch
	case "local":
		o.HungUpBy = switchtest.ByCaller
	}
	o.Detail = fmt.Sprintf("sipp exit %d, hung up by %q, err %v: %s", r.ExitCode, r.HungUpBy, err, strings.Join(lines, "; "))
	if r.ExitCode != 0 && strings.TrimSpace(r.Errors) != "" {
		o.Detail += "; sipp errors: " + strings.Join(strings.Fields(r.Errors), " ")
	}
	return o
}

func statusCode(first string) (int, bool) {
	rest, ok := strings.CutPrefix(first, "SIP/2.0 ")
	if !ok || len(rest) < 3 {
		return 0, false
	}
	n, err := strconv.Atoi(rest[:3])
	return n, err == nil
}
