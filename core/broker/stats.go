package broker

import "sync/atomic"

// stats are the broker's counters, published on $SYS and by Stats.
type stats struct {
	// Clients past CONNACK and not yet detached, and error CONNACKs, are
	// counted by version and by reason (breakdownCounters.connectedBy,
	// refusedBy); Stats sums them.
	connects atomic.Uint64
	// Refusals before CONNECT (admission.go): see Stats.RefusedLimit and
	// Stats.TransportRefused.
	refusedLimit     atomic.Uint64
	transportRefused atomic.Uint64
	authDenied       atomic.Uint64
	authzDenied      atomic.Uint64
	packetsIn        atomic.Uint64
	msgsIn           byQoS // by QoS; Stats.MessagesIn is the sum
	msgsOut          byQoS // by the QoS sent at; Stats.MessagesOut is the sum
	bytesIn          atomic.Uint64
	bytesOut         atomic.Uint64
	dropped          atomic.Uint64
	willsSent        atomic.Uint64

	// Drops by cause (queues.go); dropped counts them all, and more.
	droppedQueueFull  atomic.Uint64
	droppedQueueBytes atomic.Uint64
	droppedBudget     atomic.Uint64
	droppedQoS0       atomic.Uint64
	slowConsumers     atomic.Uint64
	handedOver        atomic.Uint64 // see Stats.SharedHandedOver
	sharedLost        atomic.Uint64 // see Stats.SharedDropped

	// Backpressure (backpressure.go).
	bpWaits    atomic.Uint64 // see Stats.BackpressureWaits
	bpTimeouts atomic.Uint64 // see Stats.BackpressureTimeouts

	breakdownCounters // breakdown.go
}

// Stats is a snapshot of the broker's counters since it started. Each
// field's comment is the one description of the counter: the $SYS table
// (sysTopics, sys.go) carries the same text, word for word, and so does
// docs/sys-topics.md (both checked by TestSysTopicsShareTheStatsDocs).
type Stats struct {
	// ClientsConnected is the number of clients connected now: past a
	// successful CONNACK and not yet disconnected. Connections still in the
	// CONNECT exchange are not counted (Broker.ClientCount counts them).
	ClientsConnected int
	// Sessions is the number of sessions the broker holds now, with or
	// without a connection.
	Sessions int
	// Connects counts CONNECTs answered with a successful CONNACK.
	Connects uint64
	// Refused counts CONNECTs answered with an error CONNACK: a limit or
	// protocol problem, a failed authentication, or a client identifier
	// whose session belongs to another identity. A connection closed
	// without a CONNACK (no CONNECT, or one too large) is not counted.
	Refused uint64
	// RefusedLimit counts connections refused for a connection limit
	// (Limits.MaxConnections, a listener's MaxConnections): answered CONNACK
	// 0x97 Quota exceeded, or closed unread when far over it. Those answered
	// are counted in Refused as well.
	RefusedLimit uint64
	// TransportRefused counts connections their transport refused before MQTT
	// began: a failed TLS handshake (an unknown, expired or missing client
	// certificate), a missing or malformed PROXY protocol header.
	TransportRefused uint64
	// AuthDenied counts authentications an authenticate hook denied, at
	// CONNECT and at re-authentication (AUTH).
	AuthDenied uint64
	// AuthzDenied counts publishes (wills included) and subscription filters
	// that an authorize hook denied, and publishes to $SYS topics, which
	// belong to the broker.
	AuthzDenied uint64
	// MessagesIn counts PUBLISH packets received from clients, whether they
	// were then accepted or not.
	MessagesIn uint64
	// MessagesOut counts PUBLISH packets queued for writing to clients,
	// retained messages and retransmissions included.
	MessagesOut uint64
	// BytesIn counts bytes received from connected clients: each packet
	// after CONNECT counts its body and two bytes of fixed header.
	BytesIn uint64
	// BytesOut counts bytes written to client sockets.
	BytesOut uint64
	// Dropped counts messages and deliveries the broker did not pass on:
	// dropped by an on-publish hook or a transform, refused by a session
	// (every cause counted below), larger than the subscriber's Maximum
	// Packet Size, or shared-subscription deliveries that found no member.
	Dropped uint64
	// WillsSent counts will messages published.
	WillsSent uint64
	// Subscriptions is the number of subscriptions now, shared ones included.
	Subscriptions int
	// Retained is the number of retained messages held now.
	Retained int
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
	// (MQTT 5.0 §4.8.2, docs/decisions/0012-delivery-under-churn.md).
	SharedHandedOver uint64
	// SharedDropped counts shared-subscription deliveries of an ended session
	// that went to no other member: none was left, or a QoS 2 delivery had
	// already been sent [MQTT-4.8.2-5]. They are counted in Dropped as well.
	SharedDropped uint64
	// BackpressureWaits counts the times a publisher's connection stopped
	// reading because its message took a subscriber's session past its queue
	// limit (Limits.QueueFull backpressure).
	BackpressureWaits uint64
	// BackpressureTimeouts counts the sessions a waiting publisher stopped
	// waiting for after Limits.BackpressureMaxWait; those sessions drop, as
	// in drop mode, until they are back under their limits.
	BackpressureTimeouts uint64

	// PluginErrors counts calls to the plugins that failed — a trap, a
	// deadline, an instance busy for the whole deadline, an error the plugin
	// returned — whatever the failure policy then decided (0 without plugins).
	PluginErrors uint64
}

// Stats returns a snapshot of the counters.
func (b *Broker) Stats() Stats {
	s := Stats{
		ClientsConnected: int(b.stats.connectedNowTotal()),
		Connects:         b.stats.connects.Load(),
		Refused:          b.stats.refusedBy.sum(),
		RefusedLimit:     b.stats.refusedLimit.Load(),
		TransportRefused: b.stats.transportRefused.Load(),
		AuthDenied:       b.stats.authDenied.Load(),
		AuthzDenied:      b.stats.authzDenied.Load(),
		MessagesIn:       b.stats.msgsIn.sum(),
		MessagesOut:      b.stats.msgsOut.sum(),
		BytesIn:          b.stats.bytesIn.Load(),
		BytesOut:         b.stats.bytesOut.Load(),
		Dropped:          b.stats.dropped.Load(),
		WillsSent:        b.stats.willsSent.Load(),
		Subscriptions:    b.router.Count(),
		Retained:         b.retained.Len(),

		PartialPacketBytes:  b.partials.Used(),
		DroppedQueueFull:    b.stats.droppedQueueFull.Load(),
		DroppedQueueBytes:   b.stats.droppedQueueBytes.Load(),
		DroppedMemoryBudget: b.stats.droppedBudget.Load(),
		DroppedQoS0:         b.stats.droppedQoS0.Load(),
		QueuedBytes:         b.budget.Used(),
		SlowConsumers:       b.stats.slowConsumers.Load(),
		SharedHandedOver:    b.stats.handedOver.Load(),
		SharedDropped:       b.stats.sharedLost.Load(),
	}
	s.BackpressureWaits, s.BackpressureTimeouts = b.stats.bpWaits.Load(), b.stats.bpTimeouts.Load()
	if e, ok := b.hooks.(interface{ Errors() uint64 }); ok {
		s.PluginErrors = e.Errors() // hooks.Chain counts its links' failures
	}
	s.Sessions = b.sessions.len()
	return s
}
