package session_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/plumemq/plume/core/budget"
	"github.com/plumemq/plume/core/packets"
	"github.com/plumemq/plume/core/session"
)

// sized is a QoS delivery whose message counts size bytes (topic "t" + payload).
func sized(qos byte, size int) session.Delivery {
	return session.Delivery{Msg: &session.Message{Topic: "t", Payload: make([]byte, size-1), QoS: qos}, QoS: qos}
}

// slot is what each held message counts beside its size.
const slot = session.DeliverySlot

func TestQueueBytesBoundDropsTheNewest(t *testing.T) {
	s := session.New("c", &session.Limits{MaxQueued: 100, MaxBytes: 2 * (5 + slot)})
	for i, want := range []session.Outcome{session.Accepted, session.Accepted, session.DropQueueBytes} {
		if got := s.Offer(sized(1, 5), 1, nil); got != want {
			t.Fatalf("offer %d: %v, want %v", i, got, want)
		}
	}
	if got := s.Offer(sized(0, 5), 1, nil); got != session.DropOffline {
		t.Fatalf("offline QoS 0: %v, want %v", got, session.DropOffline)
	}
	if st := s.Stats(); st.Queued != 2 || st.Bytes != 2*(5+slot) || st.Dropped != 2 {
		t.Fatalf("stats %+v, want 2 queued, %d bytes, 2 dropped", st, 2*(5+slot))
	}
}

// Each held message counts its Delivery slot beside its topic and payload:
// a bound of k small messages with their slots takes exactly k, and its
// bytes are the bound. Counting topic and payload alone, it took all 40.
func TestQueueBytesCountTheDeliverySlot(t *testing.T) {
	const size, k = 8, 10 // 8-byte readings: the slot is most of what each holds
	shared := budget.New(0)
	s := session.New("c", &session.Limits{MaxQueued: 100, MaxBytes: k * (size + slot), Budget: shared})
	taken := 0
	for range 4 * k {
		if s.Offer(sized(1, size), 1, nil) == session.Accepted {
			taken++
		}
	}
	if st := s.Stats(); taken != k || st.Bytes != k*(size+slot) || shared.Used() != st.Bytes {
		t.Fatalf("took %d messages holding %d bytes (budget %d); want %d holding %d",
			taken, st.Bytes, shared.Used(), k, k*(size+slot))
	}
	if slot < 64 { // Delivery is a pointer, a slice, a string and scalars
		t.Fatalf("DeliverySlot is %d bytes; it must be the Delivery's size", slot)
	}
}

func TestQueueCountBoundComesBeforeBytes(t *testing.T) {
	s := session.New("c", &session.Limits{MaxQueued: 1, MaxBytes: 100})
	s.Offer(sized(1, 5), 1, nil)
	if got := s.Offer(sized(1, 5), 1, nil); got != session.DropQueueFull {
		t.Fatalf("second offer: %v, want %v", got, session.DropQueueFull)
	}
}

func TestInFlightBytesAreHeldUntilAcknowledged(t *testing.T) {
	shared := budget.New(0) // accounting only
	s := session.New("c", &session.Limits{MaxQueued: 10, MaxBytes: 1000, Budget: shared})
	k := &sink{}
	s.Attach(k, 2)
	s.Offer(sized(1, 10), 1, nil) // in flight
	s.Offer(sized(2, 20), 1, nil) // in flight
	s.Offer(sized(1, 30), 1, nil) // queued
	if st := s.Stats(); st.Bytes != 60+3*slot || shared.Used() != 60+3*slot {
		t.Fatalf("held %d, budget %d, want %d and %d", st.Bytes, shared.Used(), 60+3*slot, 60+3*slot)
	}
	s.Acknowledge(packets.TypePuback, k.ids[0], packets.Success, 1) // the queued one enters the window
	if st := s.Stats(); st.Bytes != 50+2*slot || st.Inflight != 2 {
		t.Fatalf("after PUBACK %+v, want %d bytes, 2 in flight", st, 50+2*slot)
	}
	s.Acknowledge(packets.TypePubrec, k.ids[1], packets.Success, 1) // QoS 2: the payload goes at PUBREC
	if st := s.Stats(); st.Bytes != 30+slot {
		t.Fatalf("after PUBREC %d bytes, want %d (its slot goes with its payload)", st.Bytes, 30+slot)
	}
	s.Acknowledge(packets.TypePubcomp, k.ids[1], packets.Success, 1)
	s.Acknowledge(packets.TypePuback, k.ids[2], packets.Success, 1)
	if st := s.Stats(); st.Bytes != 0 || shared.Used() != 0 {
		t.Fatalf("all acknowledged: held %d, budget %d, want 0 and 0", st.Bytes, shared.Used())
	}
}

func TestPubrecWithErrorReleasesBytes(t *testing.T) {
	s := session.New("c", &session.Limits{MaxQueued: 10, MaxBytes: 1000})
	k := &sink{}
	s.Attach(k, 1)
	s.Offer(sized(2, 10), 1, nil)
	s.Acknowledge(packets.TypePubrec, k.ids[0], packets.UnspecifiedError, 1)
	if st := s.Stats(); st.Bytes != 0 {
		t.Fatalf("held %d after PUBREC 0x80, want 0", st.Bytes)
	}
}

func TestBudgetIsSharedAndGivenBackOnClose(t *testing.T) {
	shared := budget.New(25 + 3*slot)
	a := session.New("a", &session.Limits{MaxQueued: 10, MaxBytes: 1000, Budget: shared})
	b := session.New("b", &session.Limits{MaxQueued: 10, MaxBytes: 1000, Budget: shared})
	a.Offer(sized(1, 10), 1, nil)
	b.Offer(sized(1, 10), 1, nil)
	if got := a.Offer(sized(1, 10), 1, nil); got != session.DropBudget {
		t.Fatalf("over the budget: %v, want %v", got, session.DropBudget)
	}
	if got := b.Offer(sized(1, 5), 1, nil); got != session.Accepted {
		t.Fatalf("within the budget: %v", got)
	}
	a.End()
	if shared.Used() != 15+2*slot {
		t.Fatalf("budget used %d after a ends, want %d", shared.Used(), 15+2*slot)
	}
	if got := a.Offer(sized(1, 1), 1, nil); got != session.Gone {
		t.Fatalf("offer to an ended session: %v, want %v", got, session.Gone)
	}
	if st := a.Stats(); st.Dropped != 1 {
		t.Fatalf("ended session counted %d drops, want 1 (Gone is not a drop)", st.Dropped)
	}
	a.End() // twice changes nothing
	if shared.Used() != 15+2*slot {
		t.Fatalf("budget used %d after a second Close, want %d", shared.Used(), 15+2*slot)
	}
}

func TestExpiredQueuedMessagesGiveBackTheirBytes(t *testing.T) {
	shared := budget.New(0)
	s := session.New("c", &session.Limits{MaxQueued: 10, Budget: shared})
	d := sized(1, 10)
	d.Msg.Expires = 5
	s.Offer(d, 1, nil)
	s.Attach(&sink{}, 10) // at Attach, the message has expired
	if st := s.Stats(); st.Bytes != 0 || st.Inflight != 0 || shared.Used() != 0 {
		t.Fatalf("stats %+v, budget %d: the expired message still counts", st, shared.Used())
	}
}

func TestRestoreChargesTheBudget(t *testing.T) {
	s := session.New("c", &session.Limits{MaxQueued: 10})
	s.Attach(&sink{}, 1)
	s.Offer(sized(1, 10), 1, nil) // in flight
	s.Offer(sized(1, 20), 1, nil) // queued
	shared := budget.New(15)
	r := session.Restore(s.Snapshot(), &session.Limits{MaxQueued: 10, Budget: shared})
	if st := r.Stats(); st.Bytes != 30+2*slot || shared.Used() != 30+2*slot {
		t.Fatalf("restored held %d, budget %d, want %d twice (restored past the bound)", st.Bytes, shared.Used(), 30+2*slot)
	}
	r.End()
	if shared.Used() != 0 {
		t.Fatalf("budget used %d after Close, want 0", shared.Used())
	}
}

// Sessions taking, acknowledging and ending concurrently leave the shared
// budget at exactly zero: every byte taken is given back once.
func TestBudgetAccountingIsExactUnderConcurrency(t *testing.T) {
	shared := budget.New(1 << 20)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := session.New(fmt.Sprint(g), &session.Limits{MaxQueued: 50, MaxBytes: 4096, Budget: shared})
			k := &sink{}
			s.Attach(k, 4)
			for i := range 2000 {
				s.Offer(sized(byte(1+i%2), 1+i%97), 1, nil)
				if i%3 == 0 && len(k.ids) > 0 {
					id := k.ids[0]
					k.ids = k.ids[1:]
					if !s.Acknowledge(packets.TypePuback, id, packets.Success, 1) {
						s.Acknowledge(packets.TypePubrec, id, packets.Success, 1)
					}
				}
			}
			s.End()
		}()
	}
	wg.Wait()
	if u := shared.Used(); u != 0 {
		t.Fatalf("budget used %d after every session ended, want 0", u)
	}
}
