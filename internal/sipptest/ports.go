package sipptest

import (
	"fmt"
	"math/rand/v2"
	"net"
)

// Media ports for sipp lie outside Asterisk's RTP range (10000-20000) and
// below Linux's ephemeral range (32768+), so they never collide with either.
const (
	mediaPortMin = 30000
	mediaPortMax = 32760
)

// freeUDPPort returns a UDP port on 127.0.0.1 that is free right now.
func freeUDPPort() (int, error) {
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("sipptest: free udp port: %w", err)
	}
	defer pc.Close()
	return pc.LocalAddr().(*net.UDPAddr).Port, nil
}

// freeMediaPort returns an even port p in [mediaPortMin, mediaPortMax) with
// p..p+3 free on 127.0.0.1 (sipp uses p for audio, p+2 for video, and the
// next ones for RTCP).
func freeMediaPort() (int, error) {
	for range 200 {
		p := mediaPortMin + 2*rand.IntN((mediaPortMax-mediaPortMin)/2)
		if portsFree(p, 4) {
			return p, nil
		}
	}
	return 0, fmt.Errorf("sipptest: no free media ports in %d-%d", mediaPortMin, mediaPortMax)
}

func portsFree(first, n int) bool {
	var open []net.PacketConn
	defer func() {
		for _, pc := range open {
			pc.Close()
		}
	}()
	for p := first; p < first+n; p++ {
		pc, err := net.ListenPacket("udp4", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			return false
		}
		open = append(open, pc)
	}
	return true
}
