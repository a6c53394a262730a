package esl

import (
	"bytes"
	"testing"
)

// FuzzDecode: the decoder never panics and never loops; whatever it
// accepts as an event frame decodes or errors cleanly.
func FuzzDecode(f *testing.F) {
	for _, name := range []string{"inbound-auth-and-api.txt", "outbound-socket.txt"} {
		for i, b := range readTranscript(f, name) {
			if !b.sent && i%3 == 0 {
				f.Add(b.data)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data))
		for i := 0; i < 64; i++ {
			fr, err := r.ReadFrame()
			if err != nil {
				return
			}
			if fr.IsEvent() {
				if e, err := ParseEvent(fr); err == nil {
					_ = e.Get("Event-Name")
				}
			}
		}
	})
}

func benchFrame(b *testing.B, file, marker string) {
	var data []byte
	for _, blk := range readTranscript(b, file) {
		if !blk.sent && bytes.Contains(blk.data, []byte(marker)) {
			data = blk.data
			break
		}
	}
	if data == nil {
		b.Fatalf("no frame with %q", marker)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	rd := bytes.NewReader(data)
	for b.Loop() {
		rd.Reset(data)
		f, err := NewReader(rd).ReadFrame()
		if err != nil {
			b.Fatal(err)
		}
		if _, err := ParseEvent(f); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodePlainEvent(b *testing.B) {
	benchFrame(b, "inbound-events-plain.txt", "Event-Name: CHANNEL_EXECUTE_COMPLETE")
}

func BenchmarkDecodeJSONEvent(b *testing.B) {
	benchFrame(b, "inbound-events-json.txt", `"Event-Name":"CHANNEL_EXECUTE_COMPLETE"`)
}
