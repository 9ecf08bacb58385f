package jetstream

import (
	"context"
	"testing"

	"github.com/plumemq/plume/core/session"
	"github.com/plumemq/plume/store/internal/codec"
)

// node-a has a stale copy of a session node-b took from the store: it goes
// on writing deliveries into the session's queue until a write of the
// record is refused. Those writes neither replace node-b's deliveries
// (same Seq, another node's) nor reach node-b's session when it is
// fetched: before, node-a's delivery took node-b's subject, and a node
// fetching the session got node-a's duplicate in place of node-b's
// (TestFaultKill9 seed 1796077159787387623: 136 QoS 2 messages twice).
func TestAStaleCopysDeliveriesAreNotTheSessions(t *testing.T) {
	a, b := twoNodes(t)
	ctx := context.Background()
	if err := a.Commit(withQueue("s", 1)); err != nil {
		t.Fatal(err)
	}
	takeOver(t, b, "s")
	// Between the claim and node-b's own write of the session, the queue
	// is node-a's: a fetch takes it.
	if h, err := b.Fetch(ctx, "s"); err != nil || len(h.Record.Queued)+len(h.Record.Inflight) != 2 {
		t.Fatalf("fetched after the claim: %+v (%v), want node-a's two deliveries", h.Record, err)
	}
	// node-b writes the session as its own (journal.Adopt): the queue is
	// purged and written again under node-b.
	mb := &session.Message{Topic: "t/s", Payload: []byte("node-b's"), QoS: 1, ID: 1}
	if err := b.Commit([]session.Op{
		{Kind: session.DeleteSession, Client: "s"},
		{Kind: session.PutSession, Record: &session.Record{Version: session.FormatVersion, ID: "s", Expiry: 60}},
		{Kind: session.PutMessage, Message: mb},
		{Kind: session.PutDelivery, Client: "s", Delivery: session.Delivery{Msg: mb, QoS: 1, Seq: 1}},
	}); err != nil {
		t.Fatal(err)
	}
	// node-a, stale, routes a message into its copy: the same Seq.
	ma := &session.Message{Topic: "t/s", Payload: []byte("node-a's stale"), QoS: 1, ID: 9}
	if err := a.Commit([]session.Op{
		{Kind: session.PutMessage, Message: ma},
		{Kind: session.PutDelivery, Client: "s", Delivery: session.Delivery{Msg: ma, QoS: 1, Seq: 1}},
		{Kind: session.PutDelivery, Client: "s", Delivery: session.Delivery{Msg: ma, QoS: 1, Seq: 7}},
	}); err != nil {
		t.Fatal(err)
	}
	h, err := a.Fetch(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	r := h.Record
	if h.Node != "node-b" || len(r.Inflight) != 0 || len(r.Queued) != 1 || string(r.Queued[0].Msg.Payload) != "node-b's" {
		var got []string
		for _, d := range append(r.Inflight, r.Queued...) {
			got = append(got, string(d.Msg.Payload))
		}
		t.Fatalf("fetched from %q: deliveries %q; want node-b's one delivery only", h.Node, got)
	}
	if snap := load(t, b); len(snap.Sessions) != 1 || len(snap.Sessions[0].Queued) != 1 || string(snap.Sessions[0].Queued[0].Msg.Payload) != "node-b's" {
		t.Fatalf("node-b loads %s, want s with its one delivery", dump(snap))
	}
}

// A delivery an earlier version stored at c.<client>.d.<seq> is loaded,
// and its acknowledgement deletes it there: written to the new subject,
// the delete left it, and every restart delivered it again.
func TestADeliveryOfTheOldLayoutIsDeletedWhereItIs(t *testing.T) {
	a, _ := twoNodes(t)
	ctx := context.Background()
	m := &session.Message{Topic: "t/old", Payload: []byte("old"), QoS: 1, ID: 3}
	if err := a.Commit([]session.Op{
		{Kind: session.PutSession, Record: &session.Record{Version: session.FormatVersion, ID: "o", Expiry: 60}},
		{Kind: session.PutMessage, Message: m},
	}); err != nil {
		t.Fatal(err)
	}
	v := codec.AppendDelivery(appendString(nil, "node-a"), &session.Delivery{Msg: m, QoS: 1, Seq: 5})
	if _, err := a.js.Publish(ctx, a.names.legacyDeliverySubject("o", 5), v); err != nil {
		t.Fatal(err)
	}
	snap := load(t, a)
	if len(snap.Sessions) != 1 || len(snap.Sessions[0].Queued) != 1 || snap.Sessions[0].Queued[0].Seq != 5 {
		t.Fatalf("loaded %s, want o with its delivery of the old layout", dump(snap))
	}
	if err := a.Commit([]session.Op{{Kind: session.DeleteDelivery, Client: "o", Seq: 5}}); err != nil {
		t.Fatal(err)
	}
	if snap := load(t, a); len(snap.Sessions) != 1 || len(snap.Sessions[0].Queued) != 0 {
		t.Fatalf("loaded %s after the delivery's deletion, want o without it", dump(snap))
	}
}

// Load gives a floor above every id the node handed out before, also for
// sessions it does not load (one another node claimed): the journal starts
// there, and a new message never takes the id of one a moved session's
// deliveries still name.
func TestLoadGivesAnIDFloorAboveEveryEarlierID(t *testing.T) {
	a, b := twoNodes(t)
	first := floorOf(t, a)
	m := &session.Message{Topic: "t/s", Payload: []byte("x"), QoS: 1, ID: first + 1000}
	if err := a.Commit([]session.Op{
		{Kind: session.PutSession, Record: &session.Record{Version: session.FormatVersion, ID: "s", Expiry: 60}},
		{Kind: session.PutMessage, Message: m},
		{Kind: session.PutDelivery, Client: "s", Delivery: session.Delivery{Msg: m, QoS: 1, Seq: first + 1000}},
	}); err != nil {
		t.Fatal(err)
	}
	takeOver(t, b, "s")
	if snap, floor := load(t, a), floorOf(t, a); len(snap.Sessions) != 0 || floor <= m.ID {
		t.Fatalf("node-a loads %s with floor %d; want no session and a floor above the id %d it used", dump(snap), floor, m.ID)
	}
}

func floorOf(t *testing.T, s *Store) uint64 {
	t.Helper()
	snap, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	return snap.IDFloor
}
