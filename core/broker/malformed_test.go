package broker_test

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/core/packets"
)

// readToClose returns every byte the server sends until it closes the
// connection; it fails if the connection stays open.
func readToClose(t *testing.T, c *rawClient) []byte {
	t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(wait))
	b, err := io.ReadAll(c.r)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open after % x", b)
	}
	return b
}

// v5ConnectBytes is a minimal 5.0 CONNECT for client id "m".
var v5ConnectBytes = []byte{0x10, 0x0e, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x02, 0, 0, 0, 0, 1, 'm'}

func TestMalformedConnectAnswered(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true})
	for _, tc := range []struct {
		name string
		in   []byte
		want []byte // the CONNACK's first bytes; nil: closed without a word
	}{
		{"unknown protocol version 6 gets 3.1.1 return code 1 [MQTT-3.1.2-2]",
			[]byte{0x10, 0x0d, 0, 4, 'M', 'Q', 'T', 'T', 6, 0x02, 0, 0, 0, 1, 'm'}, []byte{0x20, 0x02, 0x00, 0x01}},
		{"5.0 reserved connect flag gets 0x81 [MQTT-3.1.2-3]",
			[]byte{0x10, 0x0e, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x03, 0, 0, 0, 0, 1, 'm'}, []byte{0x20}},
		{"5.0 bad protocol name gets 0x84 or 0x81",
			[]byte{0x10, 0x0e, 0, 4, 'M', 'Q', 'X', 'X', 5, 0x02, 0, 0, 0, 0, 1, 'm'}, []byte{0x20}},
		{"first packet PINGREQ is closed [MQTT-3.1.0-1]", []byte{0xc0, 0x00}, nil},
		{"3.1.1 malformed CONNECT is closed without CONNACK [MQTT-3.1.4-1]",
			[]byte{0x10, 0x0d, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x03, 0, 0, 0, 1, 'm'}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, tb.addr)
			c.write(tc.in)
			got := readToClose(t, c)
			if !bytes.HasPrefix(got, tc.want) || (tc.want == nil && len(got) > 0) {
				t.Fatalf("got % x, want prefix % x", got, tc.want)
			}
			if len(tc.want) == 1 { // a 5.0 CONNACK: check the reason byte
				if len(got) < 4 || (got[3] != byte(packets.MalformedPacket) && got[3] != byte(packets.ProtocolError) && got[3] != byte(packets.UnsupportedProtocolVersion)) {
					t.Fatalf("CONNACK % x: want reason 0x81, 0x82 or 0x84", got)
				}
			}
		})
	}
}

func TestMalformedPacketsAfterConnectDisconnectWithReason(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true, Limits: broker.Limits{MaxPacketSize: 512}})
	for _, tc := range []struct {
		name   string
		in     []byte
		reason packets.ReasonCode
	}{
		{"reserved packet type 0", []byte{0x00, 0x00}, packets.MalformedPacket},
		{"PUBLISH with QoS 3", []byte{0x36, 0x05, 0, 1, 't', 0, 1}, packets.MalformedPacket},
		{"SUBSCRIBE with flags 0", []byte{0x80, 0x06, 0, 1, 0, 0, 1, 't'}, packets.MalformedPacket},
		{"remaining length of five bytes", []byte{0x30, 0xff, 0xff, 0xff, 0xff, 0x01}, packets.MalformedPacket},
		{"a second CONNECT [MQTT-3.1.0-2]", v5ConnectBytes, packets.ProtocolError},
		{"SUBSCRIBE without filters [MQTT-3.8.3-2]", []byte{0x82, 0x03, 0, 1, 0}, packets.ProtocolError},
		{"PUBLISH with a wildcard in the topic [MQTT-3.3.2-2]", []byte{0x30, 0x04, 0, 1, '#', 0}, packets.TopicNameInvalid},
		{"PUBLISH larger than Maximum Packet Size", append([]byte{0x30, 0x84, 0x04, 0, 1, 't', 0}, make([]byte, 512)...), packets.PacketTooLarge},
		{"a CONNACK from a client", []byte{0x20, 0x03, 0, 0, 0}, packets.ProtocolError},
		{"AUTH without a method [MQTT-4.12.0-7]", []byte{0xf0, 0x02, 0x19, 0x00}, packets.ProtocolError},
		{"PUBLISH QoS 1 with packet id 0 [MQTT-2.2.1-3]", []byte{0x32, 0x06, 0, 1, 't', 0, 0, 0}, packets.ProtocolError},
		// 0x94 is defined for an alias above the maximum; 0 is a plain protocol error.
		{"topic alias 0 [MQTT-3.3.2-8]", []byte{0x30, 0x07, 0, 1, 't', 0x03, 0x23, 0, 0}, packets.ProtocolError},
		{"truncated property length", []byte{0x30, 0x04, 0, 1, 't', 0x80}, packets.MalformedPacket},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, tb.addr)
			c.write(v5ConnectBytes)
			if ack := c.next().(*packets.Connack); ack.Reason != packets.Success {
				t.Fatalf("CONNACK %v", ack.Reason)
			}
			c.write(tc.in)
			got := readToClose(t, c)
			if len(got) < 3 || got[0] != 0xe0 || got[2] != byte(tc.reason) {
				t.Fatalf("got % x, want DISCONNECT with reason %#x (%v)", got, byte(tc.reason), tc.reason)
			}
		})
	}
	if n := tb.ClientCount(); n != 0 {
		eventually(t, "every connection closed", func() bool { return tb.ClientCount() == 0 })
	}
}

func TestReasonStringOnlyWithRequestProblemInformation(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true})
	for _, tc := range []struct {
		name    string
		request byte // Request Problem Information; 2 = absent (default 1)
		want    bool
	}{
		{"absent", 2, true}, {"1", 1, true}, {"0", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cp := v5Connect("problem")
			if tc.request != 2 {
				cp.Properties.RequestProblemInfo = tc.request
				cp.Properties.Set(packets.PropRequestProblemInfo)
			}
			c, _ := connectRaw(t, tb.addr, cp)
			c.write([]byte{0x30, 0x04, 0, 1, '#', 0})
			d := c.expectDisconnect(packets.TopicNameInvalid)
			if got := d.Properties.Has(packets.PropReasonString); got != tc.want {
				t.Fatalf("reason string present = %v, want %v [MQTT-3.1.2-29]", got, tc.want)
			}
		})
	}
}

func TestRandomGarbageNeverBreaksTheBroker(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true})
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 200; i++ {
		c := dialRaw(t, tb.addr)
		if i%2 == 0 {
			c.write(v5ConnectBytes)
		}
		junk := make([]byte, 1+rng.IntN(64))
		for j := range junk {
			junk[j] = byte(rng.Uint32())
		}
		_, _ = c.conn.Write(junk)
		_ = c.conn.Close()
	}
	// The broker still serves.
	c, _ := connectRaw(t, tb.addr, v5Connect("after-garbage"))
	c.send(&packets.Pingreq{})
	if p := c.next(); p.Type() != packets.TypePingresp {
		t.Fatalf("got %T", p)
	}
	eventually(t, "garbage connections closed", func() bool { return tb.ClientCount() == 1 })
}
