package agitest

import "testing"

func TestMatch(t *testing.T) {
	tests := []struct {
		name, want, got string
		ok              bool
	}{
		{"same", "ANSWER", "ANSWER", true},
		{"different", "ANSWER", "HANGUP", false},
		{"token", `EXEC Stasis "app,m,{any}"`, `EXEC Stasis "app,m,0f3a"`, true},
		{"empty token", `EXEC Stasis "app,m,{any}"`, `EXEC Stasis "app,m,"`, false},
		{"token with a quote", `EXEC Stasis "app,m,{any}"`, `EXEC Stasis "app,m,a" "b"`, false},
		{"other prefix", `EXEC Stasis "app,m,{any}"`, `EXEC Wait "app,m,1"`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Match(tt.want, tt.got); got != tt.ok {
				t.Fatalf("Match(%q, %q) = %v", tt.want, tt.got, got)
			}
		})
	}
}
