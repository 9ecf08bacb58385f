package fabric

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/plumemq/plume/core/packets"
	"github.com/plumemq/plume/core/session"
)

// The envelope is a message as it crosses between nodes (decision 0052):
//
//	version  1 byte (envelopeVersion)
//	flags    1 byte: QoS (bits 0-1), retain (2), expiry (3), properties (4)
//	origin   8 bytes, big endian: the sending fabric's random id
//	seq      8 bytes, big endian: its sequence number, unique per origin (not ordered across its publishers)
//	topic, publisher: uvarint length + bytes each
//	expiry   uvarint milliseconds left, when flagged (relative: nodes' clocks differ)
//	props    when flagged: a byte of which are present (payload format, content
//	         type, response topic, correlation data, user), then each present one:
//	         a byte, or uvarint length + bytes; user: uvarint count, then key, value
//	payload  the rest
//
// Fixed fields first, so that seq sits at a fixed offset (seqOffset).
const (
	envelopeVersion = 1
	seqOffset       = 10
	headerLen       = 18

	flagRetain = 1 << 2
	flagExpiry = 1 << 3
	flagProps  = 1 << 4
)

// Which properties an envelope holds.
const (
	propFormat = 1 << iota
	propContentType
	propResponseTopic
	propCorrelation
	propUser
)

// errEnvelope is every malformed envelope.
var errEnvelope = errors.New("malformed envelope")

// appendEnvelope appends m's envelope to dst with seq 0 (setSeq fills it in).
// leftMs is the expiry's milliseconds left, 0 for none.
func appendEnvelope(dst []byte, m *session.Message, origin uint64, leftMs int64) []byte {
	flags := m.QoS & 3
	if m.Retain {
		flags |= flagRetain
	}
	if leftMs > 0 {
		flags |= flagExpiry
	}
	if m.Props != nil && propsPresent(m.Props) != 0 {
		flags |= flagProps
	}
	dst = append(dst, envelopeVersion, flags)
	dst = binary.BigEndian.AppendUint64(dst, origin)
	dst = binary.BigEndian.AppendUint64(dst, 0)
	dst = appendString(dst, m.Topic)
	dst = appendString(dst, m.Publisher)
	if leftMs > 0 {
		dst = binary.AppendUvarint(dst, uint64(leftMs))
	}
	if flags&flagProps != 0 {
		dst = appendProps(dst, m.Props)
	}
	return append(dst, m.Payload...)
}

// setSeq writes seq into an envelope appendEnvelope made.
func setSeq(env []byte, seq uint64) { binary.BigEndian.PutUint64(env[seqOffset:], seq) }

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// propsPresent returns which of the properties a message carries p holds.
func propsPresent(p *packets.Properties) byte {
	var which byte
	if p.Has(packets.PropPayloadFormat) {
		which |= propFormat
	}
	if p.Has(packets.PropContentType) {
		which |= propContentType
	}
	if p.Has(packets.PropResponseTopic) {
		which |= propResponseTopic
	}
	if p.Has(packets.PropCorrelationData) {
		which |= propCorrelation
	}
	if len(p.User) > 0 {
		which |= propUser
	}
	return which
}

func appendProps(dst []byte, p *packets.Properties) []byte {
	which := propsPresent(p)
	dst = append(dst, which)
	if which&propFormat != 0 {
		dst = append(dst, p.PayloadFormat)
	}
	if which&propContentType != 0 {
		dst = appendString(dst, p.ContentType)
	}
	if which&propResponseTopic != 0 {
		dst = appendString(dst, p.ResponseTopic)
	}
	if which&propCorrelation != 0 {
		dst = binary.AppendUvarint(dst, uint64(len(p.CorrelationData)))
		dst = append(dst, p.CorrelationData...)
	}
	if which&propUser != 0 {
		dst = binary.AppendUvarint(dst, uint64(len(p.User)))
		for _, u := range p.User {
			dst = appendString(dst, u.Key)
			dst = appendString(dst, u.Value)
		}
	}
	return dst
}

// envelope is a decoded envelope.
type envelope struct {
	origin, seq uint64
	leftMs      int64 // 0: no expiry
	msg         session.Message
}

// decodeEnvelope reads b. The message's payload and correlation data alias b,
// which the caller must not reuse (nats.go gives each message its own).
func decodeEnvelope(b []byte) (envelope, error) {
	var e envelope
	if len(b) < headerLen || b[0] != envelopeVersion {
		return e, fmt.Errorf("%w: header", errEnvelope)
	}
	flags := b[1]
	if flags&3 == 3 || flags >= flagProps<<1 {
		return e, fmt.Errorf("%w: flags %#x", errEnvelope, flags)
	}
	e.origin = binary.BigEndian.Uint64(b[2:])
	e.seq = binary.BigEndian.Uint64(b[seqOffset:])
	r := reader{b: b[headerLen:]}
	e.msg.QoS = flags & 3
	e.msg.Retain = flags&flagRetain != 0
	e.msg.Topic = r.string()
	e.msg.Publisher = r.string()
	if flags&flagExpiry != 0 {
		e.leftMs = int64(r.uvarint())
		if e.leftMs <= 0 {
			r.fail()
		}
	}
	if flags&flagProps != 0 {
		e.msg.Props = r.props()
	}
	if r.bad {
		return e, fmt.Errorf("%w: body", errEnvelope)
	}
	if len(r.b) > 0 {
		e.msg.Payload = r.b
	}
	return e, nil
}

// reader reads an envelope's body; the first failure sticks (bad).
type reader struct {
	b   []byte
	bad bool
}

func (r *reader) fail() { r.bad, r.b = true, nil }

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) bytes() []byte {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail()
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) string() string { return string(r.bytes()) }

func (r *reader) byte() byte {
	if len(r.b) == 0 {
		r.fail()
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *reader) props() *packets.Properties {
	p := new(packets.Properties)
	which := r.byte()
	if which >= propUser<<1 || which == 0 {
		r.fail() // appendProps writes neither
		return nil
	}
	if which&propFormat != 0 {
		p.PayloadFormat = r.byte()
		p.Set(packets.PropPayloadFormat)
	}
	if which&propContentType != 0 {
		p.ContentType = r.string()
		p.Set(packets.PropContentType)
	}
	if which&propResponseTopic != 0 {
		p.ResponseTopic = r.string()
		p.Set(packets.PropResponseTopic)
	}
	if which&propCorrelation != 0 {
		p.CorrelationData = r.bytes()
		p.Set(packets.PropCorrelationData)
	}
	if which&propUser != 0 {
		n := r.uvarint()
		if n == 0 || n > uint64(len(r.b)) { // each pair takes at least two bytes
			r.fail()
			return nil
		}
		p.User = make([]packets.UserProperty, 0, n)
		for i := uint64(0); i < n && !r.bad; i++ {
			p.User = append(p.User, packets.UserProperty{Key: r.string(), Value: r.string()})
		}
		p.Set(packets.PropUser)
	}
	return p
}
