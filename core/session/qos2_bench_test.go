package session_test

import (
	"testing"

	"github.com/plumemq/plume/core/packets"
	"github.com/plumemq/plume/core/session"
)

// BenchmarkQoS2Exchange is the session's share of one QoS 2 round trip of
// the one-client ping-pong (decision 0045): the inbound id recorded and
// released (ReceiveQoS2, ReleaseQoS2), and the delivery offered, PUBRECed
// and PUBCOMPed through the in-flight window — five lock round trips and
// ten map operations. It sizes what the exchange costs in Plume's own
// code against the ~20–40 µs of CPU a round trip costs the broker process,
// nearly all of it system calls and wake-ups.
func BenchmarkQoS2Exchange(b *testing.B) {
	m := &session.Message{Topic: "pp/0", Payload: make([]byte, 64), QoS: 2}
	s := session.New("pp", &session.Limits{MaxQueued: 100})
	s.Attach(nopSink{}, 16)
	var in, out uint16
	b.ReportAllocs()
	for b.Loop() {
		in++
		if in == 0 {
			in = 1
		}
		if s.ReceiveQoS2(in, 16) != session.Received {
			b.Fatal("inbound id refused")
		}
		if s.Offer(session.Delivery{Msg: m, QoS: 2}, 1, nil) != session.Accepted {
			b.Fatal("delivery refused")
		}
		out++
		if out == 0 {
			out = 1
		}
		if !s.AcknowledgeBatched(packets.TypePubrec, out, packets.Success, 1, nil) ||
			!s.ReleaseQoS2(in) ||
			!s.AcknowledgeBatched(packets.TypePubcomp, out, packets.Success, 1, nil) {
			b.Fatal("acknowledgement refused")
		}
	}
}
