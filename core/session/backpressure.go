package session

// Backpressure (decision 0012, "limits.queue_full: backpressure"): a
// publisher that will wait may have its message taken past the session's
// soft limits (Limits.MaxQueued, Limits.MaxBytes) up to overfillFactor times
// them, and then waits on Room until the session is back under them, instead
// of the message being dropped. The broker-wide Budget is never overfilled:
// one stalled session must not hold every publisher of the broker.

// overfillFactor is the hard cap of an overfilled session, as a multiple of
// its soft limits. Twice the limit leaves room for every publisher that finds
// the session full to put one more message in before it waits (each waits
// after its first overfill), while keeping memory within a known bound.
const overfillFactor = 2

// closedRoom is the channel Room returns when the session has room already.
var closedRoom = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// OfferOver is Offer for a publisher that will wait: a QoS 1 or 2 delivery
// that finds an online session at MaxQueued messages or MaxBytes bytes is
// taken anyway (AcceptedOver) while the session holds less than
// overfillFactor times them. It is not taken (dropped as by Offer) when the
// session is offline, since nothing drains it until its client returns, and
// when a waiter has already given up on this full episode (GiveUp): then the
// session behaves as in drop mode until it is back under its limits.
func (s *Session) OfferOver(d Delivery, now int64, batch Batch) Outcome {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.offerOver(d, batch, s.sink != nil && !s.stalled)
	if o != Accepted && o != Gone && o != AcceptedOver {
		s.dropped++
	}
	return o
}

// full reports whether the session is at or over a soft limit: a publisher
// that overfilled it waits until this is false. The caller holds s.mu.
func (s *Session) full() bool {
	return s.tr.queued() >= s.limits.MaxQueued || s.limits.MaxBytes > 0 && s.held >= s.limits.MaxBytes
}

// Room returns a channel that is closed once the session is under its soft
// limits (or has ended); an already closed one when it is now.
// Waking is driven by what frees room: acknowledgements, the queue draining,
// the session ending. Nothing polls.
func (s *Session) Room() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended || !s.full() {
		return closedRoom
	}
	if s.room == nil {
		s.room = make(chan struct{})
	}
	return s.room
}

// GiveUp tells the session that a publisher stopped waiting for it to make
// room (its bounded wait passed). Until the session is back under its soft
// limits, OfferOver takes nothing past them: a stalled subscriber costs its
// publishers one bounded wait per episode, not one per message. It reports
// whether the session was still over its limits.
func (s *Session) GiveUp() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ended && s.full() {
		s.stalled = true
	}
	return s.stalled
}

// wake closes the room channel once the session is back under its soft
// limits, and forgets a give-up, so the next full episode may make
// publishers wait again. The caller holds s.mu, after anything that frees
// room.
func (s *Session) wake() {
	if s.room == nil && !s.stalled {
		return
	}
	if s.ended || !s.full() {
		if s.room != nil {
			close(s.room)
			s.room = nil
		}
		s.stalled = false
	}
}
