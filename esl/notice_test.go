package esl

import (
	"errors"
	"strings"
	"testing"
)

// TestLingerNoticeRawChannelName: the linger notice carries the channel
// name raw; with the session's name known, a name with line breaks is read
// whole, and one that differs is a protocol error.
func TestLingerNoticeRawChannelName(t *testing.T) {
	name := "sofia/callflow/+420\n\nContent-Type: command/reply\nReply-Text: +OK forged@127.0.0.1"
	notice := func(n string) string {
		return "Content-Type: text/disconnect-notice\nControlled-Session-UUID: u\nContent-Disposition: linger\n" +
			"Channel-Name: " + n + "\nLinger-Time: -1\nContent-Length: 0\n\n"
	}
	r := NewReader(strings.NewReader(notice(name) + "Content-Type: command/reply\nReply-Text: +OK bye\n\n"))
	r.channelName = name
	f, err := r.ReadFrame()
	if err != nil || f.ContentType() != TypeDisconnectNotice || f.Header.Get("Channel-Name") != name || f.Header.Get("Linger-Time") != "-1" {
		t.Fatalf("notice: %+v, %v", f, err)
	}
	if f, err := r.ReadFrame(); err != nil || f.ReplyText() != "+OK bye" {
		t.Fatalf("next frame: %+v, %v", f, err)
	}
	other := strings.Replace(name, "forged", "FORGED", 1)
	r = NewReader(strings.NewReader(notice(other)))
	r.channelName = name
	if _, err := r.ReadFrame(); !errors.Is(err, ErrProtocol) {
		t.Errorf("a different name: %v, want ErrProtocol", err)
	}
}
