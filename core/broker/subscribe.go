package broker

import (
	"context"
	"time"

	"github.com/plumemq/plume/core/hooks"
	"github.com/plumemq/plume/core/packets"
	"github.com/plumemq/plume/core/session"
	"github.com/plumemq/plume/core/topics"
)

// handleSubscribe grants or refuses each filter of a SUBSCRIBE, answers with
// SUBACK [MQTT-3.8.4-1], then sends the retained messages the new
// subscriptions ask for [MQTT-3.3.1-9].
func (c *client) handleSubscribe(p *packets.Subscribe) {
	b := c.b
	ack := packets.Suback{PacketID: p.PacketID, Reasons: make([]packets.ReasonCode, len(p.Subscriptions))}
	var id uint32
	if len(p.Properties.SubscriptionIDs) > 0 {
		id = p.Properties.SubscriptionIDs[0]
	}
	var wantRetained []topics.Subscription
	for i, s := range p.Subscriptions {
		granted, isNew, reason := c.subscribe(s, id)
		if reason.IsError() {
			ack.Reasons[i] = reason
			continue
		}
		ack.Reasons[i] = packets.ReasonCode(granted)
		rs := routerSubscription(c.info.ID, session.Subscription{Subscription: s, Identifier: id})
		rs.QoS = granted
		// [MQTT-3.3.1-10] Retain Handling 0 always, 1 only for a new
		// subscription, 2 never; shared subscriptions never (MQTT 5.0
		// §3.3.1.3: retained messages go to new non-shared subscriptions).
		if rs.Group == "" && (s.RetainHandling == 0 || s.RetainHandling == 1 && isNew) {
			wantRetained = append(wantRetained, rs)
		}
	}
	c.b.saveSession(c.entry, nil)
	c.sendHeld(&ack) // once the subscriptions are durable
	now := time.Now().UnixNano()
	for _, w := range wantRetained {
		// Collect first, deliver after: the retained index is read-locked
		// while Match runs, and delivery takes session and connection locks.
		var found, expired []*session.Message
		b.retained.Match(w.Filter, func(_ string, m *session.Message) bool {
			if m.Expired(now) {
				expired = append(expired, m)
			} else {
				found = append(found, m)
			}
			return true
		})
		for _, m := range found {
			d := session.Delivery{Msg: m, QoS: min(m.QoS, w.QoS), Retain: true}
			if w.Identifier != 0 {
				d.SubIDs = []uint32{w.Identifier}
			}
			if o := c.entry.Offer(d, now, nil); o != session.Accepted && o != session.Gone {
				b.noteDrop(c.entry, d.QoS, o)
			}
		}
		for _, m := range expired {
			b.dropExpiredRetained(m)
		}
	}
}

// subscribe validates, authorizes and records one subscription. It returns
// the granted QoS, whether the subscription is new, and an error reason.
func (c *client) subscribe(s packets.Subscription, id uint32) (byte, bool, packets.ReasonCode) {
	b := c.b
	l := b.limits()
	_, _, shared, err := topics.ParseShared(s.Filter)
	if err == nil {
		err = topics.ValidateFilter(s.Filter)
	}
	if err != nil || topics.Levels(s.Filter) > l.MaxTopicLevels || len(s.Filter) > l.MaxTopicLength {
		return 0, false, packets.TopicFilterInvalid // [MQTT-3.8.3-1]
	}
	if shared && s.NoLocal {
		// [MQTT-3.8.3-4] No Local on a shared subscription is a protocol error.
		return 0, false, packets.ProtocolError
	}
	granted := min(s.QoS, *l.MaxQoS)
	if b.hooks.Provides(hooks.PointAuthorize) {
		res, err := b.hooks.Authorize(context.Background(), &hooks.AuthzRequest{
			Client: &c.info, Action: hooks.ActionSubscribe, Topic: s.Filter, QoS: s.QoS})
		if err != nil {
			b.hookFailed(hooks.PointAuthorize, &c.info, err)
		}
		res = b.opts.HookFailure.Authorized(res, err)
		if res.Verdict == hooks.Deny {
			b.stats.authzDenied.Add(1)
			c.logInfo().Str("filter", s.Filter).Str("action", "subscribe").Msg("denied")
			c.observeSubscribeDenied(s.Filter, res.Reason)
			return 0, false, orDefault(res.Reason, packets.NotAuthorized)
		}
		if res.LowerQoS && res.QoS < granted {
			granted = res.QoS
		}
	}
	sub := session.Subscription{Subscription: s, Identifier: id}
	sub.QoS = granted
	if c.entry.SubscriptionCount() >= l.MaxSubscriptions && !c.entry.HasSubscription(s.Filter) {
		return 0, false, packets.QuotaExceeded
	}
	existed := c.entry.Subscribe(sub)
	b.router.Subscribe(routerSubscription(c.info.ID, sub))
	return granted, !existed, packets.Success
}

// handleUnsubscribe removes subscriptions and answers with UNSUBACK [MQTT-3.10.4-4].
func (c *client) handleUnsubscribe(p *packets.Unsubscribe) {
	ack := packets.Unsuback{PacketID: p.PacketID, Reasons: make([]packets.ReasonCode, len(p.Filters))}
	for i, f := range p.Filters {
		if c.entry.Unsubscribe(f) {
			c.b.router.Unsubscribe(c.info.ID, f)
			ack.Reasons[i] = packets.Success
		} else {
			ack.Reasons[i] = packets.NoSubscriptionExisted
		}
	}
	c.b.saveSession(c.entry, nil)
	c.sendHeld(&ack) // once the subscriptions are durable
}

// handleAuth handles a 5.0 AUTH after CONNECT: re-authentication (MQTT 5.0 §4.12.1).
func (c *client) handleAuth(a *packets.Auth) error {
	if c.authMethod() == "" || a.Properties.AuthMethod != c.authMethod() {
		// [MQTT-4.12.0-7] / [MQTT-4.12.1-1] AUTH only within the method the CONNECT chose.
		return protocolError("AUTH without, or with another, authentication method")
	}
	step := hooks.AuthReauth
	if a.Reason == packets.ContinueAuthentication {
		step = hooks.AuthContinue
	} else if a.Reason != packets.ReAuthenticate {
		return protocolError("AUTH with an unexpected reason code")
	}
	res, err := c.b.hooks.Authenticate(context.Background(), &hooks.AuthRequest{
		Client: &c.info, Step: step, Method: c.authMethod(), Data: a.Properties.AuthData})
	if err != nil {
		c.b.hookFailed(hooks.PointAuthenticate, &c.info, err)
	}
	res = c.b.opts.HookFailure.Authenticated(res, err)
	reply := packets.Auth{}
	reply.Properties.AuthMethod = c.authMethod()
	reply.Properties.Set(packets.PropAuthMethod)
	if res.Data != nil {
		reply.Properties.AuthData = res.Data
		reply.Properties.Set(packets.PropAuthData)
	}
	switch {
	case res.Continue:
		reply.Reason = packets.ContinueAuthentication
	case res.Verdict == hooks.Allow && res.Principal != "" && res.Principal != c.info.Principal:
		// The connection's session belongs to the identity it connected
		// as; re-authentication may renew it, never change it.
		c.b.stats.authDenied.Add(1)
		c.observeAuthFailed(packets.NotAuthorized, "re-authentication as another identity")
		return &packets.Error{Reason: packets.NotAuthorized, Msg: "re-authentication as another identity"}
	case res.Verdict == hooks.Allow:
		reply.Reason = packets.Success
	default:
		c.b.stats.authDenied.Add(1)
		c.observeAuthFailed(disconnectReason(res.Reason), orString(res.ReasonString, "re-authentication refused"))
		return &packets.Error{Reason: disconnectReason(res.Reason), Msg: "re-authentication refused"}
	}
	c.send(&reply)
	return nil
}

// disconnectReason is the DISCONNECT reason for a refused
// re-authentication: CONNACK codes such as 0x86 (bad password) and 0x88
// (a failed plugin call) are not valid on DISCONNECT [MQTT-3.14.2-1].
func disconnectReason(r packets.ReasonCode) packets.ReasonCode {
	return nearestReason(packets.TypeDisconnect, orDefault(r, packets.NotAuthorized), packets.NotAuthorized)
}
