package fabric

import (
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/plumemq/plume/core/session"
)

type countingLocal struct{ routed []uint64 }

func (l *countingLocal) RouteFromPeer(m *session.Message) int {
	l.routed = append(l.routed, uint64(m.Payload[0]))
	return 1
}
func (*countingLocal) RouteShared(*session.Message, string, string) bool { return false }

// TestCopiesDroppedWhenSequenceNumbersArriveOutOfOrder: Publish takes no lock
// (decision 0058), so one origin's sequence numbers may reach a node out of
// order across its publishers (5 before 4); each message's copies (two
// matching subscriptions) still come one after the other. Every message is
// routed once: a check that kept the highest number seen would drop 4.
func TestCopiesDroppedWhenSequenceNumbersArriveOutOfOrder(t *testing.T) {
	local := &countingLocal{}
	f := &Fabric{origin: 1, local: local, last: map[uint64]uint64{}}
	sub := &nats.Subscription{}
	for _, seq := range []uint64{5, 5, 4, 4, 6, 6, 7} {
		env := appendEnvelope(nil, &session.Message{Topic: "t", Payload: []byte{byte(seq)}}, 2, 0)
		setSeq(env, seq)
		f.deliver(&nats.Msg{Data: env, Sub: sub})
	}
	want := []uint64{5, 4, 6, 7}
	if len(local.routed) != len(want) {
		t.Fatalf("routed %v, want %v", local.routed, want)
	}
	for i := range want {
		if local.routed[i] != want[i] {
			t.Fatalf("routed %v, want %v", local.routed, want)
		}
	}
	if d := f.stats.duplicates.Load(); d != 3 {
		t.Fatalf("%d duplicates counted, want 3", d)
	}
}
