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

func TestQueueBytesBoundDropsTheNewest(t *testing.T) {
	s := session.New("c", &session.Limits{MaxQueued: 100, MaxBytes: 10})
	for i, want := range []session.Outcome{session.Accepted, session.Accepted, session.DropQueueBytes} {
		if got := s.Offer(sized(1, 5), 1, nil); got != want {
			t.Fatalf("offer %d: %v, want %v", i, got, want)
		}
	}
	if got := s.Offer(sized(0, 5), 1, nil); got != session.DropOffline {
		t.Fatalf("offline QoS 0: %v, want %v", got, session.DropOffline)
	}
	if st := s.Stats(); st.Queued != 2 || st.Bytes != 10 || st.Dropped != 2 {
		t.Fatalf("stats %+v, want 2 queued, 10 bytes, 2 dropped", st)
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
	s := session.New("c", &session.Limits{MaxQueued: 10, MaxBytes: 100, Budget: shared})
	k := &sink{}
	s.Attach(k, 2)
	s.Offer(sized(1, 10), 1, nil) // in flight
	s.Offer(sized(2, 20), 1, nil) // in flight
	s.Offer(sized(1, 30), 1, nil) // queued
	if st := s.Stats(); st.Bytes != 60 || shared.Used() != 60 {
		t.Fatalf("held %d, budget %d, want 60 and 60", st.Bytes, shared.Used())
	}
	s.Acknowledge(packets.TypePuback, k.ids[0], packets.Success, 1) // the queued one enters the window
	if st := s.Stats(); st.Bytes != 50 || st.Inflight != 2 {
		t.Fatalf("after PUBACK %+v, want 50 bytes, 2 in flight", st)
	}
	s.Acknowledge(packets.TypePubrec, k.ids[1], packets.Success, 1) // QoS 2: the payload goes at PUBREC
	if st := s.Stats(); st.Bytes != 30 {
		t.Fatalf("after PUBREC %d bytes, want 30", st.Bytes)
	}
	s.Acknowledge(packets.TypePubcomp, k.ids[1], packets.Success, 1)
	s.Acknowledge(packets.TypePuback, k.ids[2], packets.Success, 1)
	if st := s.Stats(); st.Bytes != 0 || shared.Used() != 0 {
		t.Fatalf("all acknowledged: held %d, budget %d, want 0 and 0", st.Bytes, shared.Used())
	}
}

func TestPubrecWithErrorReleasesBytes(t *testing.T) {
	s := session.New("c", &session.Limits{MaxQueued: 10, MaxBytes: 100})
	k := &sink{}
	s.Attach(k, 1)
	s.Offer(sized(2, 10), 1, nil)
	s.Acknowledge(packets.TypePubrec, k.ids[0], packets.UnspecifiedError, 1)
	if st := s.Stats(); st.Bytes != 0 {
		t.Fatalf("held %d after PUBREC 0x80, want 0", st.Bytes)
	}
}

func TestBudgetIsSharedAndGivenBackOnClose(t *testing.T) {
	shared := budget.New(25)
	a := session.New("a", &session.Limits{MaxQueued: 10, MaxBytes: 100, Budget: shared})
	b := session.New("b", &session.Limits{MaxQueued: 10, MaxBytes: 100, Budget: shared})
	a.Offer(sized(1, 10), 1, nil)
	b.Offer(sized(1, 10), 1, nil)
	if got := a.Offer(sized(1, 10), 1, nil); got != session.DropBudget {
		t.Fatalf("over the budget: %v, want %v", got, session.DropBudget)
	}
	if got := b.Offer(sized(1, 5), 1, nil); got != session.Accepted {
		t.Fatalf("within the budget: %v", got)
	}
	a.End()
	if shared.Used() != 15 {
		t.Fatalf("budget used %d after a ends, want 15", shared.Used())
	}
	if got := a.Offer(sized(1, 1), 1, nil); got != session.Gone {
		t.Fatalf("offer to an ended session: %v, want %v", got, session.Gone)
	}
	if st := a.Stats(); st.Dropped != 1 {
		t.Fatalf("ended session counted %d drops, want 1 (Gone is not a drop)", st.Dropped)
	}
	a.End() // twice changes nothing
	if shared.Used() != 15 {
		t.Fatalf("budget used %d after a second Close, want 15", shared.Used())
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
	r := session.Restore(s.Snapshot(), &session.Limits{MaxQueued: 10, Budget: shared}, nil)
	if st := r.Stats(); st.Bytes != 30 || shared.Used() != 30 {
		t.Fatalf("restored held %d, budget %d, want 30 and 30 (restored past the bound)", st.Bytes, shared.Used())
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
