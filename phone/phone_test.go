package phone

import (
	"errors"
	"testing"
)

func TestCheck(t *testing.T) {
	czsk := Policy{
		DefaultRegion:  "CZ",
		AllowedRegions: []string{"CZ", "SK"},
		AllowedTypes:   []Type{Mobile, FixedLine},
	}
	us := Policy{DefaultRegion: "US"}
	fraud := Policy{DefaultRegion: "CZ", DeniedPrefixes: []string{"+882", "+4219"}}
	tests := []struct {
		name   string
		policy Policy
		in     string
		e164   string
		typ    Type
		reason Reason
	}{
		{"cz mobile national", czsk, "601 123 456", "+420601123456", Mobile, ""},
		{"cz mobile international", czsk, "+420 601 123 456", "+420601123456", Mobile, ""},
		{"cz mobile with idd", czsk, "00420601123456", "+420601123456", Mobile, ""},
		{"cz fixed line prague", czsk, "+420 222 333 444", "+420222333444", FixedLine, ""},
		{"sk mobile", czsk, "+421 905 123 456", "+421905123456", Mobile, ""},
		{"sk fixed bratislava", czsk, "+421 2 5441 1111", "+421254411111", FixedLine, ""},
		{"cz premium rate refused", czsk, "+420 900 123 456", "", "", ReasonType},
		{"cz toll free not in allowed types", czsk, "+420 800 123 456", "", "", ReasonType},
		{"german mobile region refused", czsk, "+49 151 12345678", "", "", ReasonRegion},
		{"too short parses but is invalid", us, "12", "", "", ReasonInvalid},
		{"letters", us, "call me", "", "", ReasonUnparsable},
		{"dtmf star", czsk, "*601123456", "", "", ReasonUnparsable},
		{"empty", czsk, "", "", "", ReasonUnparsable},
		{"us number is fixed or mobile", us, "(201) 555-0123", "+12015550123", FixedLineOrMobile, ""},
		{"us number passes mobile-only allow list", Policy{DefaultRegion: "US", AllowedTypes: []Type{Mobile}}, "2015550123", "+12015550123", FixedLineOrMobile, ""},
		{"us number refused when both denied", Policy{DefaultRegion: "US", DeniedTypes: []Type{FixedLine, Mobile}}, "2015550123", "", "", ReasonType},
		{"us premium 900 refused by default", us, "+1 900 555 0123", "", "", ReasonType},
		{"uk shared cost refused by default", Policy{DefaultRegion: "GB"}, "0845 464 0000", "", "", ReasonType},
		{"empty deny list allows premium", Policy{DefaultRegion: "CZ", DeniedTypes: []Type{}}, "+420900123456", "+420900123456", PremiumRate, ""},
		{"denied prefix", fraud, "+421 905 123 456", "", "", ReasonPrefix},
		{"national without default region", Policy{}, "601123456", "", "", ReasonUnparsable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := tc.policy.Check(tc.in)
			if tc.reason != "" {
				var rej *Rejection
				if !errors.As(err, &rej) {
					t.Fatalf("Check(%q) = %+v, %v; want rejection %s", tc.in, res, err, tc.reason)
				}
				if rej.Reason != tc.reason {
					t.Fatalf("Check(%q) reason %s (%v), want %s", tc.in, rej.Reason, err, tc.reason)
				}
				return
			}
			if err != nil {
				t.Fatalf("Check(%q): %v", tc.in, err)
			}
			if res.E164 != tc.e164 || res.Type != tc.typ {
				t.Fatalf("Check(%q) = %+v, want %s %s", tc.in, res, tc.e164, tc.typ)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		p    Policy
		ok   bool
	}{
		{"zero", Policy{}, true},
		{"good", Policy{DefaultRegion: "cz", AllowedRegions: []string{"CZ", "SK"}, AllowedTypes: []Type{Mobile}, DeniedPrefixes: []string{"+882"}}, true},
		{"bad region", Policy{DefaultRegion: "XX"}, false},
		{"bad allowed region", Policy{AllowedRegions: []string{"Czechia"}}, false},
		{"bad type", Policy{AllowedTypes: []Type{"cell"}}, false},
		{"bad prefix", Policy{DeniedPrefixes: []string{"882"}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.p.Validate(); (err == nil) != tc.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestParseType(t *testing.T) {
	if ty, err := ParseType(" Premium_Rate "); err != nil || ty != PremiumRate {
		t.Fatalf("ParseType = %q, %v", ty, err)
	}
	if _, err := ParseType("cellphone"); err == nil {
		t.Fatal("ParseType(cellphone) succeeded")
	}
}
