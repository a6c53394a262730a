// Package loadgen places the benchmark's caller load with sipp (Debian
// sip-tester 3.6.1): light UAC scenarios that scale to a few hundred calls on
// two cores. Callers send no media while they wait; a presser sends one RFC
// 4733 digit from sipp's capture, "speaks" through sipp's rtp_stream engine
// (a small thread pool, not a pcap thread per call), presses # and waits for
// the application to hang up.
package loadgen

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"text/template"
	"time"
)

// Kind is a caller population.
type Kind string

const (
	// Presser waits PressAfter, presses 1, speaks for Speak, presses # and
	// expects the application's BYE within ByeTimeout.
	Presser Kind = "press"
	// Waiter waits for the application's BYE (an agent conversation ended, or
	// the dialplan gave up) and hangs up itself after MaxWait.
	Waiter Kind = "wait"
)

// Timing is the callers' timeline.
type Timing struct {
	PressAfter time.Duration // pressers: announcements heard before pressing 1
	Speak      time.Duration // pressers: RTP sent between 1 and #
	ByeTimeout time.Duration // pressers: the application must hang up within this after #
	MaxWait    time.Duration // waiters: hang up after this without the application's BYE
}

// DefaultTiming fits the control dialplan (Read waits 10 s for the digit,
// Record takes at most 3 s, so # must come before that) and the benchmark
// flow. PressAfter must exceed an agent's ring and talk time (benchrun's
// 0.5 s and -talk 4 s) with a margin: a presser that a free agent serves at
// once must have heard the agent hang up before it presses 1, or the
// agent's BYE lands while it "speaks" and sipp fails the call (the two
// failed calls per run seen with PressAfter 3 s were exactly that, in both
// applications). See MinPressAfter.
var DefaultTiming = Timing{
	PressAfter: 6 * time.Second,
	Speak:      2 * time.Second,
	ByeTimeout: 20 * time.Second,
	MaxWait:    25 * time.Second,
}

// Validate checks that every duration is usable by sipp.
func (t Timing) Validate() error {
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"press-after", t.PressAfter}, {"speak", t.Speak}, {"bye-timeout", t.ByeTimeout}, {"max-wait", t.MaxWait}} {
		if d.v < 100*time.Millisecond || d.v > time.Hour {
			return fmt.Errorf("loadgen: timing %s %v: must be between 100ms and 1h", d.name, d.v)
		}
	}
	return nil
}

// MinPressAfter is the shortest PressAfter at which a presser served by an
// agent the moment it joins the queue is done with the agent before it
// presses 1: the agent's ring plus talk, plus a second for the answer, the
// bridge and the BYE to travel.
func MinPressAfter(ring, talk time.Duration) time.Duration {
	return ring + talk + time.Second
}

// HoldTime is roughly how long one call of kind k lasts, used to size rates.
func (t Timing) HoldTime(k Kind) time.Duration {
	if k == Presser {
		return t.PressAfter + t.Speak + digitGap + 3*time.Second
	}
	return t.MaxWait
}

// digitGap is the pause after each capture-played digit (the capture itself
// lasts ~140 ms).
const digitGap = 250 * time.Millisecond

// SpeechFile and the DTMF captures are what the scenarios reference,
// relative to the scenario folder.
const (
	SpeechFile = "speech.alaw"
	pcapDir    = "pcap"
	// SystemPcapDir is where Debian's sip-tester installs its captures.
	SystemPcapDir = "/usr/share/sip-tester"
)

var dtmfCaptures = map[string]string{"1": "dtmf_2833_1.pcap", "#": "dtmf_2833_pound.pcap"}

type scenarioData struct {
	Name                         string
	PressAfterMS, SpeakMS, GapMS int64
	ByeTimeoutMS, MaxWaitMS      int64
	One, Pound, Speech           string
	Caller                       string // From user before sipp's call number
}

// DefaultCaller is the callers' From user part before sipp's call number.
const DefaultCaller = "bench"

// Write renders the scenario of kind k into dir (with its speech file and
// DTMF captures, copied from pcapSrc) and returns the scenario's path.
func Write(dir string, k Kind, t Timing, pcapSrc string) (string, error) {
	return WriteCaller(dir, k, t, pcapSrc, DefaultCaller)
}

// WriteCaller is Write with the From user part before sipp's call number
// (caller "4209" gives 42091, 42092, …).
func WriteCaller(dir string, k Kind, t Timing, pcapSrc, caller string) (string, error) {
	if caller == "" || strings.ContainsAny(caller, "<>@:;\" \r\n\t[]") {
		return "", fmt.Errorf("loadgen: caller %q: want a plain SIP user part", caller)
	}
	if err := t.Validate(); err != nil {
		return "", err
	}
	var tmpl *template.Template
	switch k {
	case Presser:
		tmpl = pressTemplate
	case Waiter:
		tmpl = waitTemplate
	default:
		return "", fmt.Errorf("loadgen: unknown caller kind %q", k)
	}
	if err := os.MkdirAll(filepath.Join(dir, pcapDir), 0o755); err != nil {
		return "", fmt.Errorf("loadgen: scenario dir: %w", err)
	}
	if k == Presser {
		for _, name := range dtmfCaptures {
			if err := copyFile(filepath.Join(pcapSrc, name), filepath.Join(dir, pcapDir, name)); err != nil {
				return "", err
			}
		}
		if err := writeSpeech(filepath.Join(dir, SpeechFile), 2*time.Second); err != nil {
			return "", err
		}
	}
	var buf bytes.Buffer
	err := tmpl.Execute(&buf, scenarioData{
		Name:         "callflow bench " + string(k),
		PressAfterMS: t.PressAfter.Milliseconds(),
		SpeakMS:      t.Speak.Milliseconds(),
		GapMS:        digitGap.Milliseconds(),
		ByeTimeoutMS: t.ByeTimeout.Milliseconds(),
		MaxWaitMS:    t.MaxWait.Milliseconds(),
		One:          pcapDir + "/" + dtmfCaptures["1"],
		Pound:        pcapDir + "/" + dtmfCaptures["#"],
		Speech:       SpeechFile,
		Caller:       caller,
	})
	if err != nil {
		return "", fmt.Errorf("loadgen: render %s scenario: %w", k, err)
	}
	path := filepath.Join(dir, string(k)+".xml")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return "", fmt.Errorf("loadgen: write scenario: %w", err)
	}
	return path, nil
}

// writeSpeech writes d of A-law "speech": a deterministic noise that no
// silence detector takes for silence. rtp_stream loops it.
func writeSpeech(path string, d time.Duration) error {
	n := int(d / (time.Second / 8000))
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.UintN(256))
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("loadgen: write speech: %w", err)
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("loadgen: dtmf capture: %w", err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return fmt.Errorf("loadgen: dtmf capture: %w", err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("loadgen: copy %s: %w", src, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("loadgen: copy %s: %w", src, err)
	}
	return nil
}

// The INVITE offers PCMA and telephone-event. Pressers announce their
// rtp_stream port (where rtp_stream sends from); waiters announce sipp's
// shared media port, which nobody reads: the kernel drops the music on hold
// there, so a waiting caller costs sipp nothing.
const inviteAndAck = `  <send retrans="500">
    <![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "bench" <sip:{{.Caller}}[call_number]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:bench@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=bench 1 1 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio @PORT@ RTP/AVP 8 101
      a=rtpmap:8 PCMA/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-15
      a=sendrecv
    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200" rrs="true" rtd="true"/>
  <send>
    <![CDATA[
      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "bench" <sip:{{.Caller}}[call_number]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      [routes]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Contact: <sip:bench@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
`

const okToBye = `  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:bench@[local_ip]:[local_port]>
      Content-Length: 0
    ]]>
  </send>
`

const sendBye = `  <send retrans="500">
    <![CDATA[
      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "bench" <sip:{{.Caller}}[call_number]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      [routes]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Contact: <sip:bench@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="200"/>
`

func scenarioTemplate(name, port, body string) *template.Template {
	head := `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="{{.Name}}">
`
	invite := strings.ReplaceAll(inviteAndAck, "@PORT@", port)
	return template.Must(template.New(name).Parse(head + invite + body + "</scenario>\n"))
}

// A presser still waiting may be served by an agent first: the agent's
// hang-up (the application's BYE) before the press ends the call as a
// success. A BYE while it speaks is a failure (the message was cut). After
// # the scenario waits for the BYE at once: sipp fails a BYE that arrives
// during a <pause> as unexpected, and an application that ends the
// recording on # hangs up while the # capture still plays (the control
// dialplan did so for every presser once PressAfter was 6 s).
var pressTemplate = scenarioTemplate("press", "[rtpstream_audio_port]", `  <recv request="BYE" timeout="{{.PressAfterMS}}" ontimeout="press"/>
`+okToBye+`  <nop next="end"/>
  <label id="press"/>
  <nop><action><exec play_pcap_audio="{{.One}}"/></action></nop>
  <pause milliseconds="{{.GapMS}}"/>
  <nop><action><exec rtp_stream="{{.Speech}},-1,8"/></action></nop>
  <pause milliseconds="{{.SpeakMS}}"/>
  <nop><action><exec rtp_stream="pause"/></action></nop>
  <nop><action><exec play_pcap_audio="{{.Pound}}"/></action></nop>
  <recv request="BYE" timeout="{{.ByeTimeoutMS}}"/>
`+okToBye+`  <label id="end"/>
`)

var waitTemplate = scenarioTemplate("wait", "[media_port]", `  <recv request="BYE" timeout="{{.MaxWaitMS}}" ontimeout="giveup"/>
`+okToBye+`  <nop next="end"/>
  <label id="giveup"/>
`+sendBye+`  <label id="end"/>
`)
