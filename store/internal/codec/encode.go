// Package codec is the binary encoding of session records, messages and
// deliveries that the stores share (decision 0019, "Encoding and versions"):
// store/disk keeps these values under Pebble keys, store/jetstream in
// JetStream messages. The keys are each store's own.
package codec

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/plumemq/plume/core/packets"
	"github.com/plumemq/plume/core/session"
)

// The value encodings (decision 0019). Every value starts with its version
// as a uvarint: a record with its Record.Version, a message or a delivery
// with ValueVersion. Integers are varints (signed ones zigzag), strings a
// uvarint length and the bytes, and byte slices and lists a uvarint of
// their length plus one, 0 standing for nil, so that what Load returns is
// what was stored, nil or empty alike. Flag bytes with unknown bits, counts
// larger than what is left, and bytes left over are damage (ErrCorrupt),
// never a panic: the decoders are fuzzed (encode_fuzz_test.go).
const (
	// RecordVersion is the session.FormatVersion this encoding writes.
	RecordVersion = 1
	// ValueVersion is the version of message and delivery values.
	ValueVersion = 1
)

// StoredProps are the message properties a value holds: those that travel
// with a message (core/broker messageProps) and the expiry interval.
const StoredProps = 1<<packets.PropPayloadFormat | 1<<packets.PropMessageExpiry | 1<<packets.PropContentType |
	1<<packets.PropResponseTopic | 1<<packets.PropCorrelationData | 1<<packets.PropUser

// ErrCorrupt reports a key or value a store cannot have written: its data
// was damaged or changed by something else.
var ErrCorrupt = errors.New("damaged session store data")

const (
	flagAuthenticated = 1 << iota
	flagWill
)

const (
	flagNoLocal = 1 << iota
	flagRetainAsPublished
)

const (
	flagRetain = 1 << iota
	flagDup
	flagReleased
)

func appendString(dst []byte, s string) []byte {
	return append(binary.AppendUvarint(dst, uint64(len(s))), s...)
}

// appendBytes writes b's length plus one, 0 for nil, and b.
func appendBytes(dst, b []byte) []byte {
	if b == nil {
		return append(dst, 0)
	}
	return append(binary.AppendUvarint(dst, uint64(len(b))+1), b...)
}

// appendCount writes a list's length plus one, 0 for a nil list.
func appendCount(dst []byte, n int, isNil bool) []byte {
	if isNil {
		return append(dst, 0)
	}
	return binary.AppendUvarint(dst, uint64(n)+1)
}

func boolFlag(b bool, flag byte) byte {
	if b {
		return flag
	}
	return 0
}

// AppendRecord encodes a session's own fields; its id is in the key.
func AppendRecord(dst []byte, r *session.Record) ([]byte, error) {
	if r.Version != RecordVersion {
		return nil, fmt.Errorf("put session %q: version %d: %w (this store writes %d)", r.ID, r.Version, session.ErrUnknownVersion, RecordVersion)
	}
	dst = binary.AppendUvarint(dst, uint64(r.Version))
	dst = append(dst, boolFlag(r.Owner.Authenticated, flagAuthenticated)|boolFlag(r.Will != nil, flagWill))
	dst = appendString(dst, r.Owner.Principal)
	dst = binary.AppendUvarint(dst, uint64(r.Expiry))
	dst = binary.AppendVarint(dst, r.DisconnectedAt)
	dst = appendCount(dst, len(r.Subscriptions), r.Subscriptions == nil)
	for _, s := range r.Subscriptions {
		dst = appendString(dst, s.Filter)
		dst = append(dst, s.QoS, boolFlag(s.NoLocal, flagNoLocal)|boolFlag(s.RetainAsPublished, flagRetainAsPublished), s.RetainHandling)
		dst = binary.AppendUvarint(dst, uint64(s.Identifier))
	}
	if r.Will != nil {
		var err error
		if dst, err = appendMessageBody(dst, &r.Will.Msg); err != nil {
			return nil, fmt.Errorf("will of %q: %w", r.ID, err)
		}
		dst = binary.AppendVarint(dst, r.Will.PublishAt)
	}
	return dst, nil
}

// AppendMessage encodes a message value, for 'm' and 'r' keys.
func AppendMessage(dst []byte, m *session.Message) ([]byte, error) {
	return appendMessageBody(binary.AppendUvarint(dst, ValueVersion), m)
}

func appendMessageBody(dst []byte, m *session.Message) ([]byte, error) {
	dst = appendString(dst, m.Topic)
	dst = appendBytes(dst, m.Payload)
	dst = append(dst, m.QoS, boolFlag(m.Retain, flagRetain))
	dst = binary.AppendVarint(dst, m.Expires)
	dst = appendString(dst, m.Publisher)
	dst = binary.AppendUvarint(dst, m.ID)
	p := m.Props
	if p == nil {
		return append(dst, 0), nil
	}
	if extra := p.Present &^ StoredProps; extra != 0 || len(p.SubscriptionIDs) != 0 {
		return nil, fmt.Errorf("message on %q carries properties a store does not keep (present %#x, %d subscription ids)", m.Topic, extra, len(p.SubscriptionIDs))
	}
	dst = append(dst, 1)
	dst = binary.AppendUvarint(dst, p.Present)
	dst = append(dst, p.PayloadFormat)
	dst = binary.AppendUvarint(dst, uint64(p.MessageExpiry))
	dst = appendString(dst, p.ContentType)
	dst = appendString(dst, p.ResponseTopic)
	dst = appendBytes(dst, p.CorrelationData)
	dst = appendCount(dst, len(p.User), p.User == nil)
	for _, u := range p.User {
		dst = appendString(appendString(dst, u.Key), u.Value)
	}
	return dst, nil
}

// AppendDelivery encodes a delivery; its client and Seq are in the key, its
// message by id (0 for none).
func AppendDelivery(dst []byte, d *session.Delivery) []byte {
	dst = binary.AppendUvarint(dst, ValueVersion)
	var id uint64
	if d.Msg != nil {
		id = d.Msg.ID
	}
	dst = binary.AppendUvarint(dst, id)
	dst = append(dst, d.QoS, boolFlag(d.Retain, flagRetain)|boolFlag(d.Dup, flagDup)|boolFlag(d.Released, flagReleased))
	dst = binary.AppendUvarint(dst, uint64(d.PacketID))
	dst = appendCount(dst, len(d.SubIDs), d.SubIDs == nil)
	for _, id := range d.SubIDs {
		dst = binary.AppendUvarint(dst, uint64(id))
	}
	return appendString(dst, d.Share)
}
