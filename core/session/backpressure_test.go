package session_test

import (
	"testing"

	"github.com/plumemq/plume/core/packets"
	"github.com/plumemq/plume/core/session"
)

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// OfferOver takes a message past MaxQueued up to twice it, tells the caller
// (AcceptedOver), and Room is closed by the acknowledgements that bring the
// session back under its limit, not before.
func TestOfferOverOverfillsUpToTheHardCapAndRoomOpensOnAcks(t *testing.T) {
	s := session.New("c", &session.Limits{MaxQueued: 2})
	k := &sink{}
	s.Attach(k, 1)
	var outcomes []session.Outcome
	for _, p := range []string{"a", "b", "c", "d", "e", "f"} {
		outcomes = append(outcomes, s.OfferOver(msg(p, 1), 1, nil))
	}
	// a in flight; b, c queued (the limit); d, e over it; f past 2 x 2.
	want := []session.Outcome{session.Accepted, session.Accepted, session.Accepted,
		session.AcceptedOver, session.AcceptedOver, session.DropQueueFull}
	for i := range want {
		if outcomes[i] != want[i] {
			t.Fatalf("outcomes %v, want %v", outcomes, want)
		}
	}
	if st := s.Stats(); st.Queued != 4 || st.Dropped != 1 {
		t.Fatalf("stats %+v, want 4 queued, 1 dropped", st)
	}
	room := s.Room()
	if isClosed(room) {
		t.Fatal("Room is open while the session is over its limit")
	}
	for i := 0; i < 2; i++ { // each PUBACK moves one queued message into the window
		s.Acknowledge(packets.TypePuback, k.ids[len(k.ids)-1], packets.Success, 1)
		if isClosed(room) {
			t.Fatalf("Room opened after %d acks, with %d still queued", i+1, s.Stats().Queued)
		}
	}
	s.Acknowledge(packets.TypePuback, k.ids[len(k.ids)-1], packets.Success, 1)
	if !isClosed(room) {
		t.Fatalf("Room still shut with %d queued, under the limit of 2", s.Stats().Queued)
	}
	if !isClosed(s.Room()) {
		t.Fatal("Room of a session with room is not closed")
	}
}

// Past MaxBytes a waiting publisher's message is taken up to twice the bound.
func TestOfferOverOverfillsBytesUpToTwiceTheBound(t *testing.T) {
	one := msg("0123456789", 1).Msg.Size() + session.DeliverySlot
	s := session.New("c", &session.Limits{MaxQueued: 100, MaxBytes: 2 * one})
	s.Attach(&sink{}, 100)
	var got []session.Outcome
	for range 5 {
		got = append(got, s.OfferOver(msg("0123456789", 1), 1, nil))
	}
	want := []session.Outcome{session.Accepted, session.Accepted, session.AcceptedOver,
		session.AcceptedOver, session.DropQueueBytes}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("outcomes %v, want %v", got, want)
		}
	}
}

// After a waiter gave up (GiveUp), the session behaves as in drop mode until
// it is back under its limit; then a publisher may overfill it again.
func TestGiveUpDropsUntilTheSessionDrains(t *testing.T) {
	s := session.New("c", &session.Limits{MaxQueued: 1})
	k := &sink{}
	s.Attach(k, 1)
	s.OfferOver(msg("a", 1), 1, nil) // in flight
	s.OfferOver(msg("b", 1), 1, nil) // queued: full
	if o := s.OfferOver(msg("c", 1), 1, nil); o != session.AcceptedOver {
		t.Fatalf("c: %v, want accepted over", o)
	}
	s.GiveUp()
	if o := s.OfferOver(msg("d", 1), 1, nil); o != session.DropQueueFull {
		t.Fatalf("d after a give-up: %v, want queue full", o)
	}
	for s.Stats().Queued > 0 || s.Stats().Inflight > 0 {
		s.Acknowledge(packets.TypePuback, k.ids[len(k.ids)-1], packets.Success, 1)
	}
	s.OfferOver(msg("e", 1), 1, nil)
	s.OfferOver(msg("f", 1), 1, nil)
	if o := s.OfferOver(msg("g", 1), 1, nil); o != session.AcceptedOver {
		t.Fatalf("g after draining: %v, want accepted over again", o)
	}
}

// An offline session is not overfilled: nothing drains it until its client
// returns, so a publisher would only wait out its bound. Closing a session
// opens its Room.
func TestOfferOverDropsForAnOfflineSessionAndCloseOpensRoom(t *testing.T) {
	s := session.New("c", &session.Limits{MaxQueued: 1})
	s.OfferOver(msg("a", 1), 1, nil)
	if o := s.OfferOver(msg("b", 1), 1, nil); o != session.DropQueueFull {
		t.Fatalf("offline: %v, want queue full", o)
	}
	room := s.Room()
	if isClosed(room) {
		t.Fatal("Room open on a full session")
	}
	s.End()
	if !isClosed(room) {
		t.Fatal("Close did not open Room")
	}
}
