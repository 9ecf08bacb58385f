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

	// Drops by cause (queues.go); dropped counts them all, and more.
	droppedQueueFull  atomic.Uint64
	droppedQueueBytes atomic.Uint64
	droppedBudget     atomic.Uint64
	droppedQoS0       atomic.Uint64
	slowConsumers     atomic.Uint64
	handedOver        atomic.Uint64 // see Stats.SharedHandedOver
	sharedLost        atomic.Uint64 // see Stats.SharedDropped
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

	// DroppedQueueFull counts QoS 1/2 deliveries dropped because the
	// session already queued Limits.MaxQueued messages.
	DroppedQueueFull uint64
	// DroppedQueueBytes counts QoS 1/2 deliveries dropped because the
	// session would have held more than Limits.MaxQueuedBytes.
	DroppedQueueBytes uint64
	// DroppedMemoryBudget counts QoS 1/2 deliveries dropped because all
	// sessions together would have held more than Limits.MaxQueuedBytesTotal.
	DroppedMemoryBudget uint64
	// DroppedQoS0 counts QoS 0 deliveries to an offline session or shed by
	// a connection whose write buffer was over Limits.MaxWriteBuffer.
	DroppedQoS0 uint64
	// QueuedBytes is what every session holds now, in flight and queued,
	// against Limits.MaxQueuedBytesTotal.
	QueuedBytes int64
	// SlowConsumers counts connections ended for shedding QoS 0 longer
	// than Limits.SlowConsumerTimeout.
	SlowConsumers uint64
	// SharedHandedOver counts shared-subscription deliveries moved to another
	// member of their group because the session they waited in ended
	// (MQTT 5.0 §4.8.2) (docs/decisions/0012-delivery-under-churn.md).
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

		PartialPacketBytes:  b.partials.inUse(),
		DroppedQueueFull:    b.stats.droppedQueueFull.Load(),
		DroppedQueueBytes:   b.stats.droppedQueueBytes.Load(),
		DroppedMemoryBudget: b.stats.droppedBudget.Load(),
		DroppedQoS0:         b.stats.droppedQoS0.Load(),
		QueuedBytes:         b.budget.Used(),
		SlowConsumers:       b.stats.slowConsumers.Load(),
		SharedHandedOver:    b.stats.handedOver.Load(),
		SharedDropped:       b.stats.sharedLost.Load(),
	}
	b.sessions.Range(func(_, _ any) bool { s.Sessions++; return true })
	return s
}
