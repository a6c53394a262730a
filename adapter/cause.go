package adapter

import (
	"fmt"
	"strings"
)

// Cause is why a call ended, after Q.850.
type Cause int

// Hang-up causes. The numbers are the Q.850 cause codes.
const (
	CauseUnknown     Cause = 0
	CauseUnallocated Cause = 1  // number does not exist
	CauseNormal      Cause = 16 // normal clearing
	CauseBusy        Cause = 17 // user busy
	CauseNoAnswer    Cause = 19 // no answer from user
	CauseRejected    Cause = 21 // call rejected
	CauseCongestion  Cause = 34 // no circuit available
	CauseFailure     Cause = 41 // temporary failure
)

var causeNames = map[Cause]string{
	CauseUnknown:     "unknown",
	CauseUnallocated: "unallocated",
	CauseNormal:      "normal",
	CauseBusy:        "busy",
	CauseNoAnswer:    "no_answer",
	CauseRejected:    "rejected",
	CauseCongestion:  "congestion",
	CauseFailure:     "failure",
}

func (c Cause) String() string {
	if s, ok := causeNames[c]; ok {
		return s
	}
	return fmt.Sprintf("q850_%d", int(c))
}

// Q850 is the Q.850 cause code.
func (c Cause) Q850() int { return int(c) }

// CauseFromQ850 maps a Q.850 code to a Cause; codes without a name of their
// own keep their number.
func CauseFromQ850(code int) Cause { return Cause(code) }

// ParseCause reads a cause name as written in flows ("normal", "busy", …).
func ParseCause(s string) (Cause, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	for c, name := range causeNames {
		if name == s && c != CauseUnknown {
			return c, nil
		}
	}
	return CauseUnknown, fmt.Errorf("unknown hang-up cause %q (want one of normal, busy, no_answer, rejected, unallocated, congestion, failure)", s)
}

// Err maps an originate failure cause to the sentinel error it means.
func (c Cause) Err() error {
	switch c {
	case CauseBusy:
		return ErrBusy
	case CauseNoAnswer:
		return ErrNoAnswer
	default:
		return ErrFailed
	}
}
