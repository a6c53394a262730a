package flowvm

import (
	"context"
	"errors"
	"fmt"

	"github.com/callflow/callflow/phone"
)

var validateNumberSpec = &spec{
	typ: "validate_number",
	doc: "Checks a phone number against a number policy and normalises it to E.164. " +
		"Sets number_type and number_region (valid) or number_reason (invalid: unparsable, invalid, region, type, prefix).",
	params: []param{
		{name: "number", kind: pExpr, want: wantString, doc: "the number (default caller.number)"},
		{name: "default_region", kind: pString, doc: "ISO 3166 region for national numbers, e.g. CZ"},
		{name: "allowed_regions", kind: pStringList, doc: "regions allowed (empty = any)"},
		{name: "allowed_types", kind: pEnumList, enum: phone.TypeNames(), doc: "types allowed (empty = any not denied)"},
		{name: "denied_types", kind: pEnumList, enum: phone.TypeNames(), doc: "types refused (absent = premium_rate, shared_cost, unknown)"},
		{name: "denied_prefixes", kind: pStringList, doc: "E.164 prefixes refused, e.g. +882"},
		{name: "into", kind: pVar, doc: "string variable receiving the E.164 number"},
	},
	exits: []exitSpec{
		{name: "valid", required: true, doc: "the number passes the policy"},
		{name: "invalid", required: true, doc: "it does not"},
	},
	check: func(l *loader, n *nnode) {
		if err := buildPolicy(n).Validate(); err != nil {
			l.errs.add(n.pos, "validate_number %q: %v", n.id, err)
		}
	},
	build: func(_ *compiler, n *nnode) op {
		o := &validateNumberOp{policy: buildPolicy(n)}
		o.number, _ = n.vals["number"].(*cexpr)
		o.into, _ = n.vals["into"].(string)
		return o
	},
}

func buildPolicy(n *nnode) phone.Policy {
	var p phone.Policy
	p.DefaultRegion, _ = n.vals["default_region"].(string)
	p.AllowedRegions, _ = n.vals["allowed_regions"].([]string)
	p.DeniedPrefixes, _ = n.vals["denied_prefixes"].([]string)
	types := func(key string) []phone.Type {
		ss, ok := n.vals[key].([]string)
		if !ok {
			return nil
		}
		out := make([]phone.Type, 0, len(ss))
		for _, s := range ss {
			out = append(out, phone.Type(s))
		}
		return out
	}
	p.AllowedTypes = types("allowed_types")
	p.DeniedTypes = types("denied_types")
	return p
}

type validateNumberOp struct {
	number *cexpr // nil: caller.number
	policy phone.Policy
	into   string
}

func (o *validateNumberOp) exec(_ context.Context, r *run, _ *instr) (int, error) {
	var raw string
	if o.number == nil {
		raw = r.call.Info().CallerNumber
	} else {
		s, err := r.evalString(o.number)
		if err != nil {
			return 0, err
		}
		raw = s
	}
	res, err := o.policy.Check(raw)
	if err != nil {
		var rej *phone.Rejection
		if !errors.As(err, &rej) {
			return 0, fmt.Errorf("validate number: %w", err)
		}
		r.env["number_reason"] = string(rej.Reason)
		r.env["number_type"], r.env["number_region"] = "", ""
		r.detail("number", raw)
		r.detail("reason", string(rej.Reason))
		return 1, nil
	}
	r.env["number_type"], r.env["number_region"], r.env["number_reason"] = string(res.Type), res.Region, ""
	if o.into != "" {
		r.env[o.into] = res.E164
	}
	r.detail("e164", res.E164)
	r.detail("type", string(res.Type))
	return 0, nil
}

func (o *validateNumberOp) args() string {
	src := "caller.number"
	if o.number != nil {
		src = o.number.src
	}
	return fmt.Sprintf("number=%q region=%q allowed_regions=%v allowed_types=%v denied_types=%v denied_prefixes=%v into=%s",
		src, o.policy.DefaultRegion, o.policy.AllowedRegions, o.policy.AllowedTypes, o.policy.DeniedTypes,
		o.policy.DeniedPrefixes, o.into)
}
