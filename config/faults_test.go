//go:build faultinject

package config

import (
	"strings"
	"testing"
)

func TestParseFaults(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		want    FaultsConfig
		wantErr string
	}{
		{name: "absent", yaml: "switch: {type: sim}\n", want: FaultsConfig{}},
		{name: "kill after with default count", yaml: "switch: {type: sim}\nfaults: {kill_after: callback.dialing_customer}\n",
			want: FaultsConfig{KillAfter: "callback.dialing_customer", Count: 1}},
		{name: "count", yaml: "switch: {type: sim}\nfaults: {kill_after: queue.registered, count: 3}\n",
			want: FaultsConfig{KillAfter: "queue.registered", Count: 3}},
		{name: "unknown source", yaml: "switch: {type: sim}\nfaults: {kill_after: api.request}\n", wantErr: "faults.kill_after"},
		{name: "no kind", yaml: "switch: {type: sim}\nfaults: {kill_after: callback}\n", wantErr: "faults.kill_after"},
		{name: "negative count", yaml: "switch: {type: sim}\nfaults: {kill_after: flow.answer, count: -1}\n", wantErr: "faults.count"},
		{name: "unknown key", yaml: "switch: {type: sim}\nfaults: {kill_before: flow.answer}\n", wantErr: "kill_before"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("/etc/callflow/callflow.yaml", []byte(tc.yaml))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want one mentioning %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Faults != tc.want {
				t.Fatalf("faults %+v, want %+v", c.Faults, tc.want)
			}
			if tc.want.KillAfter != "" && (c.Faults.Source()+"."+c.Faults.Kind() != tc.want.KillAfter) {
				t.Fatalf("source %q kind %q", c.Faults.Source(), c.Faults.Kind())
			}
		})
	}
}
