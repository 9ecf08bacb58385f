package storetest

import (
	"fmt"
	"slices"
	"testing"

	"github.com/plumemq/plume/core/session"
)

// loaded returns the record of id in snap with its inbound ids sorted (the
// contract leaves their order open), failing the test if it is missing.
func loaded(t *testing.T, snap session.Snapshot, id string) session.Record {
	t.Helper()
	for _, r := range snap.Sessions {
		if r.ID == id {
			r.InboundQoS2 = slices.Clone(r.InboundQoS2)
			slices.Sort(r.InboundQoS2)
			return r
		}
	}
	t.Fatalf("session %s is not loaded (loaded: %v)", id, ids(snap))
	return session.Record{}
}

func emptyStoreLoadsNothing(t *testing.T, h Harness) {
	o := open(t, h)
	if snap := o.load(); len(snap.Sessions) != 0 || len(snap.Retained) != 0 {
		t.Fatalf("a new store loads %d sessions and %d retained messages, want none", len(snap.Sessions), len(snap.Retained))
	}
}

// A record's own fields come back whole: owner, expiry, disconnect time,
// subscriptions with every option, a will with its properties.
func sessionRoundTrip(t *testing.T, h Harness) {
	o := open(t, h)
	want := record("c1")
	o.commit(putSession(want))
	sameRecord(t, "round trip", only(t, o.load(), "c1"), want)
	// A record with nothing set comes back with nothing set.
	o.commit(putSession(minimal("c2")))
	sameRecord(t, "minimal record", loaded(t, o.load(), "c2"), minimal("c2"))
}

// PutSession replaces the record's own fields and leaves its deliveries and
// inbound ids, which are ops of their own.
func putSessionReplaces(t *testing.T, h Harness) {
	o := open(t, h)
	m := message(1, "a/b")
	o.commit(putSession(record("c1")), putMessage(m), putDelivery("c1", queued(1, m)), putInbound("c1", 3))
	second := minimal("c1")
	second.Expiry, second.DisconnectedAt = 10, 1
	o.commit(putSession(second))
	want := second
	want.Queued = []session.Delivery{queued(1, m)}
	want.InboundQoS2 = []uint16{3}
	sameRecord(t, "after a second PutSession", loaded(t, o.load(), "c1"), want)
}

// DeleteSession removes the record, its deliveries and its inbound ids, and
// nothing of another session; a session made again under the same id starts
// empty.
func deleteSession(t *testing.T, h Harness) {
	o := open(t, h)
	goneOps, _ := busy("gone", 100, 5)
	keptOps, kept := busy("kept", 200, 5)
	// "gone/x" and "gon" share a prefix with "gone": a store keying by
	// prefix must not delete them with it.
	prefixOps, prefixed := busy("gone/x", 300, 3)
	shortOps, short := busy("gon", 400, 3)
	o.commit(slices.Concat(goneOps, keptOps, prefixOps, shortOps)...)
	o.commit(deleteSessionOp("gone"), deleteSessionOp("never-stored"))
	snap := o.load()
	if got := ids(snap); !slices.Equal(got, []string{"gon", "gone/x", "kept"}) {
		t.Fatalf("after deleting gone: sessions %v, want gon, gone/x, kept", got)
	}
	sameRecord(t, "kept", loaded(t, snap, "kept"), kept)
	sameRecord(t, "gone/x", loaded(t, snap, "gone/x"), prefixed)
	sameRecord(t, "gon", loaded(t, snap, "gon"), short)
	// The id comes back as a new session: none of the old deliveries or ids.
	o.commit(putSession(minimal("gone")))
	sameRecord(t, "gone, made again", loaded(t, o.load(), "gone"), minimal("gone"))
}

// A delivery whose session has no record is not returned, nor is a message
// no delivery refers to (it would show up nowhere; it must not show up as
// retained).
func leftoversNotReturned(t *testing.T, h Harness) {
	o := open(t, h)
	m := message(1, "a/b")
	o.commit(putMessage(m), putDelivery("ghost", queued(1, m)), putInbound("ghost", 1), putMessage(message(2, "lonely")))
	if snap := o.load(); len(snap.Sessions) != 0 || len(snap.Retained) != 0 {
		t.Fatalf("loaded %d sessions and %d retained from deliveries and messages with no session, want none", len(snap.Sessions), len(snap.Retained))
	}
}

func inboundIDs(t *testing.T, h Harness) {
	o := open(t, h)
	o.commit(putSession(minimal("c1")), putInbound("c1", 5), putInbound("c1", 65535), putInbound("c1", 1))
	o.commit(putInbound("c1", 5), deleteInbound("c1", 65535), deleteInbound("c1", 77))
	o.commit(putSession(minimal("c2")), putInbound("c2", 65535))
	snap := o.load()
	if got := loaded(t, snap, "c1").InboundQoS2; !slices.Equal(got, []uint16{1, 5}) {
		t.Fatalf("inbound ids of c1: %v, want [1 5]", got)
	}
	if got := loaded(t, snap, "c2").InboundQoS2; !slices.Equal(got, []uint16{65535}) {
		t.Fatalf("inbound ids of c2: %v, want [65535]", got)
	}
}

// manySessions stores 200 busy sessions, deletes every other one and checks
// the rest whole.
func manySessions(t *testing.T, h Harness) {
	o := open(t, h)
	const n = 200
	want := map[string]session.Record{}
	for i := range n {
		id := fmt.Sprintf("c%03d", i)
		ops, r := busy(id, uint64(i*10+1), 4)
		o.commit(ops...)
		want[id] = r
	}
	var dels []session.Op
	for i := 0; i < n; i += 2 {
		id := fmt.Sprintf("c%03d", i)
		dels = append(dels, deleteSessionOp(id))
		for _, d := range slices.Concat(want[id].Inflight, want[id].Queued) {
			dels = append(dels, deleteMessageOp(d.Msg.ID))
		}
		delete(want, id)
	}
	o.commit(dels...)
	snap := o.load()
	if len(snap.Sessions) != n/2 {
		t.Fatalf("%d sessions, want %d", len(snap.Sessions), n/2)
	}
	for id, r := range want {
		sameRecord(t, id, loaded(t, snap, id), r)
	}
}
