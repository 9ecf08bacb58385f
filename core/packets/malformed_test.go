package packets

import (
	"errors"
	"strings"
	"testing"
)

// frame builds a packet from "first byte | body", filling in the remaining length,
// so that a malformed body need not also get its length right by hand. Without a
// "|" the hex is taken as the whole packet.
func frame(t testing.TB, s string) []byte {
	t.Helper()
	first, body, ok := strings.Cut(s, "|")
	if !ok {
		return hx(t, s)
	}
	b := hx(t, body)
	return append(appendVarint(hx(t, first), len(b)), b...)
}

const (
	mqtt4 = "00 04 4D 51 54 54 04" // protocol name "MQTT", level 4
	mqtt5 = "00 04 4D 51 54 54 05" // protocol name "MQTT", level 5
)

// malformedInputs are packets that break one rule each, with the reason code the
// receiver must answer with.
var malformedInputs = []struct {
	name string
	v    byte
	in   string
	want ReasonCode
}{
	// Fixed header (§2.1).
	{"reserved packet type 0", V311, "00 00", MalformedPacket},
	{"remaining length of five bytes", V311, "30 FF FF FF FF 7F", MalformedPacket},
	{"PUBREL flags 0000", V311, "60 02 00 01", MalformedPacket},
	{"SUBSCRIBE flags 0000", V311, "80 | 00 01 00 01 61 00", MalformedPacket},
	{"UNSUBSCRIBE flags 0000", V311, "A0 | 00 01 00 01 61", MalformedPacket},
	{"PUBACK flags 0010", V311, "42 02 00 01", MalformedPacket},
	{"PINGREQ flags 0001", V311, "C1 00", MalformedPacket},
	{"PUBLISH QoS 3", V311, "36 | 00 01 61 00 01", MalformedPacket},
	{"PUBLISH DUP with QoS 0 in 3.1.1", V311, "38 | 00 01 61 78", ProtocolError},
	{"PUBLISH DUP with QoS 0 in 5.0", V5, "38 | 00 01 61 00 78", ProtocolError},

	// Lengths and leftovers (§2.1.4).
	{"string longer than the packet", V311, "30 | 00 05 61", MalformedPacket},
	{"PUBACK one byte short", V311, "40 | 00", MalformedPacket},
	{"PUBACK 3.1.1 with a reason code", V311, "40 | 00 01 00", MalformedPacket},
	{"PUBACK 5.0 properties longer than the packet", V5, "40 | 00 01 00 05 1F 00", MalformedPacket},
	{"PUBACK 5.0 bytes after the properties", V5, "40 | 00 01 00 00 FF", MalformedPacket},
	{"PINGREQ with a body", V311, "C0 | 00", MalformedPacket},
	{"PINGRESP with a body", V5, "D0 | 00", MalformedPacket},
	{"DISCONNECT 3.1.1 with a body", V311, "E0 | 00", MalformedPacket},
	{"CONNACK 3.1.1 with a trailing byte", V311, "20 | 00 00 00", MalformedPacket},
	{"UNSUBACK 3.1.1 with a reason code", V311, "B0 | 00 01 00", MalformedPacket},
	{"CONNECT with trailing bytes", V311, "10 | " + mqtt4 + " 02 00 00 00 01 63 FF", MalformedPacket},
	{"property length of five bytes", V5, "30 | 00 01 61 FF FF FF FF 7F", MalformedPacket},

	// UTF-8 strings [MQTT-1.5.4-1] [MQTT-1.5.4-2].
	{"topic not UTF-8", V311, "30 | 00 02 C3 28 78", MalformedPacket},
	{"topic with U+0000", V311, "30 | 00 02 61 00", MalformedPacket},
	{"topic with a surrogate", V311, "30 | 00 03 ED A0 80", MalformedPacket},
	{"client identifier not UTF-8", V311, "10 | " + mqtt4 + " 02 00 00 00 01 FF", MalformedPacket},
	{"user name with U+0000", V311, "10 | " + mqtt4 + " 82 00 00 00 00 00 01 00", MalformedPacket},
	{"topic filter not UTF-8", V311, "82 | 00 01 00 01 FE 00", MalformedPacket},
	{"User Property value not UTF-8", V5, "30 | 00 01 61 07 26 00 01 6B 00 01 FF", MalformedPacket},

	// CONNECT (§3.1).
	{"CONNECT level 6", V311, "10 | 00 04 4D 51 54 54 06 02 00 00 00 00", UnsupportedProtocolVersion},
	{"CONNECT MQTT with level 3", V311, "10 | 00 04 4D 51 54 54 03 02 00 00 00 00", UnsupportedProtocolVersion},
	{"CONNECT MQIsdp with level 4", V311, "10 | 00 06 4D 51 49 73 64 70 04 02 00 00 00 00", UnsupportedProtocolVersion},
	{"CONNECT unknown protocol name", V311, "10 | 00 04 58 58 58 58 04 02 00 00 00 00", UnsupportedProtocolVersion},
	{"CONNECT reserved flag", V311, "10 | " + mqtt4 + " 03 00 00 00 00", MalformedPacket},
	{"CONNECT will QoS without will flag", V311, "10 | " + mqtt4 + " 0A 00 00 00 00", MalformedPacket},
	{"CONNECT will retain without will flag", V311, "10 | " + mqtt4 + " 22 00 00 00 00", MalformedPacket},
	{"CONNECT will QoS 3", V311, "10 | " + mqtt4 + " 1E 00 00 00 00 00 01 77 00 00", MalformedPacket},
	{"CONNECT 3.1.1 password without user name", V311, "10 | " + mqtt4 + " 42 00 00 00 00 00 01 70", MalformedPacket},
	{"CONNECT user name flag without user name", V311, "10 | " + mqtt4 + " 82 00 00 00 00", MalformedPacket},
	{"CONNECT will topic with a wildcard", V311, "10 | " + mqtt4 + " 06 00 00 00 00 00 01 23 00 00", TopicNameInvalid},
	{"CONNECT empty will topic", V311, "10 | " + mqtt4 + " 06 00 00 00 00 00 00 00 00", TopicNameInvalid},
	{"CONNECT 5.0 Topic Alias not allowed", V5, "10 | " + mqtt5 + " 02 00 00 03 23 00 01 00 00", MalformedPacket},
	{"CONNECT 5.0 Session Expiry twice", V5, "10 | " + mqtt5 + " 02 00 00 0A 11 00 00 00 01 11 00 00 00 02 00 00", ProtocolError},
	{"CONNECT 5.0 Receive Maximum 0", V5, "10 | " + mqtt5 + " 02 00 00 03 21 00 00 00 00", ProtocolError},
	{"CONNECT 5.0 Maximum Packet Size 0", V5, "10 | " + mqtt5 + " 02 00 00 05 27 00 00 00 00 00 00", ProtocolError},
	{"CONNECT 5.0 Request Problem Information 2", V5, "10 | " + mqtt5 + " 02 00 00 02 17 02 00 00", ProtocolError},
	{"CONNECT 5.0 Request Response Information 2", V5, "10 | " + mqtt5 + " 02 00 00 02 19 02 00 00", ProtocolError},
	{"CONNECT 5.0 Authentication Data without Method", V5, "10 | " + mqtt5 + " 02 00 00 04 16 00 01 01 00 00", ProtocolError},
	{"CONNECT 5.0 unknown property", V5, "10 | " + mqtt5 + " 02 00 00 02 05 00 00 00", MalformedPacket},
	{"CONNECT 5.0 will property not allowed", V5, "10 | " + mqtt5 + " 06 00 00 00 00 00 05 11 00 00 00 01 00 01 77 00 00", MalformedPacket},
	{"CONNECT 5.0 will payload not UTF-8", V5, "10 | " + mqtt5 + " 06 00 00 00 00 00 02 01 01 00 01 77 00 01 FF", PayloadFormatInvalid},
	{"CONNECT 5.0 will Response Topic with a wildcard", V5, "10 | " + mqtt5 + " 06 00 00 00 00 00 04 08 00 01 2B 00 01 77 00 00", ProtocolError},

	// CONNACK (§3.2).
	{"CONNACK reserved flags", V311, "20 | 02 00", MalformedPacket},
	{"CONNACK 3.1.1 return code 6", V311, "20 | 00 06", MalformedPacket},
	{"CONNACK 3.1.1 session present with an error", V311, "20 | 01 05", ProtocolError},
	{"CONNACK 5.0 reason not valid for CONNACK", V5, "20 | 00 10 00", ProtocolError},
	{"CONNACK 5.0 Maximum QoS 2", V5, "20 | 00 00 02 24 02", ProtocolError},
	{"CONNACK 5.0 Retain Available 2", V5, "20 | 00 00 02 25 02", ProtocolError},
	{"CONNACK 5.0 Wildcard Subscription Available 2", V5, "20 | 00 00 02 28 02", ProtocolError},
	{"CONNACK 5.0 Subscription Identifier Available 2", V5, "20 | 00 00 02 29 02", ProtocolError},
	{"CONNACK 5.0 Shared Subscription Available 2", V5, "20 | 00 00 02 2A 02", ProtocolError},
	{"CONNACK 5.0 Will Delay not allowed", V5, "20 | 00 00 05 18 00 00 00 01", MalformedPacket},

	// PUBLISH (§3.3).
	{"PUBLISH topic with +", V311, "30 | 00 03 61 2F 2B", TopicNameInvalid},
	{"PUBLISH topic with #", V5, "30 | 00 01 23 00", TopicNameInvalid},
	{"PUBLISH QoS 1 packet identifier 0", V311, "32 | 00 01 61 00 00", ProtocolError},
	{"PUBLISH QoS 1 without packet identifier", V311, "32 | 00 01 61 00", MalformedPacket},
	{"PUBLISH 3.1.1 empty topic", V311, "30 | 00 00 78", TopicNameInvalid},
	{"PUBLISH 5.0 empty topic without Topic Alias", V5, "30 | 00 00 00 78", ProtocolError},
	{"PUBLISH 5.0 payload not UTF-8 with Payload Format 1", V5, "30 | 00 01 61 02 01 01 FF FE", PayloadFormatInvalid},
	{"PUBLISH 5.0 Payload Format 2", V5, "30 | 00 01 61 02 01 02", ProtocolError},
	{"PUBLISH 5.0 Subscription Identifier 0", V5, "30 | 00 01 61 02 0B 00", ProtocolError},
	{"PUBLISH 5.0 Topic Alias 0", V5, "30 | 00 01 61 03 23 00 00", ProtocolError},
	{"PUBLISH 5.0 Topic Alias twice", V5, "30 | 00 01 61 06 23 00 01 23 00 02", ProtocolError},
	{"PUBLISH 5.0 Content Type twice", V5, "30 | 00 01 61 08 03 00 01 61 03 00 01 62", ProtocolError},
	{"PUBLISH 5.0 Response Topic with a wildcard", V5, "30 | 00 01 61 04 08 00 01 23", ProtocolError},
	{"PUBLISH 5.0 Session Expiry not allowed", V5, "30 | 00 01 61 05 11 00 00 00 01", MalformedPacket},
	{"PUBLISH 5.0 Content Type not UTF-8", V5, "30 | 00 01 61 04 03 00 01 C0", MalformedPacket},
	{"PUBLISH 5.0 Message Expiry cut short", V5, "30 | 00 01 61 03 02 00 00", MalformedPacket},

	// Acknowledgements (§3.4-3.7).
	{"PUBACK packet identifier 0", V311, "40 | 00 00", ProtocolError},
	{"PUBREL 5.0 reason not valid for PUBREL", V5, "62 | 00 01 10", ProtocolError},
	{"PUBACK 5.0 reason not valid for PUBACK", V5, "40 | 00 01 92", ProtocolError},
	{"PUBACK 5.0 Topic Alias not allowed", V5, "40 | 00 01 00 03 23 00 01", MalformedPacket},

	// SUBSCRIBE (§3.8).
	{"SUBSCRIBE 3.1.1 without filters", V311, "82 | 00 01", ProtocolError},
	{"SUBSCRIBE 5.0 without filters", V5, "82 | 00 01 00", ProtocolError},
	{"SUBSCRIBE packet identifier 0", V311, "82 | 00 00 00 01 61 00", ProtocolError},
	{"SUBSCRIBE filter without options", V311, "82 | 00 01 00 01 61", MalformedPacket},
	{"SUBSCRIBE 5.0 reserved option bits", V5, "82 | 00 01 00 00 01 61 40", MalformedPacket},
	{"SUBSCRIBE 3.1.1 No Local bit", V311, "82 | 00 01 00 01 61 04", MalformedPacket},
	{"SUBSCRIBE QoS 3", V5, "82 | 00 01 00 00 01 61 03", MalformedPacket},
	{"SUBSCRIBE Retain Handling 3", V5, "82 | 00 01 00 00 01 61 30", ProtocolError},
	{"SUBSCRIBE No Local on a shared subscription", V5, "82 | 00 01 00 00 0C 24 73 68 61 72 65 2F 67 2F 61 2F 62 04", ProtocolError},
	{"SUBSCRIBE two Subscription Identifiers", V5, "82 | 00 01 04 0B 01 0B 02 00 01 61 00", ProtocolError},
	{"SUBSCRIBE Subscription Identifier 0", V5, "82 | 00 01 02 0B 00 00 01 61 00", ProtocolError},
	{"SUBSCRIBE Reason String not allowed", V5, "82 | 00 01 04 1F 00 01 61 00 01 61 00", MalformedPacket},

	// SUBACK, UNSUBSCRIBE, UNSUBACK (§3.9-3.11).
	{"SUBACK 3.1.1 return code 3", V311, "90 | 00 01 03", ProtocolError},
	{"SUBACK 5.0 reason not valid for SUBACK", V5, "90 | 00 01 00 11", ProtocolError},
	{"SUBACK without reason codes", V311, "90 | 00 01", ProtocolError},
	{"UNSUBSCRIBE 3.1.1 without filters", V311, "A2 | 00 01", ProtocolError},
	{"UNSUBSCRIBE 5.0 without filters", V5, "A2 | 00 01 00", ProtocolError},
	{"UNSUBSCRIBE packet identifier 0", V5, "A2 | 00 00 00 00 01 61", ProtocolError},
	{"UNSUBACK 5.0 reason not valid for UNSUBACK", V5, "B0 | 00 01 00 10", ProtocolError},
	{"UNSUBACK 5.0 without reason codes", V5, "B0 | 00 01 00", ProtocolError},

	// DISCONNECT and AUTH (§3.14, §3.15).
	{"DISCONNECT 5.0 reason not valid for DISCONNECT", V5, "E0 | 05", ProtocolError},
	{"DISCONNECT 5.0 Topic Alias not allowed", V5, "E0 | 00 03 23 00 01", MalformedPacket},
	{"AUTH in 3.1.1", V311, "F0 00", MalformedPacket},
	{"AUTH 5.0 without Authentication Method", V5, "F0 | 18 00", ProtocolError},
	{"AUTH 5.0 continue without properties", V5, "F0 | 18", ProtocolError},
	{"AUTH 5.0 success with properties but no method", V5, "F0 | 00 04 1F 00 01 61", ProtocolError},
	{"AUTH 5.0 reason not valid for AUTH", V5, "F0 | 10 04 15 00 01 58", ProtocolError},
}

func TestDecodeRejects(t *testing.T) {
	for _, tt := range malformedInputs {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeAll(frame(t, tt.in), tt.v)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("got %v, want an *Error with reason %v", err, tt.want)
			}
			if e.Reason != tt.want {
				t.Errorf("got %v, want reason %v", e, tt.want)
			}
			if !strings.Contains(e.Msg, "MQTT-") && !strings.Contains(e.Msg, "§") {
				t.Errorf("message %q names no statement or section", e.Msg)
			}
		})
	}
}

func TestDecodeFixedHeaderNeedsWholeHeader(t *testing.T) {
	for _, in := range []string{"", "30", "30 80", "30 80 80 80"} {
		_, n, err := DecodeFixedHeader(hx(t, in))
		if err != ErrShortBuffer || n != 0 {
			t.Errorf("%q: got n=%d err=%v, want ErrShortBuffer", in, n, err)
		}
	}
	h, n, err := DecodeFixedHeader(hx(t, "32 FF FF FF 7F"))
	if err != nil || n != 5 || h.Remaining != maxVarint || h.Type != TypePublish || h.Flags != 2 {
		t.Errorf("largest remaining length: got %+v n=%d err=%v", h, n, err)
	}
}

func TestDecodeRemainingLengthMismatch(t *testing.T) {
	h := FixedHeader{Type: TypePuback, Remaining: 3}
	if _, err := Decode(h, hx(t, "00 01"), V311); err == nil {
		t.Fatal("Decode accepted a body shorter than the remaining length")
	}
	var a Ack
	if err := a.Decode(FixedHeader{Type: TypePuback, Remaining: 2}, hx(t, "00 01 00"), V5); err == nil {
		t.Fatal("Ack.Decode accepted a body longer than the remaining length")
	}
	var p Publish
	if err := p.Decode(FixedHeader{Type: TypePuback, Remaining: 2}, hx(t, "00 01"), V5); err == nil {
		t.Fatal("Publish.Decode accepted a PUBACK")
	}
	if err := a.Decode(FixedHeader{Type: TypePubrel, Remaining: 2}, hx(t, "00 01"), V5); err == nil {
		t.Fatal("Ack.Decode accepted PUBREL flags 0000")
	}
}

// TestConnectUnsupportedVersionKeepsVersion checks that a server learns which
// version to answer in even when the CONNECT is refused.
func TestConnectUnsupportedVersionKeepsVersion(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want byte
	}{
		{"unknown level answered in 3.1.1", "10 | 00 04 4D 51 54 54 07 02 00 00 00 00", V311},
		{"5.0 CONNECT with a bad property answered in 5.0", "10 | " + mqtt5 + " 02 00 00 03 21 00 00 00 00", V5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := decodeAll(frame(t, tt.in), 0)
			if err == nil {
				t.Fatal("no error")
			}
			c, ok := p.(*Connect)
			if !ok || c.ProtocolVersion != tt.want {
				t.Fatalf("got %#v, want a *Connect with version %d", p, tt.want)
			}
		})
	}
}
