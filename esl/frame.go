// Package esl is a FreeSWITCH Event Socket (ESL) wire client: framing,
// commands as values that render their own bytes, an inbound client
// (Dial) and an outbound-socket server (Listen).
//
// It is written against real FreeSWITCH 1.10.12 transcripts (see
// testdata/*.txt) and models their surprises: generic header order,
// URL-encoded plain events with duplicate headers and an inner body,
// JSON events with duplicate keys, and the outbound connect reply that
// carries the channel data before its Content-Type.
//
// Duplicate headers: Get returns the FIRST value, Values returns all of
// them in wire order, in plain, JSON and XML events alike. The one
// exception is the inner Content-Length of a plain event, where the last
// value is the real body length (FreeSWITCH appends it after the
// sendevent headers), so the decoder uses the last one to cut the body.
package esl

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
)

// Content types of ESL frames.
const (
	TypeAuthRequest      = "auth/request"
	TypeCommandReply     = "command/reply"
	TypeAPIResponse      = "api/response"
	TypeEventPlain       = "text/event-plain"
	TypeEventJSON        = "text/event-json"
	TypeEventXML         = "text/event-xml"
	TypeDisconnectNotice = "text/disconnect-notice"
	TypeLogData          = "log/data"
)

// Decoder limits. A frame beyond them is a protocol error, not an
// allocation the peer can force on us.
const (
	MaxHeaderBytes = 1 << 20  // one header block
	MaxBodyBytes   = 64 << 20 // one Content-Length body
)

// ErrProtocol marks malformed ESL input.
var ErrProtocol = errors.New("esl: protocol error")

// Header is one name/value pair of a header block.
type Header struct {
	Name, Value string
}

// Headers is a header block in wire order; duplicate names are kept.
type Headers []Header

// Get returns the first value of name (case-insensitive, as FreeSWITCH
// compares header names), or "".
func (h Headers) Get(name string) string {
	v, _ := h.Lookup(name)
	return v
}

// Lookup is Get that also reports whether the header exists.
func (h Headers) Lookup(name string) (string, bool) {
	for i := range h {
		if h[i].Name == name || strings.EqualFold(h[i].Name, name) {
			return h[i].Value, true
		}
	}
	return "", false
}

// Values returns every value of name in wire order.
func (h Headers) Values(name string) []string {
	var out []string
	for i := range h {
		if strings.EqualFold(h[i].Name, name) {
			out = append(out, h[i].Value)
		}
	}
	return out
}

// last returns the last value of name.
func (h Headers) last(name string) (string, bool) {
	for i := len(h) - 1; i >= 0; i-- {
		if strings.EqualFold(h[i].Name, name) {
			return h[i].Value, true
		}
	}
	return "", false
}

// Frame is one ESL frame: the outer header block and its
// Content-Length body.
type Frame struct {
	Header Headers
	Body   []byte
}

// ContentType is the frame's Content-Type header.
func (f *Frame) ContentType() string { return f.Header.Get("Content-Type") }

// ReplyText is the Reply-Text of a command/reply.
func (f *Frame) ReplyText() string { return f.Header.Get("Reply-Text") }

// IsConnectReply reports whether f is the reply to an outbound "connect":
// a command/reply that carries the channel data (Event-Name CHANNEL_DATA).
func (f *Frame) IsConnectReply() bool {
	_, ok := f.Header.Lookup("Event-Name")
	return ok && f.ContentType() == TypeCommandReply
}

// Reader decodes frames from a byte stream.
type Reader struct {
	br *bufio.Reader
	// channelName, when set, is the outbound session's channel name as
	// the connect reply gave it (decoded). FreeSWITCH writes it raw into
	// the linger disconnect-notice ("Channel-Name: NAME"), and a SIP
	// caller's name holds the From user FreeSWITCH unescaped, newlines
	// included: the notice's header line is read as exactly this name.
	channelName string
}

// NewReader returns a Reader on r.
func NewReader(r io.Reader) *Reader {
	if br, ok := r.(*bufio.Reader); ok {
		return &Reader{br: br}
	}
	return &Reader{br: bufio.NewReaderSize(r, 64<<10)}
}

// ReadFrame reads one complete frame. It returns io.EOF only when the
// stream ends cleanly between frames; a stream cut inside a frame is
// io.ErrUnexpectedEOF.
func (r *Reader) ReadFrame() (*Frame, error) {
	hdr, err := readHeaderBlock(r.br, true, r.channelName)
	if err != nil {
		return nil, err
	}
	f := &Frame{Header: hdr}
	if f.IsConnectReply() {
		// The connect reply's header block is the URL-encoded channel
		// data, Reply-Text included (%2BOK%0A). Nothing else is encoded.
		for i := range f.Header {
			if v, err := url.PathUnescape(f.Header[i].Value); err == nil {
				f.Header[i].Value = v
			}
		}
	}
	if cl, ok := hdr.Lookup("Content-Length"); ok {
		n, err := parseLength(cl)
		if err != nil {
			return nil, err
		}
		if n > 0 {
			f.Body = make([]byte, n)
			if _, err := io.ReadFull(r.br, f.Body); err != nil {
				return nil, fmt.Errorf("esl: read %d-byte body: %w", n, unexpected(err))
			}
		}
	}
	return f, nil
}

func parseLength(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 0 || n > MaxBodyBytes {
		return 0, fmt.Errorf("%w: bad Content-Length %q", ErrProtocol, s)
	}
	return n, nil
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// readHeaderBlock reads "Name: value\n" lines up to an empty line. With
// skipBlank, empty lines before the first header are skipped (a peer may
// pad between frames).
func readHeaderBlock(br *bufio.Reader, skipBlank bool, channelName string) (Headers, error) {
	hdr := make(Headers, 0, 8)
	total := 0
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, fmt.Errorf("%w: header line longer than %d bytes", ErrProtocol, br.Size())
		}
		if err != nil {
			if len(hdr) == 0 && len(line) == 0 && errors.Is(err, io.EOF) {
				return nil, io.EOF
			}
			return nil, fmt.Errorf("esl: read header: %w", unexpected(err))
		}
		total += len(line)
		if total > MaxHeaderBytes {
			return nil, fmt.Errorf("%w: header block over %d bytes", ErrProtocol, MaxHeaderBytes)
		}
		if raw, ok, err := rawChannelName(br, line, channelName); ok || err != nil {
			if err != nil {
				return nil, err
			}
			hdr = append(hdr, Header{Name: "Channel-Name", Value: raw})
			continue
		}
		line = bytes.TrimSuffix(line[:len(line)-1], []byte{'\r'})
		if len(line) == 0 {
			if len(hdr) == 0 && skipBlank {
				continue
			}
			return hdr, nil
		}
		h, err := parseHeaderLine(line)
		if err != nil {
			return nil, err
		}
		hdr = append(hdr, h)
	}
}

func parseHeaderLine(line []byte) (Header, error) {
	i := bytes.IndexByte(line, ':')
	if i <= 0 {
		return Header{}, fmt.Errorf("%w: header line without name: %q", ErrProtocol, truncate(line))
	}
	v := line[i+1:]
	if len(v) > 0 && v[0] == ' ' {
		v = v[1:]
	}
	return Header{Name: string(line[:i]), Value: string(v)}, nil
}

func truncate(b []byte) string {
	if len(b) > 64 {
		return string(b[:64]) + "…"
	}
	return string(b)
}

// rawChannelName reads a "Channel-Name: " header line whose value is the
// known channel name with line breaks in it (see Reader.channelName):
// line is the part up to the first '\n', the rest is read from br. ok is
// false when line is not such a header (it is then parsed as usual).
func rawChannelName(br *bufio.Reader, line []byte, name string) (value string, ok bool, err error) {
	const prefix = "Channel-Name: "
	if name == "" || !strings.ContainsAny(name, "\r\n") || !bytes.HasPrefix(line, []byte(prefix)) {
		return "", false, nil
	}
	head := string(line[len(prefix):]) // ends with '\n'
	if len(head) > len(name) || !strings.HasPrefix(name, head) {
		return "", false, nil
	}
	rest := make([]byte, len(name)-len(head)+1) // the remainder and its '\n'
	if _, err := io.ReadFull(br, rest); err != nil {
		return "", true, fmt.Errorf("esl: read channel name: %w", unexpected(err))
	}
	if string(rest[:len(rest)-1]) != name[len(head):] || rest[len(rest)-1] != '\n' {
		return "", true, fmt.Errorf("%w: disconnect notice: Channel-Name is not the session's %q", ErrProtocol, name)
	}
	return name, true, nil
}
