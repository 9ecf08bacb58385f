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
	handedOver  atomic.Uint64 // see Stats.SharedHandedOver
	sharedLost  atomic.Uint64 // see Stats.SharedDropped
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
	// SharedHandedOver counts shared-subscription deliveries moved to another
	// member of their group because the session they waited in ended
	// [MQTT-4.8.2] (docs/decisions/0012-delivery-under-churn.md).
	SharedHandedOver uint64
	// SharedDropped counts shared-subscription deliveries of an ended session
	// that went to no other member: none was left, or a QoS 2 delivery had
	// already been sent [MQTT-4.8.2-5]. They are counted in Dropped as well.
	SharedDropped uint64
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
		SharedHandedOver: b.stats.handedOver.Load(),
		SharedDropped:    b.stats.sharedLost.Load(),
	}
	b.sessions.Range(func(_, _ any) bool { s.Sessions++; return true })
	return s
}
