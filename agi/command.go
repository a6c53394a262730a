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

// WaitForDigit is WAIT FOR DIGIT; the reply result is the digit's ASCII
// code, 0 on timeout. TimeoutMS -1 waits for ever.
type WaitForDigit struct{ TimeoutMS int }

func (c WaitForDigit) Line() string { return "WAIT FOR DIGIT " + strconv.Itoa(c.TimeoutMS) + "\n" }

// RecordFile is RECORD FILE: record into File (without extension) in
// Format until one of Escape is pressed, TimeoutMS passes (-1: no limit) or
// SilenceS seconds of silence (0: off). The reply result is the escape
// digit, 0 on timeout or silence, -1 on a hang-up or failure; endpos= is the
// length in samples.
type RecordFile struct {
	File, Format, Escape string
	TimeoutMS            int
	Beep                 bool
	SilenceS             int
}

func (c RecordFile) Line() string {
	s := "RECORD FILE " + quote(c.File) + " " + quote(c.Format) + " " + quote(c.Escape) + " " + strconv.Itoa(c.TimeoutMS)
	if c.Beep {
		s += " 0 BEEP"
	}
	if c.SilenceS > 0 {
		s += " s=" + strconv.Itoa(c.SilenceS)
	}
	return s + "\n"
}

// SayDigits is SAY DIGITS; the reply result is the escape digit or 0.
type SayDigits struct{ Digits, Escape string }

func (c SayDigits) Line() string {
	return "SAY DIGITS " + quote(c.Digits) + " " + quote(c.Escape) + "\n"
}

// SayNumber is SAY NUMBER; the reply result is the escape digit or 0.
type SayNumber struct{ Number, Escape string }

func (c SayNumber) Line() string {
	return "SAY NUMBER " + quote(c.Number) + " " + quote(c.Escape) + "\n"
}

// GetVariable is GET VARIABLE; the reply is "result=1 (value)" or
// "result=0" when the variable is not set.
type GetVariable struct{ Name string }

func (c GetVariable) Line() string { return "GET VARIABLE " + quote(c.Name) + "\n" }
