package esltest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/callflow/callflow/esl"
)

// Command is one command frame a client sent, as received.
type Command struct {
	Line    string      // "api status", "sendmsg <uuid>", …
	Headers esl.Headers // headers after the command line
	Body    []byte      // Content-Length body (sendmsg text/plain arg, sendevent)
	Raw     []byte      // every byte of the frame
}

// Name is the first word of the command line.
func (c Command) Name() string {
	name, _, _ := strings.Cut(c.Line, " ")
	return name
}

// readCommand reads one command frame: a command line, header lines, a
// blank line, then Content-Length bytes.
func readCommand(br *bufio.Reader) (Command, error) {
	var c Command
	var raw bytes.Buffer
	for {
		line, err := br.ReadString('\n')
		raw.WriteString(line)
		if err != nil {
			if errors.Is(err, io.EOF) && raw.Len() == 0 {
				return c, io.EOF
			}
			return c, fmt.Errorf("esltest: read command: %w", err)
		}
		line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
		if line == "" {
			if c.Line == "" {
				raw.Reset()
				continue // stray blank line
			}
			break
		}
		if c.Line == "" {
			c.Line = line
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			return c, fmt.Errorf("esltest: header line without colon: %q", line)
		}
		c.Headers = append(c.Headers, esl.Header{Name: name, Value: strings.TrimPrefix(value, " ")})
	}
	if cl := c.Headers.Get("Content-Length"); cl != "" {
		n, err := strconv.Atoi(cl)
		if err != nil || n < 0 || n > esl.MaxBodyBytes {
			return c, fmt.Errorf("esltest: bad Content-Length %q", cl)
		}
		c.Body = make([]byte, n)
		if _, err := io.ReadFull(br, c.Body); err != nil {
			return c, fmt.Errorf("esltest: read command body: %w", err)
		}
		raw.Write(c.Body)
	}
	c.Raw = raw.Bytes()
	return c, nil
}

// urlUnsafe is FreeSWITCH's SWITCH_URL_UNSAFE set; control and non-ASCII
// bytes are encoded as well. "/ , ( ) . - _" stay as they are.
const urlUnsafe = "\r\n #%&+:;<=>?@[\\]^`{|}\""

// URLEncode encodes a header value the way FreeSWITCH does in plain
// events ("+420…" → "%2B420…", "tone_stream://%(…)" → "tone_stream%3A//%25(…)").
func URLEncode(s string) string {
	var b strings.Builder
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || strings.IndexByte(urlUnsafe, c) >= 0 {
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

func replyFrame(text string, extra ...esl.Header) []byte {
	var b bytes.Buffer
	b.WriteString("Content-Type: command/reply\nReply-Text: ")
	b.WriteString(text)
	b.WriteByte('\n')
	for _, h := range extra {
		b.WriteString(h.Name + ": " + h.Value + "\n")
	}
	b.WriteByte('\n')
	return b.Bytes()
}

func apiFrame(body string) []byte {
	return []byte(fmt.Sprintf("Content-Type: api/response\nContent-Length: %d\n\n%s", len(body), body))
}

const goodbye = "Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"

func disconnectFrame(extra ...esl.Header) []byte {
	var b bytes.Buffer
	b.WriteString("Content-Type: text/disconnect-notice\n")
	for _, h := range extra {
		b.WriteString(h.Name + ": " + h.Value + "\n")
	}
	fmt.Fprintf(&b, "Content-Length: %d\n\n%s", len(goodbye), goodbye)
	return b.Bytes()
}

// renderEvent renders an event frame in plain, json or xml, shaped as in
// the captures (Content-Length first, then Content-Type).
func renderEvent(format string, h esl.Headers, body []byte) []byte {
	var inner bytes.Buffer
	ct := esl.TypeEventPlain
	switch format {
	case esl.FormatJSON:
		ct = esl.TypeEventJSON
		inner.WriteByte('{')
		for i, x := range h {
			if i > 0 {
				inner.WriteByte(',')
			}
			writeJSONString(&inner, x.Name)
			inner.WriteByte(':')
			writeJSONString(&inner, x.Value)
		}
		if body != nil {
			inner.WriteString(`,"Content-Length":`)
			writeJSONString(&inner, strconv.Itoa(len(body)))
			inner.WriteString(`,"_body":`)
			writeJSONString(&inner, string(body))
		}
		inner.WriteByte('}')
	case esl.FormatXML:
		ct = esl.TypeEventXML
		inner.WriteString("<event>\n  <headers>\n")
		for _, x := range h {
			fmt.Fprintf(&inner, "    <%s>%s</%s>\n", x.Name, URLEncode(x.Value), x.Name)
		}
		inner.WriteString("  </headers>\n")
		if body != nil {
			fmt.Fprintf(&inner, "  <body>%s</body>\n", URLEncode(string(body)))
		}
		inner.WriteString("</event>\n")
	default:
		for _, x := range h {
			inner.WriteString(x.Name)
			inner.WriteString(": ")
			inner.WriteString(URLEncode(x.Value))
			inner.WriteByte('\n')
		}
		if body != nil {
			fmt.Fprintf(&inner, "Content-Length: %d\n\n", len(body))
			inner.Write(body)
		} else {
			inner.WriteByte('\n')
		}
	}
	out := make([]byte, 0, inner.Len()+64)
	out = fmt.Appendf(out, "Content-Length: %d\nContent-Type: %s\n\n", inner.Len(), ct)
	return append(out, inner.Bytes()...)
}

func writeJSONString(b *bytes.Buffer, s string) {
	enc, _ := json.Marshal(s) // a string always marshals
	b.Write(enc)
}
