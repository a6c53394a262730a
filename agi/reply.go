package agi

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrHangup reports that Asterisk sent HANGUP or a 511 reply: the channel is
// gone and no further command will run.
var ErrHangup = errors.New("agi: channel hung up")

// Reply is one parsed AGI command reply, for example
// "200 result=49 (timeout) endpos=12000".
type Reply struct {
	Code   int // 200, 510, 511, 520
	Result int // the result= value; -1 means failure or hang-up
	// Text is the result= value as sent: GET DATA's digits keep their
	// leading zeros here, and its "result= (timeout)" gives "" (Result 0).
	Text   string
	Data   string // text inside parentheses, "" when absent
	EndPos int64  // endpos= value, -1 when absent
	Raw    string // the line as received, without the newline
}

// ParseReply parses one reply line. A 511 reply returns ErrHangup with the
// parsed reply; other non-200 codes return an error naming the line.
func ParseReply(line string) (Reply, error) {
	line = strings.TrimRight(line, "\r\n")
	r := Reply{Raw: line, EndPos: -1}
	if line == "HANGUP" {
		r.Code, r.Result = 511, -1
		return r, ErrHangup
	}
	if len(line) < 3 {
		return r, fmt.Errorf("agi: short reply %q", line)
	}
	code, err := strconv.Atoi(line[:3])
	if err != nil || (len(line) > 3 && line[3] != ' ' && line[3] != '-') {
		return r, fmt.Errorf("agi: reply without status code %q", line)
	}
	r.Code = code
	switch code {
	case 200:
	case 511:
		r.Result = -1
		return r, ErrHangup
	default:
		return r, fmt.Errorf("agi: reply %q", line)
	}
	rest := strings.TrimSpace(line[3:])
	if !strings.HasPrefix(rest, "result=") {
		return r, fmt.Errorf("agi: reply without result %q", line)
	}
	rest = rest[len("result="):]
	end := strings.IndexByte(rest, ' ')
	if end < 0 {
		end = len(rest)
	}
	r.Text = rest[:end]
	if r.Text != "" {
		if r.Result, err = strconv.Atoi(r.Text); err != nil {
			return r, fmt.Errorf("agi: result in %q: %w", line, err)
		}
	}
	rest = strings.TrimSpace(rest[end:])
	if strings.HasPrefix(rest, "(") {
		closing := strings.LastIndexByte(rest, ')')
		if closing < 0 {
			return r, fmt.Errorf("agi: unclosed data in %q", line)
		}
		r.Data = rest[1:closing]
		rest = strings.TrimSpace(rest[closing+1:])
	}
	for _, f := range strings.Fields(rest) {
		if v, ok := strings.CutPrefix(f, "endpos="); ok {
			if r.EndPos, err = strconv.ParseInt(v, 10, 64); err != nil {
				return r, fmt.Errorf("agi: endpos in %q: %w", line, err)
			}
		}
	}
	return r, nil
}
