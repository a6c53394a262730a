package sippharness

import (
	"strings"
	"testing"

	"github.com/callflow/callflow/adapter"
	"github.com/callflow/callflow/adapter/switchtest"
	"github.com/callflow/callflow/internal/sipptest"
)

// A trimmed sipp -trace_msg log of a caller rejected busy, and one of a
// call answered and ended by the switch with a Reason header.
const (
	sippRejected = `----------------------------------------------- 2026-11-25 15:17:28.990681
UDP message sent (511 bytes):

INVITE sip:200@127.0.0.1:5070 SIP/2.0
CSeq: 1 INVITE
Content-Type: application/sdp

v=0
a=rtpmap:8 PCMA/8000

----------------------------------------------- 2026-11-25 15:17:28.990863
UDP message received [252] bytes :

SIP/2.0 486 Busy Here
CSeq: 1 INVITE
Reason: Q.850;cause=17
Content-Length: 0


-----------------------------------------------
Unexpected UDP message received:

SIP/2.0 486 Busy Here
CSeq: 1 INVITE
`
	sippAnswered = `----------------------------------------------- 2026-11-25 15:17:28.990681
UDP message sent (511 bytes):

INVITE sip:200@127.0.0.1:5070 SIP/2.0
CSeq: 1 INVITE

----------------------------------------------- 2026-11-25 15:17:28.990863
UDP message received [252] bytes :

SIP/2.0 200 OK
CSeq: 1 INVITE

----------------------------------------------- 2026-11-25 15:17:29.990863
UDP message received [252] bytes :

BYE sip:sipp@127.0.0.1:40000 SIP/2.0
CSeq: 102 BYE
Reason: Q.850;cause=17

----------------------------------------------- 2026-11-25 15:17:29.990963
UDP message sent (100 bytes):

SIP/2.0 200 OK
CSeq: 102 BYE
`
)

func TestSippOutcome(t *testing.T) {
	tests := []struct {
		name string
		res  sipptest.Result
		err  error
		want switchtest.CallerOutcome
	}{
		{
			name: "rejected busy",
			res:  sipptest.Result{ExitCode: 1, Messages: sippRejected},
			err:  sipptest.ErrCallFailed,
			want: switchtest.CallerOutcome{HungUpBy: switchtest.BySwitch, Cause: adapter.CauseBusy},
		},
		{
			name: "rejected busy without reason",
			res:  sipptest.Result{ExitCode: 1, Messages: strings.ReplaceAll(sippRejected, "Reason: Q.850;cause=17\n", "")},
			err:  sipptest.ErrCallFailed,
			want: switchtest.CallerOutcome{HungUpBy: switchtest.BySwitch, Cause: adapter.CauseBusy},
		},
		{
			name: "answered, ended by the switch with a reason",
			res:  sipptest.Result{Messages: sippAnswered, HungUpBy: "remote"},
			want: switchtest.CallerOutcome{Answered: true, HungUpBy: switchtest.BySwitch, Cause: adapter.CauseBusy},
		},
		{
			name: "answered, the caller hung up",
			res:  sipptest.Result{Messages: sippAnswered[:strings.Index(sippAnswered, "-----------------------------------------------"+" 2026-11-25 15:17:29.990863")], HungUpBy: "local"},
			want: switchtest.CallerOutcome{Answered: true, HungUpBy: switchtest.ByCaller},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Outcome(tc.res, tc.err)
			if got.Answered != tc.want.Answered || got.HungUpBy != tc.want.HungUpBy || got.Cause != tc.want.Cause {
				t.Errorf("outcome %+v, want %+v", got, tc.want)
			}
		})
	}
}
