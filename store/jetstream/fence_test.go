package jetstream

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/plumemq/plume/core/session"
	"github.com/plumemq/plume/store/internal/codec"
)

// A node that still commits for a session another node claimed (cut off,
// or slow to let go) must not overwrite the new owner's state: its writes
// of the client are dropped and it is told it lost the session.
func TestCommitsOfALostSessionAreFenced(t *testing.T) {
	a, b := twoNodes(t)
	ctx := context.Background()
	lost := make(chan string, 4)
	a.SetOnLost(func(client string) { lost <- client })
	if err := a.Commit(withQueue("c", 1)); err != nil {
		t.Fatal(err)
	}
	takeOver(t, b, "c")
	// node-b stores the session again under its own keys, as a takeover
	// does (journal.Adopt): the old keys deleted, the record and a queue
	// of its own written.
	m := &session.Message{Topic: "t/c", Payload: []byte("b's"), QoS: 1, ID: 7}
	if err := b.Commit([]session.Op{
		{Kind: session.DeleteSession, Client: "c"},
		{Kind: session.PutSession, Record: &session.Record{Version: session.FormatVersion, ID: "c", Expiry: 99}},
		{Kind: session.PutMessage, Message: m},
		{Kind: session.PutDelivery, Client: "c", Delivery: session.Delivery{Msg: m, QoS: 1, Seq: 1}},
	}); err != nil {
		t.Fatal(err)
	}
	// node-a, which has not heard, ends the session (a DeleteSession would
	// purge node-b's queue), then writes it again with a delivery.
	am := &session.Message{Topic: "t/c", Payload: []byte("a's"), QoS: 1, ID: 2}
	if err := a.Commit([]session.Op{{Kind: session.DeleteSession, Client: "c"}, {Kind: session.PutSession, Record: &session.Record{Version: session.FormatVersion, ID: "c", Expiry: 1}}}); err != nil {
		t.Fatalf("a fenced commit failed: %v, want it dropped", err)
	}
	if err := a.Commit([]session.Op{
		{Kind: session.PutSession, Record: &session.Record{Version: session.FormatVersion, ID: "c", Expiry: 2}},
		{Kind: session.PutMessage, Message: am},
		{Kind: session.PutDelivery, Client: "c", Delivery: session.Delivery{Msg: am, QoS: 1, Seq: 1}},
	}); err != nil {
		t.Fatalf("a fenced commit failed: %v, want it dropped", err)
	}
	expectLost(t, lost, "c", "node-a was not told that it lost c")
	got, err := b.Fetch(ctx, "c")
	if err != nil {
		t.Fatal(err)
	}
	if got.Node != "node-b" || got.Record.Expiry != 99 {
		t.Fatalf("after node-a's late commits: owner %q expiry %d, want node-b's record (99)", got.Node, got.Record.Expiry)
	}
	if q := got.Record.Queued; len(q) != 1 || string(q[0].Msg.Payload) != "b's" {
		t.Fatalf("after node-a's late commits the queue is %+v, want node-b's one delivery", q)
	}
	// A session node-a still owns is not affected.
	if err := a.Commit(withQueue("d", 3)); err != nil {
		t.Fatal(err)
	}
	if ids, err := a.Owned(ctx, "node-a"); err != nil || !slices.Equal(ids, []string{"d"}) {
		t.Fatalf("node-a owns %v (%v), want [d]", ids, err)
	}
	if ids, err := a.Owned(ctx, "node-b"); err != nil || !slices.Equal(ids, []string{"c"}) {
		t.Fatalf("node-b owns %v (%v), want [c]", ids, err)
	}
}

// A node restarted after it stored a session, and cut off when another
// node claims it, is fenced on its first write: Load noted the revision.
func TestFirstWriteAfterLoadIsFenced(t *testing.T) {
	nc := connect(t, runServer(t))
	cfg := freshConfig("node-a")
	if err := openT(t, nc, cfg).Commit(withQueue("c", 1)); err != nil {
		t.Fatal(err)
	}
	a := openT(t, nc, cfg) // node-a again, after a restart
	if got := load(t, a); len(got.Sessions) != 1 {
		t.Fatalf("node-a loads %s, want c", dump(got))
	}
	lost := make(chan string, 1)
	a.SetOnLost(func(client string) { lost <- client })
	bcfg := cfg
	bcfg.Node = "node-b"
	b := openT(t, nc, bcfg)
	ctx := context.Background()
	takeOver(t, b, "c")
	if err := a.Commit([]session.Op{{Kind: session.PutSession, Record: &session.Record{Version: session.FormatVersion, ID: "c", Expiry: 5}}}); err != nil {
		t.Fatalf("a fenced commit failed: %v, want it dropped", err)
	}
	expectLost(t, lost, "c", "node-a's first write after its restart was not fenced")
	if got, err := b.Fetch(ctx, "c"); err != nil || got.Node != "node-b" {
		t.Fatalf("owner %q (%v), want node-b", got.Node, err)
	}
}

// A loss found before the broker asks to hear of them — the fenced write
// is the restart's own (the commit applied again, or the first after Load)
// — is reported when it does: the broker loaded that session and must
// drop it, not route to it and resume its client from the stale copy.
func TestALossFoundBeforeSetOnLostIsReported(t *testing.T) {
	nc := connect(t, runServer(t))
	cfg := freshConfig("node-a")
	if err := openT(t, nc, cfg).Commit(withQueue("c", 1)); err != nil {
		t.Fatal(err)
	}
	a := openT(t, nc, cfg) // node-a again, after a restart
	if got := load(t, a); len(got.Sessions) != 1 {
		t.Fatalf("node-a loads %s, want c", dump(got))
	}
	bcfg := cfg
	bcfg.Node = "node-b"
	b := openT(t, nc, bcfg)
	takeOver(t, b, "c")
	if err := a.Commit([]session.Op{{Kind: session.PutSession, Record: &session.Record{Version: session.FormatVersion, ID: "c", Expiry: 5}}}); err != nil {
		t.Fatalf("a fenced commit failed: %v, want it dropped", err)
	}
	lost := make(chan string, 1)
	a.SetOnLost(func(client string) { lost <- client })
	expectLost(t, lost, "c", "a loss found before SetOnLost was never reported")
}

// node-a crashes while applying a commit of client c's session; node-b
// takes c from the store as it was and completes its delivery. When node-a
// restarts and applies its commit again, the writes of c are fenced: they
// would put back the delivery node-b completed (its packet id, which the
// client finished), and node-b's next reader would send it again.
func TestACommitAppliedAgainAfterACrashIsFenced(t *testing.T) {
	nc := connect(t, runServer(t))
	cfg := freshConfig("node-a")
	a := openT(t, nc, cfg)
	if err := a.Commit(withQueue("c", 1)); err != nil {
		t.Fatal(err)
	}
	m := &session.Message{Topic: "t/c", Payload: []byte("a's second"), QoS: 2, ID: 2}
	crashed := false
	a.crash = func(stage string, j int) bool {
		crashed = crashed || stage == "apply" && j == 1
		return crashed
	}
	if err := a.Commit([]session.Op{
		{Kind: session.PutSession, Record: &session.Record{Version: session.FormatVersion, ID: "c", Expiry: 61}},
		{Kind: session.PutMessage, Message: m},
		{Kind: session.PutDelivery, Client: "c", Delivery: session.Delivery{Msg: m, QoS: 2, PacketID: 7, Seq: 2}},
	}); !errors.Is(err, errCrashed) {
		t.Fatalf("Commit returned %v, want the injected crash", err)
	}

	bcfg := cfg
	bcfg.Node = "node-b"
	b := openT(t, nc, bcfg)
	ctx := context.Background()
	takeOver(t, b, "c")
	// node-b stores the session under its own keys (journal.Adopt) and
	// its client completes every delivery: none left.
	if err := b.Commit([]session.Op{
		{Kind: session.DeleteSession, Client: "c"},
		{Kind: session.PutSession, Record: &session.Record{Version: session.FormatVersion, ID: "c", Expiry: 99}},
	}); err != nil {
		t.Fatal(err)
	}

	lost := make(chan string, 1)
	a2 := openT(t, nc, cfg) // node-a restarts: its interrupted commit is applied again
	a2.SetOnLost(func(client string) { lost <- client })
	got, err := b.Fetch(ctx, "c")
	if err != nil {
		t.Fatal(err)
	}
	if got.Node != "node-b" || got.Record.Expiry != 99 || len(got.Record.Inflight)+len(got.Record.Queued) != 0 {
		t.Fatalf("after node-a's replay: owner %q expiry %d, inflight %d, queued %d; want node-b's record (99) with no delivery",
			got.Node, got.Record.Expiry, len(got.Record.Inflight), len(got.Record.Queued))
	}
	expectLost(t, lost, "c", "node-a was not told that it lost c")
}

// A write of this node's own session that the server refuses because the
// record changed — but the record still names this node — is not a loss:
// the change was this node's own write whose acknowledgement timed out
// (republish then sent it again on the old revision), or its own last
// commit applied again by another node. The Commit fails, the session is
// kept, and the next write goes on the record's revision. Before, the
// session was declared lost and dropped by the broker with what only its
// memory held (TestFaultKill9 seed 1796066723011425782: s1 lost 88).
func TestARefusedWriteOfARecordThatStillNamesThisNodeIsNotALoss(t *testing.T) {
	a, b := twoNodes(t)
	ctx := context.Background()
	lost := make(chan string, 4)
	a.SetOnLost(func(client string) { lost <- client })
	rec := func(expiry uint32) *session.Record {
		return &session.Record{Version: session.FormatVersion, ID: "mine", Expiry: expiry}
	}
	if err := a.Commit([]session.Op{{Kind: session.PutSession, Record: rec(10)}}); err != nil {
		t.Fatal(err)
	}
	// node-a's own write lands without node-a learning its revision (its
	// acknowledgement lost): the record names node-a, at a revision it
	// does not know.
	v, err := codec.AppendRecord(appendString(nil, "node-a"), rec(20))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.kv.Put(ctx, token("mine"), v); err != nil {
		t.Fatal(err)
	}
	if err := a.Commit([]session.Op{{Kind: session.PutSession, Record: rec(30)}}); err == nil {
		t.Fatal("a refused write was dropped as fenced; want the Commit to fail and the session kept")
	}
	if err := a.Commit([]session.Op{{Kind: session.PutSession, Record: rec(40)}}); err != nil {
		t.Fatalf("the write after it: %v", err)
	}
	h, err := b.Fetch(ctx, "mine")
	if err != nil || h.Node != "node-a" || h.Record.Expiry != 40 {
		t.Fatalf("fetched %q expiry %d (%v), want node-a's last write (expiry 40)", h.Node, h.Record.Expiry, err)
	}
	select {
	case c := <-lost:
		t.Fatalf("%q reported lost; nobody claimed it", c)
	default:
	}
}

// takeOver has s claim client's session at the revision it fetches, as a
// node taking it from the store does.
func takeOver(t *testing.T, s *Store, client string) {
	t.Helper()
	ctx := context.Background()
	h, err := s.Fetch(ctx, client)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Claim(ctx, client, h.Revision); err != nil {
		t.Fatal(err)
	}
}

// expectLost waits for the store to report client lost on lost (SetOnLost),
// failing with why if it does not.
func expectLost(t *testing.T, lost <-chan string, client, why string) {
	t.Helper()
	select {
	case c := <-lost:
		if c != client {
			t.Fatalf("lost %q, want %s", c, client)
		}
	case <-time.After(10 * time.Second):
		t.Fatal(why)
	}
}
