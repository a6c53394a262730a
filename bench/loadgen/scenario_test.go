package loadgen

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestWrite(t *testing.T) {
	pcaps := t.TempDir()
	for _, n := range dtmfCaptures {
		if err := os.WriteFile(filepath.Join(pcaps, n), []byte("capture"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name    string
		kind    Kind
		timing  Timing
		want    []string
		notWant []string
		files   []string
		wantErr string
	}{
		{
			name:   "presser",
			kind:   Presser,
			timing: Timing{PressAfter: 4 * time.Second, Speak: 1500 * time.Millisecond, ByeTimeout: 9 * time.Second, MaxWait: time.Second},
			want: []string{
				`m=audio [rtpstream_audio_port] RTP/AVP 8 101`,
				`<exec play_pcap_audio="pcap/dtmf_2833_1.pcap"/>`,
				`<exec rtp_stream="speech.alaw,-1,8"/>`,
				`<pause milliseconds="1500"/>`,
				`<exec rtp_stream="pause"/>`,
				// No pause between # and the wait for the BYE.
				"<exec play_pcap_audio=\"pcap/dtmf_2833_pound.pcap\"/></action></nop>\n  <recv request=\"BYE\" timeout=\"9000\"/>",
				`<recv request="BYE" timeout="4000" ontimeout="press"/>`,
			},
			notWant: []string{"timewait", "{{", "@PORT@"},
			files:   []string{"pcap/dtmf_2833_1.pcap", "pcap/dtmf_2833_pound.pcap", SpeechFile},
		},
		{
			name:    "waiter",
			kind:    Waiter,
			timing:  Timing{PressAfter: time.Second, Speak: time.Second, ByeTimeout: time.Second, MaxWait: 25 * time.Second},
			want:    []string{`m=audio [media_port] RTP/AVP 8 101`, `<recv request="BYE" timeout="25000" ontimeout="giveup"/>`, `CSeq: 2 BYE`, `<label id="giveup"/>`},
			notWant: []string{"rtp_stream", "play_pcap_audio", "{{"},
		},
		{name: "unknown kind", kind: "dance", timing: DefaultTiming, wantErr: "unknown caller kind"},
		{name: "zero timing", kind: Waiter, timing: Timing{}, wantErr: "press-after"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path, err := Write(dir, tc.kind, tc.timing, pcaps)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Write error = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			xml := string(b)
			for _, w := range tc.want {
				if !strings.Contains(xml, w) {
					t.Errorf("scenario lacks %q:\n%s", w, xml)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(xml, w) {
					t.Errorf("scenario contains %q", w)
				}
			}
			for _, f := range tc.files {
				if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
					t.Errorf("missing %s: %v", f, err)
				}
			}
		})
	}
}
