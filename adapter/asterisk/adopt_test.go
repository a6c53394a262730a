package asterisk

import (
	"slices"
	"testing"

	"github.com/callflow/callflow/ari"
)

func TestStasisArgs(t *testing.T) {
	sw, err := New(Config{ARI: ari.Config{BaseURL: "http://127.0.0.1:1/ari", User: "u", Pass: "p", App: "callflow"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name          string
		app, data     string
		want          []string
		inApplication bool
	}{
		{"inbound with the flow", "Stasis", "callflow,301", []string{"301"}, true},
		{"no arguments", "Stasis", "callflow", []string{}, true},
		{"originated leg", "Stasis", "callflow,callflow-originated", []string{OriginateMarker}, true},
		{"spaces", "stasis", " callflow , a , b", []string{"a", "b"}, true},
		{"another application", "Stasis", "other,301", nil, false},
		{"not in Stasis", "Dial", "PJSIP/agent1", nil, false},
		{"no application", "", "", nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args, ok := sw.stasisArgs(ari.Channel{Dialplan: ari.DialplanCEP{AppName: tc.app, AppData: tc.data}})
			if ok != tc.inApplication || (ok && !slices.Equal(args, tc.want)) {
				t.Fatalf("stasisArgs(%s, %q) = %q, %v; want %q, %v", tc.app, tc.data, args, ok, tc.want, tc.inApplication)
			}
		})
	}
}
