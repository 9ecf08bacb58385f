package broker_test

import (
	"bufio"
	"net"
	"testing"

	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/core/packets"
)

// A connection without a file descriptor (as TLS and WebSocket hand over)
// takes the reader's other path.
func TestServeConnWithoutFileDescriptor(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true})
	pipe := func(id string) *rawClient {
		server, client := net.Pipe()
		t.Cleanup(func() { _ = client.Close() })
		tb.ServeConn(server, "pipe")
		c := &rawClient{t: t, conn: client, r: bufio.NewReader(client), v: packets.V5}
		if ack := c.connect(v5Connect(id)); ack.Reason != packets.Success {
			t.Fatalf("CONNACK %v", ack.Reason)
		}
		return c
	}
	s := pipe("pipe-sub")
	s.subscribe(1, sub("pipe/#", 1))
	p := pipe("pipe-pub")
	for i := uint16(1); i <= 50; i++ {
		p.publish(&packets.Publish{Topic: "pipe/t", QoS: 1, PacketID: i, Payload: make([]byte, 3000)})
		p.expectAck(packets.TypePuback, i)
		m := s.nextPublish()
		s.ack(packets.TypePuback, m.PacketID)
	}
	p.disconnect(packets.NormalDisconnection)
}
