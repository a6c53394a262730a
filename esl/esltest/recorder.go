package esltest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Recorder writes the ESL traffic of real FreeSWITCH sessions in the
// transcript format of esl/testdata (README.md there): a marker line
// ">>> sent N bytes @+S.SSSs" or "<<< received N bytes @+S.SSSs", exactly N
// raw bytes, one '\n' separator; "### " comment lines between blocks.
// "sent" is what callflow's side wrote. It sits between the two ends as a
// TCP proxy (Proxy) and cuts each direction into frames: a header block up
// to its blank line, plus Content-Length bytes of body.
type Recorder struct {
	mu    sync.Mutex
	w     io.Writer
	start time.Time
	err   error
	off   bool // Stop was called: frames are forwarded, not written
	wg    sync.WaitGroup
}

// Stop ends the transcript: later frames are still forwarded, not
// written.
func (r *Recorder) Stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.off = true
}

// NewRecorder starts a transcript on w with the given comment lines.
func NewRecorder(w io.Writer, comments ...string) *Recorder {
	r := &Recorder{w: w, start: time.Now()}
	for _, c := range comments {
		r.Comment(c)
	}
	return r
}

// Comment writes "### text" (one line per line of text).
func (r *Recorder) Comment(text string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, line := range strings.Split(text, "\n") {
		r.write([]byte("### " + line + "\n"))
	}
}

func (r *Recorder) write(b []byte) {
	if r.err == nil && !r.off {
		_, r.err = r.w.Write(b)
	}
}

// block writes one frame.
func (r *Recorder) block(sent bool, frame []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	dir := "<<< received"
	if sent {
		dir = ">>> sent"
	}
	at := time.Since(r.start).Seconds()
	r.write([]byte(fmt.Sprintf("%s %d bytes @+%.3fs\n", dir, len(frame), at)))
	r.write(frame)
	r.write([]byte{'\n'})
}

// Err is the first write error.
func (r *Recorder) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// Wait waits until every proxied connection has ended.
func (r *Recorder) Wait() { r.wg.Wait() }

// Proxy listens on listen (host:port, port 0 picks one) and forwards each
// connection to target, recording both directions; name labels the
// connection in comments. ourSideDials says which end is callflow: true
// for the inbound event socket (callflow dials FreeSWITCH), false for an
// outbound-socket session (FreeSWITCH dials callflow). It returns the
// address it listens on; the listener closes when ctx ends.
func (r *Recorder) Proxy(ctx context.Context, listen, target, name string, ourSideDials bool) (string, error) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return "", fmt.Errorf("esltest: recorder: %w", err)
	}
	r.wg.Add(1)
	go func() { // ends when ctx closes the listener
		defer r.wg.Done()
		<-ctx.Done()
		ln.Close()
	}()
	r.wg.Add(1)
	go func() { // accept loop; ends when the listener closes
		defer r.wg.Done()
		for n := 1; ; n++ {
			down, err := ln.Accept()
			if err != nil {
				return
			}
			var d net.Dialer
			up, err := d.DialContext(ctx, "tcp", target)
			if err != nil {
				r.Comment(fmt.Sprintf("connection [%s %d] to %s failed: %v", name, n, target, err))
				down.Close()
				continue
			}
			r.Comment(fmt.Sprintf("connection [%s %d] opened to %s", name, n, target))
			r.wg.Add(2)
			label := fmt.Sprintf("%s %d", name, n)
			// Each pump ends when its source closes; it then closes both.
			go r.pump(down, up, ourSideDials, label)
			go r.pump(up, down, !ourSideDials, label)
		}
	}()
	return ln.Addr().String(), nil
}

// pump copies src to dst frame by frame; sent says whether src is
// callflow's side.
func (r *Recorder) pump(src, dst net.Conn, sent bool, label string) {
	defer r.wg.Done()
	br := bufio.NewReader(src)
	channelName := "" // an outbound session's, from the connect reply
	for {
		frame, err := readRawFrame(br, channelName)
		if channelName == "" && !sent {
			channelName = connectChannelName(frame)
		}
		if len(frame) > 0 {
			r.block(sent, frame)
			if _, werr := dst.Write(frame); werr != nil {
				err = werr
			}
		}
		if err != nil {
			who := "peer"
			if sent {
				who = "callflow"
			}
			if errors.Is(err, io.EOF) {
				r.Comment(fmt.Sprintf("connection [%s] closed by %s (EOF)", label, who))
			} else if !errors.Is(err, net.ErrClosed) {
				r.Comment(fmt.Sprintf("connection [%s] %s side: %v", label, who, err))
			}
			src.Close()
			dst.Close()
			return
		}
	}
}

// connectChannelName is the decoded Channel-Name of an outbound connect
// reply (a command/reply with Event-Name), else "".
func connectChannelName(frame []byte) string {
	head, _, _ := bytes.Cut(frame, []byte("\n\n"))
	name, isReply, isData := "", false, false
	for _, line := range strings.Split(string(head), "\n") {
		k, v, _ := strings.Cut(line, ": ")
		switch k {
		case "Content-Type":
			isReply = v == "command/reply"
		case "Event-Name":
			isData = true
		case "Channel-Name":
			if name == "" {
				name, _ = url.PathUnescape(v)
			}
		}
	}
	if !isReply || !isData {
		return ""
	}
	return name
}

// readRawFrame reads one frame's exact bytes: header lines up to a blank
// line, then the outer Content-Length's body. io.EOF before any byte is a
// clean end; a partial frame is returned with the error. FreeSWITCH writes
// an outbound session's channel name raw into its linger notice, line
// breaks included: a "Channel-Name: " line that starts channelName (when
// that has line breaks) runs to the end of channelName.
func readRawFrame(br *bufio.Reader, channelName string) ([]byte, error) {
	var buf bytes.Buffer
	length := 0
	for {
		line, err := br.ReadBytes('\n')
		buf.Write(line)
		if err != nil {
			return buf.Bytes(), err
		}
		if v, ok := bytes.CutPrefix(line, []byte("Channel-Name: ")); ok && strings.ContainsAny(channelName, "\r\n") &&
			len(v) <= len(channelName) && strings.HasPrefix(channelName, string(v)) {
			rest := make([]byte, len(channelName)-len(v)+1)
			n, err := io.ReadFull(br, rest)
			buf.Write(rest[:n])
			if err != nil {
				return buf.Bytes(), err
			}
			continue
		}
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			break
		}
		if k, v, ok := strings.Cut(strings.TrimRight(string(line), "\r\n"), ":"); ok && strings.EqualFold(k, "Content-Length") {
			if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 {
				length = n
			}
		}
	}
	if length > 0 {
		body := make([]byte, length)
		n, err := io.ReadFull(br, body)
		buf.Write(body[:n])
		if err != nil {
			return buf.Bytes(), err
		}
	}
	return buf.Bytes(), nil
}
