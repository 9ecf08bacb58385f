package broker

import (
	"sync/atomic"
	"time"

	"github.com/plumemq/plume/core/packets"
	"github.com/plumemq/plume/core/ratelog"
)

// A cluster node cut off from the JetStream quorum cannot replicate what it
// is given: a QoS ≥ 1 message it acknowledged, or a persistent session it
// kept, could be lost with the node. It refuses both rather than promise
// what it cannot keep, and keeps serving what promises nothing beyond the
// node: QoS 0 and clean sessions (decision 0057).
//
// Options.Quorum is the node's verdict, kept current by the cluster's own
// watcher (cluster/node), never asked per message: the message path reads
// one atomic bool, and on a single node (Quorum nil) one nil test.

// whyNoQuorum is the Reason String of every refusal for want of a quorum.
const whyNoQuorum = "cluster: this node has no JetStream quorum; nothing it accepts could be replicated"

// quorumRefusalEvery is how often each kind of refusal is logged; the ones
// in between are counted on the next line. A partition makes every
// persistent client reconnect in a loop: one line each would flood the log.
const quorumRefusalEvery = 10 * time.Second

// partition is the broker's side of the quorum gate.
type partition struct {
	quorum *atomic.Bool     // Options.Quorum; nil: not a cluster node
	log    *ratelog.Limiter // refusals, per kind; nil with quorum
	// What was refused, for /metrics and $SYS.
	publishes, connects atomic.Uint64
}

// initPartition takes the quorum flag from opts.
func (b *Broker) initPartition(q *atomic.Bool) {
	if q == nil {
		return
	}
	b.part.quorum = q
	b.part.log = ratelog.New(quorumRefusalEvery, 1, func(kind string, n uint64) {
		b.log.Warn().Str("refused", kind).Uint64("suppressed", n).Msg("cluster: refusals for want of a quorum not logged")
	})
}

// noQuorum reports whether this node is a cluster node cut off from the
// JetStream quorum.
func (b *Broker) noQuorum() bool {
	q := b.part.quorum
	return q != nil && !q.Load()
}

// QuorumRefusals counts the QoS ≥ 1 publishes and the persistent-session
// CONNECTs refused for want of a quorum since start.
func (b *Broker) QuorumRefusals() (publishes, connects uint64) {
	return b.part.publishes.Load(), b.part.connects.Load()
}

// refusePublishNoQuorum answers a QoS ≥ 1 PUBLISH the node cannot
// replicate. 5.0 has a negative acknowledgement: 0x83 Implementation
// specific error, "the PUBLISH is valid but the receiver is not willing to
// accept it" (§3.4.2.1) — the one PUBACK/PUBREC code that says so; 0x88
// Server unavailable exists only on CONNACK, 0x97 Quota exceeded would
// blame the client. The connection stays: QoS 0 still works. 3.1.1 has no
// negative PUBACK: acknowledged, the client would count the message
// delivered, so the connection is closed unacknowledged and the client
// sends it again on its next connection [MQTT-4.4.0-1].
func (c *client) refusePublishNoQuorum(p *packets.Publish) error {
	c.b.part.publishes.Add(1)
	c.logNoQuorum("publish", p.Topic)
	if p.QoS == 2 {
		c.entry.ReleaseQoS2(p.PacketID) // the refusal ends the exchange [MQTT-4.3.3-9]
	}
	if c.version != packets.V5 {
		// A stop, not an error: an error would log a protocol violation
		// per connection, which a partition turns into a flood.
		c.stopWith(&stopRequest{reason: packets.ImplementationSpecificError, will: true})
		return nil
	}
	kind := packets.TypePuback
	if p.QoS == 2 {
		kind = packets.TypePubrec
	}
	// Held like any answer: acknowledgements go in PUBLISH order [MQTT-4.6.0-2].
	c.sendAckHeld(kind, p.PacketID, packets.ImplementationSpecificError, whyNoQuorum)
	return nil
}

// persistentNoQuorum reports whether the CONNECT asks for a session the
// store must keep (clean start 0, or a session expiry beyond the
// connection) while the node has no quorum to keep it with. Clean
// sessions pass: they live and die with the connection, on this node.
func (c *client) persistentNoQuorum(cleanStart bool) bool {
	return (!cleanStart || c.sessionExpiry > 0) && c.b.noQuorum()
}

// refuseConnectNoQuorum answers a persistent-session CONNECT the node
// cannot keep: 0x88 Server unavailable, which 3.1.1 sends as return code
// 0x03 Server unavailable (Connack.Append). A client that reconnects here
// later, once the quorum is back, is served.
func (c *client) refuseConnectNoQuorum() {
	c.b.part.connects.Add(1)
	c.logNoQuorum("connect", "")
	c.answerRefusal(packets.ServerUnavailable, whyNoQuorum)
}

// logNoQuorum writes the refusal's line, at most one per kind every
// quorumRefusalEvery.
func (c *client) logNoQuorum(kind, topic string) {
	n, ok := c.b.part.log.Allow(kind)
	if !ok {
		return
	}
	ev := c.logWarn().Str("refused", kind).Uint8("protocol_version", c.version)
	if topic != "" {
		ev = ev.Str("topic", topic)
	}
	ev.Uint64("suppressed", n).Msg("cluster: refused for want of a JetStream quorum")
}

// closePartition writes what the refusal log still holds back.
func (b *Broker) closePartition() {
	if b.part.log != nil {
		b.part.log.Close()
	}
}
