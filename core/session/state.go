package session

// Subscribe records a subscription; existed reports that it replaced one with
// the same filter [MQTT-3.8.4-3].
func (s *Session) Subscribe(sub Subscription) (existed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.subs == nil {
		s.subs = make(map[string]Subscription)
	}
	_, existed = s.subs[sub.Filter]
	s.subs[sub.Filter] = sub
	return existed
}

// Unsubscribe forgets the subscription to filter; false if there was none.
func (s *Session) Unsubscribe(filter string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.subs[filter]; !ok {
		return false
	}
	delete(s.subs, filter)
	return true
}

// HasSubscription reports whether the session subscribes to filter.
func (s *Session) HasSubscription(filter string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.subs[filter]
	return ok
}

// Subscriptions returns a copy of the session's subscriptions.
func (s *Session) Subscriptions() []Subscription {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Subscription, 0, len(s.subs))
	for _, sub := range s.subs {
		out = append(out, sub)
	}
	return out
}

// SubscriptionCount is the number of subscriptions.
func (s *Session) SubscriptionCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.subs)
}

// Expiry is the Session Expiry Interval in seconds.
func (s *Session) Expiry() uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.expiry
}

// SetExpiry changes the Session Expiry Interval (CONNECT, or DISCONNECT [MQTT-3.14.2-2]).
func (s *Session) SetExpiry(seconds uint32) {
	s.mu.Lock()
	s.expiry = seconds
	s.mu.Unlock()
}

// Stats are a session's counters.
type Stats struct {
	Inflight, Queued int    // messages in the window and behind it
	Bytes            int64  // what they hold against Limits.MaxBytes (Message.Size + DeliverySlot each)
	Dropped          uint64 // deliveries not taken since the session began (see Outcome)
}

// Stats returns the session's counters.
func (s *Session) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{Inflight: s.tr.inFlight(), Queued: s.tr.queued(), Bytes: s.held, Dropped: s.dropped}
}

// Snapshot returns the session's durable state: subscriptions, in-flight and
// queued deliveries in order, inbound QoS 2 ids.
func (s *Session) Snapshot() Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.meta()
	if t := s.tr; t != nil {
		t.out.each(func(d *Delivery) { r.Inflight = append(r.Inflight, *d) })
		t.pending.each(func(d *Delivery) { r.Queued = append(r.Queued, *d) })
		for id := range t.inbound {
			r.InboundQoS2 = append(r.InboundQoS2, id)
		}
	}
	return r
}

// Meta returns the session's own durable fields, the record of a PutSession
// op: no deliveries, no inbound ids.
func (s *Session) Meta() Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.meta()
}

// meta is Meta for a caller that holds s.mu.
func (s *Session) meta() Record {
	r := Record{Version: FormatVersion, ID: s.ID, Owner: s.Owner, Expiry: s.expiry}
	for _, sub := range s.subs {
		r.Subscriptions = append(r.Subscriptions, sub)
	}
	return r
}

// Restore makes a session from a Record, as Snapshot wrote it or a Store
// loaded it, reporting its changes to limits.Journal (nil: none). What the
// record holds is charged to the limits' budget even past its bounds: those
// messages were accepted before the restart. With a Journal, every
// delivery's message is counted as referred to (Message.Ref), as the
// journal counted it before.
func Restore(r Record, limits *Limits) *Session {
	s := new(Session)
	s.InitRestored(r, limits)
	return s
}

// InitRestored is Restore into a zero Session in place (see Init).
func (s *Session) InitRestored(r Record, limits *Limits) {
	s.Init(r.ID, limits)
	s.kept = s.limits.Journal != nil
	s.Owner = r.Owner
	s.expiry = r.Expiry
	for _, sub := range r.Subscriptions {
		if s.subs == nil {
			s.subs = make(map[string]Subscription)
		}
		s.subs[sub.Filter] = sub
	}
	for _, d := range r.Inflight {
		s.restoreRef(&d)
		s.forceHold(&d)
		s.traffic().out.add(d)
		if d.PacketID > s.nextID {
			s.nextID = d.PacketID
		}
	}
	for _, d := range r.Queued {
		s.restoreRef(&d)
		s.forceHold(&d)
		s.traffic().pending.push(d)
	}
	for _, id := range r.InboundQoS2 {
		s.traffic().addInbound(id)
	}
}

func (s *Session) restoreRef(d *Delivery) {
	if s.kept && d.Msg != nil {
		d.Msg.Ref()
	}
}
