package measure

import (
	"testing"
	"time"

	"github.com/callflow/callflow/esl"
)

func TestDecodeESL(t *testing.T) {
	ev := func(body string) *esl.Event {
		t.Helper()
		e, err := esl.ParsePlainEvent([]byte(body))
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	dtmf := ev("Event-Name: DTMF\nUnique-ID: u1\nEvent-Date-Timestamp: 1764936000123456\nDTMF-Digit: 1\n\n")
	play := ev("Event-Name: PLAYBACK_START\nUnique-ID: u1\nEvent-Date-Timestamp: 1764936000143456\n\n")
	got, ok, err := decodeESL(dtmf)
	if err != nil || !ok || got.Type != "ChannelDtmfReceived" || got.Channel != "u1" || got.Digit != "1" ||
		!got.Time.Equal(time.UnixMicro(1764936000123456)) {
		t.Fatalf("DTMF: %+v, %v, %v", got, ok, err)
	}
	p, ok, err := decodeESL(play)
	if err != nil || !ok || p.Type != "PlaybackStarted" {
		t.Fatalf("PLAYBACK_START: %+v, %v, %v", p, ok, err)
	}
	if lat := Pair([]Event{got, p}); lat.Paired != 1 || lat.P50 != 20*time.Millisecond {
		t.Errorf("Pair: %+v, want one digit at 20ms", lat)
	}
	if _, ok, err := decodeESL(ev("Event-Name: CHANNEL_ANSWER\nUnique-ID: u1\nEvent-Date-Timestamp: 1\n\n")); ok || err != nil {
		t.Errorf("CHANNEL_ANSWER kept: %v, %v", ok, err)
	}
	if _, _, err := decodeESL(ev("Event-Name: DTMF\nUnique-ID: u1\nEvent-Date-Timestamp: soon\n\n")); err == nil {
		t.Error("DTMF with a bad timestamp: no error")
	}
	if _, _, err := decodeESL(ev("Event-Name: DTMF\nEvent-Date-Timestamp: 1\n\n")); err == nil {
		t.Error("DTMF without Unique-ID: no error")
	}
}
