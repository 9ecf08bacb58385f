package storetest

import (
	"fmt"

	"github.com/plumemq/plume/core/packets"
	"github.com/plumemq/plume/core/session"
)

// props are properties that travel with a message, every kind the broker
// keeps (core/broker messageProps) and the expiry interval: user properties
// in an order that is not sorted, a name repeated, correlation data with a
// zero byte.
func props(tag string) *packets.Properties {
	p := &packets.Properties{
		PayloadFormat: 1, ContentType: "application/json", ResponseTopic: "reply/" + tag,
		CorrelationData: []byte{1, 0, 3}, MessageExpiry: 60,
		User: []packets.UserProperty{{Key: "z", Value: "first"}, {Key: "a", Value: ""}, {Key: "z", Value: "second " + tag}},
	}
	for _, id := range []packets.PropID{packets.PropPayloadFormat, packets.PropContentType, packets.PropResponseTopic,
		packets.PropCorrelationData, packets.PropMessageExpiry, packets.PropUser} {
		p.Set(id)
	}
	return p
}

// message is a message with every field set, under id.
func message(id uint64, topic string) *session.Message {
	return &session.Message{
		Topic: topic, Payload: []byte("payload of " + topic + "\x00\xff"), QoS: 2, Retain: true,
		Props: props(topic), Expires: 1_900_000_000_000_000_000, Publisher: "pub-" + topic, ID: id,
	}
}

// plainMessage is a message with no properties and an empty payload.
func plainMessage(id uint64, topic string) *session.Message {
	return &session.Message{Topic: topic, QoS: 1, ID: id}
}

// record is a session's own fields, every one set, as PutSession carries
// them: an owner, a will waiting for its delay, subscriptions with every
// option and identifier.
func record(id string) session.Record {
	will := message(0, "will/"+id)
	return session.Record{
		Version:        session.FormatVersion,
		ID:             id,
		Owner:          session.Owner{Authenticated: true, Principal: "user-" + id},
		Expiry:         3600,
		DisconnectedAt: 1_700_000_000_000_000_000,
		Subscriptions: []session.Subscription{
			{Subscription: packets.Subscription{Filter: "a/+/c", QoS: 1}},
			{Subscription: packets.Subscription{Filter: "$share/g/x/#", QoS: 2, NoLocal: true, RetainAsPublished: true, RetainHandling: 2}, Identifier: 7},
			{Subscription: packets.Subscription{Filter: "#", RetainHandling: 1}, Identifier: 268_435_455},
		},
		Will: &session.Will{Msg: *will, PublishAt: 1_700_000_000_500_000_000},
	}
}

// minimal is a session record with nothing but its id and version.
func minimal(id string) session.Record {
	return session.Record{Version: session.FormatVersion, ID: id}
}

func putSession(r session.Record) session.Op { return session.Op{Kind: session.PutSession, Record: &r} }

func deleteSessionOp(id string) session.Op {
	return session.Op{Kind: session.DeleteSession, Client: id}
}

func putMessage(m *session.Message) session.Op {
	return session.Op{Kind: session.PutMessage, Message: m}
}

func deleteMessageOp(id uint64) session.Op {
	return session.Op{Kind: session.DeleteMessage, MessageID: id}
}

func putDelivery(client string, d session.Delivery) session.Op {
	return session.Op{Kind: session.PutDelivery, Client: client, Delivery: d}
}

func deleteDeliveryOp(client string, seq uint64) session.Op {
	return session.Op{Kind: session.DeleteDelivery, Client: client, Seq: seq}
}

func putInbound(client string, id uint16) session.Op {
	return session.Op{Kind: session.PutInbound, Client: client, PacketID: id}
}

func deleteInbound(client string, id uint16) session.Op {
	return session.Op{Kind: session.DeleteInbound, Client: client, PacketID: id}
}

func putRetained(m *session.Message) session.Op {
	return session.Op{Kind: session.PutRetained, Message: m}
}

func deleteRetained(topic string) session.Op {
	return session.Op{Kind: session.DeleteRetained, Topic: topic}
}

// queued is a delivery waiting to be sent.
func queued(seq uint64, m *session.Message) session.Delivery {
	return session.Delivery{Msg: m, QoS: 1, Seq: seq}
}

// sent is a delivery in flight under packet id pid.
func sent(seq uint64, m *session.Message, pid uint16) session.Delivery {
	return session.Delivery{Msg: m, QoS: 1, PacketID: pid, Dup: true, Seq: seq}
}

// busy stores a session as the broker would after some traffic: its record,
// nd deliveries (every third in flight) of messages numbered from base, and
// two inbound QoS 2 ids. It returns the record Load should return.
func busy(id string, base uint64, nd int) ([]session.Op, session.Record) {
	r := record(id)
	ops := []session.Op{putSession(r)}
	want := r
	for i := range nd {
		m := message(base+uint64(i), fmt.Sprintf("t/%s/%d", id, i))
		d := queued(uint64(i+1), m)
		if i%3 == 0 {
			d = sent(uint64(i+1), m, uint16(i+1))
			want.Inflight = append(want.Inflight, d)
		} else {
			want.Queued = append(want.Queued, d)
		}
		ops = append(ops, putMessage(m), putDelivery(id, d))
	}
	ops = append(ops, putInbound(id, 9), putInbound(id, 4))
	want.InboundQoS2 = []uint16{4, 9}
	return ops, want
}
