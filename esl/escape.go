package esl

import (
	"strings"
)

// Var is one channel variable of an originate variable block.
type Var struct{ Name, Value string }

// varDelims are the separators tried, in order, when a value contains a
// comma: FreeSWITCH's "{^^X…}" syntax makes X the separator of the block.
const varDelims = ";:|!~#"

// VarBlock renders "{k=v,k2=v2}" for an originate dial string, safely:
//   - names are [A-Za-z0-9_.-]+;
//   - values with a space are wrapped in single quotes, which FreeSWITCH's
//     argument splitter removes, so the value stays one argument;
//   - values with a comma switch the block to "{^^;k=v;k2=v2}" with a
//     separator no name or value contains;
//   - control characters, quotes (' "), backslashes, braces and brackets
//     ({ } [ ] < >) cannot be represented without ambiguity and are an
//     ErrInvalidValue error (use SanitizeValue first for display text).
//
// An empty list renders "".
func VarBlock(vars ...Var) (string, error) {
	if len(vars) == 0 {
		return "", nil
	}
	delim := byte(',')
	needAlt := false
	for _, v := range vars {
		if err := checkVarName(v.Name); err != nil {
			return "", err
		}
		if err := checkVarValue(v.Name, v.Value); err != nil {
			return "", err
		}
		if strings.IndexByte(v.Value, ',') >= 0 {
			needAlt = true
		}
	}
	var b strings.Builder
	b.WriteByte('{')
	if needAlt {
		delim = 0
		for i := 0; i < len(varDelims) && delim == 0; i++ {
			c := varDelims[i]
			used := false
			for _, v := range vars {
				if strings.IndexByte(v.Value, c) >= 0 || strings.IndexByte(v.Name, c) >= 0 {
					used = true
					break
				}
			}
			if !used {
				delim = c
			}
		}
		if delim == 0 {
			return "", invalid("variable values", vars[0].Value, "no free separator for values with commas")
		}
		b.WriteString("^^")
		b.WriteByte(delim)
	}
	for i, v := range vars {
		if i > 0 {
			b.WriteByte(delim)
		}
		b.WriteString(v.Name)
		b.WriteByte('=')
		if strings.ContainsAny(v.Value, " \t") {
			b.WriteByte('\'')
			b.WriteString(v.Value)
			b.WriteByte('\'')
		} else {
			b.WriteString(v.Value)
		}
	}
	b.WriteByte('}')
	return b.String(), nil
}

func checkVarName(n string) error {
	if n == "" {
		return invalid("variable name", n, "empty")
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return invalid("variable name", n, "want [A-Za-z0-9_.-]")
		}
	}
	return nil
}

const unsafeValueChars = "'\"\\{}[]<>"

func checkVarValue(name, v string) error {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < ' ' && c != '\t' || c == 0x7f {
			return invalid("variable "+name, v, "contains a control character")
		}
		if strings.IndexByte(unsafeValueChars, c) >= 0 {
			return invalid("variable "+name, v, "contains one of "+unsafeValueChars)
		}
	}
	if strings.HasPrefix(v, "^^") {
		return invalid("variable "+name, v, "starts with ^^")
	}
	return nil
}

// SanitizeValue makes display text (a caller name) safe for VarBlock by
// dropping control characters and the characters VarBlock rejects, and
// trimming spaces. Numbers and uuids must be validated, not sanitized.
func SanitizeValue(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r < ' ' || r == 0x7f || r < 0x80 && strings.ContainsRune(unsafeValueChars, r) {
			continue
		}
		b.WriteRune(r)
	}
	return strings.TrimLeft(strings.TrimSpace(b.String()), "^")
}

// Originate holds the parts of an "originate" api/bgapi argument line:
// "{vars}ENDPOINT &app(arg)" or "{vars}ENDPOINT EXTEN [DIALPLAN [CONTEXT]]".
type Originate struct {
	Vars     []Var
	Endpoint string // loopback/9665/default, sofia/gateway/gw/+420…, user/1001
	App      string // park, bridge, … (used when Exten is empty; default park)
	AppArg   string
	Exten    string
	Dialplan string
	Context  string
}

// Args renders the argument line for API{Cmd: "originate"} or
// BgAPI{Cmd: "originate"}. Every part is validated so that a hostile
// value cannot add an argument, another variable, or a second command.
func (o Originate) Args() (string, error) {
	vars, err := VarBlock(o.Vars...)
	if err != nil {
		return "", err
	}
	if err := checkToken("endpoint", o.Endpoint); err != nil {
		return "", err
	}
	// ',' rings several endpoints at once, '|' fails over to another and
	// a leading "^^X" makes X a separator: an originate dials exactly the
	// one endpoint it names.
	if strings.ContainsAny(o.Endpoint, unsafeValueChars+",|^") {
		return "", invalid("endpoint", o.Endpoint, "contains one of "+unsafeValueChars+",|^")
	}
	target, err := o.target()
	if err != nil {
		return "", err
	}
	return vars + o.Endpoint + " " + target, nil
}

func (o Originate) target() (string, error) {
	if o.Exten != "" {
		parts := []string{o.Exten}
		if o.Dialplan != "" || o.Context != "" {
			dp := o.Dialplan
			if dp == "" {
				dp = "XML"
			}
			parts = append(parts, dp)
		}
		if o.Context != "" {
			parts = append(parts, o.Context)
		}
		for _, p := range parts {
			if err := checkToken("originate destination", p); err != nil {
				return "", err
			}
			if strings.ContainsAny(p, unsafeValueChars+"&(),") {
				return "", invalid("originate destination", p, "contains a reserved character")
			}
		}
		return strings.Join(parts, " "), nil
	}
	app := o.App
	if app == "" {
		app = "park"
	}
	if err := checkAppName(app); err != nil {
		return "", err
	}
	if err := CheckInlineAppArg(o.AppArg); err != nil {
		return "", err
	}
	return "&" + app + "(" + o.AppArg + ")", nil
}

func checkAppName(n string) error {
	if n == "" {
		return invalid("application", n, "empty")
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return invalid("application", n, "want [A-Za-z0-9_]")
		}
	}
	return nil
}

// CheckInlineAppArg validates the argument of an inline "&app(arg)": it
// travels inside one space-separated api argument, so it may not contain
// whitespace, quotes, backslashes, parentheses or control characters. Use
// an extension (Originate.Exten) or sendmsg for richer arguments.
func CheckInlineAppArg(arg string) error {
	for i := 0; i < len(arg); i++ {
		c := arg[i]
		if c <= ' ' || c == 0x7f || strings.IndexByte("'\"\\()", c) >= 0 {
			return invalid("inline app arg", arg, "contains whitespace, a quote, a backslash or a parenthesis")
		}
	}
	return nil
}

// CheckArg validates one argument of a space-separated api command
// (uuid_kill, uuid_getvar, uuid_record …): non-empty, no whitespace, no
// quotes or backslashes (FreeSWITCH's splitter would interpret them), no
// control characters.
func CheckArg(arg string) error {
	if err := checkToken("api argument", arg); err != nil {
		return err
	}
	if strings.ContainsAny(arg, "'\"\\") {
		return invalid("api argument", arg, "contains a quote or a backslash")
	}
	return nil
}

// JoinArgs validates each argument with CheckArg and joins them with
// spaces, for API.Args / BgAPI.Args.
func JoinArgs(args ...string) (string, error) {
	for _, a := range args {
		if err := CheckArg(a); err != nil {
			return "", err
		}
	}
	return strings.Join(args, " "), nil
}
