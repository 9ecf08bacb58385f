package packets_test

import (
	"bytes"
	"fmt"

	"github.com/plumemq/plume/core/packets"
)

// A server frames a packet, decodes it for the connection's version and answers.
func Example() {
	in := []byte{0x32, 0x08, 0x00, 0x03, 'a', '/', 'b', 0x00, 0x07, 'x'} // 3.1.1 PUBLISH QoS 1
	h, n, err := packets.DecodeFixedHeader(in)
	if err != nil {
		panic(err)
	}
	var pub packets.Publish // reused across packets: decoding allocates nothing
	if err := pub.Decode(h, in[n:n+h.Remaining], packets.V311); err != nil {
		panic(err)
	}
	fmt.Printf("%s %q qos=%d id=%d payload=%q\n", h.Type, pub.Topic, pub.QoS, pub.PacketID, pub.Payload)

	ack := packets.Ack{Kind: packets.TypePuback, PacketID: pub.PacketID}
	fmt.Printf("% X\n", ack.Append(nil, packets.V311))
	// Output:
	// PUBLISH "a/b" qos=1 id=7 payload="x"
	// 40 02 00 07
}

// A decode error carries the reason code to answer with and the rule broken.
func ExampleError() {
	in := []byte{0x30, 0x05, 0x00, 0x03, 'a', '/', '#'} // topic name with a wildcard
	_, err := packets.ReadPacket(bytes.NewReader(in), packets.V5, 0)
	if e, ok := err.(*packets.Error); ok {
		fmt.Printf("0x%02X %s\n", byte(e.Reason), e.Msg)
	}
	// Output:
	// 0x90 PUBLISH: topic name contains a wildcard [MQTT-3.3.2-2]
}

// Properties are present when their bit is set.
func ExampleProperties() {
	var p packets.Properties
	p.Set(packets.PropMessageExpiry)
	p.MessageExpiry = 60
	p.User = append(p.User, packets.UserProperty{Key: "tenant", Value: "acme"})
	pub := packets.Publish{Topic: "t", Properties: p, Payload: []byte("hi")}
	fmt.Printf("% X\n", pub.Append(nil, packets.V5))
	// Output:
	// 30 1A 00 01 74 14 02 00 00 00 3C 26 00 06 74 65 6E 61 6E 74 00 04 61 63 6D 65 68 69
}
