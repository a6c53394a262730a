package esltest_test

import (
	"strings"
	"testing"

	"github.com/callflow/callflow/esl"
	"github.com/callflow/callflow/esl/esltest"
)

// TestUUIDDump: uuid_dump returns the channel's data as a plain event
// body (URL-encoded for txt, raw for plain) and "-ERR No such channel!"
// for a missing or hung-up uuid.
func TestUUIDDump(t *testing.T) {
	s := newServer(t, esltest.Options{})
	c := dialRaw(t, s)
	s.Script("sofia/gateway/gw/+420222333444", esltest.Fate{Outcome: esltest.Answer})
	if got := c.api(t, "originate {origination_uuid=cb7-1-agent-x,origination_caller_id_number=+420111222333}sofia/gateway/gw/+420222333444 &park()"); got != "+OK cb7-1-agent-x\n" {
		t.Fatalf("originate: %q", got)
	}
	cases := []struct {
		name, cmd string
		want      map[string]string // decoded headers; nil: want an -ERR body
		raw       string            // substring of the raw body
	}{
		{"txt", "uuid_dump cb7-1-agent-x", map[string]string{"Event-Name": "CHANNEL_DATA", "Unique-ID": "cb7-1-agent-x",
			"Answer-State": "answered", "Channel-Name": "sofia/gateway/gw/+420222333444",
			"variable_origination_caller_id_number": "+420111222333"}, "Caller-Caller-ID-Number: %2B420111222333\n"},
		{"plain", "uuid_dump cb7-1-agent-x plain", map[string]string{"Answer-State": "answered"}, "Caller-Caller-ID-Number: +420111222333\n"},
		{"missing", "uuid_dump nosuch", nil, "-ERR No such channel!\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := c.api(t, tc.cmd)
			if !strings.Contains(got, tc.raw) {
				t.Errorf("body lacks %q:\n%s", tc.raw, got)
			}
			if tc.want == nil {
				return
			}
			if !strings.HasSuffix(got, "\n\n") {
				t.Errorf("body does not end with a blank line: %q", got)
			}
			if tc.name != "txt" {
				return
			}
			e, err := esl.ParsePlainEvent([]byte(got))
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			for k, v := range tc.want {
				if e.Get(k) != v {
					t.Errorf("%s = %q, want %q", k, e.Get(k), v)
				}
			}
		})
	}
	if got := c.api(t, "uuid_kill cb7-1-agent-x"); got != "+OK\n" {
		t.Fatalf("uuid_kill: %q", got)
	}
	if got := c.api(t, "uuid_dump cb7-1-agent-x"); got != "-ERR No such channel!\n" {
		t.Errorf("dump after hang-up: %q", got)
	}
}
