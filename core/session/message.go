// Package session holds the server side of an MQTT session: what outlives a
// network connection [MQTT-4.1.0-1]. A Session keeps the client's
// subscriptions, the messages in flight and those queued for it, the QoS 2
// packet ids it has received, and its expiry. The broker encodes and writes;
// the session decides what goes out, in what order, with which packet id.
package session

import (
	"sync/atomic"
	"time"

	"github.com/plumemq/plume/core/packets"
)

// Message is one application message as the broker routes it. It is shared,
// read-only, by every delivery of it.
type Message struct {
	Topic   string
	Payload []byte
	QoS     byte // as published, after any authorization cap
	Retain  bool
	// Props are the properties that travel with the message: payload format,
	// content type, response topic, correlation data, user properties. Never
	// a topic alias or subscription identifiers, which belong to one hop.
	Props *packets.Properties // nil when the message has none
	// Expires is the Unix time in nanoseconds after which the message must not
	// be delivered, 0 for never [MQTT-3.3.2-5].
	Expires   int64
	Publisher string // client id, for No Local
	// Redelivered marks a message a cluster node read again from the
	// ingest after a crash (decision 0055): its QoS 1 deliveries go with
	// DUP set, since the node may have sent them before.
	Redelivered bool
	// Gate, when set, is told about the kept deliveries of this message
	// (Gate); the broker sets it before routing, for a publisher waiting for
	// its PUBACK.
	Gate Gate
	// ID names the message in a Store once a delivery that a store keeps
	// refers to it (PutMessage); 0 until then.
	ID uint64
	// refs counts the stored deliveries that refer to the message, so that
	// the journal stores it with the first and deletes it with the last.
	// A plain int32 used atomically, not an atomic.Int32: Message is copied
	// by value (wills, Snapshot.Retained) before it is shared.
	refs int32
}

// A Gate learns whether every kept session that took a message got it: a
// publisher's PUBACK may then go before the store has the message, since
// there is nothing left to keep. Hold counts a kept QoS 1 delivery; Acked
// is its client's PUBACK; Dropped is any other end (expired, refused,
// session ended), after which the gate never opens: the publisher waits
// for the store instead. Called with the session's lock held.
type Gate interface {
	Hold()
	Acked()
	Dropped()
}

// Copy returns a copy of m for another owner: what a message carries, not
// its count of stored deliveries, which belongs to m.
func (m *Message) Copy() Message {
	return Message{Topic: m.Topic, Payload: m.Payload, QoS: m.QoS, Retain: m.Retain, Props: m.Props,
		Expires: m.Expires, Publisher: m.Publisher, ID: m.ID}
}

// Ref counts one more stored delivery of m and reports whether it is the
// first: the message must then be stored.
func (m *Message) Ref() (first bool) { return atomic.AddInt32(&m.refs, 1) == 1 }

// Unref counts one stored delivery of m fewer and reports whether it was the
// last: the message may then be deleted from the store.
func (m *Message) Unref() (last bool) { return atomic.AddInt32(&m.refs, -1) == 0 }

// Size is what the message counts against queue byte limits: its topic and
// payload, the parts that grow with what clients send. Properties are
// bounded by the maximum packet size like the rest, and left out to keep the
// figure cheap.
func (m *Message) Size() int64 { return int64(len(m.Topic) + len(m.Payload)) }

// Expired reports whether m must no longer be sent at time now (Unix ns).
func (m *Message) Expired(now int64) bool { return m.Expires != 0 && now >= m.Expires }

// RemainingExpiry is the Message Expiry Interval to send at now: the original
// interval less the time spent waiting in the server [MQTT-3.3.2-6].
func (m *Message) RemainingExpiry(now int64) uint32 {
	left := (m.Expires - now + int64(time.Second) - 1) / int64(time.Second)
	if left < 1 {
		return 1
	}
	return uint32(left)
}

// Delivery is one message on its way to one session.
type Delivery struct {
	Msg      *Message
	QoS      byte     // granted: min(message QoS, subscription QoS)
	Retain   bool     // the RETAIN flag to send
	SubIDs   []uint32 // subscription identifiers of the matching subscriptions
	PacketID uint16   // set when it enters the in-flight window (QoS > 0)
	Dup      bool     // set on resend [MQTT-3.3.1-1]
	Released bool     // QoS 2: PUBREC received and PUBREL sent
	// Share is the shared subscription it came through, "$share/{name}/{filter}",
	// or "": what lets another member take it when this session ends (MQTT 5.0 §4.8.2).
	Share string
	// Seq is the delivery's key in a Store and its place in the session's
	// order: set by the journal when a kept session takes it, 0 otherwise.
	Seq   uint64
	acked bool
	gated bool // counted by Msg.Gate (Hold), to be Acked or Dropped
}
