package packets

import "math/bits"

// PropID is an MQTT 5.0 property identifier.
// See https://docs.oasis-open.org/mqtt/mqtt/v5.0/os/mqtt-v5.0-os.html#_Toc3901027
type PropID byte

// The MQTT 5.0 property identifiers.
const (
	PropPayloadFormat        PropID = 0x01
	PropMessageExpiry        PropID = 0x02
	PropContentType          PropID = 0x03
	PropResponseTopic        PropID = 0x08
	PropCorrelationData      PropID = 0x09
	PropSubscriptionID       PropID = 0x0B
	PropSessionExpiry        PropID = 0x11
	PropAssignedClientID     PropID = 0x12
	PropServerKeepAlive      PropID = 0x13
	PropAuthMethod           PropID = 0x15
	PropAuthData             PropID = 0x16
	PropRequestProblemInfo   PropID = 0x17
	PropWillDelay            PropID = 0x18
	PropRequestResponseInfo  PropID = 0x19
	PropResponseInfo         PropID = 0x1A
	PropServerReference      PropID = 0x1C
	PropReasonString         PropID = 0x1F
	PropReceiveMaximum       PropID = 0x21
	PropTopicAliasMaximum    PropID = 0x22
	PropTopicAlias           PropID = 0x23
	PropMaximumQoS           PropID = 0x24
	PropRetainAvailable      PropID = 0x25
	PropUser                 PropID = 0x26
	PropMaximumPacketSize    PropID = 0x27
	PropWildcardSubAvailable PropID = 0x28
	PropSubIDAvailable       PropID = 0x29
	PropSharedSubAvailable   PropID = 0x2A
)

// UserProperty is one User Property, a name and value pair. A packet may carry any
// number of them, and the same name more than once; their order is preserved.
type UserProperty struct{ Key, Value string }

// Properties holds MQTT 5.0 properties. Present records which properties are present
// (bit 1<<id); the encoder writes exactly the properties whose bit is set (User and
// SubscriptionIDs: also when the slice is non-empty). Has, Set and Clear manage the
// bits. The decoder sets the bit of every property it reads.
type Properties struct {
	Present              uint64
	PayloadFormat        byte
	MessageExpiry        uint32
	ContentType          string
	ResponseTopic        string
	CorrelationData      []byte
	SubscriptionIDs      []uint32 // several in a server-sent PUBLISH, one in SUBSCRIBE
	SessionExpiry        uint32
	AssignedClientID     string
	ServerKeepAlive      uint16
	AuthMethod           string
	AuthData             []byte
	RequestProblemInfo   byte
	WillDelay            uint32
	RequestResponseInfo  byte
	ResponseInfo         string
	ServerReference      string
	ReasonString         string
	ReceiveMaximum       uint16
	TopicAliasMaximum    uint16
	TopicAlias           uint16
	MaximumQoS           byte
	RetainAvailable      byte
	User                 []UserProperty // order preserved
	MaximumPacketSize    uint32
	WildcardSubAvailable byte
	SubIDAvailable       byte
	SharedSubAvailable   byte
}

// Has reports whether property id is present.
func (p *Properties) Has(id PropID) bool { return p.Present&(1<<id) != 0 }

// Set marks property id as present.
func (p *Properties) Set(id PropID) { p.Present |= 1 << id }

// Clear marks property id as absent.
func (p *Properties) Clear(id PropID) { p.Present &^= 1 << id }

// Empty reports whether no property would be encoded.
func (p *Properties) Empty() bool {
	return p.Present&^(1<<PropUser|1<<PropSubscriptionID) == 0 &&
		len(p.User) == 0 && len(p.SubscriptionIDs) == 0
}

// Reset empties p and keeps the capacity of its User and SubscriptionIDs slices.
func (p *Properties) Reset() {
	*p = Properties{User: p.User[:0], SubscriptionIDs: p.SubscriptionIDs[:0]}
}

// propKind is the wire type of a property value.
type propKind byte

const (
	kindByte propKind = iota + 1
	kindU16
	kindU32
	kindVarint
	kindString
	kindBinary
	kindPair
)

// ctxWill stands for the will properties of a CONNECT, in a mask of packet types;
// bit 0 is free because packet type 0 does not exist.
const ctxWill = 1 << 0

// propInfo describes one property: its name, wire type and where it may appear
// (bit 1<<Type per packet type, ctxWill for will properties), from Table 2-4.
type propInfo struct {
	name    string
	kind    propKind
	allowed uint16
	sec     string // the section of the 5.0 specification that defines it
}

const (
	inConnect    = 1 << TypeConnect
	inConnack    = 1 << TypeConnack
	inPublish    = 1 << TypePublish
	inAcks       = 1<<TypePuback | 1<<TypePubrec | 1<<TypePubrel | 1<<TypePubcomp
	inSubscribe  = 1 << TypeSubscribe
	inSuback     = 1 << TypeSuback
	inUnsub      = 1 << TypeUnsubscribe
	inUnsuback   = 1 << TypeUnsuback
	inDisconnect = 1 << TypeDisconnect
	inAuth       = 1 << TypeAuth
	inAll        = 0xFFFF
)

var props = [0x2B]propInfo{
	PropPayloadFormat:        {"Payload Format Indicator", kindByte, inPublish | ctxWill, "§3.3.2.3.2"},
	PropMessageExpiry:        {"Message Expiry Interval", kindU32, inPublish | ctxWill, "§3.3.2.3.3"},
	PropContentType:          {"Content Type", kindString, inPublish | ctxWill, "§3.3.2.3.9"},
	PropResponseTopic:        {"Response Topic", kindString, inPublish | ctxWill, "§3.3.2.3.5"},
	PropCorrelationData:      {"Correlation Data", kindBinary, inPublish | ctxWill, "§3.3.2.3.6"},
	PropSubscriptionID:       {"Subscription Identifier", kindVarint, inPublish | inSubscribe, "§3.3.2.3.8"},
	PropSessionExpiry:        {"Session Expiry Interval", kindU32, inConnect | inConnack | inDisconnect, "§3.1.2.11.2"},
	PropAssignedClientID:     {"Assigned Client Identifier", kindString, inConnack, "§3.2.2.3.7"},
	PropServerKeepAlive:      {"Server Keep Alive", kindU16, inConnack, "§3.2.2.3.14"},
	PropAuthMethod:           {"Authentication Method", kindString, inConnect | inConnack | inAuth, "§3.1.2.11.9"},
	PropAuthData:             {"Authentication Data", kindBinary, inConnect | inConnack | inAuth, "§3.1.2.11.10"},
	PropRequestProblemInfo:   {"Request Problem Information", kindByte, inConnect, "§3.1.2.11.7"},
	PropWillDelay:            {"Will Delay Interval", kindU32, ctxWill, "§3.1.3.2.2"},
	PropRequestResponseInfo:  {"Request Response Information", kindByte, inConnect, "§3.1.2.11.6"},
	PropResponseInfo:         {"Response Information", kindString, inConnack, "§3.2.2.3.15"},
	PropServerReference:      {"Server Reference", kindString, inConnack | inDisconnect, "§3.2.2.3.16"},
	PropReasonString:         {"Reason String", kindString, inConnack | inAcks | inSuback | inUnsuback | inDisconnect | inAuth, "§3.2.2.3.9"},
	PropReceiveMaximum:       {"Receive Maximum", kindU16, inConnect | inConnack, "§3.1.2.11.3"},
	PropTopicAliasMaximum:    {"Topic Alias Maximum", kindU16, inConnect | inConnack, "§3.1.2.11.5"},
	PropTopicAlias:           {"Topic Alias", kindU16, inPublish, "§3.3.2.3.4"},
	PropMaximumQoS:           {"Maximum QoS", kindByte, inConnack, "§3.2.2.3.4"},
	PropRetainAvailable:      {"Retain Available", kindByte, inConnack, "§3.2.2.3.5"},
	PropUser:                 {"User Property", kindPair, inAll, "§3.1.2.11.8"},
	PropMaximumPacketSize:    {"Maximum Packet Size", kindU32, inConnect | inConnack, "§3.1.2.11.4"},
	PropWildcardSubAvailable: {"Wildcard Subscription Available", kindByte, inConnack, "§3.2.2.3.11"},
	PropSubIDAvailable:       {"Subscription Identifier Available", kindByte, inConnack, "§3.2.2.3.12"},
	PropSharedSubAvailable:   {"Shared Subscription Available", kindByte, inConnack, "§3.2.2.3.13"},
}

// String returns the property's name as the specification spells it.
func (id PropID) String() string {
	if int(id) < len(props) && props[id].kind != 0 {
		return props[id].name
	}
	return "unknown property"
}

// AllowedIn reports whether property id may appear in a packet of type t
// (Table 2-4). Will properties are not covered; see AllowedInWill.
func (id PropID) AllowedIn(t Type) bool {
	return int(id) < len(props) && t != 0 && props[id].allowed&(1<<t) != 0
}

// AllowedInWill reports whether property id may appear among a will's properties.
func (id PropID) AllowedInWill() bool {
	return int(id) < len(props) && props[id].allowed&ctxWill != 0
}

// decodeProps reads a property length and the properties that follow into p, which it
// resets first. ctx is the bit of the packet type (or ctxWill) whose rules apply.
func decodeProps(r *reader, p *Properties, ctx uint16) error {
	p.Reset()
	n, err := r.varint("property length")
	if err != nil {
		return err
	}
	if n > len(r.b)-r.i {
		return r.malformed("property length exceeds the packet (§2.2.2.1)")
	}
	end := r.i + n
	sub := reader{b: r.b[:end], i: r.i, pkt: r.pkt}
	for sub.i < end {
		if err := decodeProp(&sub, p, ctx); err != nil {
			return err
		}
	}
	r.i = end
	return nil
}

func decodeProp(r *reader, p *Properties, ctx uint16) error {
	// The identifier is a variable byte integer; all defined ones fit in one byte.
	v, err := r.varint("property identifier")
	if err != nil {
		return err
	}
	if v >= len(props) || props[v].kind == 0 {
		return r.malformed("unknown property identifier 0x" + hexStr(v) + " (§2.2.2.2)")
	}
	id := PropID(v)
	info := &props[id]
	if info.allowed&ctx == 0 {
		// An identifier not valid for the packet type is malformed (§2.2.2.2).
		return r.malformed("property " + info.name + " is not allowed here (§2.2.2.2, Table 2-4)")
	}
	repeatable := id == PropUser || (id == PropSubscriptionID && ctx == inPublish)
	if p.Has(id) && !repeatable {
		return r.protocol("property " + info.name + " appears more than once (" + info.sec + ")")
	}
	p.Set(id)
	switch info.kind {
	case kindByte:
		b, err := r.byte(info.name)
		if err != nil {
			return err
		}
		if b > 1 {
			if id == PropPayloadFormat {
				return r.protocol("Payload Format Indicator must be 0 or 1 (§3.3.2.3.2)")
			}
			return r.protocol("property " + info.name + " must be 0 or 1 (" + info.sec + ")")
		}
		setByteProp(p, id, b)
	case kindU16:
		x, err := r.u16(info.name)
		if err != nil {
			return err
		}
		if x == 0 && id != PropServerKeepAlive && id != PropTopicAliasMaximum {
			// Receive Maximum and Topic Alias must not be 0 [MQTT-3.3.2-8].
			return r.protocol("property " + info.name + " must not be 0 (" + info.sec + ")")
		}
		switch id {
		case PropServerKeepAlive:
			p.ServerKeepAlive = x
		case PropReceiveMaximum:
			p.ReceiveMaximum = x
		case PropTopicAliasMaximum:
			p.TopicAliasMaximum = x
		case PropTopicAlias:
			p.TopicAlias = x
		}
	case kindU32:
		x, err := r.u32(info.name)
		if err != nil {
			return err
		}
		switch id {
		case PropMessageExpiry:
			p.MessageExpiry = x
		case PropSessionExpiry:
			p.SessionExpiry = x
		case PropWillDelay:
			p.WillDelay = x
		case PropMaximumPacketSize:
			if x == 0 {
				return r.protocol("property Maximum Packet Size must not be 0 (§3.1.2.11.4)")
			}
			p.MaximumPacketSize = x
		}
	case kindVarint:
		x, err := r.varint(info.name)
		if err != nil {
			return err
		}
		if x == 0 {
			return r.protocol("Subscription Identifier must not be 0 (§3.3.2.3.8)")
		}
		p.SubscriptionIDs = append(p.SubscriptionIDs, uint32(x))
	case kindString:
		s, err := r.str(info.name)
		if err != nil {
			return err
		}
		switch id {
		case PropContentType:
			p.ContentType = s
		case PropResponseTopic:
			if hasWildcard(s) {
				return r.protocol("Response Topic contains a wildcard [MQTT-3.3.2-14]")
			}
			p.ResponseTopic = s
		case PropAssignedClientID:
			p.AssignedClientID = s
		case PropAuthMethod:
			p.AuthMethod = s
		case PropResponseInfo:
			p.ResponseInfo = s
		case PropServerReference:
			p.ServerReference = s
		case PropReasonString:
			p.ReasonString = s
		}
	case kindBinary:
		b, err := r.bin(info.name)
		if err != nil {
			return err
		}
		if id == PropCorrelationData {
			p.CorrelationData = b
		} else {
			p.AuthData = b
		}
	case kindPair:
		k, err := r.str("User Property name")
		if err != nil {
			return err
		}
		val, err := r.str("User Property value")
		if err != nil {
			return err
		}
		p.User = append(p.User, UserProperty{k, val})
	}
	return nil
}

func setByteProp(p *Properties, id PropID, b byte) {
	switch id {
	case PropPayloadFormat:
		p.PayloadFormat = b
	case PropRequestProblemInfo:
		p.RequestProblemInfo = b
	case PropRequestResponseInfo:
		p.RequestResponseInfo = b
	case PropMaximumQoS:
		p.MaximumQoS = b
	case PropRetainAvailable:
		p.RetainAvailable = b
	case PropWildcardSubAvailable:
		p.WildcardSubAvailable = b
	case PropSubIDAvailable:
		p.SubIDAvailable = b
	case PropSharedSubAvailable:
		p.SharedSubAvailable = b
	}
}

func byteProp(p *Properties, id PropID) byte {
	switch id {
	case PropPayloadFormat:
		return p.PayloadFormat
	case PropRequestProblemInfo:
		return p.RequestProblemInfo
	case PropRequestResponseInfo:
		return p.RequestResponseInfo
	case PropMaximumQoS:
		return p.MaximumQoS
	case PropRetainAvailable:
		return p.RetainAvailable
	case PropWildcardSubAvailable:
		return p.WildcardSubAvailable
	case PropSubIDAvailable:
		return p.SubIDAvailable
	}
	return p.SharedSubAvailable
}

func u16Prop(p *Properties, id PropID) uint16 {
	switch id {
	case PropServerKeepAlive:
		return p.ServerKeepAlive
	case PropReceiveMaximum:
		return p.ReceiveMaximum
	case PropTopicAliasMaximum:
		return p.TopicAliasMaximum
	}
	return p.TopicAlias
}

func u32Prop(p *Properties, id PropID) uint32 {
	switch id {
	case PropMessageExpiry:
		return p.MessageExpiry
	case PropSessionExpiry:
		return p.SessionExpiry
	case PropWillDelay:
		return p.WillDelay
	}
	return p.MaximumPacketSize
}

func strProp(p *Properties, id PropID) string {
	switch id {
	case PropContentType:
		return p.ContentType
	case PropResponseTopic:
		return p.ResponseTopic
	case PropAssignedClientID:
		return p.AssignedClientID
	case PropAuthMethod:
		return p.AuthMethod
	case PropResponseInfo:
		return p.ResponseInfo
	case PropServerReference:
		return p.ServerReference
	}
	return p.ReasonString
}

// encoded returns the bits of the properties the encoder writes.
func (p *Properties) encoded() uint64 {
	m := p.Present &^ (1<<PropUser | 1<<PropSubscriptionID)
	if len(p.User) > 0 {
		m |= 1 << PropUser
	}
	if len(p.SubscriptionIDs) > 0 {
		m |= 1 << PropSubscriptionID
	}
	return m
}

// size returns the length of the encoded properties, without their length prefix.
func (p *Properties) size() int {
	n := 0
	for m := p.encoded(); m != 0; m &= m - 1 {
		id := PropID(bits.TrailingZeros64(m))
		if int(id) >= len(props) {
			continue
		}
		switch props[id].kind {
		case kindByte:
			n += 2
		case kindU16:
			n += 3
		case kindU32:
			n += 5
		case kindVarint:
			for _, x := range p.SubscriptionIDs {
				n += 1 + varintLen(int(x))
			}
		case kindString:
			n += 3 + len(strProp(p, id))
		case kindBinary:
			if id == PropCorrelationData {
				n += 3 + len(p.CorrelationData)
			} else {
				n += 3 + len(p.AuthData)
			}
		case kindPair:
			for _, u := range p.User {
				n += 5 + len(u.Key) + len(u.Value)
			}
		}
	}
	return n
}

// sizeWithLength returns the length of the encoded properties with their prefix.
func (p *Properties) sizeWithLength() int {
	n := p.size()
	return varintLen(n) + n
}

// appendProps appends the property length and the properties, in identifier order.
func appendProps(dst []byte, p *Properties, size int) []byte {
	dst = appendVarint(dst, size)
	for m := p.encoded(); m != 0; m &= m - 1 {
		id := PropID(bits.TrailingZeros64(m))
		if int(id) >= len(props) {
			continue
		}
		switch props[id].kind {
		case kindByte:
			dst = append(dst, byte(id), byteProp(p, id))
		case kindU16:
			x := u16Prop(p, id)
			dst = append(dst, byte(id), byte(x>>8), byte(x))
		case kindU32:
			x := u32Prop(p, id)
			dst = append(dst, byte(id), byte(x>>24), byte(x>>16), byte(x>>8), byte(x))
		case kindVarint:
			for _, x := range p.SubscriptionIDs {
				dst = appendVarint(append(dst, byte(id)), int(x))
			}
		case kindString:
			dst = appendString(append(dst, byte(id)), strProp(p, id))
		case kindBinary:
			b := p.AuthData
			if id == PropCorrelationData {
				b = p.CorrelationData
			}
			dst = appendBinary(append(dst, byte(id)), b)
		case kindPair:
			for _, u := range p.User {
				dst = appendString(append(dst, byte(id)), u.Key)
				dst = appendString(dst, u.Value)
			}
		}
	}
	return dst
}
