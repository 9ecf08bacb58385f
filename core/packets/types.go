// Package packets is Plume's MQTT codec: it decodes and encodes every control
// packet of MQTT 3.1, 3.1.1 and 5.0.
//
// Decoding is strict: every rule of the specifications that a receiver can check
// from the bytes alone is checked, and a violation is reported as an *Error that
// carries the reason code the receiver must answer with and the statement id of the
// rule. Decoded packets alias the buffer they were decoded from, so the hot path
// (PUBLISH and its acknowledgements) decodes and encodes without allocating.
//
// Specifications: https://docs.oasis-open.org/mqtt/mqtt/v5.0/mqtt-v5.0.html and
// https://docs.oasis-open.org/mqtt/mqtt/v3.1.1/mqtt-v3.1.1.html
package packets

// Protocol versions as carried in the CONNECT packet's Protocol Level byte.
const (
	V31  byte = 3 // MQTT 3.1, protocol name "MQIsdp"
	V311 byte = 4 // MQTT 3.1.1
	V5   byte = 5 // MQTT 5.0
)

// Type is an MQTT control packet type, the high nibble of the fixed header's first byte.
type Type byte

// The control packet types. Type 0 is reserved and never valid.
const (
	TypeConnect Type = iota + 1
	TypeConnack
	TypePublish
	TypePuback
	TypePubrec
	TypePubrel
	TypePubcomp
	TypeSubscribe
	TypeSuback
	TypeUnsubscribe
	TypeUnsuback
	TypePingreq
	TypePingresp
	TypeDisconnect
	TypeAuth
)

var typeNames = [...]string{
	"RESERVED", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP",
	"SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT", "AUTH",
}

// String returns the packet type's name as the specification spells it, e.g. "PUBLISH".
func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return "UNKNOWN"
}

// FixedHeader is the first part of every packet: its type, the four flag bits of the
// first byte, and the remaining length (the number of bytes that follow the header).
type FixedHeader struct {
	Type      Type
	Flags     byte
	Remaining int
}

// Packet is one MQTT control packet. It is implemented by *Connect, *Connack,
// *Publish, *Ack, *Subscribe, *Suback, *Unsubscribe, *Unsuback, *Pingreq,
// *Pingresp, *Disconnect and *Auth.
type Packet interface {
	// Type returns the packet's control packet type.
	Type() Type
	// Append encodes the whole packet (fixed header included) for protocol version v
	// and appends it to dst. For V31 and V311 properties are dropped, and so are
	// reason codes where 3.1.1 has none. It writes the shortest form the version
	// allows and allocates only when dst lacks room.
	Append(dst []byte, v byte) []byte
}

// Connect is the CONNECT packet, the first packet a client sends.
type Connect struct {
	ProtocolName    string // "MQTT", or "MQIsdp" for 3.1
	ProtocolVersion byte   // V31, V311 or V5
	CleanStart      bool   // Clean Session in 3.1.1
	KeepAlive       uint16 // seconds; 0 disables keep-alive
	ClientID        string
	HasUsername     bool
	Username        string
	HasPassword     bool
	Password        []byte
	Will            *Will // nil when the will flag is 0
	Properties      Properties
}

// Will is the will message carried in a CONNECT packet.
type Will struct {
	Topic      string
	Payload    []byte
	QoS        byte
	Retain     bool
	Properties Properties // will properties (5.0)
}

// Connack is the CONNACK packet. In 3.1.1 the return code travels as Reason, mapped
// to the 5.0 reason code of the same meaning (see ReasonCode.V3ConnackCode).
type Connack struct {
	SessionPresent bool
	Reason         ReasonCode
	Properties     Properties
}

// Publish is the PUBLISH packet. PacketID is 0 for QoS 0.
type Publish struct {
	Dup        bool
	QoS        byte
	Retain     bool
	Topic      string
	PacketID   uint16
	Properties Properties
	Payload    []byte
}

// Ack is PUBACK, PUBREC, PUBREL or PUBCOMP, told apart by Kind.
type Ack struct {
	Kind       Type
	PacketID   uint16
	Reason     ReasonCode
	Properties Properties
}

// Subscription is one topic filter of a SUBSCRIBE packet with its options.
type Subscription struct {
	Filter            string
	QoS               byte
	NoLocal           bool // 5.0
	RetainAsPublished bool // 5.0
	RetainHandling    byte // 5.0: 0 send retained, 1 only for new subscriptions, 2 never
}

// Subscribe is the SUBSCRIBE packet.
type Subscribe struct {
	PacketID      uint16
	Subscriptions []Subscription
	Properties    Properties
}

// Suback is the SUBACK packet: one reason code per subscription, in order. In 3.1.1
// they travel as return codes 0, 1, 2 or 0x80.
type Suback struct {
	PacketID   uint16
	Reasons    []ReasonCode
	Properties Properties
}

// Unsubscribe is the UNSUBSCRIBE packet.
type Unsubscribe struct {
	PacketID   uint16
	Filters    []string
	Properties Properties
}

// Unsuback is the UNSUBACK packet. 3.1.1 carries no reason codes on the wire.
type Unsuback struct {
	PacketID   uint16
	Reasons    []ReasonCode
	Properties Properties
}

// Pingreq is the PINGREQ packet.
type Pingreq struct{}

// Pingresp is the PINGRESP packet.
type Pingresp struct{}

// Disconnect is the DISCONNECT packet. 3.1.1 carries neither reason nor properties.
type Disconnect struct {
	Reason     ReasonCode
	Properties Properties
}

// Auth is the AUTH packet, which exists only in 5.0.
type Auth struct {
	Reason     ReasonCode
	Properties Properties
}

// Type returns TypeConnect.
func (*Connect) Type() Type { return TypeConnect }

// Type returns TypeConnack.
func (*Connack) Type() Type { return TypeConnack }

// Type returns TypePublish.
func (*Publish) Type() Type { return TypePublish }

// Type returns the acknowledgement's Kind.
func (a *Ack) Type() Type { return a.Kind }

// Type returns TypeSubscribe.
func (*Subscribe) Type() Type { return TypeSubscribe }

// Type returns TypeSuback.
func (*Suback) Type() Type { return TypeSuback }

// Type returns TypeUnsubscribe.
func (*Unsubscribe) Type() Type { return TypeUnsubscribe }

// Type returns TypeUnsuback.
func (*Unsuback) Type() Type { return TypeUnsuback }

// Type returns TypePingreq.
func (*Pingreq) Type() Type { return TypePingreq }

// Type returns TypePingresp.
func (*Pingresp) Type() Type { return TypePingresp }

// Type returns TypeDisconnect.
func (*Disconnect) Type() Type { return TypeDisconnect }

// Type returns TypeAuth.
func (*Auth) Type() Type { return TypeAuth }

var (
	_ Packet = (*Connect)(nil)
	_ Packet = (*Connack)(nil)
	_ Packet = (*Publish)(nil)
	_ Packet = (*Ack)(nil)
	_ Packet = (*Subscribe)(nil)
	_ Packet = (*Suback)(nil)
	_ Packet = (*Unsubscribe)(nil)
	_ Packet = (*Unsuback)(nil)
	_ Packet = (*Pingreq)(nil)
	_ Packet = (*Pingresp)(nil)
	_ Packet = (*Disconnect)(nil)
	_ Packet = (*Auth)(nil)
)

// EncodedLen returns the length of p encoded for version v, fixed header included,
// so that a sender can honour the peer's Maximum Packet Size [MQTT-3.1.2-24]
// before encoding. It does not allocate for PUBLISH and the acknowledgements; for
// other packets it encodes into a scratch buffer.
func EncodedLen(p Packet, v byte) int {
	var n int
	switch p := p.(type) {
	case *Publish:
		n, _ = p.remaining(v)
	case *Ack:
		n, _ = p.remaining(v)
	default:
		return len(p.Append(nil, v))
	}
	return 1 + varintLen(n) + n
}
