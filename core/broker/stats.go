package broker

import "sync/atomic"

// stats are the broker's counters, published on $SYS and by Stats.
type stats struct {
	connected   atomic.Int64 // clients past CONNACK and not yet detached
	connects    atomic.Uint64
	refused     atomic.Uint64
	authDenied  atomic.Uint64
	authzDenied atomic.Uint64
	packetsIn   atomic.Uint64
	msgsIn      atomic.Uint64
	msgsOut     atomic.Uint64
	bytesIn     atomic.Uint64
	bytesOut    atomic.Uint64
	dropped     atomic.Uint64
	willsSent   atomic.Uint64
}

// Stats is a snapshot of the broker's counters since it started.
type Stats struct {
	ClientsConnected int
	Sessions         int
	Connects         uint64
	Refused          uint64
	AuthDenied       uint64
	AuthzDenied      uint64
	MessagesIn       uint64
	MessagesOut      uint64
	BytesIn          uint64
	BytesOut         uint64
	Dropped          uint64
	WillsSent        uint64
	Subscriptions    int
	Retained         int
	// PartialPacketBytes is what the broker holds for packets whose bodies
	// are still arriving (Limits.MaxPartialPacketBytes bounds it).
	PartialPacketBytes int64
}

// Stats returns a snapshot of the counters.
func (b *Broker) Stats() Stats {
	s := Stats{
		ClientsConnected: int(b.stats.connected.Load()),
		Connects:         b.stats.connects.Load(),
		Refused:          b.stats.refused.Load(),
		AuthDenied:       b.stats.authDenied.Load(),
		AuthzDenied:      b.stats.authzDenied.Load(),
		MessagesIn:       b.stats.msgsIn.Load(),
		MessagesOut:      b.stats.msgsOut.Load(),
		BytesIn:          b.stats.bytesIn.Load(),
		BytesOut:         b.stats.bytesOut.Load(),
		Dropped:          b.stats.dropped.Load(),
		WillsSent:        b.stats.willsSent.Load(),
		Subscriptions:    b.router.Count(),
		Retained:         b.retained.Len(),

		PartialPacketBytes: b.partials.inUse(),
	}
	b.sessions.Range(func(_, _ any) bool { s.Sessions++; return true })
	return s
}
