package packets

import (
	"reflect"
	"testing"
)

// fixture is one packet in both forms: its bytes, written by hand from the
// specification, and the value they decode to. Encoding the value gives the bytes.
type fixture struct {
	name string
	v    byte
	wire string // hex; or "@file" for a file under testdata/
	pkt  Packet
}

func (f fixture) bytes(t testing.TB) []byte {
	if f.wire[0] == '@' {
		return hexFile(t, f.wire[1:])
	}
	return hx(t, f.wire)
}

var fixtures = []fixture{
	// MQTT 3.1.1 and 3.1.
	{"CONNECT 3.1.1 minimal", V311,
		"10 0E 00 04 4D 51 54 54 04 02 00 3C 00 02 63 31",
		&Connect{ProtocolName: "MQTT", ProtocolVersion: V311, CleanStart: true, KeepAlive: 60, ClientID: "c1"}},
	{"CONNECT 3.1.1 will user password", V311,
		"10 1C 00 04 4D 51 54 54 04 EC 00 0A 00 02 69 64 00 01 77 00 03 62 79 65 00 01 75 00 01 70",
		&Connect{ProtocolName: "MQTT", ProtocolVersion: V311, KeepAlive: 10, ClientID: "id",
			Will:        &Will{Topic: "w", Payload: []byte("bye"), QoS: 1, Retain: true},
			HasUsername: true, Username: "u", HasPassword: true, Password: []byte("p")}},
	{"CONNECT 3.1", V31,
		"10 11 00 06 4D 51 49 73 64 70 03 02 00 1E 00 03 61 62 63",
		&Connect{ProtocolName: "MQIsdp", ProtocolVersion: V31, CleanStart: true, KeepAlive: 30, ClientID: "abc"}},
	{"CONNACK 3.1.1 session present", V311, "20 02 01 00", &Connack{SessionPresent: true}},
	{"CONNACK 3.1.1 not authorized", V311, "20 02 00 05", &Connack{Reason: NotAuthorized}},
	{"CONNACK 3.1.1 bad protocol version", V311, "20 02 00 01", &Connack{Reason: UnsupportedProtocolVersion}},
	{"PUBLISH 3.1.1 QoS 0", V311, "30 07 00 03 61 2F 62 68 69",
		&Publish{Topic: "a/b", Payload: []byte("hi")}},
	{"PUBLISH 3.1.1 QoS 1 dup retain", V311, "3B 06 00 01 74 12 34 78",
		&Publish{Dup: true, QoS: 1, Retain: true, Topic: "t", PacketID: 0x1234, Payload: []byte("x")}},
	{"PUBLISH 3.1.1 QoS 2 empty payload", V311, "34 05 00 01 74 00 07",
		&Publish{QoS: 2, Topic: "t", PacketID: 7, Payload: []byte{}}},
	{"PUBACK 3.1.1", V311, "40 02 00 01", &Ack{Kind: TypePuback, PacketID: 1}},
	{"PUBREC 3.1.1", V311, "50 02 00 02", &Ack{Kind: TypePubrec, PacketID: 2}},
	{"PUBREL 3.1.1", V311, "62 02 00 03", &Ack{Kind: TypePubrel, PacketID: 3}},
	{"PUBCOMP 3.1.1", V311, "70 02 00 04", &Ack{Kind: TypePubcomp, PacketID: 4}},
	{"SUBSCRIBE 3.1.1", V311, "82 0C 00 0A 00 03 61 2F 2B 01 00 01 23 02",
		&Subscribe{PacketID: 10, Subscriptions: []Subscription{{Filter: "a/+", QoS: 1}, {Filter: "#", QoS: 2}}}},
	{"SUBACK 3.1.1", V311, "90 05 00 0A 01 02 80",
		&Suback{PacketID: 10, Reasons: []ReasonCode{GrantedQoS1, GrantedQoS2, UnspecifiedError}}},
	{"UNSUBSCRIBE 3.1.1", V311, "A2 07 00 0B 00 03 61 2F 62",
		&Unsubscribe{PacketID: 11, Filters: []string{"a/b"}}},
	{"UNSUBACK 3.1.1", V311, "B0 02 00 0B", &Unsuback{PacketID: 11}},
	{"PINGREQ", V311, "C0 00", &Pingreq{}},
	{"PINGRESP", V311, "D0 00", &Pingresp{}},
	{"DISCONNECT 3.1.1", V311, "E0 00", &Disconnect{}},

	// MQTT 5.0.
	{"CONNECT 5.0 minimal", V5,
		"10 0F 00 04 4D 51 54 54 05 02 00 3C 00 00 02 63 31",
		&Connect{ProtocolName: "MQTT", ProtocolVersion: V5, CleanStart: true, KeepAlive: 60, ClientID: "c1"}},
	{"CONNECT 5.0 password without user name", V5,
		"10 11 00 04 4D 51 54 54 05 40 00 00 00 00 00 00 02 70 77",
		&Connect{ProtocolName: "MQTT", ProtocolVersion: V5, HasPassword: true, Password: []byte("pw")}},
	{"CONNECT 5.0 every property", V5, "@connect_v5_full.hex",
		&Connect{ProtocolName: "MQTT", ProtocolVersion: V5, CleanStart: true, KeepAlive: 30, ClientID: "cid",
			HasUsername: true, Username: "user", HasPassword: true, Password: []byte{1, 2, 3},
			Properties: Properties{
				Present: present(PropSessionExpiry, PropAuthMethod, PropAuthData, PropRequestProblemInfo,
					PropRequestResponseInfo, PropReceiveMaximum, PropTopicAliasMaximum, PropUser, PropMaximumPacketSize),
				SessionExpiry: 120, AuthMethod: "TEST", AuthData: []byte{0x2A}, RequestProblemInfo: 1,
				RequestResponseInfo: 1, ReceiveMaximum: 10, TopicAliasMaximum: 5,
				User: []UserProperty{{"a", "b"}}, MaximumPacketSize: 4096,
			},
			Will: &Will{Topic: "w/lt", Payload: []byte("dead"), QoS: 1, Properties: Properties{
				Present: present(PropPayloadFormat, PropMessageExpiry, PropContentType, PropResponseTopic,
					PropCorrelationData, PropWillDelay, PropUser),
				PayloadFormat: 1, MessageExpiry: 60, ContentType: "text", ResponseTopic: "r/1",
				CorrelationData: []byte{0xAB, 0xCD}, WillDelay: 5, User: []UserProperty{{"k", "v"}},
			}}}},
	{"CONNACK 5.0 success", V5, "20 03 00 00 00", &Connack{}},
	{"CONNACK 5.0 session present and properties", V5, "20 0A 01 00 07 12 00 01 78 22 00 0A",
		&Connack{SessionPresent: true, Properties: Properties{
			Present: present(PropAssignedClientID, PropTopicAliasMaximum), AssignedClientID: "x", TopicAliasMaximum: 10}}},
	{"CONNACK 5.0 every property", V5, "@connack_v5_full.hex",
		&Connack{Properties: Properties{
			Present: present(PropSessionExpiry, PropAssignedClientID, PropServerKeepAlive, PropAuthMethod,
				PropAuthData, PropResponseInfo, PropServerReference, PropReasonString, PropReceiveMaximum,
				PropTopicAliasMaximum, PropMaximumQoS, PropRetainAvailable, PropUser, PropMaximumPacketSize,
				PropWildcardSubAvailable, PropSubIDAvailable, PropSharedSubAvailable),
			SessionExpiry: 60, AssignedClientID: "id", ServerKeepAlive: 30, AuthMethod: "X", AuthData: []byte{1},
			ResponseInfo: "r/", ServerReference: "s2", ReasonString: "ok", ReceiveMaximum: 100,
			TopicAliasMaximum: 10, MaximumQoS: 1, RetainAvailable: 0, User: []UserProperty{{"a", "b"}},
			MaximumPacketSize: 65536, WildcardSubAvailable: 1, SubIDAvailable: 0, SharedSubAvailable: 1}}},
	{"CONNACK 5.0 refused", V5, "20 03 00 86 00", &Connack{Reason: BadUserNameOrPassword}},
	{"PUBLISH 5.0 QoS 0", V5, "30 08 00 03 61 2F 62 00 68 69",
		&Publish{Topic: "a/b", Payload: []byte("hi")}},
	{"PUBLISH 5.0 QoS 1 properties", V5, "32 0C 00 01 74 00 01 05 01 01 23 00 05 78",
		&Publish{QoS: 1, Topic: "t", PacketID: 1, Payload: []byte("x"), Properties: Properties{
			Present: present(PropPayloadFormat, PropTopicAlias), PayloadFormat: 1, TopicAlias: 5}}},
	{"PUBLISH 5.0 empty topic with alias", V5, "30 07 00 00 03 23 00 05 78",
		&Publish{Payload: []byte("x"), Properties: Properties{Present: present(PropTopicAlias), TopicAlias: 5}}},
	{"PUBLISH 5.0 every property", V5, "@publish_v5_full.hex",
		&Publish{QoS: 1, Topic: "a/b", PacketID: 258, Payload: []byte("{}"), Properties: Properties{
			Present: present(PropPayloadFormat, PropMessageExpiry, PropContentType, PropResponseTopic,
				PropCorrelationData, PropSubscriptionID, PropTopicAlias, PropUser),
			PayloadFormat: 1, MessageExpiry: 300, ContentType: "json", ResponseTopic: "r/b",
			CorrelationData: []byte{7}, SubscriptionIDs: []uint32{1, 128}, TopicAlias: 2,
			User: []UserProperty{{"x", "y"}, {"x", "z"}}}}},
	{"PUBACK 5.0 success shortest", V5, "40 02 00 01", &Ack{Kind: TypePuback, PacketID: 1}},
	{"PUBACK 5.0 reason only", V5, "40 03 00 01 10", &Ack{Kind: TypePuback, PacketID: 1, Reason: NoMatchingSubscribers}},
	{"PUBACK 5.0 reason string", V5, "40 09 00 01 80 05 1F 00 02 6E 6F",
		&Ack{Kind: TypePuback, PacketID: 1, Reason: UnspecifiedError,
			Properties: Properties{Present: present(PropReasonString), ReasonString: "no"}}},
	{"PUBREC 5.0 quota exceeded", V5, "50 03 00 02 97", &Ack{Kind: TypePubrec, PacketID: 2, Reason: QuotaExceeded}},
	{"PUBREL 5.0 not found", V5, "62 03 00 03 92", &Ack{Kind: TypePubrel, PacketID: 3, Reason: PacketIdentifierNotFound}},
	{"PUBCOMP 5.0 user property", V5, "70 0B 00 04 00 07 26 00 01 61 00 01 62",
		&Ack{Kind: TypePubcomp, PacketID: 4, Properties: Properties{Present: present(PropUser), User: []UserProperty{{"a", "b"}}}}},
	{"SUBSCRIBE 5.0 options and identifier", V5, "82 0B 00 01 02 0B 07 00 03 61 2F 62 2D",
		&Subscribe{PacketID: 1, Properties: Properties{Present: present(PropSubscriptionID), SubscriptionIDs: []uint32{7}},
			Subscriptions: []Subscription{{Filter: "a/b", QoS: 1, NoLocal: true, RetainAsPublished: true, RetainHandling: 2}}}},
	{"SUBACK 5.0", V5, "90 05 00 01 00 00 87", &Suback{PacketID: 1, Reasons: []ReasonCode{GrantedQoS0, NotAuthorized}}},
	{"UNSUBSCRIBE 5.0", V5, "A2 06 00 02 00 00 01 61", &Unsubscribe{PacketID: 2, Filters: []string{"a"}}},
	{"UNSUBACK 5.0", V5, "B0 05 00 02 00 00 11", &Unsuback{PacketID: 2, Reasons: []ReasonCode{Success, NoSubscriptionExisted}}},
	{"PINGREQ 5.0", V5, "C0 00", &Pingreq{}},
	{"PINGRESP 5.0", V5, "D0 00", &Pingresp{}},
	{"DISCONNECT 5.0 normal shortest", V5, "E0 00", &Disconnect{}},
	{"DISCONNECT 5.0 with will", V5, "E0 01 04", &Disconnect{Reason: DisconnectWithWill}},
	{"DISCONNECT 5.0 session expiry", V5, "E0 07 00 05 11 00 00 00 00",
		&Disconnect{Properties: Properties{Present: present(PropSessionExpiry)}}},
	{"AUTH 5.0 continue", V5, "F0 0F 18 0D 15 00 05 53 43 52 41 4D 16 00 02 01 02",
		&Auth{Reason: ContinueAuthentication, Properties: Properties{Present: present(PropAuthMethod, PropAuthData),
			AuthMethod: "SCRAM", AuthData: []byte{1, 2}}}},
	{"AUTH 5.0 success shortest", V5, "F0 00", &Auth{}},
}

func TestFixturesDecode(t *testing.T) {
	for _, f := range fixtures {
		t.Run(f.name, func(t *testing.T) {
			got, err := decodeAll(f.bytes(t), f.v)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !reflect.DeepEqual(got, f.pkt) {
				t.Errorf("decode:\n got %+v\nwant %+v", got, f.pkt)
			}
		})
	}
}

func TestFixturesEncode(t *testing.T) {
	for _, f := range fixtures {
		t.Run(f.name, func(t *testing.T) {
			sameBytes(t, "encode", f.pkt.Append(nil, f.v), f.bytes(t))
		})
	}
}

// TestEncodeForOtherVersion covers what Append drops or maps when it writes a
// packet for a version other than the one it came from.
func TestEncodeForOtherVersion(t *testing.T) {
	props := Properties{Present: present(PropReasonString), ReasonString: "r"}
	tests := []struct {
		name string
		pkt  Packet
		v    byte
		want string
	}{
		{"3.1.1 PUBLISH drops properties", &Publish{Topic: "a", Payload: []byte("x"), Properties: props}, V311,
			"30 04 00 01 61 78"},
		{"3.1.1 PUBACK drops reason and properties", &Ack{Kind: TypePuback, PacketID: 9, Reason: QuotaExceeded, Properties: props}, V311,
			"40 02 00 09"},
		{"3.1.1 SUBACK writes 0x80 for any error", &Suback{PacketID: 1, Reasons: []ReasonCode{NotAuthorized, GrantedQoS1, QuotaExceeded}}, V311,
			"90 05 00 01 80 01 80"},
		{"3.1.1 UNSUBACK drops reason codes", &Unsuback{PacketID: 3, Reasons: []ReasonCode{NoSubscriptionExisted}}, V311,
			"B0 02 00 03"},
		{"3.1.1 CONNACK maps the reason to a return code", &Connack{Reason: Banned}, V311, "20 02 00 05"},
		{"3.1.1 CONNACK server busy is server unavailable", &Connack{Reason: ServerBusy}, V311, "20 02 00 03"},
		{"3.1.1 DISCONNECT drops reason", &Disconnect{Reason: ServerShuttingDown, Properties: props}, V311, "E0 00"},
		{"3.1.1 SUBSCRIBE writes only QoS options", &Subscribe{PacketID: 1, Subscriptions: []Subscription{{Filter: "a", QoS: 1, NoLocal: true, RetainHandling: 2}}}, V311,
			"82 06 00 01 00 01 61 01"},
		{"3.1 CONNECT names the protocol MQIsdp", &Connect{ProtocolName: "MQTT", ProtocolVersion: V5, ClientID: "c"}, V31,
			"10 0F 00 06 4D 51 49 73 64 70 03 00 00 00 00 01 63"},
		{"3.1 CONNACK has no session present", &Connack{SessionPresent: true}, V31, "20 02 00 00"},
		{"5.0 DISCONNECT reason without properties", &Disconnect{Reason: ServerShuttingDown}, V5, "E0 01 8B"},
		{"5.0 PUBREL success with properties keeps the reason", &Ack{Kind: TypePubrel, PacketID: 1, Properties: props}, V5,
			"62 08 00 01 00 04 1F 00 01 72"},
		{"5.0 PUBACK with User bit set but no pairs is short", &Ack{Kind: TypePuback, PacketID: 1, Properties: Properties{Present: present(PropUser)}}, V5,
			"40 02 00 01"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sameBytes(t, "encode", tt.pkt.Append(nil, tt.v), hx(t, tt.want))
		})
	}
}

// TestDecodeNonCanonical covers inputs that are valid but not in the shortest form:
// they decode, and encode back to the shortest form.
func TestDecodeNonCanonical(t *testing.T) {
	tests := []struct {
		name      string
		v         byte
		in, canon string
	}{
		{"remaining length in more bytes than needed", V311, "C0 80 00", "C0 00"},
		{"5.0 PUBACK Success with empty properties", V5, "40 04 00 01 00 00", "40 02 00 01"},
		{"5.0 PUBACK Success without properties", V5, "40 03 00 01 00", "40 02 00 01"},
		{"5.0 DISCONNECT Success with empty properties", V5, "E0 02 00 00", "E0 00"},
		{"5.0 AUTH Success with empty properties", V5, "F0 02 00 00", "F0 00"},
		{"5.0 property length in two bytes", V5, "30 07 00 01 61 80 00 68 69", "30 06 00 01 61 00 68 69"},
		{"5.0 Subscription Identifier in two bytes", V5, "82 0A 00 01 03 0B 81 00 00 01 61 00", "82 09 00 01 02 0B 01 00 01 61 00"},
		{"properties in another order", V5, "30 0A 00 01 61 05 23 00 01 01 01 78", "30 0A 00 01 61 05 01 01 23 00 01 78"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := decodeAll(hx(t, tt.in), tt.v)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			sameBytes(t, "re-encode", p.Append(nil, tt.v), hx(t, tt.canon))
		})
	}
}
