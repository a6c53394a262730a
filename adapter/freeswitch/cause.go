package freeswitch

import (
	"strconv"

	"github.com/callflow/callflow/adapter"
	"github.com/callflow/callflow/esl"
)

// q850Names are FreeSWITCH's names of the Q.850 causes (switch_cause_t);
// their numbers are the Q.850 codes.
var q850Names = map[string]int{
	"UNSPECIFIED":                    0,
	"UNALLOCATED_NUMBER":             1,
	"NO_ROUTE_TRANSIT_NET":           2,
	"NO_ROUTE_DESTINATION":           3,
	"CHANNEL_UNACCEPTABLE":           6,
	"CALL_AWARDED_DELIVERED":         7,
	"NORMAL_CLEARING":                16,
	"USER_BUSY":                      17,
	"NO_USER_RESPONSE":               18,
	"NO_ANSWER":                      19,
	"SUBSCRIBER_ABSENT":              20,
	"CALL_REJECTED":                  21,
	"NUMBER_CHANGED":                 22,
	"REDIRECTION_TO_NEW_DESTINATION": 23,
	"EXCHANGE_ROUTING_ERROR":         25,
	"DESTINATION_OUT_OF_ORDER":       27,
	"INVALID_NUMBER_FORMAT":          28,
	"FACILITY_REJECTED":              29,
	"RESPONSE_TO_STATUS_ENQUIRY":     30,
	"NORMAL_UNSPECIFIED":             31,
	"NORMAL_CIRCUIT_CONGESTION":      34,
	"NETWORK_OUT_OF_ORDER":           38,
	"NORMAL_TEMPORARY_FAILURE":       41,
	"SWITCH_CONGESTION":              42,
	"ACCESS_INFO_DISCARDED":          43,
	"REQUESTED_CHAN_UNAVAIL":         44,
	"PRE_EMPTED":                     45,
	"FACILITY_NOT_SUBSCRIBED":        50,
	"OUTGOING_CALL_BARRED":           52,
	"INCOMING_CALL_BARRED":           54,
	"BEARERCAPABILITY_NOTAUTH":       57,
	"BEARERCAPABILITY_NOTAVAIL":      58,
	"SERVICE_UNAVAILABLE":            63,
	"BEARERCAPABILITY_NOTIMPL":       65,
	"CHAN_NOT_IMPLEMENTED":           66,
	"FACILITY_NOT_IMPLEMENTED":       69,
	"SERVICE_NOT_IMPLEMENTED":        79,
	"INVALID_CALL_REFERENCE":         81,
	"INCOMPATIBLE_DESTINATION":       88,
	"INVALID_MSG_UNSPECIFIED":        95,
	"MANDATORY_IE_MISSING":           96,
	"MESSAGE_TYPE_NONEXIST":          97,
	"WRONG_MESSAGE":                  98,
	"IE_NONEXIST":                    99,
	"INVALID_IE_CONTENTS":            100,
	"WRONG_CALL_STATE":               101,
	"RECOVERY_ON_TIMER_EXPIRE":       102,
	"MANDATORY_IE_LENGTH_ERROR":      103,
	"PROTOCOL_ERROR":                 111,
	"INTERWORKING":                   127,
}

// fsOnly maps FreeSWITCH's own causes (no Q.850 number) to the port's.
var fsOnly = map[string]adapter.Cause{
	"ORIGINATOR_CANCEL":   adapter.CauseNormal,
	"MANAGER_REQUEST":     adapter.CauseNormal,
	"BLIND_TRANSFER":      adapter.CauseNormal,
	"ATTENDED_TRANSFER":   adapter.CauseNormal,
	"PICKED_OFF":          adapter.CauseNormal,
	"LOSE_RACE":           adapter.CauseNormal,
	"ALLOTTED_TIMEOUT":    adapter.CauseNormal,
	"USER_NOT_REGISTERED": adapter.CauseUnallocated,
	"PROGRESS_TIMEOUT":    adapter.CauseNoAnswer,
	"MEDIA_TIMEOUT":       adapter.CauseFailure,
	"GATEWAY_DOWN":        adapter.CauseFailure,
	"SYSTEM_SHUTDOWN":     adapter.CauseFailure,
	"CRASH":               adapter.CauseFailure,
	"USER_CHALLENGE":      adapter.CauseRejected,
}

// fsNames is the name FreeSWITCH hangs up with for each port cause.
var fsNames = map[adapter.Cause]string{
	adapter.CauseUnknown:     "NORMAL_CLEARING",
	adapter.CauseUnallocated: "UNALLOCATED_NUMBER",
	adapter.CauseNormal:      "NORMAL_CLEARING",
	adapter.CauseBusy:        "USER_BUSY",
	adapter.CauseNoAnswer:    "NO_ANSWER",
	adapter.CauseRejected:    "CALL_REJECTED",
	adapter.CauseCongestion:  "NORMAL_CIRCUIT_CONGESTION",
	adapter.CauseFailure:     "NORMAL_TEMPORARY_FAILURE",
}

// CauseName is the FreeSWITCH cause name a hang-up with c sends. A code
// without a FreeSWITCH name is sent as NORMAL_CLEARING (ok false).
func CauseName(c adapter.Cause) (name string, ok bool) {
	if n, ok := fsNames[c]; ok {
		return n, true
	}
	for n, code := range q850Names {
		if code == int(c) && code != 0 {
			return n, true
		}
	}
	return "NORMAL_CLEARING", false
}

// ParseCause reads a FreeSWITCH cause name ("USER_BUSY"); q850 is the
// event's hangup_cause_q850 variable ("" if absent), used for names this
// table does not know. An unknown cause is CauseFailure.
func ParseCause(name, q850 string) adapter.Cause {
	if code, ok := q850Names[name]; ok && code != 0 {
		return adapter.CauseFromQ850(code)
	}
	if n, err := strconv.Atoi(q850); err == nil && n > 0 && n < 128 {
		return adapter.CauseFromQ850(n)
	}
	if c, ok := fsOnly[name]; ok {
		return c
	}
	return adapter.CauseFailure
}

// eventCause is the hang-up cause an event carries (CHANNEL_HANGUP and
// CHANNEL_HANGUP_COMPLETE, whose Hangup-Cause appears twice with the same
// value: the first is taken).
func eventCause(e *esl.Event) adapter.Cause {
	name := e.Get("Hangup-Cause")
	if name == "" {
		name = e.Get("variable_hangup_cause")
	}
	return ParseCause(name, e.Get("variable_hangup_cause_q850"))
}

// originateErr maps a failed originate's cause to the port's sentinels:
// USER_BUSY is ErrBusy; NO_ANSWER, NO_USER_RESPONSE, PROGRESS_TIMEOUT and
// ORIGINATOR_CANCEL (the originate_timeout expired) are ErrNoAnswer; every
// other cause is ErrFailed.
func originateErr(cause string) error {
	switch cause {
	case "USER_BUSY":
		return adapter.ErrBusy
	case "NO_ANSWER", "NO_USER_RESPONSE", "PROGRESS_TIMEOUT", "ORIGINATOR_CANCEL":
		return adapter.ErrNoAnswer
	}
	return adapter.ErrFailed
}
