package codec

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/plumemq/plume/core/packets"
	"github.com/plumemq/plume/core/session"
)

// reader decodes a value. Its first error sticks: later reads return zero
// values, and the caller checks err once at the end.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf(format+": %w", append(args, ErrCorrupt)...)
	}
}

func (r *reader) uvarint(field string) uint64 {
	if r.err != nil {
		return 0
	}
	x, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("%s: bad varint", field)
		return 0
	}
	r.b = r.b[n:]
	return x
}

func (r *reader) varint(field string) int64 {
	if r.err != nil {
		return 0
	}
	x, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail("%s: bad varint", field)
		return 0
	}
	r.b = r.b[n:]
	return x
}

func (r *reader) u32(field string) uint32 {
	x := r.uvarint(field)
	if x > math.MaxUint32 {
		r.fail("%s: %d out of range", field, x)
		return 0
	}
	return uint32(x)
}

func (r *reader) byte(field string) byte {
	if r.err != nil {
		return 0
	}
	if len(r.b) == 0 {
		r.fail("%s: value too short", field)
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

// flags reads a flag byte and refuses bits outside known.
func (r *reader) flags(field string, known byte) byte {
	f := r.byte(field)
	if f&^known != 0 {
		r.fail("%s: unknown flags %#x", field, f)
	}
	return f
}

// take returns the next n bytes, aliasing the value.
func (r *reader) take(field string, n uint64) []byte {
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.fail("%s: %d bytes announced, %d left", field, n, len(r.b))
		return nil
	}
	b := r.b[:n]
	r.b = r.b[n:]
	return b
}

func (r *reader) str(field string) string { return string(r.take(field, r.uvarint(field))) }

// bytes reads what appendBytes wrote, copied out of the value.
func (r *reader) bytes(field string) []byte {
	n := r.uvarint(field)
	if n == 0 || r.err != nil {
		return nil
	}
	return append([]byte{}, r.take(field, n-1)...)
}

// count reads what appendCount wrote: -1 for nil. Each element takes at
// least one byte, so a count larger than what is left is damage, caught
// before anything is allocated for it.
func (r *reader) count(field string) int {
	n := r.uvarint(field)
	if n == 0 || r.err != nil {
		return -1
	}
	if n-1 > uint64(len(r.b)) {
		r.fail("%s: %d elements announced, %d bytes left", field, n-1, len(r.b))
		return -1
	}
	return int(n - 1)
}

// end reports the reader's error, or bytes left over.
func (r *reader) end(what string) error {
	if r.err == nil && len(r.b) != 0 {
		r.fail("%d bytes after the end", len(r.b))
	}
	if r.err != nil {
		return fmt.Errorf("%s: %w", what, r.err)
	}
	return nil
}

// version reads a value's version and refuses one this store does not know.
func (r *reader) version(what string, known uint64) error {
	v := r.uvarint("version")
	if r.err != nil {
		return fmt.Errorf("%s: %w", what, r.err)
	}
	if v != known {
		return fmt.Errorf("%s: version %d: %w (this store reads %d)", what, v, session.ErrUnknownVersion, known)
	}
	return nil
}

// DecodeRecord decodes a record value of session id.
func DecodeRecord(id string, b []byte) (session.Record, error) {
	r := reader{b: b}
	if err := r.version(fmt.Sprintf("session %q", id), RecordVersion); err != nil {
		return session.Record{}, err
	}
	rec := session.Record{Version: RecordVersion, ID: id}
	flags := r.flags("record flags", flagAuthenticated|flagWill)
	rec.Owner = session.Owner{Authenticated: flags&flagAuthenticated != 0, Principal: r.str("principal")}
	rec.Expiry = r.u32("expiry")
	rec.DisconnectedAt = r.varint("disconnected at")
	if n := r.count("subscriptions"); n >= 0 {
		rec.Subscriptions = make([]session.Subscription, n)
		for i := range rec.Subscriptions {
			s := &rec.Subscriptions[i]
			s.Filter = r.str("filter")
			s.QoS = r.byte("subscription qos")
			opts := r.flags("subscription options", flagNoLocal|flagRetainAsPublished)
			s.NoLocal, s.RetainAsPublished = opts&flagNoLocal != 0, opts&flagRetainAsPublished != 0
			s.RetainHandling = r.byte("retain handling")
			s.Identifier = r.u32("subscription identifier")
		}
	}
	if flags&flagWill != 0 {
		rec.Will = &session.Will{}
		r.messageBody(&rec.Will.Msg)
		rec.Will.PublishAt = r.varint("will publish at")
	}
	return rec, r.end(fmt.Sprintf("session %q", id))
}

// DecodeMessage decodes a message value ('m' and 'r' keys) into m.
func DecodeMessage(b []byte, m *session.Message) error {
	r := reader{b: b}
	if err := r.version("message", ValueVersion); err != nil {
		return err
	}
	r.messageBody(m)
	return r.end("message")
}

func (r *reader) messageBody(m *session.Message) {
	m.Topic = r.str("topic")
	m.Payload = r.bytes("payload")
	m.QoS = r.byte("qos")
	m.Retain = r.flags("message flags", flagRetain)&flagRetain != 0
	m.Expires = r.varint("expires")
	m.Publisher = r.str("publisher")
	m.ID = r.uvarint("message id")
	switch r.byte("properties") {
	case 0:
		return
	case 1:
	default:
		r.fail("properties: bad marker")
		return
	}
	p := &packets.Properties{Present: r.uvarint("present")}
	if p.Present&^StoredProps != 0 {
		r.fail("properties: unknown present bits %#x", p.Present&^StoredProps)
	}
	p.PayloadFormat = r.byte("payload format")
	p.MessageExpiry = r.u32("message expiry")
	p.ContentType = r.str("content type")
	p.ResponseTopic = r.str("response topic")
	p.CorrelationData = r.bytes("correlation data")
	if n := r.count("user properties"); n >= 0 {
		p.User = make([]packets.UserProperty, n)
		for i := range p.User {
			p.User[i] = packets.UserProperty{Key: r.str("user property name"), Value: r.str("user property value")}
		}
	}
	m.Props = p
}

// DecodeDelivery decodes a delivery value: the delivery without its Msg and
// Seq, and the id of its message (0 for none).
func DecodeDelivery(b []byte) (session.Delivery, uint64, error) {
	r := reader{b: b}
	if err := r.version("delivery", ValueVersion); err != nil {
		return session.Delivery{}, 0, err
	}
	id := r.uvarint("message id")
	d := session.Delivery{QoS: r.byte("qos")}
	flags := r.flags("delivery flags", flagRetain|flagDup|flagReleased)
	d.Retain, d.Dup, d.Released = flags&flagRetain != 0, flags&flagDup != 0, flags&flagReleased != 0
	if pid := r.uvarint("packet id"); pid > math.MaxUint16 {
		r.fail("packet id %d out of range", pid)
	} else {
		d.PacketID = uint16(pid)
	}
	if n := r.count("subscription ids"); n >= 0 {
		d.SubIDs = make([]uint32, n)
		for i := range d.SubIDs {
			d.SubIDs[i] = r.u32("subscription id")
		}
	}
	d.Share = r.str("share")
	return d, id, r.end("delivery")
}
