package session_test

import (
	"testing"

	"github.com/plumemq/plume/core/packets"
	"github.com/plumemq/plume/core/session"
)

// nopSink takes every delivery and keeps nothing, as a connection whose
// write buffer is already grown would.
type nopSink struct{}

func (nopSink) SendPublish(session.Delivery, session.Batch) bool { return true }
func (nopSink) SendPubrel(uint16, session.Batch)                 {}

// A delivery through an online session — offered, sent and, at QoS 1,
// acknowledged — allocates nothing once the session's window and queue have
// grown: the fleet's wildcard subscribers take one per reading of every
// device (decision 0038). The Delivery used to move to the heap in
// offerOver (every delivery, QoS 0 too), send and drain because its address
// flowed into the Journal interface, even for sessions without a journal.
func TestQoS1DeliveryAllocatesNothing(t *testing.T) {
	m := &session.Message{Topic: "fleet/1/reading", Payload: make([]byte, 64), QoS: 1}
	for _, tc := range []struct {
		name   string
		window int
		queued int // deliveries waiting behind the window before each round
	}{
		{"straight to the window", 4, 0},
		{"through the queue (drain)", 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := session.New("sub", &session.Limits{MaxQueued: 100})
			s.Attach(nopSink{}, tc.window)
			var id uint16
			round := func() {
				// Fill the window, then queue, then acknowledge everything
				// in order: each acknowledgement drains one from the queue.
				for range tc.window + tc.queued {
					if o := s.Offer(session.Delivery{Msg: m, QoS: 1}, 1, nil); o != session.Accepted {
						t.Fatalf("offer: %v", o)
					}
				}
				for range tc.window + tc.queued {
					id++
					if id == 0 {
						id = 1
					}
					if !s.Acknowledge(packets.TypePuback, id, packets.Success, 1) {
						t.Fatalf("PUBACK %d refused", id)
					}
				}
			}
			round() // grow the window, the queue and the packet-id index
			if n := testing.AllocsPerRun(200, round); n != 0 {
				t.Errorf("%.1f allocations per round of %d QoS 1 deliveries, want 0", n, tc.window+tc.queued)
			}
		})
	}
}

func TestQoS0DeliveryAllocatesNothing(t *testing.T) {
	m := &session.Message{Topic: "fleet/1/reading", Payload: make([]byte, 64)}
	s := session.New("sub", &session.Limits{MaxQueued: 100})
	s.Attach(nopSink{}, 4)
	offer := func() {
		if o := s.Offer(session.Delivery{Msg: m}, 1, nil); o != session.Accepted {
			t.Fatalf("offer: %v", o)
		}
	}
	if n := testing.AllocsPerRun(200, offer); n != 0 {
		t.Errorf("%.1f allocations per QoS 0 delivery, want 0", n)
	}
}
