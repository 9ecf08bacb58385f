package wire

import (
	"encoding/binary"
	"fmt"
)

// Property identifiers of MQTT 5.0 (section 2.2.2.2).
const (
	PropPayloadFormat       byte = 0x01
	PropMessageExpiry       byte = 0x02
	PropContentType         byte = 0x03
	PropResponseTopic       byte = 0x08
	PropCorrelationData     byte = 0x09
	PropSubscriptionID      byte = 0x0B
	PropSessionExpiry       byte = 0x11
	PropAssignedClientID    byte = 0x12
	PropServerKeepAlive     byte = 0x13
	PropAuthMethod          byte = 0x15
	PropAuthData            byte = 0x16
	PropRequestProblemInfo  byte = 0x17
	PropWillDelay           byte = 0x18
	PropRequestResponseInfo byte = 0x19
	PropResponseInfo        byte = 0x1A
	PropServerReference     byte = 0x1C
	PropReasonString        byte = 0x1F
	PropReceiveMaximum      byte = 0x21
	PropTopicAliasMaximum   byte = 0x22
	PropTopicAlias          byte = 0x23
	PropMaximumQoS          byte = 0x24
	PropRetainAvailable     byte = 0x25
	PropUserProperty        byte = 0x26
	PropMaximumPacketSize   byte = 0x27
	PropWildcardAvailable   byte = 0x28
	PropSubIDAvailable      byte = 0x29
	PropSharedSubAvailable  byte = 0x2A
)

type propKind int

const (
	kByte propKind = iota + 1
	kUint16
	kUint32
	kVarint
	kString
	kBinary
	kPair
)

var propKinds = map[byte]propKind{
	PropPayloadFormat: kByte, PropMessageExpiry: kUint32, PropContentType: kString,
	PropResponseTopic: kString, PropCorrelationData: kBinary, PropSubscriptionID: kVarint,
	PropSessionExpiry: kUint32, PropAssignedClientID: kString, PropServerKeepAlive: kUint16,
	PropAuthMethod: kString, PropAuthData: kBinary, PropRequestProblemInfo: kByte,
	PropWillDelay: kUint32, PropRequestResponseInfo: kByte, PropResponseInfo: kString,
	PropServerReference: kString, PropReasonString: kString, PropReceiveMaximum: kUint16,
	PropTopicAliasMaximum: kUint16, PropTopicAlias: kUint16, PropMaximumQoS: kByte,
	PropRetainAvailable: kByte, PropUserProperty: kPair, PropMaximumPacketSize: kUint32,
	PropWildcardAvailable: kByte, PropSubIDAvailable: kByte, PropSharedSubAvailable: kByte,
}

// Property is one MQTT 5.0 property. Integers use Int, strings and user
// property values use Str (user property names use Key), binary data Bin.
type Property struct {
	ID  byte
	Int uint32
	Str string
	Key string
	Bin []byte
}

// Properties is an ordered property list, as it appears on the wire.
type Properties []Property

// Int returns an integer property.
func Int(id byte, v uint32) Property { return Property{ID: id, Int: v} }

// Str returns a string property.
func Str(id byte, s string) Property { return Property{ID: id, Str: s} }

// Bin returns a binary property.
func Bin(id byte, b []byte) Property { return Property{ID: id, Bin: b} }

// User returns a user property.
func User(k, v string) Property { return Property{ID: PropUserProperty, Key: k, Str: v} }

// Get returns the first property with the given id.
func (ps Properties) Get(id byte) (Property, bool) {
	for _, p := range ps {
		if p.ID == id {
			return p, true
		}
	}
	return Property{}, false
}

// Has reports whether a property with the given id is present.
func (ps Properties) Has(id byte) bool { _, ok := ps.Get(id); return ok }

// All returns every property with the given id, in order.
func (ps Properties) All(id byte) []Property {
	var out []Property
	for _, p := range ps {
		if p.ID == id {
			out = append(out, p)
		}
	}
	return out
}

// Append appends the property length and the properties.
func (ps Properties) Append(b []byte) []byte {
	var body []byte
	for _, p := range ps {
		body = AppendVarint(body, uint32(p.ID))
		switch propKinds[p.ID] {
		case kByte:
			body = append(body, byte(p.Int))
		case kUint16:
			body = AppendUint16(body, uint16(p.Int))
		case kUint32:
			body = AppendUint32(body, p.Int)
		case kVarint:
			body = AppendVarint(body, p.Int)
		case kString:
			body = AppendString(body, p.Str)
		case kBinary:
			body = AppendBinary(body, p.Bin)
		case kPair:
			body = AppendString(body, p.Key)
			body = AppendString(body, p.Str)
		default: // unknown id: raw bytes from Bin, so tests can send invalid ones
			body = append(body, p.Bin...)
		}
	}
	b = AppendVarint(b, uint32(len(body)))
	return append(b, body...)
}

// decodeProps reads a property length and the properties from b and returns
// them with the number of bytes used.
func decodeProps(b []byte) (Properties, int, error) {
	n, used, err := readVarint(b)
	if err != nil {
		return nil, 0, fmt.Errorf("property length: %w", err)
	}
	if int(n) > len(b)-used {
		return nil, 0, fmt.Errorf("%w: property length %d exceeds the %d bytes left", ErrMalformed, n, len(b)-used)
	}
	body := b[used : used+int(n)]
	var ps Properties
	for len(body) > 0 {
		id, k, err := readVarint(body)
		if err != nil {
			return nil, 0, fmt.Errorf("property id: %w", err)
		}
		body = body[k:]
		kind, ok := propKinds[byte(id)]
		if !ok || id > 0x7f {
			return nil, 0, fmt.Errorf("%w: unknown property id 0x%02x", ErrMalformed, id)
		}
		p := Property{ID: byte(id)}
		switch kind {
		case kByte:
			if len(body) < 1 {
				return nil, 0, errShort("property", id)
			}
			p.Int, body = uint32(body[0]), body[1:]
		case kUint16:
			if len(body) < 2 {
				return nil, 0, errShort("property", id)
			}
			p.Int, body = uint32(binary.BigEndian.Uint16(body)), body[2:]
		case kUint32:
			if len(body) < 4 {
				return nil, 0, errShort("property", id)
			}
			p.Int, body = binary.BigEndian.Uint32(body), body[4:]
		case kVarint:
			v, k, err := readVarint(body)
			if err != nil {
				return nil, 0, fmt.Errorf("property 0x%02x: %w", id, err)
			}
			p.Int, body = v, body[k:]
		case kString, kBinary:
			d, rest, err := readBinary(body)
			if err != nil {
				return nil, 0, fmt.Errorf("property 0x%02x: %w", id, err)
			}
			p.Str, p.Bin, body = string(d), d, rest
		case kPair:
			k, rest, err := readBinary(body)
			if err != nil {
				return nil, 0, fmt.Errorf("user property name: %w", err)
			}
			v, rest, err := readBinary(rest)
			if err != nil {
				return nil, 0, fmt.Errorf("user property value: %w", err)
			}
			p.Key, p.Str, body = string(k), string(v), rest
		}
		ps = append(ps, p)
	}
	return ps, used + int(n), nil
}

func errShort(what string, id uint32) error {
	return fmt.Errorf("%w: %s 0x%02x truncated", ErrMalformed, what, id)
}
