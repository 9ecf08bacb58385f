package broker

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/plumemq/plume/core/hooks"
	"github.com/plumemq/plume/core/packets"
	"github.com/plumemq/plume/core/session"
	"github.com/plumemq/plume/core/topics"
)

// handlePublish takes one PUBLISH from the client through topic-alias
// resolution, limits, the hooks and routing, then acknowledges it. The
// acknowledgement is sent only after the message was routed, so what a client
// sees acknowledged is in every matching session [MQTT-4.5.0-1], and, with a
// store, durable there (durable.go).
func (c *client) handlePublish(h packets.FixedHeader, body []byte) error {
	var p packets.Publish
	if err := p.Decode(h, body, c.version); err != nil {
		return err
	}
	c.b.stats.msgsIn[p.QoS].Add(1) // Decode refused QoS 3
	c.b.stats.pubBytesIn[p.QoS].Add(uint64(len(body) + 2))
	if p.Properties.Has(packets.PropSubscriptionID) {
		// [MQTT-3.3.4-6] only the server puts Subscription Identifiers on a PUBLISH.
		return protocolError("PUBLISH from a client carries a Subscription Identifier [MQTT-3.3.4-6]")
	}
	if err := c.resolveAlias(&p); err != nil {
		return err
	}
	l := c.lim
	if p.QoS > *l.MaxQoS {
		return &packets.Error{Reason: packets.QoSNotSupported, Msg: "QoS above the server's Maximum QoS [MQTT-3.2.2-11]"}
	}
	if p.Retain && !*l.RetainAvailable {
		return &packets.Error{Reason: packets.RetainNotSupported, Msg: "retain is not available [MQTT-3.2.2-14]"}
	}
	// The codec checked the topic's UTF-8 and wildcards [MQTT-3.3.2-2]; only
	// the broker's own limits are left to check.
	if err := c.b.checkTopicLimits(p.Topic); err != nil {
		return &packets.Error{Reason: packets.TopicNameInvalid, Msg: err.Error()}
	}
	if p.QoS == 2 {
		switch c.entry.ReceiveQoS2(p.PacketID, int(l.MaxInflight)) {
		case session.Duplicate:
			// [MQTT-4.3.3-10] a resent PUBLISH: acknowledge, do not deliver twice.
			c.sendAckHeld(packets.TypePubrec, p.PacketID, packets.Success, "")
			return nil
		case session.Full:
			// [MQTT-3.3.4-9] more unacknowledged QoS 2 than our Receive Maximum.
			return &packets.Error{Reason: packets.ReceiveMaximumExceeded, Msg: "Receive Maximum exceeded"}
		}
	}
	if p.QoS > 0 && c.b.noQuorum() {
		return c.refusePublishNoQuorum(&p)
	}
	reason, why, gate := c.accept(&p, p.QoS == 2)
	if c.version != packets.V5 && overLimit(reason) {
		// A 3.1.1 client cannot be told its message was refused: the server
		// acknowledges or closes the connection [MQTT-3.3.5-2]. One over a
		// rate or quota is closed on, unacknowledged: acknowledged, it would
		// go on sending, and its message would be lost rather than sent again.
		if p.QoS == 2 {
			c.entry.ReleaseQoS2(p.PacketID)
		}
		return &packets.Error{Reason: reason, Msg: "publish refused: " + orString(why, reason.String())}
	}
	switch p.QoS {
	case 1:
		c.sendAckGated(packets.TypePuback, p.PacketID, c.ackReason(packets.TypePuback, reason), why, gate)
	case 2:
		if reason.IsError() {
			c.entry.ReleaseQoS2(p.PacketID) // an error PUBREC ends the exchange [MQTT-4.3.3-9]
		}
		c.sendAckHeld(packets.TypePubrec, p.PacketID, c.ackReason(packets.TypePubrec, reason), why)
	}
	return nil
}

// overLimit reports whether a refusal says the publisher is over a rate or
// a quota.
func overLimit(r packets.ReasonCode) bool {
	return r == packets.QuotaExceeded || r == packets.MessageRateTooHigh
}

// ackReason maps a verdict to the acknowledgement reason: 3.1.1 has no reason
// codes, so a refused message is acknowledged and dropped there. A hook may
// answer with a code the acknowledgement cannot carry [MQTT-3.4.2-1]
// (nearestReason).
func (c *client) ackReason(kind packets.Type, r packets.ReasonCode) packets.ReasonCode {
	if c.version != packets.V5 {
		return packets.Success
	}
	return nearestReason(kind, r, packets.UnspecifiedError)
}

// nearestReason is r where a packet of kind t may carry it; else the code of
// the same meaning that t may carry (0x96 Message rate too high exists only
// on DISCONNECT, 0x86 and 0x88 only on CONNACK); else fallback. Hooks answer
// with any reason code; what goes on the wire must be valid for its packet.
func nearestReason(t packets.Type, r, fallback packets.ReasonCode) packets.ReasonCode {
	if r.ValidFor(t) {
		return r
	}
	var near packets.ReasonCode
	switch r {
	case packets.MessageRateTooHigh:
		near = packets.QuotaExceeded
	case packets.ServerUnavailable:
		near = packets.ServerBusy // the server, not the client
	case packets.BadUserNameOrPassword:
		near = packets.NotAuthorized
	}
	if near != 0 && near.ValidFor(t) {
		return near
	}
	return fallback
}

// accept authorizes, runs the message hooks and routes p. It returns the
// reason for the acknowledgement. With a store, what routing changes is
// committed in one batch (journal.Begin), with p's inbound QoS 2 id when
// keepQoS2 — but not the hooks, whose calls may take up to their deadline
// and must not hold up every other publisher's commit.
//
// A QoS 1 message on a broker that holds answers gets an ackGate: its PUBACK
// may go as soon as the kept sessions that took it have acknowledged it.
func (c *client) accept(p *packets.Publish, keepQoS2 bool) (packets.ReasonCode, string, *ackGate) {
	var expires int64
	if c.version == packets.V5 && p.Properties.Has(packets.PropMessageExpiry) {
		expires = time.Now().Add(time.Duration(p.Properties.MessageExpiry) * time.Second).UnixNano()
	}
	m, reason, why := c.b.admit(&c.info, p, expires, &c.authz)
	if j := c.b.journal; j != nil && p.QoS > 0 && !reason.IsError() {
		// QoS 0 makes no kept deliveries: nothing to commit together.
		j.Begin()
		defer j.End()
		if keepQoS2 {
			c.entry.KeepQoS2(p.PacketID)
		}
	}
	if m == nil {
		return reason, why, nil
	}
	var gate *ackGate
	if c.durable() != nil && p.QoS == 1 {
		// A retained value must reach the disk; on a cluster node, the
		// message must reach the ingest (ingest.go) whoever acknowledged it.
		gate = newAckGate(c, m.Retain || c.b.ingest != nil)
		m.Gate = gate
	}
	n := c.b.publish(m, c.batch)
	if gate != nil {
		gate.routed()
	}
	if n == 0 && c.version == packets.V5 && c.b.fabric == nil {
		// On a cluster node, subscribers on other nodes are not counted.
		return packets.NoMatchingSubscribers, "", gate
	}
	return packets.Success, "", gate
}

// admit takes a message from client through the $SYS rule, authorize,
// on-publish and transform, and returns it ready to route; or nil and the
// reason it is not routed (Success for a silent drop). Client publishes and
// wills both come this way.
func (b *Broker) admit(client *hooks.Client, p *packets.Publish, expires int64, cache **authzCache) (*session.Message, packets.ReasonCode, string) {
	ctx := context.Background()
	if isSys(p.Topic) {
		// $SYS belongs to the broker (section 4.7.2).
		b.stats.authzDenied.Add(1)
		b.observeDenied(client, cache, p.Topic, packets.NotAuthorized, "$SYS topics are the broker's")
		return nil, packets.NotAuthorized, "$SYS topics are the broker's"
	}
	qos := p.QoS
	if b.hooks.Provides(hooks.PointAuthorize) {
		res := b.authorizePublish(ctx, client, p, cache)
		if res.Verdict == hooks.Deny {
			b.stats.authzDenied.Add(1)
			b.log.Info().Str("client_id", client.ID).Str("remote", client.RemoteAddr).
				Str("topic", p.Topic).Str("action", "publish").Msg("denied")
			b.observeDenied(client, cache, p.Topic, res.Reason, res.ReasonString)
			return nil, orDefault(res.Reason, packets.NotAuthorized), res.ReasonString
		}
		if res.LowerQoS && res.QoS < qos {
			qos = res.QoS
		}
	}
	if b.hooks.Provides(hooks.PointOnPublish) || b.hooks.Provides(hooks.PointTransform) {
		// The message hooks get a copy on the heap, and what they changed is
		// copied back: handed to an interface, p itself would be moved to the
		// heap on every publish, hooks or not (decision 0039).
		hp := new(packets.Publish)
		*hp = *p
		reason, why, ok := b.messageHooks(ctx, client, hp)
		*p = *hp
		if !ok {
			return nil, reason, why
		}
	}
	m := &session.Message{
		Topic: p.Topic, Payload: p.Payload, QoS: qos, Retain: p.Retain,
		Publisher: client.ID, Expires: expires,
	}
	// Whatever the publisher's version: a 3.1.1 client (or a will without
	// properties) sends none, but a transform may have set some (a content
	// type, user properties) that 5.0 subscribers must get. messageProps
	// allocates only when one is present.
	m.Props = messageProps(&p.Properties)
	return m, packets.Success, ""
}

// messageHooks runs the on-publish and transform hooks on p (a copy of the
// message on the heap, see admit). It reports false, with the reason for the
// acknowledgement, when the message is not to be routed.
func (b *Broker) messageHooks(ctx context.Context, client *hooks.Client, p *packets.Publish) (packets.ReasonCode, string, bool) {
	if b.hooks.Provides(hooks.PointOnPublish) {
		res, err := b.hooks.OnPublish(ctx, client, p)
		if err != nil {
			b.hookFailed(hooks.PointOnPublish, client, err)
		}
		res = b.opts.HookFailure.Published(res, err)
		switch res.Action {
		case hooks.Drop:
			b.stats.dropped.Add(1)
			b.stats.droppedHook.Add(1)
			return packets.Success, "", false
		case hooks.Reject:
			return orDefault(res.Reason, packets.ImplementationSpecificError), res.ReasonString, false
		}
	}
	if b.hooks.Provides(hooks.PointTransform) {
		before := *p
		if err := b.hooks.Transform(ctx, client, p); err != nil {
			if !errors.Is(err, hooks.ErrDropped) {
				b.hookFailed(hooks.PointTransform, client, err)
			}
			if b.opts.HookFailure.Transformed(err) {
				b.stats.dropped.Add(1)
				b.stats.droppedHook.Add(1)
				return packets.Success, "", false
			}
			*p = before // fail open: the message as it was before the call
		}
		topic := before.Topic
		// A rewritten topic gets the checks the client's had: a plugin must
		// not route into $SYS or publish on a filter such as "a/#".
		if p.Topic != topic && (b.checkTopicName(p.Topic) != nil || isSys(p.Topic)) {
			b.stats.dropped.Add(1)
			b.stats.droppedHook.Add(1)
			b.log.Warn().Str("client_id", client.ID).Str("remote", client.RemoteAddr).
				Str("topic", topic).Str("transformed", p.Topic).Msg("transform produced an invalid topic")
			return packets.ImplementationSpecificError, "transformed topic is not a valid topic name", false
		}
	}
	return packets.Success, "", true
}

func isSys(topic string) bool { return topic == "$SYS" || strings.HasPrefix(topic, "$SYS/") }

func orDefault(r, def packets.ReasonCode) packets.ReasonCode {
	if r == 0 {
		return def
	}
	return r
}

// messageProps keeps the properties that travel with a message to its
// subscribers unaltered: Payload Format Indicator [MQTT-3.3.2-4], Response
// Topic [MQTT-3.3.2-15], Correlation Data [MQTT-3.3.2-16], User Properties in
// order [MQTT-3.3.2-17] [MQTT-3.3.2-18] and Content Type [MQTT-3.3.2-20]; not
// the topic alias, the subscription identifiers or the expiry interval, which
// are per hop.
func messageProps(in *packets.Properties) *packets.Properties {
	const keep = 1<<packets.PropPayloadFormat | 1<<packets.PropContentType | 1<<packets.PropResponseTopic |
		1<<packets.PropCorrelationData | 1<<packets.PropUser
	if in.Present&keep == 0 && len(in.User) == 0 {
		return nil // most messages: no allocation for properties
	}
	out := &packets.Properties{
		Present:         in.Present & keep,
		PayloadFormat:   in.PayloadFormat,
		ContentType:     in.ContentType,
		ResponseTopic:   in.ResponseTopic,
		CorrelationData: in.CorrelationData,
		User:            in.User,
	}
	return out
}

// resolveAlias applies a 5.0 Topic Alias [MQTT-3.3.2-12].
func (c *client) resolveAlias(p *packets.Publish) error {
	if !p.Properties.Has(packets.PropTopicAlias) {
		if p.Topic == "" {
			return protocolError("PUBLISH without topic name or alias [MQTT-3.3.2-1]")
		}
		return nil
	}
	a := p.Properties.TopicAlias
	if a == 0 || a > c.lim.TopicAliasMaximum {
		return &packets.Error{Reason: packets.TopicAliasInvalid, Msg: "topic alias out of range [MQTT-3.2.2-17]"}
	}
	if c.rare == nil {
		// Cannot happen: aliases are 5.0's, and every 5.0 connection has one.
		return protocolError("topic alias on a connection without aliases")
	}
	if c.rare.aliasesIn == nil {
		c.rare.aliasesIn = make([]string, c.lim.TopicAliasMaximum+1)
	}
	if p.Topic == "" {
		p.Topic = c.rare.aliasesIn[a]
		if p.Topic == "" {
			return protocolError("unknown topic alias [MQTT-3.3.2-7]")
		}
	} else {
		c.rare.aliasesIn[a] = p.Topic
	}
	p.Properties.Clear(packets.PropTopicAlias)
	return nil
}

// checkTopicName applies the broker's topic limits on top of the spec's rules.
func (b *Broker) checkTopicName(t string) error {
	if err := topics.ValidateName(t); err != nil {
		return err
	}
	return b.checkTopicLimits(t)
}

// checkTopicLimits applies the broker's length and level limits alone, for
// topics the codec has already validated.
func (b *Broker) checkTopicLimits(t string) error {
	if l := b.limits(); len(t) > l.MaxTopicLength || topics.Levels(t) > l.MaxTopicLevels {
		return errTopicLimit
	}
	return nil
}

type limitError string

func (e limitError) Error() string { return string(e) }

const errTopicLimit = limitError("topic exceeds the broker's length or level limit")
