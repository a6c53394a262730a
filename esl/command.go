package esl

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrInvalidValue marks a value that cannot be sent without breaking the
// ESL framing (a newline in a header-carried value, a space in a token …).
var ErrInvalidValue = errors.New("esl: invalid value")

// Command is an ESL command that renders its own wire bytes. Render
// validates every value first: a value that could end the frame early or
// smuggle a second command is an ErrInvalidValue error, never sent.
type Command interface {
	Render() ([]byte, error)
}

// maxHeaderValue is the longest app argument sent as a header; longer
// ones go in a text/plain body.
const maxHeaderValue = 1024

func invalid(what, v string, why string) error {
	return fmt.Errorf("%w: %s %q: %s", ErrInvalidValue, what, truncate([]byte(v)), why)
}

// checkToken: non-empty, no whitespace or control characters.
func checkToken(what, v string) error {
	if v == "" {
		return invalid(what, v, "empty")
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c <= ' ' || c == 0x7f {
			return invalid(what, v, "contains whitespace or a control character")
		}
	}
	return nil
}

// checkLine: may hold spaces, never a line break or another control
// character that could end the command line.
func checkLine(what, v string) error {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < ' ' && c != '\t' || c == 0x7f {
			return invalid(what, v, "contains a line break or control character")
		}
	}
	return nil
}

func frame(parts ...string) []byte {
	n := 2
	for _, p := range parts {
		n += len(p)
	}
	b := make([]byte, 0, n)
	for _, p := range parts {
		b = append(b, p...)
	}
	return append(b, '\n', '\n')
}

// Auth is "auth <password>".
type Auth struct{ Password string }

func (c Auth) Render() ([]byte, error) {
	if err := checkToken("password", c.Password); err != nil {
		return nil, err
	}
	return frame("auth ", c.Password), nil
}

// API is a blocking "api <cmd> <args>".
type API struct{ Cmd, Args string }

func (c API) Render() ([]byte, error) {
	if err := checkToken("api command", c.Cmd); err != nil {
		return nil, err
	}
	if err := checkLine("api args", c.Args); err != nil {
		return nil, err
	}
	if c.Args == "" {
		return frame("api ", c.Cmd), nil
	}
	return frame("api ", c.Cmd, " ", c.Args), nil
}

// BgAPI is "bgapi <cmd> <args>" with an optional caller-chosen Job-UUID
// header (FreeSWITCH honours it), so the job can be correlated (and
// filtered for) before it is sent.
type BgAPI struct{ Cmd, Args, JobUUID string }

func (c BgAPI) Render() ([]byte, error) {
	if err := checkToken("bgapi command", c.Cmd); err != nil {
		return nil, err
	}
	if err := checkLine("bgapi args", c.Args); err != nil {
		return nil, err
	}
	line := "bgapi " + c.Cmd
	if c.Args != "" {
		line += " " + c.Args
	}
	if c.JobUUID == "" {
		return frame(line), nil
	}
	if err := checkToken("Job-UUID", c.JobUUID); err != nil {
		return nil, err
	}
	return frame(line, "\nJob-UUID: ", c.JobUUID), nil
}

// Events subscribes: "event <format> <names…>" (a CUSTOM subclass is one
// more name, e.g. "CUSTOM", "esl::capture"). (Named Events because Event
// is the decoded event type.)
type Events struct {
	Format string // plain (default), json or xml
	Names  []string
}

func (c Events) Render() ([]byte, error) {
	f := c.Format
	if f == "" {
		f = FormatPlain
	}
	if f != FormatPlain && f != FormatJSON && f != FormatXML {
		return nil, invalid("event format", f, "want plain, json or xml")
	}
	names, err := joinTokens("event name", c.Names)
	if err != nil {
		return nil, err
	}
	return frame("event ", f, " ", names), nil
}

func joinTokens(what string, names []string) (string, error) {
	if len(names) == 0 {
		return "", invalid(what, "", "no names")
	}
	for _, n := range names {
		if err := checkToken(what, n); err != nil {
			return "", err
		}
	}
	return strings.Join(names, " "), nil
}

// Filter is "filter <header> <value>". FreeSWITCH compares
// case-insensitively and reads a leading '+', '-' or space of the value
// as a modifier; use FilterExact for a literal match.
type Filter struct{ Header, Value string }

func (c Filter) Render() ([]byte, error) {
	if err := checkToken("filter header", c.Header); err != nil {
		return nil, err
	}
	if c.Value == "" {
		return nil, invalid("filter value", c.Value, "empty")
	}
	if err := checkLine("filter value", c.Value); err != nil {
		return nil, err
	}
	return frame("filter ", c.Header, " ", c.Value), nil
}

// FilterExact returns a Filter that matches value literally: a value
// FreeSWITCH would misread (leading '+', '-', space, or a leading '/'
// that means a regex) becomes an anchored, quoted regular expression.
func FilterExact(header, value string) Filter {
	if value != "" && !strings.ContainsAny(value[:1], "+- /") {
		return Filter{Header: header, Value: value}
	}
	var b strings.Builder
	b.WriteString("/^")
	for i := 0; i < len(value); i++ {
		c := value[i]
		if strings.IndexByte(`\^$.|?*+()[]{}/ -`, c) >= 0 {
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
	b.WriteString("$/")
	return Filter{Header: header, Value: b.String()}
}

// FilterDelete is "filter delete <header> [<value>]"; without a value it
// removes every filter on the header.
type FilterDelete struct{ Header, Value string }

func (c FilterDelete) Render() ([]byte, error) {
	if err := checkToken("filter header", c.Header); err != nil {
		return nil, err
	}
	if err := checkLine("filter value", c.Value); err != nil {
		return nil, err
	}
	if c.Value == "" {
		return frame("filter delete ", c.Header), nil
	}
	return frame("filter delete ", c.Header, " ", c.Value), nil
}

// NixEvent unsubscribes: "nixevent <names…>".
type NixEvent struct{ Names []string }

func (c NixEvent) Render() ([]byte, error) {
	names, err := joinTokens("nixevent name", c.Names)
	if err != nil {
		return nil, err
	}
	return frame("nixevent ", names), nil
}

// NoEvents is "noevents".
type NoEvents struct{}

func (NoEvents) Render() ([]byte, error) { return frame("noevents"), nil }

// Linger is "linger [<seconds>]". Seconds 0 sends a bare "linger", which
// FreeSWITCH takes as "never close" (Linger-Time -1): the client must
// send Exit.
type Linger struct{ Seconds int }

func (c Linger) Render() ([]byte, error) {
	if c.Seconds < 0 {
		return nil, invalid("linger seconds", strconv.Itoa(c.Seconds), "negative")
	}
	if c.Seconds == 0 {
		return frame("linger"), nil
	}
	return frame("linger ", strconv.Itoa(c.Seconds)), nil
}

// DivertEvents is "divert_events on" (or off with Off).
type DivertEvents struct{ Off bool }

func (c DivertEvents) Render() ([]byte, error) {
	if c.Off {
		return frame("divert_events off"), nil
	}
	return frame("divert_events on"), nil
}

// MyEvents is "myevents [<uuid>] [<format>]": on an outbound socket with
// neither, the session's own events in plain.
type MyEvents struct{ UUID, Format string }

func (c MyEvents) Render() ([]byte, error) {
	line := "myevents"
	if c.UUID != "" {
		if err := checkToken("myevents uuid", c.UUID); err != nil {
			return nil, err
		}
		line += " " + c.UUID
	}
	if c.Format != "" {
		if c.Format != FormatPlain && c.Format != FormatJSON && c.Format != FormatXML {
			return nil, invalid("myevents format", c.Format, "want plain, json or xml")
		}
		line += " " + c.Format
	}
	return frame(line), nil
}

// Connect is the first command on an outbound socket.
type Connect struct{}

func (Connect) Render() ([]byte, error) { return frame("connect"), nil }

// Exit ends the connection ("+OK bye", then a disconnect-notice).
type Exit struct{}

func (Exit) Render() ([]byte, error) { return frame("exit"), nil }

// SendMsg controls a channel: "sendmsg [<uuid>]" with call-command
// headers. On an outbound socket UUID may be empty (the session's
// channel). CallCommand defaults to "execute" when AppName is set.
type SendMsg struct {
	UUID        string
	CallCommand string // execute, hangup, unicast, nomedia, …
	AppName     string
	AppArg      string
	// ArgInBody forces the app argument into a text/plain body; it is
	// also used automatically for arguments with line breaks or longer
	// than 1024 bytes.
	ArgInBody   bool
	EventLock   bool
	EventUUID   string // comes back as Application-UUID
	Loops       int    // loops: N when > 1
	HangupCause string // for call-command hangup
}

func (c SendMsg) Render() ([]byte, error) {
	cmd := c.CallCommand
	if cmd == "" && c.AppName != "" {
		cmd = "execute"
	}
	if err := checkToken("call-command", cmd); err != nil {
		return nil, err
	}
	b := []byte("sendmsg")
	if c.UUID != "" {
		if err := checkToken("sendmsg uuid", c.UUID); err != nil {
			return nil, err
		}
		b = append(b, ' ')
		b = append(b, c.UUID...)
	}
	b = append(b, "\ncall-command: "...)
	b = append(b, cmd...)
	if c.AppName != "" {
		if err := checkToken("execute-app-name", c.AppName); err != nil {
			return nil, err
		}
		b = append(b, "\nexecute-app-name: "...)
		b = append(b, c.AppName...)
	}
	if c.HangupCause != "" {
		if err := checkToken("hangup-cause", c.HangupCause); err != nil {
			return nil, err
		}
		b = append(b, "\nhangup-cause: "...)
		b = append(b, c.HangupCause...)
	}
	inBody := c.AppArg != "" && (c.ArgInBody || len(c.AppArg) > maxHeaderValue || strings.ContainsAny(c.AppArg, "\r\n"))
	if c.AppArg != "" && !inBody {
		if err := checkLine("execute-app-arg", c.AppArg); err != nil {
			return nil, err
		}
		b = append(b, "\nexecute-app-arg: "...)
		b = append(b, c.AppArg...)
	}
	if c.Loops > 1 {
		b = append(b, "\nloops: "...)
		b = strconv.AppendInt(b, int64(c.Loops), 10)
	}
	if c.EventLock {
		b = append(b, "\nevent-lock: true"...)
	}
	if c.EventUUID != "" {
		if err := checkToken("Event-UUID", c.EventUUID); err != nil {
			return nil, err
		}
		b = append(b, "\nEvent-UUID: "...)
		b = append(b, c.EventUUID...)
	}
	if inBody {
		// The body is counted by Content-Length, so any bytes are safe.
		b = append(b, "\ncontent-type: text/plain\nContent-Length: "...)
		b = strconv.AppendInt(b, int64(len(c.AppArg)), 10)
		b = append(b, '\n', '\n')
		return append(b, c.AppArg...), nil
	}
	return append(b, '\n', '\n'), nil
}

// Raw sends a pre-built command line with no extra headers, for ESL
// commands without a type here ("log info", "nolog", …). The line must
// not contain a line break.
type Raw struct{ Line string }

func (c Raw) Render() ([]byte, error) {
	if c.Line == "" {
		return nil, invalid("command", c.Line, "empty")
	}
	if err := checkLine("command", c.Line); err != nil {
		return nil, err
	}
	return frame(c.Line), nil
}
