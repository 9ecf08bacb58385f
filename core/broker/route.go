package broker

import (
	"cmp"
	"slices"
	"sync"
	"time"

	"github.com/plumemq/plume/core/journal"
	"github.com/plumemq/plume/core/packets"
	"github.com/plumemq/plume/core/session"
	"github.com/plumemq/plume/core/topics"
)

var matchesPool = sync.Pool{New: func() any { return new(topics.Matches) }}

// publish stores m if retained and hands it to every matching session. It
// returns how many sessions it was offered to. A publisher's reader passes its
// batch, so that each subscriber connection is flushed once per read batch;
// other callers pass nil and their writes are flushed as usual.
//
// A retained message is stored and routed under its topic's order lock
// (order.go), so the retained value is always the message routed last.
//
// On a cluster node (fabric.go) m then goes to the fabric, which carries it
// to the other nodes with interest and picks the node of each shared
// group's member; $SYS messages are this node's own and stay here, shared
// groups included. A retained m is handed over under its topic's lock, so
// that peers see one topic's retained messages in this node's order.
func (b *Broker) publish(m *session.Message, batch session.Batch) int {
	if m.Retain {
		defer b.lockTopic(m).Unlock()
		b.retain(m)
		if b.retainStored != nil {
			b.retainStored(m)
		}
	}
	clustered := b.fabric != nil && !isSys(m.Topic)
	viaIngest := clustered && m.QoS > 0 && b.ingest != nil
	if viaIngest {
		// Routed here and forwarded as one step with respect to a
		// session moving in (takeover.go's install): it has the message
		// either from this routing or from the ingest's PendingOwn.
		b.moving.RLock()
	}
	n := b.route(m, batch, !clustered)
	if clustered {
		if viaIngest {
			b.forward(m) // ingest.go: QoS ≥ 1 goes to the other nodes through the store
			b.moving.RUnlock()
		}
		b.fabric.Publish(m)
	}
	return n
}

// route hands m to every matching session on this node, and to one member
// of each matching shared group when groups is set (on a cluster node, the
// fabric picks the node of a group's member: fabric.go). It returns how many
// sessions it was offered to.
func (b *Broker) route(m *session.Message, batch session.Batch, groups bool) int {
	ms := matchesPool.Get().(*topics.Matches)
	defer func() { ms.Reset(); matchesPool.Put(ms) }()
	b.router.Match(m.Topic, ms)
	now := time.Now().UnixNano()
	n := 0
	subs := ms.Subs
	if len(subs) > 1 {
		// One copy per client: overlapping subscriptions merge into one
		// delivery at the highest QoS with every identifier [MQTT-3.3.4-2] [MQTT-3.3.4-4].
		slices.SortFunc(subs, func(a, b topics.Subscription) int { return cmp.Compare(a.Client, b.Client) })
	}
	for i := 0; i < len(subs); {
		j := i + 1
		for j < len(subs) && subs[j].Client == subs[i].Client {
			j++
		}
		if b.deliverMerged(m, subs[i:j], now, batch) {
			n++
		}
		i = j
	}
	if !groups {
		return n
	}
	for _, g := range ms.Groups {
		if b.deliverShared(m, g, now, batch) { // handover.go
			n++
		}
	}
	return n
}

// deliverMerged offers m to the session of subs[0].Client, all of whose
// subscriptions are in subs.
func (b *Broker) deliverMerged(m *session.Message, subs []topics.Subscription, now int64, batch session.Batch) bool {
	d, ok := merge(m, subs)
	return ok && taken(b.offerTo(subs[0].Client, d, m, now, batch))
}

// merge makes one delivery of m for the subscriptions of one client that it
// matched: the highest QoS granted, every identifier [MQTT-3.3.4-2]
// [MQTT-3.3.4-4]. ok is false when No Local leaves none [MQTT-3.8.3-3].
func merge(m *session.Message, subs []topics.Subscription) (d session.Delivery, ok bool) {
	d.Msg = m
	for i := range subs {
		s := &subs[i]
		if s.NoLocal && s.Client == m.Publisher {
			continue
		}
		ok = true
		d.QoS = max(d.QoS, min(m.QoS, s.QoS))
		// [MQTT-3.3.1-12] / [MQTT-3.3.1-13] Retain As Published keeps the flag.
		d.Retain = d.Retain || m.Retain && s.RetainAsPublished
		if s.Identifier != 0 {
			d.SubIDs = append(d.SubIDs, s.Identifier)
		}
	}
	// A message a cluster node reads again after a crash may have reached
	// the client already (decision 0055) [MQTT-3.3.1-1].
	d.Dup = m.Redelivered && d.QoS == 1
	return d, ok
}

// offerTo offers d, a delivery of m, to client's session and counts what the
// session drops. Gone: there is no such session, or it has ended.
func (b *Broker) offerTo(client string, d session.Delivery, m *session.Message, now int64, batch session.Batch) session.Outcome {
	e, ok := b.sessions.load(client)
	if !ok {
		return session.Gone
	}
	o := b.offer(e, d, m, now, batch)
	if !taken(o) && o != session.Gone {
		b.noteDrop(e, d.QoS, o)
	}
	return o
}

// taken reports whether an outcome means the session has the delivery.
func taken(o session.Outcome) bool { return o == session.Accepted || o == session.AcceptedOver }

// online reports whether client has a connection, for shared-subscription picks.
func (b *Broker) online(client string) bool {
	e, ok := b.sessions.load(client)
	return ok && e.Online()
}

// retain stores or clears the retained message of m's topic [MQTT-3.3.1-5] [MQTT-3.3.1-6] [MQTT-3.3.1-7].
func (b *Broker) retain(m *session.Message) {
	b.retainMu.Lock()
	defer b.retainMu.Unlock()
	if len(m.Payload) == 0 {
		if b.retained.Delete(m.Topic) && b.keepsRetained(m) {
			b.journal.DeleteRetained(m.Topic)
		}
		return
	}
	b.retained.Set(m.Topic, m)
	if b.keepsRetained(m) {
		b.journal.PutRetained(m)
	}
}

// keepsRetained reports whether m's topic is kept in the store: not $SYS,
// which the broker republishes from its live counters.
func (b *Broker) keepsRetained(m *session.Message) bool {
	return b.journal != nil && !isSys(m.Topic)
}

// dropExpiredRetained forgets a retained message whose expiry has passed
// [MQTT-3.3.2-5], unless a newer one has replaced it meanwhile.
func (b *Broker) dropExpiredRetained(m *session.Message) {
	defer b.lockTopic(m).Unlock()
	b.retainMu.Lock()
	defer b.retainMu.Unlock()
	if cur, ok := b.retained.Get(m.Topic); ok && cur == m {
		b.retained.Delete(m.Topic)
		if b.keepsRetained(m) {
			b.journal.DeleteRetained(m.Topic)
		}
	}
}

// SendPublish encodes d for this connection (session.Sink). It runs with the
// session's lock held. With a batch, the flush waits for the batch's end.
func (c *client) SendPublish(d session.Delivery, batch session.Batch) bool {
	c.wmu.Lock()
	if c.wclosed {
		c.wmu.Unlock()
		return d.QoS > 0 // kept in flight, resent on the next connection
	}
	if d.QoS == 0 && c.backedUp() {
		slow := c.shedQoS0()
		c.wmu.Unlock()
		if slow {
			c.dropSlowConsumer()
		}
		return false
	}
	if c.out == nil {
		c.out = getWriteBuf()
	}
	m := d.Msg
	assigned := false // this packet introduces a new outbound alias
	p := packets.Publish{Topic: m.Topic, Payload: m.Payload, QoS: d.QoS, Retain: d.Retain, PacketID: d.PacketID, Dup: d.Dup}
	if c.version == packets.V5 {
		if m.Props != nil {
			p.Properties = *m.Props
		}
		if m.Expires != 0 {
			p.Properties.MessageExpiry = m.RemainingExpiry(time.Now().UnixNano())
			p.Properties.Set(packets.PropMessageExpiry)
		}
		if len(d.SubIDs) > 0 {
			p.Properties.SubscriptionIDs = d.SubIDs
			p.Properties.Set(packets.PropSubscriptionID)
		}
		if c.rare != nil && c.rare.aliasMaxOut > 0 {
			assigned = c.aliasOutbound(&p)
		}
	}
	start := len(c.out)
	c.out = p.Append(c.out, c.version)
	if c.maxOut != 0 && uint32(len(c.out)-start) > c.maxOut {
		// [MQTT-3.1.2-25] too large for the client: discard as if delivered.
		c.out = c.out[:start]
		if assigned {
			delete(c.rare.aliasesOut, m.Topic) // the client never saw it [MQTT-3.3.2-10]
		}
		c.end()
		c.b.stats.dropped.Add(1)
		c.b.stats.droppedTooLarge.Add(1)
		// Counted here, once: QoS 0 reports it taken, so the session does not
		// count it as shed; false tells the session to forget a QoS 1/2 one.
		return d.QoS == 0
	}
	if c.durable() != nil && d.QoS == 2 && d.Seq != 0 {
		// Its packet id is recorded first: a resend after a restart must
		// reuse it, or the client would take it for a new message.
		c.holdLocked(start, c.b.journal.Latest(), nil)
	}
	c.b.stats.msgsOut[d.QoS].Add(1)
	c.b.stats.pubBytesOut[d.QoS].Add(uint64(len(c.out) - start))
	c.caughtUp()
	c.endIn(batch)
	return true
}

// SendPubrel queues a PUBREL (session.Sink); a non-nil batch is the
// caller's (client.endIn).
// A kept session's release is recorded first: the client forgets the
// packet id at PUBREL, so a PUBLISH resent after a restart would be new to it.
func (c *client) SendPubrel(id uint16, batch session.Batch) {
	var after journal.Ticket
	if c.durable() != nil {
		after = c.b.journal.Latest()
	}
	c.sendAckAfter(packets.TypePubrel, id, packets.Success, "", after, c.durable() != nil, nil, batch)
}

// aliasOutbound replaces p's topic with an alias the client already knows, or
// assigns one while the client's Topic Alias Maximum allows [MQTT-3.3.2-11].
// It reports whether it assigned a new alias.
func (c *client) aliasOutbound(p *packets.Publish) bool {
	if a, ok := c.rare.aliasesOut[p.Topic]; ok {
		p.Topic = ""
		p.Properties.TopicAlias = a
		p.Properties.Set(packets.PropTopicAlias)
		return false
	}
	if len(c.rare.aliasesOut) >= int(c.rare.aliasMaxOut) {
		return false
	}
	if c.rare.aliasesOut == nil {
		c.rare.aliasesOut = make(map[string]uint16)
	}
	a := uint16(len(c.rare.aliasesOut) + 1)
	c.rare.aliasesOut[p.Topic] = a
	p.Properties.TopicAlias = a
	p.Properties.Set(packets.PropTopicAlias)
	return true
}
