package esl

import (
	"bufio"
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/url"
)

// Event formats.
const (
	FormatPlain = "plain"
	FormatJSON  = "json"
	FormatXML   = "xml"
)

// Event is a decoded FreeSWITCH event. Header values are decoded
// (URL-decoded for plain and XML, as-is for JSON); duplicates are kept in
// wire order and Get returns the first, in every format.
type Event struct {
	Format  string
	Headers Headers
	// Body is the event body (api output of BACKGROUND_JOB, sendevent
	// body); nil when the event has none.
	Body []byte
	// Raw is the undecoded frame body for XML events.
	Raw []byte
}

// Get returns the first value of the named header.
func (e *Event) Get(name string) string { return e.Headers.Get(name) }

// Values returns every value of the named header in wire order.
func (e *Event) Values(name string) []string { return e.Headers.Values(name) }

// Name is the Event-Name.
func (e *Event) Name() string { return e.Headers.Get("Event-Name") }

// UniqueID is the channel the event belongs to ("" for non-channel
// events such as BACKGROUND_JOB or HEARTBEAT).
func (e *Event) UniqueID() string { return e.Headers.Get("Unique-ID") }

// JobUUID is the Job-UUID of a BACKGROUND_JOB.
func (e *Event) JobUUID() string { return e.Headers.Get("Job-UUID") }

// IsEvent reports whether the frame carries an event.
func (f *Frame) IsEvent() bool {
	switch f.ContentType() {
	case TypeEventPlain, TypeEventJSON, TypeEventXML:
		return true
	}
	return false
}

// ParseEvent decodes the event carried by an event frame.
func ParseEvent(f *Frame) (*Event, error) {
	switch ct := f.ContentType(); ct {
	case TypeEventPlain:
		return parsePlain(f.Body)
	case TypeEventJSON:
		return parseJSON(f.Body)
	case TypeEventXML:
		return parseXML(f.Body)
	default:
		return nil, fmt.Errorf("%w: %q is not an event", ErrProtocol, ct)
	}
}

// ParsePlainEvent decodes a text/event-plain body.
func ParsePlainEvent(body []byte) (*Event, error) { return parsePlain(body) }

func parsePlain(body []byte) (*Event, error) {
	e := &Event{Format: FormatPlain, Headers: make(Headers, 0, 64)}
	rest := body
	for len(rest) > 0 {
		i := bytes.IndexByte(rest, '\n')
		var line []byte
		if i < 0 {
			line, rest = rest, nil
		} else {
			line, rest = rest[:i], rest[i+1:]
		}
		if len(line) == 0 {
			break // end of the header block
		}
		h, err := parseHeaderLine(line)
		if err != nil {
			return nil, fmt.Errorf("plain event: %w", err)
		}
		if h.Value, err = unescapeValue(h.Value); err != nil {
			return nil, fmt.Errorf("%w: plain event header %s: %v", ErrProtocol, h.Name, err)
		}
		e.Headers = append(e.Headers, h)
	}
	if cl, ok := e.Headers.last("Content-Length"); ok {
		n, err := parseLength(cl)
		if err != nil {
			return nil, fmt.Errorf("plain event body: %w", err)
		}
		if n > len(rest) {
			return nil, fmt.Errorf("%w: plain event body of %d bytes, %d present", ErrProtocol, n, len(rest))
		}
		e.Body = rest[:n:n]
	}
	return e, nil
}

// unescapeValue percent-decodes like url.PathUnescape ('+' stays '+'),
// without allocating when there is nothing to decode.
func unescapeValue(s string) (string, error) {
	for i := 0; i < len(s); i++ {
		if s[i] == '%' {
			return url.PathUnescape(s)
		}
	}
	return s, nil
}

// parseJSON keeps duplicate keys in order (Get = first, as for plain).
// Values are strings; an array value adds one header per element.
func parseJSON(body []byte) (*Event, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("%w: json event: %v", ErrProtocol, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("%w: json event is not an object", ErrProtocol)
	}
	e := &Event{Format: FormatJSON, Headers: make(Headers, 0, 64)}
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("%w: json event key: %v", ErrProtocol, err)
		}
		key, _ := kt.(string)
		vt, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("%w: json event %s: %v", ErrProtocol, key, err)
		}
		switch v := vt.(type) {
		case string:
			if key == "_body" {
				if e.Body == nil {
					e.Body = []byte(v)
				}
				continue
			}
			e.Headers = append(e.Headers, Header{Name: key, Value: v})
		case json.Delim:
			if v != '[' {
				return nil, fmt.Errorf("%w: json event %s: nested object", ErrProtocol, key)
			}
			for dec.More() {
				et, err := dec.Token()
				if err != nil {
					return nil, fmt.Errorf("%w: json event %s: %v", ErrProtocol, key, err)
				}
				s, ok := et.(string)
				if !ok {
					return nil, fmt.Errorf("%w: json event %s: non-string array element", ErrProtocol, key)
				}
				e.Headers = append(e.Headers, Header{Name: key, Value: s})
			}
			if _, err := dec.Token(); err != nil {
				return nil, fmt.Errorf("%w: json event %s: %v", ErrProtocol, key, err)
			}
		default:
			return nil, fmt.Errorf("%w: json event %s: value is not a string", ErrProtocol, key)
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("%w: json event end: %v", ErrProtocol, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: json event: trailing data", ErrProtocol)
	}
	return e, nil
}

// parseXML reads <event><headers><Name>value</Name>…</headers><body>…</body></event>.
// Header values are URL-encoded as in plain events. Raw keeps the bytes.
func parseXML(body []byte) (*Event, error) {
	e := &Event{Format: FormatXML, Raw: body, Headers: make(Headers, 0, 32)}
	dec := xml.NewDecoder(bufio.NewReader(bytes.NewReader(body)))
	var path []string
	var text []byte
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: xml event: %v", ErrProtocol, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			path = append(path, t.Name.Local)
			text = text[:0]
		case xml.CharData:
			text = append(text, t...)
		case xml.EndElement:
			switch {
			case len(path) == 3 && path[0] == "event" && path[1] == "headers":
				v, err := unescapeValue(string(text))
				if err != nil {
					return nil, fmt.Errorf("%w: xml event header %s: %v", ErrProtocol, t.Name.Local, err)
				}
				e.Headers = append(e.Headers, Header{Name: t.Name.Local, Value: v})
			case len(path) == 2 && path[0] == "event" && path[1] == "body":
				e.Body = append([]byte(nil), text...)
			}
			if len(path) > 0 {
				path = path[:len(path)-1]
			}
			text = text[:0]
		}
	}
	if len(path) != 0 {
		return nil, fmt.Errorf("%w: xml event: unclosed element", ErrProtocol)
	}
	return e, nil
}
