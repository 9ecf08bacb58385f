package packets

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// propCases gives every property a value and its encoding, written by hand from
// §2.2.2.2 and the section of each property.
var propCases = []struct {
	id   PropID
	set  func(*Properties)
	wire string
}{
	{PropPayloadFormat, func(p *Properties) { p.PayloadFormat = 1 }, "01 01"},
	{PropMessageExpiry, func(p *Properties) { p.MessageExpiry = 0x01020304 }, "02 01 02 03 04"},
	{PropContentType, func(p *Properties) { p.ContentType = "ct" }, "03 00 02 63 74"},
	{PropResponseTopic, func(p *Properties) { p.ResponseTopic = "rt" }, "08 00 02 72 74"},
	{PropCorrelationData, func(p *Properties) { p.CorrelationData = []byte{9, 8} }, "09 00 02 09 08"},
	{PropSubscriptionID, func(p *Properties) { p.SubscriptionIDs = []uint32{maxVarint} }, "0B FF FF FF 7F"},
	{PropSessionExpiry, func(p *Properties) { p.SessionExpiry = 0xFFFFFFFF }, "11 FF FF FF FF"},
	{PropAssignedClientID, func(p *Properties) { p.AssignedClientID = "aci" }, "12 00 03 61 63 69"},
	{PropServerKeepAlive, func(p *Properties) { p.ServerKeepAlive = 300 }, "13 01 2C"},
	{PropAuthMethod, func(p *Properties) { p.AuthMethod = "m" }, "15 00 01 6D"},
	{PropAuthData, func(p *Properties) { p.AuthData = []byte{1} }, "16 00 01 01"},
	{PropRequestProblemInfo, func(p *Properties) { p.RequestProblemInfo = 0 }, "17 00"},
	{PropWillDelay, func(p *Properties) { p.WillDelay = 7 }, "18 00 00 00 07"},
	{PropRequestResponseInfo, func(p *Properties) { p.RequestResponseInfo = 1 }, "19 01"},
	{PropResponseInfo, func(p *Properties) { p.ResponseInfo = "ri" }, "1A 00 02 72 69"},
	{PropServerReference, func(p *Properties) { p.ServerReference = "sr" }, "1C 00 02 73 72"},
	{PropReasonString, func(p *Properties) { p.ReasonString = "rs" }, "1F 00 02 72 73"},
	{PropReceiveMaximum, func(p *Properties) { p.ReceiveMaximum = 65535 }, "21 FF FF"},
	{PropTopicAliasMaximum, func(p *Properties) { p.TopicAliasMaximum = 0 }, "22 00 00"},
	{PropTopicAlias, func(p *Properties) { p.TopicAlias = 1 }, "23 00 01"},
	{PropMaximumQoS, func(p *Properties) { p.MaximumQoS = 0 }, "24 00"},
	{PropRetainAvailable, func(p *Properties) { p.RetainAvailable = 1 }, "25 01"},
	{PropUser, func(p *Properties) { p.User = []UserProperty{{"k", "v"}, {"k", ""}} }, "26 00 01 6B 00 01 76 26 00 01 6B 00 00"},
	{PropMaximumPacketSize, func(p *Properties) { p.MaximumPacketSize = 268435460 }, "27 10 00 00 04"},
	{PropWildcardSubAvailable, func(p *Properties) { p.WildcardSubAvailable = 0 }, "28 00"},
	{PropSubIDAvailable, func(p *Properties) { p.SubIDAvailable = 1 }, "29 01"},
	{PropSharedSubAvailable, func(p *Properties) { p.SharedSubAvailable = 0 }, "2A 00"},
}

// propertyTypes are the 5.0 packet types that carry properties.
var propertyTypes = []Type{TypeConnect, TypeConnack, TypePublish, TypePuback, TypePubrec, TypePubrel,
	TypePubcomp, TypeSubscribe, TypeSuback, TypeUnsubscribe, TypeUnsuback, TypeDisconnect, TypeAuth}

// packetWith returns a small valid 5.0 packet of type t carrying p; will is for
// the will properties of a CONNECT.
func packetWith(t Type, p Properties, will bool) Packet {
	switch t {
	case TypeConnect:
		c := &Connect{ProtocolName: "MQTT", ProtocolVersion: V5, ClientID: "c"}
		if will {
			c.Will = &Will{Topic: "w", Payload: []byte{}, Properties: p}
		} else {
			if p.Has(PropAuthData) && !p.Has(PropAuthMethod) {
				p.Set(PropAuthMethod) // data needs a method (§3.1.2.11.10)
				p.AuthMethod = "m"
			}
			c.Properties = p
		}
		return c
	case TypeConnack:
		return &Connack{Properties: p}
	case TypePublish:
		return &Publish{Topic: "t", Payload: []byte{}, Properties: p}
	case TypePuback, TypePubrec, TypePubrel, TypePubcomp:
		return &Ack{Kind: t, PacketID: 1, Properties: p}
	case TypeSubscribe:
		return &Subscribe{PacketID: 1, Subscriptions: []Subscription{{Filter: "f"}}, Properties: p}
	case TypeSuback:
		return &Suback{PacketID: 1, Reasons: []ReasonCode{GrantedQoS0}, Properties: p}
	case TypeUnsubscribe:
		return &Unsubscribe{PacketID: 1, Filters: []string{"f"}, Properties: p}
	case TypeUnsuback:
		return &Unsuback{PacketID: 1, Reasons: []ReasonCode{Success}, Properties: p}
	case TypeDisconnect:
		return &Disconnect{Properties: p}
	case TypeAuth:
		if !p.Has(PropAuthMethod) {
			p.Set(PropAuthMethod) // AUTH needs a method (§3.15.2.2.2)
			p.AuthMethod = "m"
		}
		return &Auth{Reason: ContinueAuthentication, Properties: p}
	}
	panic("no packet for " + t.String())
}

func TestEveryPropertyRoundTripsWhereAllowed(t *testing.T) {
	for _, pc := range propCases {
		var p Properties
		p.Set(pc.id)
		pc.set(&p)
		check := func(name string, pkt Packet) {
			t.Run(pc.id.String()+" in "+name, func(t *testing.T) {
				wire := pkt.Append(nil, V5)
				if !bytes.Contains(wire, hx(t, pc.wire)) {
					t.Errorf("encoding % X lacks % X", wire, hx(t, pc.wire))
				}
				got, err := decodeAll(wire, V5)
				if err != nil {
					t.Fatalf("decode % X: %v", wire, err)
				}
				if !reflect.DeepEqual(got, pkt) {
					t.Errorf("round trip:\n got %+v\nwant %+v", got, pkt)
				}
			})
		}
		for _, typ := range propertyTypes {
			if pc.id.AllowedIn(typ) && !(pc.id == PropSubscriptionID && typ == TypeSubscribe && len(p.SubscriptionIDs) > 1) {
				check(typ.String(), packetWith(typ, p, false))
			}
		}
		if pc.id.AllowedInWill() {
			check("will", packetWith(TypeConnect, p, true))
		}
	}
}

// TestPropertyRejectedWhereNotAllowed checks Table 2-4 the other way round: a
// property in a packet that does not allow it is a malformed packet (§2.2.2.2).
func TestPropertyRejectedWhereNotAllowed(t *testing.T) {
	for _, pc := range propCases {
		var p Properties
		p.Set(pc.id)
		pc.set(&p)
		check := func(name string, pkt Packet) {
			t.Run(pc.id.String()+" in "+name, func(t *testing.T) {
				wire := pkt.Append(nil, V5)
				_, err := decodeAll(wire, V5)
				var e *Error
				if !errors.As(err, &e) || e.Reason != MalformedPacket {
					t.Fatalf("decode % X: got %v, want a malformed packet", wire, err)
				}
			})
		}
		for _, typ := range propertyTypes {
			if !pc.id.AllowedIn(typ) {
				check(typ.String(), packetWith(typ, p, false))
			}
		}
		if !pc.id.AllowedInWill() {
			check("will", packetWith(TypeConnect, p, true))
		}
	}
}

func TestUnknownPropertyIsMalformed(t *testing.T) {
	for id := 0; id < 0x80; id++ {
		if id < len(props) && props[id].kind != 0 {
			continue
		}
		in := []byte{0x30, 6, 0, 1, 'a', 2, byte(id), 0}
		_, err := decodeAll(in, V5)
		var e *Error
		if !errors.As(err, &e) || e.Reason != MalformedPacket {
			t.Errorf("property 0x%02X: got %v, want malformed", id, err)
		}
	}
}

func TestPropertiesBits(t *testing.T) {
	var p Properties
	if p.Has(PropTopicAlias) || !p.Empty() {
		t.Fatal("zero Properties reports a property")
	}
	p.Set(PropTopicAlias)
	if !p.Has(PropTopicAlias) || p.Empty() {
		t.Fatal("Set did not mark Topic Alias")
	}
	p.Clear(PropTopicAlias)
	if p.Has(PropTopicAlias) || !p.Empty() {
		t.Fatal("Clear did not unmark Topic Alias")
	}
	p.User = append(p.User, UserProperty{"a", "b"})
	if p.Empty() {
		t.Fatal("User Properties without their bit are not encoded")
	}
}

func TestDecodeIntoReusesUserPropertyCapacity(t *testing.T) {
	in := frame(t, "30 | 00 01 61 07 26 00 01 6B 00 01 76")
	h, n, _ := DecodeFixedHeader(in)
	var p Publish
	p.Properties.User = make([]UserProperty, 0, 4)
	p.Properties.SessionExpiry = 99 // stale, must be cleared
	if err := p.Decode(h, in[n:], V5); err != nil {
		t.Fatal(err)
	}
	if cap(p.Properties.User) != 4 || len(p.Properties.User) != 1 || p.Properties.SessionExpiry != 0 {
		t.Fatalf("got %+v", p.Properties)
	}
}
