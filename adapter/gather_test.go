package adapter

import (
	"testing"
	"time"
)

func TestCollector(t *testing.T) {
	tests := []struct {
		name     string
		opt      GatherOptions
		keys     []string
		wantDone int // index of the key that completes, -1 = none
		want     string
	}{
		{"max digits", GatherOptions{MinDigits: 1, MaxDigits: 3}, []string{"1", "2", "3", "4"}, 2, "123"},
		{"terminator not collected", GatherOptions{MinDigits: 1, MaxDigits: 10, Terminator: "#"}, []string{"4", "2", "#"}, 2, "42"},
		{"several terminators", GatherOptions{MinDigits: 1, MaxDigits: 10, Terminator: "#*"}, []string{"7", "*"}, 1, "7"},
		{"empty keys ignored", GatherOptions{MinDigits: 1, MaxDigits: 2}, []string{"", "5", "", "6"}, 3, "56"},
		{"not complete", GatherOptions{MinDigits: 1, MaxDigits: 5}, []string{"1", "2"}, -1, "12"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewCollector(tc.opt)
			if err != nil {
				t.Fatal(err)
			}
			done := -1
			for i, k := range tc.keys {
				if c.Add(k) {
					done = i
					break
				}
			}
			if done != tc.wantDone || c.Digits() != tc.want {
				t.Fatalf("done at %d with %q, want %d with %q", done, c.Digits(), tc.wantDone, tc.want)
			}
			if done >= 0 {
				wantEnd := "max"
				if tc.opt.Terminator != "" && len(c.Digits()) < tc.opt.MaxDigits {
					wantEnd = "terminator"
				}
				if c.End() != wantEnd {
					t.Fatalf("End() = %q, want %q", c.End(), wantEnd)
				}
			}
		})
	}
}

func TestCollectorTimeouts(t *testing.T) {
	c, err := NewCollector(GatherOptions{MaxDigits: 4, InterDigitTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if c.Timeout() != DefaultFirstTimeout || c.TimeoutReason() != "timeout" {
		t.Fatalf("before a key: %v %q", c.Timeout(), c.TimeoutReason())
	}
	c.Add("1")
	if c.Timeout() != 2*time.Second || c.TimeoutReason() != "inter-digit timeout" {
		t.Fatalf("after a key: %v %q", c.Timeout(), c.TimeoutReason())
	}
}

func TestCollectorRejects(t *testing.T) {
	for name, opt := range map[string]GatherOptions{
		"no max":          {MaxDigits: 0},
		"min above max":   {MinDigits: 3, MaxDigits: 2},
		"negative min":    {MinDigits: -1, MaxDigits: 2},
		"bad terminator":  {MaxDigits: 2, Terminator: "x"},
		"line terminator": {MaxDigits: 2, Terminator: "#\n"},
	} {
		if _, err := NewCollector(opt); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
