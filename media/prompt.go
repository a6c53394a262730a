package media

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/callflow/callflow/adapter"
)

// Kind is the scheme of a prompt URI.
type Kind string

// Prompt kinds, as written before the colon.
const (
	Sound    Kind = "sound"     // a sound file of the switch's language pack
	Recorded Kind = "recording" // a recording in the media store
	Digits   Kind = "digits"    // digits read one by one
	Number   Kind = "number"    // an integer spoken as a number
	Silence  Kind = "silence"   // seconds of silence
	Tone     Kind = "tone"      // a named tone such as beep
)

const (
	maxDigits = 64
	// MaxSilence bounds a silence prompt, in seconds.
	MaxSilence = 600
)

var kinds = []Kind{Sound, Recorded, Digits, Number, Silence, Tone}

// ParsePrompt validates a prompt URI and returns it as an adapter.Prompt.
// Leading and trailing spaces are dropped; the scheme is lower case.
// It is the one check of prompts wherever they enter: flow files at load,
// prompts a flow renders at run time (play, gather, menu, announcements,
// register_callback's media), the API's callback media and the config's
// whisper. Drivers check again through Split before they play.
//
//	sound:NAME      NAME is one or more '/'-separated segments of [A-Za-z0-9._-]
//	                (e.g. sound:hello-world, sound:digits/1), no "..", no leading '/'
//	recording:NAME  NAME is a valid recording name (see ValidateName)
//	digits:D        1 to 64 of 0-9 * #, after an optional leading '+' (the
//	                plus of an E.164 number is not spoken: digits:+420601 reads 420601)
//	number:N        an integer (optionally negative) that fits in 64 bits
//	silence:S       seconds, 0 < S <= 600, decimals allowed (silence:0.5)
//	tone:NAME       [a-z0-9_-]+ (e.g. tone:beep)
func ParsePrompt(s string) (adapter.Prompt, error) {
	s = strings.TrimSpace(s)
	k, v, err := split(s)
	if err != nil {
		return "", err
	}
	if err := checkValue(k, v); err != nil {
		return "", fmt.Errorf("prompt %q: %w", s, err)
	}
	return adapter.Prompt(s), nil
}

// ParsePrompts parses each prompt; the error names every bad one.
func ParsePrompts(ss []string) ([]adapter.Prompt, error) {
	out := make([]adapter.Prompt, 0, len(ss))
	var bad []string
	for _, s := range ss {
		p, err := ParsePrompt(s)
		if err != nil {
			bad = append(bad, err.Error())
			continue
		}
		out = append(out, p)
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(bad, "; "))
	}
	return out, nil
}

// Split returns a prompt's kind and value, validating it as ParsePrompt does.
// Drivers use it to turn a prompt into their own media URI.
func Split(p adapter.Prompt) (Kind, string, error) {
	k, v, err := split(string(p))
	if err != nil {
		return "", "", err
	}
	if err := checkValue(k, v); err != nil {
		return "", "", fmt.Errorf("prompt %q: %w", p, err)
	}
	if k == Digits {
		v = strings.TrimPrefix(v, "+")
	}
	return k, v, nil
}

func split(s string) (Kind, string, error) {
	scheme, v, ok := strings.Cut(s, ":")
	if !ok {
		return "", "", fmt.Errorf("prompt %q: want KIND:VALUE with KIND one of %s", s, kindList())
	}
	k, err := ParseKind(scheme)
	if err != nil {
		return "", "", fmt.Errorf("prompt %q: %w", s, err)
	}
	return k, v, nil
}

// ParseKind checks a prompt's scheme, the part before the colon. The flow
// loader uses it for a prompt whose value is only known at run time
// (number:${queue.position}); ParsePrompt checks the whole prompt.
func ParseKind(scheme string) (Kind, error) {
	k := Kind(scheme)
	for _, known := range kinds {
		if k == known {
			return k, nil
		}
	}
	return "", fmt.Errorf("unknown kind %q (want one of %s)", scheme, kindList())
}

func kindList() string {
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = string(k)
	}
	return strings.Join(names, ", ")
}

func checkValue(k Kind, v string) error {
	if v == "" {
		return fmt.Errorf("empty %s", k)
	}
	switch k {
	case Sound:
		return checkSound(v)
	case Recorded:
		return ValidateName(v)
	case Digits:
		v = strings.TrimPrefix(v, "+")
		if v == "" {
			return fmt.Errorf("empty %s", k)
		}
		if len(v) > maxDigits {
			return fmt.Errorf("more than %d digits", maxDigits)
		}
		if strings.Trim(v, "0123456789*#") != "" {
			return fmt.Errorf("digits %q: want only 0-9 * #", v)
		}
	case Number:
		if _, err := strconv.ParseInt(v, 10, 64); err != nil {
			return fmt.Errorf("number %q is not an integer", v)
		}
	case Silence:
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(f) || f <= 0 || f > MaxSilence || strings.ContainsAny(v, "eExXpP_") {
			return fmt.Errorf("silence %q: want seconds, more than 0 and at most %d", v, MaxSilence)
		}
	case Tone:
		for i := 0; i < len(v); i++ {
			if c := v[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
				return fmt.Errorf("tone %q: want only a-z 0-9 _ -", v)
			}
		}
	}
	return nil
}

func checkSound(v string) error {
	for _, seg := range strings.Split(v, "/") {
		if seg == "" {
			return fmt.Errorf("sound %q: empty path segment", v)
		}
		if seg == "." || strings.Contains(seg, "..") {
			return fmt.Errorf("sound %q: \".\" and \"..\" are not allowed", v)
		}
		for i := 0; i < len(seg); i++ {
			if c := seg[i]; !isAlnum(c) && c != '.' && c != '_' && c != '-' {
				return fmt.Errorf("sound %q: character %q not allowed", v, c)
			}
		}
	}
	return nil
}
