// Package wire is the conformance suite's own raw MQTT client codec: small
// encoders that produce exactly the bytes a test asks for (malformed ones
// included) and a strict decoder for what a broker sends back. It depends on
// nothing of the broker under test, so that the suite judges a broker with a
// codec of its own.
//
// Version numbers follow the CONNECT protocol level: 4 is MQTT 3.1.1, 5 is
// MQTT 5.0.
package wire

import "encoding/binary"

// Control packet types (MQTT 5.0 section 2.1.2, 3.1.1 section 2.2.1).
const (
	CONNECT     byte = 1
	CONNACK     byte = 2
	PUBLISH     byte = 3
	PUBACK      byte = 4
	PUBREC      byte = 5
	PUBREL      byte = 6
	PUBCOMP     byte = 7
	SUBSCRIBE   byte = 8
	SUBACK      byte = 9
	UNSUBSCRIBE byte = 10
	UNSUBACK    byte = 11
	PINGREQ     byte = 12
	PINGRESP    byte = 13
	DISCONNECT  byte = 14
	AUTH        byte = 15
)

// TypeName names a control packet type for messages.
func TypeName(t byte) string {
	names := [...]string{"RESERVED", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL",
		"PUBCOMP", "SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT", "AUTH"}
	if int(t) < len(names) {
		return names[t]
	}
	return "INVALID"
}

// AppendVarint appends the variable byte integer encoding of v (section 1.5.5).
func AppendVarint(b []byte, v uint32) []byte {
	for {
		d := byte(v % 128)
		v /= 128
		if v > 0 {
			d |= 0x80
		}
		b = append(b, d)
		if v == 0 {
			return b
		}
	}
}

// AppendUint16 appends a two byte integer, most significant byte first.
func AppendUint16(b []byte, v uint16) []byte { return binary.BigEndian.AppendUint16(b, v) }

// AppendUint32 appends a four byte integer, most significant byte first.
func AppendUint32(b []byte, v uint32) []byte { return binary.BigEndian.AppendUint32(b, v) }

// AppendString appends a length-prefixed UTF-8 string. It does not check the
// string, so tests can send ill-formed ones.
func AppendString(b []byte, s string) []byte { return AppendBinary(b, []byte(s)) }

// AppendBinary appends length-prefixed binary data.
func AppendBinary(b []byte, d []byte) []byte {
	b = AppendUint16(b, uint16(len(d)))
	return append(b, d...)
}

// Frame wraps a body in a fixed header: first is the packet type in the high
// nibble and the flags in the low one.
func Frame(first byte, body []byte) []byte {
	b := []byte{first}
	b = AppendVarint(b, uint32(len(body)))
	return append(b, body...)
}

// Will is the will message of a CONNECT.
type Will struct {
	Topic   string
	Payload []byte
	QoS     byte
	Retain  bool
	Props   Properties // 5.0 only
}

// Connect is a CONNECT packet. Zero values give a plain, valid CONNECT.
type Connect struct {
	Version    byte // 4 or 5
	ProtoName  string
	ClientID   string
	CleanStart bool
	KeepAlive  uint16
	Will       *Will
	Username   *string
	Password   []byte
	HasPass    bool
	Props      Properties // 5.0 only
	FlagsXOR   byte       // bits flipped in the connect flags after they are computed (for malformed tests)
}

// Encode returns the CONNECT's bytes.
func (c Connect) Encode() []byte {
	name := c.ProtoName
	if name == "" {
		name = "MQTT"
	}
	b := AppendString(nil, name)
	b = append(b, c.Version)
	var flags byte
	if c.CleanStart {
		flags |= 0x02
	}
	if c.Will != nil {
		flags |= 0x04 | c.Will.QoS<<3
		if c.Will.Retain {
			flags |= 0x20
		}
	}
	if c.HasPass || c.Password != nil {
		flags |= 0x40
	}
	if c.Username != nil {
		flags |= 0x80
	}
	b = append(b, flags^c.FlagsXOR)
	b = AppendUint16(b, c.KeepAlive)
	if c.Version >= 5 {
		b = c.Props.Append(b)
	}
	b = AppendString(b, c.ClientID)
	if c.Will != nil {
		if c.Version >= 5 {
			b = c.Will.Props.Append(b)
		}
		b = AppendString(b, c.Will.Topic)
		b = AppendBinary(b, c.Will.Payload)
	}
	if c.Username != nil {
		b = AppendString(b, *c.Username)
	}
	if c.HasPass || c.Password != nil {
		b = AppendBinary(b, c.Password)
	}
	return Frame(CONNECT<<4, b)
}

// Publish is a PUBLISH packet.
type Publish struct {
	Topic    string
	Payload  []byte
	QoS      byte
	Retain   bool
	Dup      bool
	PacketID uint16
	Props    Properties
}

// Encode returns the PUBLISH's bytes for the given version.
func (p Publish) Encode(version byte) []byte {
	first := PUBLISH<<4 | p.QoS<<1
	if p.Dup {
		first |= 0x08
	}
	if p.Retain {
		first |= 0x01
	}
	b := AppendString(nil, p.Topic)
	if p.QoS > 0 {
		b = AppendUint16(b, p.PacketID)
	}
	if version >= 5 {
		b = p.Props.Append(b)
	}
	b = append(b, p.Payload...)
	return Frame(first, b)
}

// Subscription is one topic filter of a SUBSCRIBE with its options byte
// (QoS in bits 0-1; 5.0: No Local bit 2, Retain As Published bit 3, Retain
// Handling bits 4-5).
type Subscription struct {
	Filter  string
	Options byte
}

// Subscribe is a SUBSCRIBE packet.
type Subscribe struct {
	PacketID uint16
	Subs     []Subscription
	Props    Properties
}

// Encode returns the SUBSCRIBE's bytes for the given version.
func (s Subscribe) Encode(version byte) []byte {
	b := AppendUint16(nil, s.PacketID)
	if version >= 5 {
		b = s.Props.Append(b)
	}
	for _, sub := range s.Subs {
		b = AppendString(b, sub.Filter)
		b = append(b, sub.Options)
	}
	return Frame(SUBSCRIBE<<4|0x02, b)
}

// Unsubscribe is an UNSUBSCRIBE packet.
type Unsubscribe struct {
	PacketID uint16
	Filters  []string
	Props    Properties
}

// Encode returns the UNSUBSCRIBE's bytes for the given version.
func (u Unsubscribe) Encode(version byte) []byte {
	b := AppendUint16(nil, u.PacketID)
	if version >= 5 {
		b = u.Props.Append(b)
	}
	for _, f := range u.Filters {
		b = AppendString(b, f)
	}
	return Frame(UNSUBSCRIBE<<4|0x02, b)
}

// Ack returns a PUBACK, PUBREC, PUBREL or PUBCOMP. In 5.0 a success reason
// code without properties is left out, as the specification allows.
func Ack(version, typ byte, id uint16, reason byte, props Properties) []byte {
	first := typ << 4
	if typ == PUBREL {
		first |= 0x02
	}
	b := AppendUint16(nil, id)
	if version >= 5 && (reason != 0 || len(props) > 0) {
		b = append(b, reason)
		b = props.Append(b)
	}
	return Frame(first, b)
}

// Disconnect returns a DISCONNECT; in 5.0 it carries the reason code and
// properties.
func Disconnect(version, reason byte, props Properties) []byte {
	if version < 5 {
		return []byte{DISCONNECT << 4, 0}
	}
	b := []byte{reason}
	b = props.Append(b)
	return Frame(DISCONNECT<<4, b)
}

// Auth returns an AUTH packet (5.0 only).
func Auth(reason byte, props Properties) []byte {
	b := []byte{reason}
	b = props.Append(b)
	return Frame(AUTH<<4, b)
}

// Pingreq returns a PINGREQ.
func Pingreq() []byte { return []byte{PINGREQ << 4, 0} }
