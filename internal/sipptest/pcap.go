package sipptest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// SourcePcapDir holds the RTP captures of Debian's sip-tester package.
const SourcePcapDir = "/usr/share/sip-tester"

const (
	pcapMagicMicro = 0xa1b2c3d4
	linkEthernet   = 1
	rtpClock       = 8000 // G.711 and telephone-event sample rate
)

// packet is one captured frame and its time since the capture's first frame.
type packet struct {
	at   time.Duration
	data []byte // Ethernet frame
	rtp  int    // offset of the RTP header in data
}

func (p packet) seq() uint16  { return binary.BigEndian.Uint16(p.data[p.rtp+2:]) }
func (p packet) ts() uint32   { return binary.BigEndian.Uint32(p.data[p.rtp+4:]) }
func (p packet) marker() bool { return p.data[p.rtp+1]&0x80 != 0 }

// readPcap reads a little-endian microsecond libpcap file of Ethernet/IPv4/UDP
// RTP frames, the format sipp's captures use.
func readPcap(path string) ([]packet, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sipptest: pcap: %w", err)
	}
	if len(b) < 24 || binary.LittleEndian.Uint32(b) != pcapMagicMicro {
		return nil, fmt.Errorf("sipptest: pcap %s: not a little-endian microsecond pcap", path)
	}
	if lt := binary.LittleEndian.Uint32(b[20:]); lt != linkEthernet {
		return nil, fmt.Errorf("sipptest: pcap %s: link type %d, want Ethernet", path, lt)
	}
	var pkts []packet
	var first time.Duration
	for off := 24; off < len(b); {
		if off+16 > len(b) {
			return nil, fmt.Errorf("sipptest: pcap %s: truncated record header at %d", path, off)
		}
		sec := binary.LittleEndian.Uint32(b[off:])
		usec := binary.LittleEndian.Uint32(b[off+4:])
		incl := int(binary.LittleEndian.Uint32(b[off+8:]))
		off += 16
		if off+incl > len(b) {
			return nil, fmt.Errorf("sipptest: pcap %s: truncated frame at %d", path, off)
		}
		frame := append([]byte(nil), b[off:off+incl]...)
		off += incl
		at := time.Duration(sec)*time.Second + time.Duration(usec)*time.Microsecond
		if len(pkts) == 0 {
			first = at
		}
		rtp, err := rtpOffset(frame)
		if err != nil {
			return nil, fmt.Errorf("sipptest: pcap %s frame %d: %w", path, len(pkts), err)
		}
		pkts = append(pkts, packet{at: at - first, data: frame, rtp: rtp})
	}
	if len(pkts) == 0 {
		return nil, fmt.Errorf("sipptest: pcap %s: no frames", path)
	}
	return pkts, nil
}

func rtpOffset(frame []byte) (int, error) {
	const eth = 14
	if len(frame) < eth+20 || binary.BigEndian.Uint16(frame[12:]) != 0x0800 {
		return 0, errors.New("not an Ethernet IPv4 frame")
	}
	ihl := int(frame[eth]&0x0f) * 4
	if frame[eth+9] != 17 {
		return 0, errors.New("not UDP")
	}
	off := eth + ihl + 8
	if len(frame) < off+12 || frame[off]>>6 != 2 {
		return 0, errors.New("no RTP version 2 header")
	}
	return off, nil
}

// stream numbers the RTP packets of one caller as a single stream (one SSRC,
// continuous sequence numbers, timestamps following the scenario's timeline),
// however many captures it is assembled from: Asterisk treats a repeated
// telephone-event timestamp as the same key press, so replaying the original
// DTMF captures unchanged would merge equal digits.
type stream struct {
	ssrc uint32
	seq  uint16
}

// out rewrites p's RTP header and returns a copy positioned at at.
func (s *stream) out(p packet, at time.Duration, seq uint16, ts uint32, marker bool) packet {
	d := append([]byte(nil), p.data...)
	h := d[p.rtp:]
	if marker {
		h[1] |= 0x80
	} else {
		h[1] &^= 0x80
	}
	binary.BigEndian.PutUint16(h[2:], seq)
	binary.BigEndian.PutUint32(h[4:], ts)
	binary.BigEndian.PutUint32(h[8:], s.ssrc)
	binary.BigEndian.PutUint16(d[p.rtp-2:], 0) // UDP checksum: none
	return packet{at: at, data: d, rtp: p.rtp}
}

// audio returns packets covering d of src (looped or cut), starting at RTP
// time startTS.
func (s *stream) audio(src []packet, d time.Duration, startTS uint32) ([]packet, error) {
	if len(src) < 2 {
		return nil, errors.New("sipptest: audio capture needs at least two packets")
	}
	step := src[1].ts() - src[0].ts()
	if step == 0 {
		return nil, errors.New("sipptest: audio capture has no timestamp increment")
	}
	ptime := time.Duration(step) * time.Second / rtpClock
	n := int((d + ptime - 1) / ptime)
	out := make([]packet, 0, n)
	for i := 0; i < n; i++ {
		out = append(out, s.out(src[i%len(src)], time.Duration(i)*ptime, s.seq, startTS+uint32(i)*step, i == 0))
		s.seq++
	}
	return out, nil
}

// eventTick is the spacing the telephone-event captures send their packets
// at; event durations are counted in whole ticks.
const eventTick = 20 * time.Millisecond

// event returns the packets of one telephone-event capture at RTP time ts,
// keeping the capture's timing, retransmitted end packets and sequence gaps.
//
// The duration field is rewritten to the time the event has been on the
// wire when each packet is sent (RFC 4733 §2.5.1.2): sipp's captures count
// it twice as fast as they send (2240 samples, 280 ms, for a 140 ms press),
// so every key claimed to last past the start of the next one DigitSpacing
// later. When Asterisk drops a key's begin packet (a prompt was playing, or a
// late burst under load put it within 45 ms of the previous key) it emulates
// the key for that claimed duration, queues the next key until
// the emulation ends, and reports the queued key twice (ChannelDtmfReceived
// on arrival and again when it re-reads it): "900123456#" arrived as
// "9000011223344556". All packets of one press share ts, and the repeated
// end packets keep the same sequence number and duration.
func (s *stream) event(src []packet, ts uint32) ([]packet, error) {
	first := src[0].seq()
	var span uint16
	durs := map[uint16]uint16{} // by sequence offset: the first copy's send time
	out := make([]packet, 0, len(src))
	for i, p := range src {
		if len(p.data) < p.rtp+16 {
			return nil, fmt.Errorf("sipptest: event capture packet %d: no telephone-event payload", i)
		}
		if p.data[p.rtp+12] != src[0].data[src[0].rtp+12] {
			return nil, fmt.Errorf("sipptest: event capture packet %d: event %d, want %d", i, p.data[p.rtp+12], src[0].data[src[0].rtp+12])
		}
		rel := p.seq() - first
		if rel > span {
			span = rel
		}
		dur, ok := durs[rel]
		if !ok {
			ticks := (p.at + eventTick/2) / eventTick
			dur = uint16(ticks * eventTick * rtpClock / time.Second)
			durs[rel] = dur
		}
		q := s.out(p, p.at, s.seq+rel, ts, p.marker())
		binary.BigEndian.PutUint16(q.data[q.rtp+14:], dur)
		out = append(out, q)
	}
	s.seq += span + 1
	return out, nil
}

// eventDuration is the duration field of a telephone-event packet.
func (p packet) eventDuration() uint16 { return binary.BigEndian.Uint16(p.data[p.rtp+14:]) }

// eventEnd reports the end bit of a telephone-event packet.
func (p packet) eventEnd() bool { return p.data[p.rtp+13]&0x80 != 0 }

// writePcap writes pkts as a little-endian microsecond pcap.
func writePcap(path string, pkts []packet) error {
	size := 24
	for _, p := range pkts {
		size += 16 + len(p.data)
	}
	b := make([]byte, 24, size)
	binary.LittleEndian.PutUint32(b[0:], pcapMagicMicro)
	binary.LittleEndian.PutUint16(b[4:], 2)
	binary.LittleEndian.PutUint16(b[6:], 4)
	binary.LittleEndian.PutUint32(b[16:], 65535)
	binary.LittleEndian.PutUint32(b[20:], linkEthernet)
	for _, p := range pkts {
		var h [16]byte
		binary.LittleEndian.PutUint32(h[0:], uint32(p.at/time.Second))
		binary.LittleEndian.PutUint32(h[4:], uint32((p.at%time.Second)/time.Microsecond))
		binary.LittleEndian.PutUint32(h[8:], uint32(len(p.data)))
		binary.LittleEndian.PutUint32(h[12:], uint32(len(p.data)))
		b = append(b, h[:]...)
		b = append(b, p.data...)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("sipptest: write pcap: %w", err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("sipptest: write pcap: %w", err)
	}
	return nil
}

// dtmfPcapName maps a key to its capture in SourcePcapDir.
func dtmfPcapName(key rune) (string, error) {
	switch {
	case key >= '0' && key <= '9':
		return fmt.Sprintf("dtmf_2833_%c.pcap", key), nil
	case key == '*':
		return "dtmf_2833_star.pcap", nil
	case key == '#':
		return "dtmf_2833_pound.pcap", nil
	}
	return "", fmt.Errorf("sipptest: no DTMF capture for key %q (want 0-9, * or #)", key)
}
