package journal_test

import (
	"testing"
	"time"

	"github.com/plumemq/plume/core/session"
)

// A session moved from another node is stored again under this node's
// keys in one batch: its old keys deleted first, its deliveries under new
// Seqs after this node's own, one copy of each message under a new id.
func TestAdoptStoresAMovedSessionUnderNewKeys(t *testing.T) {
	s := newRecordingStore()
	j := newJournal(t, s)
	own := &session.Delivery{Msg: &session.Message{Topic: "own", QoS: 1}, QoS: 1}
	j.Stored("local", own)                           // Seq 1, message id 1 on this node
	m := &session.Message{Topic: "t", QoS: 1, ID: 1} // id 1 on the other node: must not collide
	rec := &session.Record{Version: session.FormatVersion, ID: "moved", Expiry: 60,
		Inflight:    []session.Delivery{{Msg: m, QoS: 1, PacketID: 4, Seq: 1}},
		Queued:      []session.Delivery{{Msg: m, QoS: 1, Seq: 2}},
		InboundQoS2: []uint16{9}}
	j.Adopt(rec)
	if !j.Wait(j.Latest(), 10*time.Second) {
		t.Fatal("not committed")
	}
	var ops []session.Op
	for _, b := range s.batches() {
		ops = append(ops, b...)
	}
	kinds := []session.OpKind{session.PutMessage, session.PutDelivery, session.DeleteSession, session.PutSession,
		session.PutMessage, session.PutDelivery, session.PutDelivery, session.PutInbound}
	if len(ops) != len(kinds) {
		t.Fatalf("%d ops, want %d: %+v", len(ops), len(kinds), ops)
	}
	for i, k := range kinds {
		if ops[i].Kind != k {
			t.Fatalf("op %d is %v, want %v", i, ops[i].Kind, k)
		}
	}
	if r := ops[3].Record; len(r.Inflight)+len(r.Queued)+len(r.InboundQoS2) != 0 || r.Expiry != 60 {
		t.Fatalf("PutSession carries %+v, want the session's own fields only", r)
	}
	if got := ops[4].Message.ID; got != 2 {
		t.Fatalf("the moved message got id %d, want 2 (after this node's 1)", got)
	}
	if a, b := ops[5].Delivery, ops[6].Delivery; a.Seq != 2 || b.Seq != 3 || a.PacketID != 4 || a.Msg != m || b.Msg != m {
		t.Fatalf("moved deliveries %+v %+v, want Seqs 2 and 3, packet id 4 kept, one shared message", a, b)
	}
	if rec.Inflight[0].Seq != 2 || rec.Queued[0].Seq != 3 {
		t.Fatal("the record's deliveries were not given their new Seqs: the session restored from it would not match the store")
	}
}
