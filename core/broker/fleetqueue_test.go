package broker_test

import (
	"testing"

	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/core/packets"
)

// With the default limits, a back-end subscriber's session takes a fleet's
// burst past the old count bound of 10,000 messages without dropping any:
// small readings are bounded by max_queued_bytes, and the count bound
// (100,000) only stops an unbounded number of tiny messages
// (docs/decisions/0038-fleet-delivery-cost.md). The subscriber is offline
// here, so that everything waits in its queue.
func TestDefaultQueueTakesAFleetBurstPastTenThousand(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true})
	backend, _ := connectRaw(t, tb.addr, persistent("fleet-backend", 600))
	backend.subscribe(1, sub("fleet/+/reading", 1))
	backend.disconnect(packets.Success)

	const n, chunk = 10_500, 500
	p, _ := connectRaw(t, tb.addr, v5Connect("fleet-gateway"))
	payload := make([]byte, 64)
	var buf []byte
	for sent := 0; sent < n; sent += chunk {
		// One write per chunk, then its PUBACKs: within the publisher's
		// Receive Maximum (max_inflight, 1,024), and quick.
		buf = buf[:0]
		for i := sent; i < sent+chunk; i++ {
			pub := packets.Publish{Topic: "fleet/7/reading", QoS: 1, PacketID: uint16(i%65535 + 1), Payload: payload}
			buf = pub.Append(buf, packets.V5)
		}
		p.write(buf)
		for i := sent; i < sent+chunk; i++ {
			p.expectAck(packets.TypePuback, uint16(i%65535+1))
		}
	}
	st, ok := tb.SessionStats("fleet-backend")
	if !ok || st.Queued != n || st.Dropped != 0 {
		t.Fatalf("back-end session: %+v (found %v), want %d queued and none dropped", st, ok, n)
	}
}
