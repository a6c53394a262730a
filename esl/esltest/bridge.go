package esltest

// bridge joins a and b as uuid_bridge does, in the captured order: a
// running application on either leg stops (a playback with PLAYBACK_STOP
// "done" and EXECUTE_COMPLETE "PLAYBACK ERROR"), the park application of
// both legs completes, a pseudo-application CHANNEL_EXECUTE "uuid_bridge"
// fires on each leg, then one CHANNEL_BRIDGE on the A side. It runs
// without s.mu, after the api reply was queued.
func (s *Server) bridge(a, b *channel) {
	s.mu.Lock()
	// Other-Leg-Unique-ID is set first (the interrupted playback's events
	// carry it) and stays after the bridge ends, as captured.
	a.otherLeg, b.otherLeg = b.uuid, a.uuid
	waits := s.interruptApps(a, b)
	s.mu.Unlock()
	s.waitApps(waits)
	s.mu.Lock()
	defer s.mu.Unlock()
	if a.hungup || b.hungup {
		return
	}
	for _, x := range []*channel{a, b} {
		if p := s.channels[x.peer]; p != nil && x.peer != a.uuid && x.peer != b.uuid {
			s.unbridge(x, p) // bridged elsewhere: that bridge ends first
		}
	}
	for _, x := range []*channel{a, b} {
		if ap := x.parkApp; ap != nil && ap.app == "park" {
			x.parkApp = nil
			s.emit(x, "CHANNEL_EXECUTE_COMPLETE", appHeaders(ap.app, ap.arg, x.response, ap.eventUUID)...)
		}
		x.parked = false
	}
	a.peer, b.peer = b.uuid, a.uuid
	a.bridgeA, b.bridgeA = true, false
	s.emit(a, "CHANNEL_EXECUTE", appHeaders("uuid_bridge", b.uuid, "", "")...)
	s.emit(b, "CHANNEL_EXECUTE", appHeaders("uuid_bridge", a.uuid, "", "")...)
	s.emit(a, "CHANNEL_BRIDGE", s.bridgeHeaders(a, b)...)
}

// interruptApps interrupts the application running on each channel (a
// bridge or park takes the channel) and returns what to wait for: their
// EXECUTE_COMPLETE (s.mu held).
func (s *Server) interruptApps(chs ...*channel) []chan struct{} {
	var waits []chan struct{}
	for _, ch := range chs {
		if r := ch.run; r != nil {
			r.interrupt(stopBridge)
			waits = append(waits, r.done)
		}
	}
	return waits
}

// waitApps waits for interrupted applications (without s.mu).
func (s *Server) waitApps(waits []chan struct{}) {
	for _, w := range waits {
		select {
		case <-w:
		case <-s.closed:
			return
		}
	}
}

// unbridge ends the bridge of leaving with its peer (s.mu held): one
// CHANNEL_UNBRIDGE on the A side, then the peer left behind parks when
// its park_after_bridge is "true" (CHANNEL_PARK, no hang-up), or else
// hangs up with leaving's cause, as the capture shows for the defaults.
func (s *Server) unbridge(leaving, peer *channel) {
	s.emit(s.bridgeA(leaving, peer), "CHANNEL_UNBRIDGE", s.bridgeHeaders(leaving, peer)...)
	leaving.peer, peer.peer = "", ""
	leaving.bridgeA, peer.bridgeA = false, false
	if peer.hungup {
		return
	}
	if peer.getVar("park_after_bridge") == "true" {
		s.park(peer)
		return
	}
	cause := leaving.cause
	if cause == "" {
		cause = "NORMAL_CLEARING"
	}
	s.hangup(peer, cause)
}

// park puts ch in park (s.mu held): CHANNEL_PARK, unless it is parked.
func (s *Server) park(ch *channel) {
	if ch.parked || ch.hungup {
		return
	}
	ch.parked = true
	s.emit(ch, "CHANNEL_PARK")
}

// uuidPark is "uuid_park": a bridged channel leaves its bridge (its peer
// follows its own park_after_bridge), a running application stops, and
// the channel parks. Called without s.mu, after the api reply.
func (s *Server) uuidPark(ch *channel) {
	s.mu.Lock()
	waits := s.interruptApps(ch)
	s.mu.Unlock()
	s.waitApps(waits)
	s.mu.Lock()
	defer s.mu.Unlock()
	if ch.hungup {
		return
	}
	if p := s.channels[ch.peer]; p != nil {
		s.unbridge(ch, p)
	}
	s.park(ch)
}

// uuidBreak is "uuid_break UUID [all]" (s.mu held): the running playback,
// play_and_get_digits or record stops (Playback-Status break, response
// FILE PLAYED); with all, queued applications (broadcasts) are flushed
// too. A park is not a media application and goes on.
func (s *Server) uuidBreak(ch *channel, all bool) {
	if all {
		ch.gen++
	}
	if r := ch.run; r != nil && r.app.app != "park" {
		r.interrupt(stopBreak)
	}
}
