package agi

import (
	"strconv"
	"strings"
)

// Command is one AGI command that renders its own wire line.
type Command interface {
	Line() string
}

// quote renders an argument as AGI expects: double-quoted with backslash and
// quote escaped, and newlines removed so an argument cannot inject a command.
func quote(s string) string {
	s = strings.NewReplacer("\r", "", "\n", "", `\`, `\\`, `"`, `\"`).Replace(s)
	return `"` + s + `"`
}

// Answer is ANSWER.
type Answer struct{}

func (Answer) Line() string { return "ANSWER\n" }

// Hangup is HANGUP for the current channel.
type Hangup struct{}

func (Hangup) Line() string { return "HANGUP\n" }

// StreamFile is STREAM FILE; the reply result is the escape digit or 0.
type StreamFile struct {
	File   string
	Escape string
}

func (c StreamFile) Line() string {
	return "STREAM FILE " + quote(c.File) + " " + quote(c.Escape) + "\n"
}

// GetData is GET DATA: play File and collect up to Max digits.
type GetData struct {
	File      string
	TimeoutMS int
	Max       int
}

func (c GetData) Line() string {
	return "GET DATA " + quote(c.File) + " " + strconv.Itoa(c.TimeoutMS) + " " + strconv.Itoa(c.Max) + "\n"
}

// SetVariable is SET VARIABLE.
type SetVariable struct{ Name, Value string }

func (c SetVariable) Line() string {
	return "SET VARIABLE " + quote(c.Name) + " " + quote(c.Value) + "\n"
}

// Exec is EXEC of a dialplan application, for example Stasis.
type Exec struct{ App, Args string }

func (c Exec) Line() string {
	return "EXEC " + c.App + " " + quote(c.Args) + "\n"
}
