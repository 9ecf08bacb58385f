package broker

import (
	"time"

	"github.com/plumemq/plume/core/session"
	"github.com/plumemq/plume/core/topics"
)

// Shared subscriptions under churn (issue 16, failure 3): a member's session
// may end while messages picked for it wait in its window or its queue. They
// go to another member of the group instead (MQTT 5.0 §4.8.2). The choices are in
// docs/decisions/0012-delivery-under-churn.md.

// deliverShared hands m to one member of g, an online one if any
// [MQTT-4.8.2-4]. When the picked member's session has ended meanwhile (its
// member entry was a snapshot), another is picked; a bounded number of times,
// since each ended member leaves the group before its session ends.
func (b *Broker) deliverShared(m *session.Message, g *topics.Group, now int64, batch session.Batch) bool {
	for try := 0; try < 3; try++ {
		s, ok := g.Pick(b.online)
		if !ok {
			break
		}
		delivered, ended := b.offerShared(m, &s, g.Shared(), now, batch)
		if !ended {
			return delivered
		}
	}
	b.dropShared()
	return false
}

// dropShared counts a message that no member of its shared group took.
func (b *Broker) dropShared() {
	b.stats.dropped.Add(1)
	b.stats.sharedLost.Add(1)
}

// offerShared offers m to the session of the one member s of the group whose
// filter is share. ended reports that the session was gone or had ended, so
// that the caller may pick another member.
func (b *Broker) offerShared(m *session.Message, s *topics.Subscription, share string, now int64, batch session.Batch) (delivered, ended bool) {
	// No Local cannot be set on a shared subscription [MQTT-3.8.3-4].
	d, _ := merge(m, []topics.Subscription{*s})
	d.Share = share
	o := b.offerTo(s.Client, d, m, now, batch)
	return taken(o), o == session.Gone
}

// handOver sends the shared deliveries of the ended session of client to other
// members of their groups, as new deliveries: each gets the new member's
// packet id and granted QoS, and DUP 0, since that member never saw it
// [MQTT-3.3.1-1]. What finds no member, and the QoS 2 deliveries that were
// already sent (strandedQoS2, [MQTT-4.8.2-5]), is dropped and counted.
func (b *Broker) handOver(client string, ds []session.Delivery, strandedQoS2 int) {
	if len(ds) == 0 && strandedQoS2 == 0 {
		return
	}
	now := time.Now().UnixNano()
	moved, expired := 0, 0
	for i := range ds {
		d := &ds[i]
		if d.Msg.Expired(now) {
			expired++ // [MQTT-3.3.2-5] it would not have been sent to anyone
			continue
		}
		name, filter, _, _ := topics.ParseShared(d.Share)
		if g := b.router.Group(name, filter); g != nil && b.deliverShared(d.Msg, g, now, nil) {
			moved++
			continue
		} else if g == nil {
			b.stats.dropped.Add(1)
			b.stats.sharedLost.Add(1)
		}
	}
	b.stats.handedOver.Add(uint64(moved))
	b.stats.dropped.Add(uint64(strandedQoS2))
	b.stats.sharedLost.Add(uint64(strandedQoS2))
	lost := len(ds) - moved - expired + strandedQoS2
	ev := b.log.Info()
	if lost > 0 {
		ev = b.log.Warn()
	}
	ev.Str("client_id", client).Int("handed_over", moved).Int("dropped", lost).Int("expired", expired).
		Msg("shared-subscription deliveries of an ended session")
}
