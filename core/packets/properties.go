package packets

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
