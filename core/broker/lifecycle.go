package broker

import (
	"context"
	"time"

	"github.com/plumemq/plume/core/hooks"
	"github.com/plumemq/plume/core/packets"
	"github.com/plumemq/plume/core/session"
	"github.com/plumemq/plume/core/topics"
)

// attach binds c to its session: it takes over a connected session (the old
// connection gets DISCONNECT 0x8E [MQTT-3.1.4-3]), discards it on Clean Start
// [MQTT-3.1.2-4], or resumes it [MQTT-3.1.2-5]. It reports Session Present.
// A session belongs to the identity that created it (decision 0011): another
// identity never takes over its connection, and gets errNotOwner or, with
// OwnerMismatchFresh and the owner offline, a new session in its place.
func (b *Broker) attach(c *client, cleanStart bool) (present bool, err error) {
	id := c.info.ID
	owner := ownerOf(&c.info)
	if b.opts.Takeover != nil {
		arrived, err := b.acquire(c, cleanStart)
		if err != nil {
			return false, err
		}
		if arrived != nil {
			defer close(arrived)
		}
	}
	for {
		b.mu.Lock()
		if b.closing {
			b.mu.Unlock()
			return false, ErrClosed
		}
		e, _ := b.sessions.load(id)
		if e == nil || e.client == nil {
			break
		}
		if e.Owner != owner {
			b.mu.Unlock()
			return false, errNotOwner
		}
		old := e.client
		b.mu.Unlock()
		old.logInfo().Msg("session taken over")
		c.observeTakeover(old)
		old.kick(packets.SessionTakenOver, true)
		<-old.doneCh()
	}
	// b.mu held.
	e, _ := b.sessions.load(id)
	if e != nil && e.Owner != owner {
		if b.live.Load().ownerMismatch != OwnerMismatchFresh {
			b.mu.Unlock()
			return false, errNotOwner
		}
		// The owner's session ends here, as on its own Clean Start.
		cleanStart = true
		c.logInfo().Str("owner", e.Owner.Principal).Str("principal", owner.Principal).
			Msg("session of another identity discarded")
	}
	var will *pendingWill
	var ended endedSession
	if e != nil {
		if o := e.off; o != nil {
			if o.expiry != nil {
				o.expiry.Stop()
			}
			if o.will != nil {
				o.will.timer.Stop()
				if cleanStart {
					will = o.will // the old session ends now, and its will with it
				} // else [MQTT-3.1.3-9] a new connection in time cancels the will
			}
			e.off = nil
		}
		if cleanStart {
			ended = b.dropSession(e)
			e = nil
		}
	}
	present = e != nil
	if e == nil {
		e = new(entry)
		e.Init(id, b.sessionLimits())
		e.Owner = owner
		if b.journal != nil && c.sessionExpiry > 0 {
			e.Keep() // it outlives the connection: the store keeps it
		}
		b.sessions.store(id, e)
	}
	e.SetExpiry(c.sessionExpiry)
	e.client = c
	e.off = nil
	c.entry = e
	b.saveSession(e, nil)
	b.mu.Unlock()
	ended.handOver(b)
	if will != nil {
		b.publishWill(will)
	}
	return present, nil
}

// detach ends c's connection to its session: publishes or schedules the will
// [MQTT-3.1.2-8], and ends the session now (expiry 0) or schedules its end.
func (b *Broker) detach(c *client, reason packets.ReasonCode, sendWill bool, cause error) {
	b.untrack(c)
	b.stats.disconnectedNow(c, reason)
	e := c.entry
	b.mu.Lock()
	if e.client != c {
		b.mu.Unlock()
		return
	}
	e.client = nil
	e.Detach(c)
	expiry := e.Expiry()
	var now *pendingWill
	if sendWill && c.connectWill() != nil {
		pw := &pendingWill{msg: willMessage(c), client: c.info}
		delay := c.connectWill().Properties.WillDelay
		if expiry == 0 || delay == 0 {
			now = pw
		} else {
			// [MQTT-3.1.3-9] publish after the delay or when the session ends, whichever is first.
			wait := time.Duration(min(delay, expiry)) * time.Second
			pw.due = time.Now().Add(wait)
			pw.timer = time.AfterFunc(wait, func() { b.fireWill(e, pw) })
			e.offline().will = pw
		}
	}
	willPending := e.pendingWill() != nil && sendWill // read under b.mu: a timer may clear it
	var ended endedSession
	if expiry == 0 {
		ended = b.dropSession(e)
	} else {
		o := e.offline()
		o.expiry = time.AfterFunc(time.Duration(expiry)*time.Second, func() { b.expire(e) })
		o.since = time.Now().UnixNano()
		b.saveSession(e, o.will)
	}
	b.mu.Unlock()
	ended.handOver(b)
	if now != nil {
		b.publishWill(now)
	}
	if b.hooks.Provides(hooks.PointLifecycle) {
		b.hooks.OnDisconnect(context.Background(), &c.info, reason)
	}
	ev := c.logInfo().Str("reason", reason.String()).Bool("will", now != nil || willPending).
		Dur("connected_for_ms", c.connectedFor())
	if cause != nil {
		ev = ev.AnErr("error", cause)
	}
	ev.Msg("client disconnected")
}

// expire ends an offline session whose expiry interval has passed [MQTT-4.1.0-2].
func (b *Broker) expire(e *entry) {
	b.mu.Lock()
	if e.client != nil {
		b.mu.Unlock()
		return
	}
	if cur, _ := b.sessions.load(e.ID); cur != e {
		b.mu.Unlock()
		return
	}
	will := e.pendingWill()
	if will != nil {
		e.off.will = nil
		will.timer.Stop()
	}
	ended := b.dropSession(e)
	b.mu.Unlock()
	ended.handOver(b)
	if will != nil {
		b.publishWill(will)
	}
	b.log.Debug().Str("client_id", e.ID).Msg("session expired")
}

// dropSession forgets a session and its subscriptions, and ends it. b.mu is
// held; the caller hands what it returns to other members once it has let
// go of b.mu (delivery may log a drop, which takes b.mu).
func (b *Broker) dropSession(e *entry) endedSession {
	// Out of the groups first, then ended: a publish that picked this member
	// before it left finds the session ended and picks another (handover.go).
	b.router.UnsubscribeAll(e.ID)
	b.sessions.compareAndDelete(e.ID, e)
	kept := e.Kept()
	shared, stranded := e.End() // and what it held goes back to the broker-wide budget
	if kept {
		b.journal.DeleteSession(e.ID)
	}
	return endedSession{id: e.ID, shared: shared, strandedQoS2: stranded}
}

// endedSession is what an ended session leaves for other group members.
type endedSession struct {
	id           string
	shared       []session.Delivery
	strandedQoS2 int
}

func (s endedSession) handOver(b *Broker) { b.handOver(s.id, s.shared, s.strandedQoS2) }

// fireWill publishes a delayed will whose delay has passed.
func (b *Broker) fireWill(e *entry, pw *pendingWill) {
	b.mu.Lock()
	if e.pendingWill() != pw {
		b.mu.Unlock()
		return
	}
	e.off.will = nil
	b.saveSession(e, nil) // without the will: a restart must not publish it again
	b.mu.Unlock()
	b.publishWill(pw)
}

// saveSession records e's own state in the store, if it keeps e: its
// subscriptions, expiry, owner, when it went offline and a will waiting for
// its delay (w, nil for none). b.mu is held, or e is the caller's
// connection's session.
func (b *Broker) saveSession(e *entry, w *pendingWill) {
	if !e.Kept() {
		return
	}
	rec := sessionRecord(e, w)
	b.journal.PutSession(&rec)
}

// sessionRecord is e's session as the store keeps it, with w, its pending
// will (nil: none). b.mu is held.
func sessionRecord(e *entry, w *pendingWill) session.Record {
	rec := e.Meta()
	rec.DisconnectedAt = e.offlineSince()
	if w != nil {
		rec.Will = &session.Will{Msg: *w.msg, PublishAt: w.due.UnixNano()}
	}
	return rec
}

func willMessage(c *client) *session.Message {
	w := c.connectWill()
	m := &session.Message{Topic: w.Topic, Payload: w.Payload, QoS: w.QoS, Retain: w.Retain, Publisher: c.info.ID}
	if c.version == packets.V5 {
		m.Props = messageProps(&w.Properties)
		if w.Properties.Has(packets.PropMessageExpiry) {
			m.Expires = time.Now().Add(time.Duration(w.Properties.MessageExpiry) * time.Second).UnixNano()
		}
	}
	return m
}

// publishWill publishes a will as its client would have: through authorize,
// on-publish and transform, like any PUBLISH.
func (b *Broker) publishWill(pw *pendingWill) {
	w := pw.msg
	p := packets.Publish{Topic: w.Topic, Payload: w.Payload, QoS: w.QoS, Retain: w.Retain}
	if w.Props != nil {
		p.Properties = *w.Props
	}
	m, reason, _ := b.admit(&pw.client, &p, w.Expires, nil)
	if m == nil {
		b.log.Warn().Str("client_id", pw.client.ID).Str("topic", w.Topic).Str("reason", reason.String()).Msg("will not published")
		return
	}
	b.stats.willsSent.Add(1)
	b.publish(m, nil)
}

// routerSubscription turns a session subscription into the router's form.
func routerSubscription(client string, s session.Subscription) topics.Subscription {
	group, filter, _, _ := topics.ParseShared(s.Filter)
	if group == "" {
		filter = s.Filter
	}
	return topics.Subscription{
		Client: client, Filter: filter, Group: group, QoS: s.QoS, NoLocal: s.NoLocal,
		RetainAsPublished: s.RetainAsPublished, RetainHandling: s.RetainHandling, Identifier: s.Identifier,
	}
}

// doneCh returns a channel closed once the connection's cleanup is over. It
// is made on first use: only a takeover waits for it, and a channel per idle
// connection cost 96 bytes (docs/decisions/0037-idle-connection-memory.md).
func (c *client) doneCh() <-chan struct{} {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	w := c.waits()
	if w.done == nil {
		w.done = make(chan struct{})
		if c.cleanedUp {
			close(w.done)
		}
	}
	return w.done
}

// markDone records that cleanup is over and releases whoever waits in doneCh.
func (c *client) markDone() {
	c.wmu.Lock()
	c.cleanedUp = true
	if w := c.wcond; w != nil && w.done != nil {
		close(w.done)
	}
	c.wmu.Unlock()
}
