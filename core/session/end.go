package session

// End ends the session for good, as the broker forgets it: it gives back to
// the broker-wide budget everything it holds, and takes no delivery from now
// on (Offer reports Gone), so that a publisher that found the session just
// before it ended cannot leave bytes charged to it; the subscriptions and the
// snapshot stay readable. It returns the deliveries
// that came through a shared subscription and that another member of the
// group should get instead (MQTT 5.0 §4.8.2): each one queued, never sent, and each
// QoS 1 one in flight, unacknowledged. It also returns how many QoS 2 shared
// deliveries were sent and not yet received (no PUBREC): those must go to no other member
// [MQTT-4.8.2-5], and are lost with the session.
func (s *Session) End() (handOver []Delivery, strandedQoS2 int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return nil, 0
	}
	defer s.wake() // a publisher waiting for this session waits no more
	t := s.tr
	if t == nil { // nothing in flight or queued, ever
		s.ended, s.kept = true, false
		return nil, 0
	}
	t.out.each(s.forget)
	t.pending.each(s.forget)
	s.ended, s.kept = true, false
	var inflight []uint16
	t.out.each(func(d *Delivery) {
		switch {
		case d.Share == "":
		case d.QoS == 1:
			handOver = append(handOver, unstored(*d))
			inflight = append(inflight, d.PacketID)
		case d.QoS == 2 && !d.Released: // a released one was received: not lost
			strandedQoS2++
		}
	})
	for _, id := range inflight {
		t.out.remove(id)
	}
	var keep queue
	for t.pending.len() > 0 {
		d := t.pending.pop()
		if d.Share != "" {
			handOver = append(handOver, unstored(d))
		} else {
			keep.push(d)
		}
	}
	t.pending = keep
	return handOver, strandedQoS2
}

// Ended reports whether End was called.
func (s *Session) Ended() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ended
}

// unstored is d as a new delivery for another session: the store knows it
// under this session's key, not the next one's.
func unstored(d Delivery) Delivery {
	d.Seq, d.PacketID, d.Dup, d.gated = 0, 0, false, false
	return d
}
