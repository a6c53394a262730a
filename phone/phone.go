// Package phone checks phone numbers against a number policy: valid
// numbers only, from allowed regions, of allowed types, never to denied
// prefixes (toll-fraud blocking), normalised to E.164.
//
// Both the flow's validate_number notation and the callback dispatcher
// (right before it dials) use the same Policy.
package phone

import (
	"fmt"
	"slices"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// Type is a number type as written in flows and config.
type Type string

// Number types (libphonenumber's, lower-cased).
const (
	FixedLine         Type = "fixed_line"
	Mobile            Type = "mobile"
	FixedLineOrMobile Type = "fixed_line_or_mobile" // e.g. every US number
	TollFree          Type = "toll_free"
	PremiumRate       Type = "premium_rate"
	SharedCost        Type = "shared_cost"
	VoIP              Type = "voip"
	PersonalNumber    Type = "personal_number"
	Pager             Type = "pager"
	UAN               Type = "uan"
	Voicemail         Type = "voicemail"
	Unknown           Type = "unknown"
)

var types = map[phonenumbers.PhoneNumberType]Type{
	phonenumbers.FIXED_LINE:           FixedLine,
	phonenumbers.MOBILE:               Mobile,
	phonenumbers.FIXED_LINE_OR_MOBILE: FixedLineOrMobile,
	phonenumbers.TOLL_FREE:            TollFree,
	phonenumbers.PREMIUM_RATE:         PremiumRate,
	phonenumbers.SHARED_COST:          SharedCost,
	phonenumbers.VOIP:                 VoIP,
	phonenumbers.PERSONAL_NUMBER:      PersonalNumber,
	phonenumbers.PAGER:                Pager,
	phonenumbers.UAN:                  UAN,
	phonenumbers.VOICEMAIL:            Voicemail,
	phonenumbers.UNKNOWN:              Unknown,
}

// ParseType reads a type name ("mobile", "premium_rate", …).
func ParseType(s string) (Type, error) {
	t := Type(strings.ToLower(strings.TrimSpace(s)))
	for _, known := range types {
		if known == t {
			return t, nil
		}
	}
	return "", fmt.Errorf("unknown number type %q (want one of %s)", s, strings.Join(TypeNames(), ", "))
}

// TypeNames lists every type name, sorted.
func TypeNames() []string {
	names := make([]string, 0, len(types))
	for _, t := range types {
		names = append(names, string(t))
	}
	slices.Sort(names)
	return names
}

// DefaultDenied are the types denied when a policy names none: they cost the
// caller's operator (and us) money or cannot be classified.
var DefaultDenied = []Type{PremiumRate, SharedCost, Unknown}

// Policy is a number policy. The zero value accepts any valid number of a
// type not in DefaultDenied, parsed without a default region (so only
// numbers in international format).
type Policy struct {
	// DefaultRegion (ISO 3166 alpha-2, e.g. "CZ") reads national numbers.
	DefaultRegion string
	// AllowedRegions limits the number's region; empty = any region.
	AllowedRegions []string
	// AllowedTypes limits the number's type; empty = any type not denied.
	AllowedTypes []Type
	// DeniedTypes are refused; nil = DefaultDenied, empty non-nil = none.
	DeniedTypes []Type
	// DeniedPrefixes are E.164 prefixes never dialled (toll-fraud
	// blocking), e.g. "+882" (international networks).
	DeniedPrefixes []string
}

// Result is an accepted number.
type Result struct {
	E164   string // "+420601123456"
	Region string // "CZ"
	Type   Type
}

// Reason classifies a rejection.
type Reason string

const (
	ReasonUnparsable Reason = "unparsable" // not a phone number at all
	ReasonInvalid    Reason = "invalid"    // parsed, but not a valid number
	ReasonRegion     Reason = "region"     // region not allowed
	ReasonType       Reason = "type"       // type denied or not allowed
	ReasonPrefix     Reason = "prefix"     // a denied prefix
)

// Rejection is the error Check returns for a number the policy refuses.
type Rejection struct {
	Number string
	Reason Reason
	Detail string
}

func (r *Rejection) Error() string {
	return fmt.Sprintf("number %q refused (%s): %s", r.Number, r.Reason, r.Detail)
}

// Validate reports a policy whose regions or types are not known.
func (p Policy) Validate() error {
	var errs []string
	regions := phonenumbers.GetSupportedRegions()
	if p.DefaultRegion != "" {
		if _, ok := regions[strings.ToUpper(p.DefaultRegion)]; !ok {
			errs = append(errs, fmt.Sprintf("unknown default region %q", p.DefaultRegion))
		}
	}
	for _, r := range p.AllowedRegions {
		if _, ok := regions[strings.ToUpper(r)]; !ok {
			errs = append(errs, fmt.Sprintf("unknown region %q", r))
		}
	}
	for _, list := range [][]Type{p.AllowedTypes, p.DeniedTypes} {
		for _, t := range list {
			if _, err := ParseType(string(t)); err != nil {
				errs = append(errs, err.Error())
			}
		}
	}
	for _, pre := range p.DeniedPrefixes {
		if len(pre) < 2 || pre[0] != '+' || strings.Trim(pre[1:], "0123456789") != "" {
			errs = append(errs, fmt.Sprintf("denied prefix %q is not '+' followed by digits", pre))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("number policy: %s", strings.Join(errs, "; "))
	}
	return nil
}

// Check parses raw (international or national in DefaultRegion) and applies
// the policy. A refused number gives a *Rejection.
func (p Policy) Check(raw string) (Result, error) {
	s := strings.TrimSpace(raw)
	if s == "" || strings.ContainsAny(s, "*#") {
		return Result{}, &Rejection{Number: raw, Reason: ReasonUnparsable, Detail: "not a phone number"}
	}
	num, err := phonenumbers.Parse(s, strings.ToUpper(p.DefaultRegion))
	if err != nil {
		return Result{}, &Rejection{Number: raw, Reason: ReasonUnparsable, Detail: err.Error()}
	}
	// Parse accepts numbers such as "12": validity is a separate question.
	if !phonenumbers.IsValidNumber(num) {
		return Result{}, &Rejection{Number: raw, Reason: ReasonInvalid, Detail: "not a valid number"}
	}
	res := Result{
		E164:   phonenumbers.Format(num, phonenumbers.E164),
		Region: phonenumbers.GetRegionCodeForNumber(num),
		Type:   types[phonenumbers.GetNumberType(num)],
	}
	if len(p.AllowedRegions) > 0 && !slices.ContainsFunc(p.AllowedRegions, func(r string) bool { return strings.EqualFold(r, res.Region) }) {
		return Result{}, &Rejection{Number: raw, Reason: ReasonRegion, Detail: fmt.Sprintf("region %s not allowed", res.Region)}
	}
	for _, pre := range p.DeniedPrefixes {
		if strings.HasPrefix(res.E164, pre) {
			return Result{}, &Rejection{Number: raw, Reason: ReasonPrefix, Detail: fmt.Sprintf("prefix %s is blocked", pre)}
		}
	}
	denied := p.DeniedTypes
	if denied == nil {
		denied = DefaultDenied
	}
	if matches(denied, res.Type, true) {
		return Result{}, &Rejection{Number: raw, Reason: ReasonType, Detail: fmt.Sprintf("type %s is denied", res.Type)}
	}
	if len(p.AllowedTypes) > 0 && !matches(p.AllowedTypes, res.Type, false) {
		return Result{}, &Rejection{Number: raw, Reason: ReasonType, Detail: fmt.Sprintf("type %s is not allowed", res.Type)}
	}
	return res, nil
}

// matches reports whether t is in list. A fixed_line_or_mobile number (the
// type of every US number) matches an allow list naming fixed_line or
// mobile, and a deny list only when it names both (or the type itself).
func matches(list []Type, t Type, deny bool) bool {
	if slices.Contains(list, t) {
		return true
	}
	if t != FixedLineOrMobile {
		return false
	}
	fixed, mobile := slices.Contains(list, FixedLine), slices.Contains(list, Mobile)
	if deny {
		return fixed && mobile
	}
	return fixed || mobile
}
