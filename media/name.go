package media

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Sentinel errors; test with errors.Is.
var (
	// ErrNotFound: no recording of that name.
	ErrNotFound = errors.New("recording not found")
	// ErrExists: a recording of that name is already stored.
	ErrExists = errors.New("recording already exists")
	// ErrInvalidName: the name is not a plain recording name.
	ErrInvalidName = errors.New("invalid recording name")
	// ErrFormat: the format is not one the store keeps.
	ErrFormat = errors.New("unsupported recording format")
)

// MaxNameLen bounds a recording name.
const MaxNameLen = 200

// ValidateName reports whether name can name a recording: 1 to MaxNameLen
// characters of [A-Za-z0-9._-], starting with a letter or digit, without
// "..". Names therefore never contain a path separator, never climb out of
// the store's directory and never clash with the store's temporary files
// (which start with '.').
func ValidateName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty", ErrInvalidName)
	case len(name) > MaxNameLen:
		return fmt.Errorf("%w: longer than %d characters", ErrInvalidName, MaxNameLen)
	case !isAlnum(name[0]):
		return fmt.Errorf("%w %q: must start with a letter or digit", ErrInvalidName, name)
	case strings.Contains(name, ".."):
		return fmt.Errorf("%w %q: contains \"..\"", ErrInvalidName, name)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !isAlnum(c) && c != '.' && c != '_' && c != '-' {
			return fmt.Errorf("%w %q: character %q not allowed (want A-Z a-z 0-9 . _ -)", ErrInvalidName, name, c)
		}
	}
	return nil
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// formats maps each stored format (the file extension, as Asterisk and
// FreeSWITCH name them) to its HTTP Content-Type.
var formats = map[string]string{
	"wav":   "audio/wav",
	"wav16": "audio/wav",
	"gsm":   "audio/gsm",
	"ulaw":  "audio/PCMU",
	"alaw":  "audio/PCMA",
	"sln":   "audio/L16;rate=8000",
	"sln16": "audio/L16;rate=16000",
	"g722":  "audio/G722",
	"ogg":   "audio/ogg",
	"mp3":   "audio/mpeg",
}

// Formats lists the formats the store keeps, sorted.
func Formats() []string {
	out := make([]string, 0, len(formats))
	for f := range formats {
		out = append(out, f)
	}
	slices.Sort(out)
	return out
}

// ContentType is the HTTP Content-Type of a stored format, or
// "application/octet-stream" for one the store does not know.
func ContentType(format string) string {
	if ct, ok := formats[format]; ok {
		return ct
	}
	return "application/octet-stream"
}

func validateFormat(format string) error {
	if _, ok := formats[format]; !ok {
		return fmt.Errorf("%w %q (want one of %s)", ErrFormat, format, strings.Join(Formats(), ", "))
	}
	return nil
}
