package esltest

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/callflow/callflow/esl"
)

// filter is one "filter <header> <value>" with FreeSWITCH's semantics.
type filter struct {
	header, raw string
	exclude     bool
	re          *regexp.Regexp
	value       string
}

func newFilter(header, raw string) (filter, error) {
	f := filter{header: header, raw: raw}
	v := raw
	if v != "" && strings.IndexByte("+- ", v[0]) >= 0 {
		f.exclude = v[0] == '-'
		v = v[1:] // the modifier is consumed
	}
	if len(v) >= 2 && v[0] == '/' && v[len(v)-1] == '/' {
		re, err := regexp.Compile("(?i)" + v[1:len(v)-1])
		if err != nil {
			return f, fmt.Errorf("regex %q: %w", v, err)
		}
		f.re = re
	}
	f.value = v
	return f, nil
}

func (f filter) match(h esl.Headers) (bool, bool) {
	v, ok := h.Lookup(f.header)
	if !ok {
		return false, false
	}
	if f.re != nil {
		return f.re.MatchString(v), true
	}
	return strings.EqualFold(v, f.value), true
}

// passFilters: no filters let everything through; an exclude match drops;
// with include filters, one of them must match (OR across headers), and
// an event without any filtered header is dropped.
func passFilters(fs []filter, h esl.Headers) bool {
	if len(fs) == 0 {
		return true
	}
	includes, matched := 0, false
	for _, f := range fs {
		m, _ := f.match(h)
		if f.exclude {
			if m {
				return false
			}
			continue
		}
		includes++
		matched = matched || m
	}
	return includes == 0 || matched
}
