package esl

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// block is one frame of a transcript.
type block struct {
	sent bool
	data []byte
}

// readTranscript parses the README's format: marker line, N raw bytes,
// one '\n' separator; "### " lines are comments.
func readTranscript(t testing.TB, name string) []block {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("read transcript: %v", err)
	}
	br := bufio.NewReader(bytes.NewReader(raw))
	var out []block
	for {
		line, err := br.ReadString('\n')
		if line == "" && err != nil {
			break
		}
		line = strings.TrimSuffix(line, "\n")
		var sent bool
		var rest string
		switch {
		case strings.HasPrefix(line, ">>> sent "):
			sent, rest = true, strings.TrimPrefix(line, ">>> sent ")
		case strings.HasPrefix(line, "<<< received "):
			rest = strings.TrimPrefix(line, "<<< received ")
		case strings.HasPrefix(line, "### "), line == "###", line == "":
			continue
		default:
			t.Fatalf("%s: unexpected line %q", name, line)
		}
		n, err := strconv.Atoi(strings.Fields(rest)[0])
		if err != nil {
			t.Fatalf("%s: bad count in %q", name, line)
		}
		data := make([]byte, n)
		if _, err := io.ReadFull(br, data); err != nil {
			t.Fatalf("%s: short block: %v", name, err)
		}
		if c, err := br.ReadByte(); err != nil || c != '\n' {
			t.Fatalf("%s: missing separator after %q", name, line)
		}
		out = append(out, block{sent: sent, data: data})
	}
	return out
}

func transcripts(t testing.TB) []string {
	m, err := filepath.Glob(filepath.Join("testdata", "*.txt"))
	if err != nil || len(m) != 17 {
		t.Fatalf("want 17 transcripts in testdata, got %d (%v)", len(m), err)
	}
	for i := range m {
		m[i] = filepath.Base(m[i])
	}
	return m
}

// TestDecodeEveryTranscriptFrame feeds every received frame to the
// decoder, one by one and as one stream, and decodes every event.
func TestDecodeEveryTranscriptFrame(t *testing.T) {
	for _, name := range transcripts(t) {
		t.Run(name, func(t *testing.T) {
			var stream bytes.Buffer
			frames := 0
			channelName := ""
			for i, b := range readTranscript(t, name) {
				if b.sent {
					continue
				}
				frames++
				stream.Write(b.data)
				fr := NewReader(bytes.NewReader(b.data))
				fr.channelName = channelName
				f, err := fr.ReadFrame()
				if err == nil && f.IsConnectReply() {
					// The linger notice carries it raw (outbound-socket-hostile-caller.txt).
					channelName = f.Header.Get("Channel-Name")
				}
				if err != nil {
					t.Fatalf("frame %d: %v\n%s", i, err, b.data)
				}
				if f.ContentType() == "" {
					t.Fatalf("frame %d: no Content-Type", i)
				}
				if f.IsEvent() {
					e, err := ParseEvent(f)
					if err != nil {
						t.Fatalf("frame %d: event: %v", i, err)
					}
					if e.Name() == "" {
						t.Fatalf("frame %d: event without Event-Name", i)
					}
				}
				if f.IsConnectReply() && f.ReplyText() != "+OK\n" {
					t.Fatalf("connect reply text %q, want decoded %q", f.ReplyText(), "+OK\n")
				}
			}
			r := NewReader(&stream)
			r.channelName = channelName
			for i := 0; i < frames; i++ {
				if _, err := r.ReadFrame(); err != nil {
					t.Fatalf("stream frame %d: %v", i, err)
				}
			}
			if _, err := r.ReadFrame(); err == nil {
				t.Fatal("stream: extra frame")
			}
		})
	}
}

// firstFrame finds the first received frame whose bytes contain marker.
func firstFrame(t *testing.T, name, marker string) *Frame {
	t.Helper()
	for _, b := range readTranscript(t, name) {
		if !b.sent && bytes.Contains(b.data, []byte(marker)) {
			f, err := NewReader(bytes.NewReader(b.data)).ReadFrame()
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	t.Fatalf("%s: no frame with %q", name, marker)
	return nil
}

func mustEvent(t *testing.T, f *Frame) *Event {
	t.Helper()
	e, err := ParseEvent(f)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestDecodedValues(t *testing.T) {
	custom := mustEvent(t, firstFrame(t, "inbound-auth-and-api.txt", "Event-Name: CUSTOM"))
	jsonJob := mustEvent(t, firstFrame(t, "inbound-auth-and-api.txt", `"Job-Command":"uptime"`))
	xmlJob := mustEvent(t, firstFrame(t, "inbound-auth-and-api.txt", "<event>"))
	hup := mustEvent(t, firstFrame(t, "bridge-and-originate.txt", "Event-Name: CHANNEL_HANGUP_COMPLETE"))
	plainCmd := mustEvent(t, firstFrame(t, "inbound-events-all-filtered-plain.txt", "Event-Name: PRIVATE_COMMAND"))
	jsonCmd := mustEvent(t, firstFrame(t, "inbound-events-all-filtered-json.txt", `"Event-Name":"COMMAND"`))
	origJob := mustEvent(t, firstFrame(t, "inbound-events-plain.txt", "Job-Command: originate"))
	connect := firstFrame(t, "outbound-socket.txt", "Event-Name: CHANNEL_DATA")
	linger := firstFrame(t, "outbound-socket.txt", "Content-Disposition: linger")
	getvar := firstFrame(t, "outbound-socket.txt", "Content-Length: 3\n")
	cases := []struct {
		name, got, want string
	}{
		{"custom url-decoded", custom.Get("X-Test-Header"), "hello world & more=1%"},
		{"custom body by last Content-Length", string(custom.Body), "line one\nline two\n"},
		{"custom duplicate Content-Length", fmt.Sprint(custom.Values("Content-Length")), "[18 18]"},
		{"json body", string(jsonJob.Body), "6\n"},
		{"json not url-decoded", jsonJob.Get("FreeSWITCH-IPv6"), "fd00::2"},
		{"xml header decoded", xmlJob.Get("FreeSWITCH-IPv6"), "fd00::2"},
		{"xml job command", xmlJob.Get("Job-Command"), "global_getvar"},
		{"hangup cause twice", fmt.Sprint(len(hup.Values("Hangup-Cause"))), "2"},
		{"plain first wins", plainCmd.Get("Event-Name"), "COMMAND"},
		{"json first wins", jsonCmd.Get("Event-Name"), "COMMAND"},
		{"json and plain duplicates", fmt.Sprint(len(jsonCmd.Values("Event-Name"))), "2"},
		{"originate job body", string(origJob.Body), "+OK f51a4b99-0c45-43a0-9d92-cd8ec05341cb\n"},
		{"connect caller decoded", connect.Header.Get("Channel-Caller-ID-Number"), "+420111222333"},
		{"connect reply text", connect.ReplyText(), "+OK\n"},
		{"connect socket mode", connect.Header.Get("Socket-Mode"), "async"},
		{"linger notice", linger.Header.Get("Linger-Time"), "-1"},
		{"api body without newline", string(getvar.Body), "123"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.got != c.want {
				t.Fatalf("got %q, want %q", c.got, c.want)
			}
		})
	}
	if got := origJob.Get("Job-Command-Arg"); !strings.Contains(got, "number=+420111222333") {
		t.Fatalf("Job-Command-Arg %q lost its '+'", got)
	}
}

func TestDecodeErrors(t *testing.T) {
	cases := []struct{ name, in string }{
		{"header without colon", "Content-Type command/reply\n\n"},
		{"bad content length", "Content-Type: api/response\nContent-Length: x\n\n"},
		{"negative content length", "Content-Type: api/response\nContent-Length: -1\n\n"},
		{"huge content length", "Content-Type: api/response\nContent-Length: 999999999999\n\n"},
		{"short body", "Content-Type: api/response\nContent-Length: 10\n\nabc"},
		{"cut header", "Content-Type: api/resp"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := NewReader(strings.NewReader(c.in)).ReadFrame(); err == nil {
				t.Fatal("want error")
			}
		})
	}
	if _, err := parsePlain([]byte("A: %zz\n\n")); err == nil {
		t.Fatal("bad escape: want error")
	}
	if _, err := parseJSON([]byte(`{"a":{"b":"c"}}`)); err == nil {
		t.Fatal("nested json: want error")
	}
}
