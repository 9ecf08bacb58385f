package session

import (
	"testing"

	"github.com/plumemq/plume/core/packets"
)

type nopSink struct{}

func (nopSink) SendPublish(Delivery, Batch) bool { return true }
func (nopSink) SendPubrel(uint16, Batch)         {}

// An idle session carries no traffic struct (docs/decisions/0048): a fleet's
// sessions that never had a message in flight, queued or an inbound QoS 2
// id pay 8 bytes for them, not 80. Every reader takes the nil as empty, and
// the first message makes it.
func TestIdleSessionHasNoTraffic(t *testing.T) {
	s := New("idle", &Limits{MaxQueued: 10})
	s.Attach(nopSink{}, 10)
	s.Deliver(Delivery{Msg: &Message{Topic: "t"}, QoS: 0}, 0) // QoS 0 goes straight out
	if st := s.Stats(); st.Inflight != 0 || st.Queued != 0 || s.InboundQoS2() != 0 || s.ReleaseQoS2(1) {
		t.Fatalf("an idle session reports %+v, %d inbound", st, s.InboundQoS2())
	}
	if r := s.Snapshot(); len(r.Inflight)+len(r.Queued)+len(r.InboundQoS2) != 0 {
		t.Fatalf("an idle session's snapshot holds %+v", r)
	}
	if s.Acknowledge(packets.TypePuback, 1, packets.Success, 0) {
		t.Fatal("an idle session acknowledged an id it never sent")
	}
	if s.tr != nil {
		t.Fatal("an idle session made its traffic struct: every idle session pays 80 bytes")
	}
	if !s.Deliver(Delivery{Msg: &Message{Topic: "t"}, QoS: 1}, 0) || s.tr == nil || s.Stats().Inflight != 1 {
		t.Fatalf("the first QoS 1 delivery: traffic %v, stats %+v", s.tr != nil, s.Stats())
	}
	if !s.Acknowledge(packets.TypePuback, 1, packets.Success, 0) || s.Stats().Inflight != 0 {
		t.Fatal("the first QoS 1 delivery was not acknowledged")
	}
	if got := s.ReceiveQoS2(7, 10); got != Received || s.ReceiveQoS2(7, 10) != Duplicate || !s.ReleaseQoS2(7) {
		t.Fatal("inbound QoS 2 ids on a session that had no traffic")
	}
	if hand, stranded := New("never", nil).End(); hand != nil || stranded != 0 {
		t.Fatal("ending a session that never had traffic handed something over")
	}
}
