package jetstream

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/plumemq/plume/core/session"
)

// The commit log makes a Commit atomic across the bucket and the streams:
// a crash after its log entry is whole leaves the state after it (Open
// applies it again), a crash before leaves the state before it. Each case
// crashes at every write of a Commit that touches every kind of key.

func crashOps() (first, second []session.Op) {
	rec := func(id string) *session.Record {
		return &session.Record{Version: session.FormatVersion, ID: id, Expiry: 60,
			Subscriptions: []session.Subscription{{Identifier: 3}}}
	}
	m1 := &session.Message{Topic: "a/b", Payload: []byte("one"), QoS: 1, ID: 1}
	m2 := &session.Message{Topic: "a.b/*/>/ /", Payload: []byte("two"), QoS: 2, ID: 2}
	first = []session.Op{
		{Kind: session.PutSession, Record: rec("old")},
		{Kind: session.PutMessage, Message: m1},
		{Kind: session.PutDelivery, Client: "old", Delivery: session.Delivery{Msg: m1, QoS: 1, Seq: 1}},
		{Kind: session.PutInbound, Client: "old", PacketID: 9},
		{Kind: session.PutSession, Record: rec("kept")},
		{Kind: session.PutDelivery, Client: "kept", Delivery: session.Delivery{Msg: m1, QoS: 1, Seq: 4, PacketID: 2}},
		{Kind: session.PutRetained, Message: &session.Message{Topic: "r/1", Payload: []byte("r1"), Retain: true}},
	}
	second = []session.Op{
		{Kind: session.DeleteSession, Client: "old"},
		{Kind: session.PutSession, Record: rec("new")},
		{Kind: session.PutMessage, Message: m2},
		{Kind: session.PutDelivery, Client: "new", Delivery: session.Delivery{Msg: m2, QoS: 2, Seq: 1}},
		{Kind: session.PutDelivery, Client: "kept", Delivery: session.Delivery{Msg: m2, QoS: 2, Seq: 5}},
		{Kind: session.DeleteDelivery, Client: "kept", Seq: 4},
		{Kind: session.DeleteMessage, MessageID: 1},
		{Kind: session.PutInbound, Client: "new", PacketID: 7},
		{Kind: session.DeleteRetained, Topic: "r/1"},
		{Kind: session.PutRetained, Message: &session.Message{Topic: m2.Topic, Payload: []byte("r2"), Retain: true}},
	}
	return first, second
}

// expected is the MemoryStore's Load after the given Commits.
func expected(t *testing.T, commits ...[]session.Op) session.Snapshot {
	t.Helper()
	m := session.NewMemoryStore()
	for _, ops := range commits {
		if err := m.Commit(ops); err != nil {
			t.Fatal(err)
		}
	}
	snap, err := m.Load()
	if err != nil {
		t.Fatal(err)
	}
	return normal(snap)
}

// normal sorts what Load returns in no particular order, and leaves out
// the id floor, which is the clock's (TestLoadGivesAnIDFloorAboveEveryEarlierID).
func normal(s session.Snapshot) session.Snapshot {
	sortSnapshot(&s)
	s.IDFloor = 0
	return s
}

func TestCrashWhileApplyingLeavesTheStateAfter(t *testing.T) {
	nc := connect(t, runServer(t))
	first, second := crashOps()
	want := expected(t, first, second)
	writes := 0
	for i := 0; ; i++ {
		cfg := freshConfig("n1")
		s := openT(t, nc, cfg)
		if err := s.Commit(first); err != nil {
			t.Fatal(err)
		}
		// A restart between the Commits: the second must not be taken
		// for a retry of the first (log numbers go on from the log).
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s = openT(t, nc, cfg)
		crashed := false
		s.crash = func(stage string, j int) bool {
			crashed = crashed || stage == "apply" && j == i
			return crashed
		}
		err := s.Commit(second)
		if !crashed {
			if err != nil {
				t.Fatal(err)
			}
			writes = i
			break
		}
		if !errors.Is(err, errCrashed) {
			t.Fatalf("crash before write %d: Commit returned %v", i, err)
		}
		// The process is gone; a new one opens the store.
		got := load(t, openT(t, nc, cfg))
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("crash before write %d of the second Commit: loaded\n%s\nwant the state after it\n%s", i, dump(got), dump(want))
		}
	}
	if writes < len(second) {
		t.Fatalf("the second Commit made %d writes, fewer than its %d ops", writes, len(second))
	}
}

func TestCrashWhileLoggingLeavesTheStateBefore(t *testing.T) {
	nc := connect(t, runServer(t))
	first, second := crashOps()
	want := expected(t, first)
	for _, chunk := range []int{0, 64} { // one log message; several
		for i := 0; ; i++ {
			cfg := freshConfig("n1")
			s := openT(t, nc, cfg)
			if chunk != 0 {
				s.chunk = chunk
			}
			if err := s.Commit(first); err != nil {
				t.Fatal(err)
			}
			crashed := false
			s.crash = func(stage string, j int) bool {
				crashed = crashed || stage == "log" && j == i
				return crashed
			}
			err := s.Commit(second)
			if !crashed {
				if err != nil {
					t.Fatal(err)
				}
				if chunk != 0 && i < 3 {
					t.Fatalf("chunks of %d bytes: the log entry took %d messages, the test wants several", chunk, i)
				}
				break
			}
			if !errors.Is(err, errCrashed) {
				t.Fatalf("crash before chunk %d: Commit returned %v", i, err)
			}
			again := openT(t, nc, cfg)
			if got := load(t, again); !reflect.DeepEqual(got, want) {
				t.Fatalf("chunk size %d, crash before log chunk %d: loaded\n%s\nwant the state before the Commit\n%s", chunk, i, dump(got), dump(want))
			}
			// The restarted store's Commits are new ones, not taken for
			// retries of the lost one (the log's Msg-Id dedup).
			if err := again.Commit(second); err != nil {
				t.Fatal(err)
			}
			if got, want := load(t, again), expected(t, first, second); !reflect.DeepEqual(got, want) {
				t.Fatalf("chunk size %d, crash before log chunk %d, then the Commit again: loaded\n%s\nwant\n%s", chunk, i, dump(got), dump(want))
			}
		}
	}
}

func load(t *testing.T, s *Store) session.Snapshot {
	t.Helper()
	snap, err := s.Load()
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return normal(snap)
}

func dump(s session.Snapshot) string {
	out := ""
	for _, r := range s.Sessions {
		out += fmt.Sprintf("  session %s: %d in flight, %d queued, inbound %v\n", r.ID, len(r.Inflight), len(r.Queued), r.InboundQoS2)
		for _, d := range append(r.Inflight, r.Queued...) {
			out += fmt.Sprintf("    seq %d msg %+v\n", d.Seq, d.Msg)
		}
	}
	for _, m := range s.Retained {
		out += fmt.Sprintf("  retained %q %q\n", m.Topic, m.Payload)
	}
	return out
}

// A Commit of one write is atomic without the log, and skips it.
func TestOneWriteCommitSkipsTheLog(t *testing.T) {
	s := openT(t, connect(t, runServer(t)), freshConfig("n1"))
	s.crash = func(stage string, _ int) bool { return stage == "log" }
	one := []session.Op{{Kind: session.PutSession, Record: &session.Record{Version: session.FormatVersion, ID: "c"}}}
	if err := s.Commit(one); err != nil {
		t.Fatalf("a one-write Commit: %v, want no log write", err)
	}
	first, _ := crashOps()
	if err := s.Commit(first); !errors.Is(err, errCrashed) {
		t.Fatalf("a Commit of %d writes: %v, want it to write the log", len(first), err)
	}
}

// A Commit applied whose done marker was lost is applied again by the next
// Open; a later one-write Commit (no log entry of its own) must not be
// undone by that: the marker is written before it.
func TestLostDoneMarkerDoesNotUndoALaterCommit(t *testing.T) {
	nc := connect(t, runServer(t))
	cfg := freshConfig("n1")
	s := openT(t, nc, cfg)
	first, _ := crashOps()
	s.crash = func(stage string, _ int) bool { return stage == "done" }
	if err := s.Commit(first); err != nil {
		t.Fatal(err)
	}
	s.crash = nil
	later := []session.Op{{Kind: session.DeleteDelivery, Client: "old", Seq: 1}}
	if err := s.Commit(later); err != nil {
		t.Fatal(err)
	}
	// The process dies; a new one opens the store.
	if got, want := load(t, openT(t, nc, cfg)), expected(t, first, later); !reflect.DeepEqual(got, want) {
		t.Fatalf("after a lost done marker, a one-write Commit and a restart: loaded\n%s\nwant\n%s", dump(got), dump(want))
	}
}

// A node killed between logging a Commit and applying it leaves that
// Commit's writes undone until it restarts; a node taking its sessions
// over finishes it first (FinishCommitsOf), so that it reads them whole.
// Before, the new owner found no session "new" (its record was logged,
// not written) and took a QoS 2 publisher's resend for a new message.
func TestAnotherNodeFinishesADeadNodesCommit(t *testing.T) {
	nc := connect(t, runServer(t))
	first, second := crashOps()
	cfg := freshConfig("n1")
	s := openT(t, nc, cfg)
	if err := s.Commit(first); err != nil {
		t.Fatal(err)
	}
	s.crash = func(stage string, j int) bool { return stage == "apply" }
	if err := s.Commit(second); !errors.Is(err, errCrashed) {
		t.Fatalf("Commit: %v, want the crash before its first write", err)
	}
	other := cfg
	other.Node = "n2"
	s2 := openT(t, nc, other)
	if _, err := s2.Fetch(context.Background(), "new"); !errors.Is(err, ErrNoSession) {
		t.Fatalf("before: Fetch of a session only logged: %v, want ErrNoSession", err)
	}
	if err := s2.FinishCommitsOf(context.Background(), "n1"); err != nil {
		t.Fatal(err)
	}
	h, err := s2.Fetch(context.Background(), "new")
	if err != nil {
		t.Fatalf("after finishing n1's commit: %v", err)
	}
	if h.Node != "n1" || !slices.Equal(h.Record.InboundQoS2, []uint16{7}) || len(h.Record.Queued) != 1 {
		t.Fatalf("session %q of %q: inbound %v, %d queued; want n1's, inbound [7], 1 queued", h.Record.ID, h.Node, h.Record.InboundQoS2, len(h.Record.Queued))
	}
	// The dead node's own Open then finds the entry done: nothing twice.
	if got, want := load(t, openT(t, nc, cfg)), expected(t, first, second); !reflect.DeepEqual(got, want) {
		t.Fatalf("n1 restarted: loaded\n%s\nwant\n%s", dump(got), dump(want))
	}
}

// halfMoved has n1 claim session "moved", which n2 held and lost to it,
// and die right after the DeleteSession of its move (journal.Adopt: the
// record's tombstone written, its PutSession not): the session reads as
// gone until someone finishes n1's commit.
func halfMoved(t *testing.T) (n1, n2 *Store) {
	t.Helper()
	nc := connect(t, runServer(t))
	cfg := freshConfig("n2")
	n2 = openT(t, nc, cfg)
	cfg.Node = "n1"
	n1 = openT(t, nc, cfg)
	ctx := context.Background()
	if err := n2.Commit(withQueue("moved", 1)); err != nil {
		t.Fatal(err)
	}
	h, err := n1.Fetch(ctx, "moved")
	if err != nil {
		t.Fatalf("n1's fetch of n2's session: %v", err)
	}
	if _, err := n1.Claim(ctx, "moved", h.Revision); err != nil {
		t.Fatal(err)
	}
	// n2 finds out as its next write of the session is refused.
	if err := n2.Commit([]session.Op{{Kind: session.PutSession, Record: &session.Record{Version: session.FormatVersion, ID: "moved", Expiry: 9}}}); err != nil {
		t.Logf("n2's fenced write: %v", err)
	}
	n2.mu.Lock()
	lost := n2.isLost(token("moved"))
	n2.mu.Unlock()
	if !lost {
		t.Fatal("n2 did not count the session lost")
	}
	m := &session.Message{Topic: "t/moved", Payload: []byte("moved"), QoS: 1, ID: 5}
	n1.crash = func(stage string, j int) bool { return stage == "apply" && j == 3 } // after the tombstone, the purge and its marker
	err = n1.Commit([]session.Op{
		{Kind: session.DeleteSession, Client: "moved"},
		{Kind: session.PutSession, Record: &session.Record{Version: session.FormatVersion, ID: "moved", Expiry: 60}},
		{Kind: session.PutMessage, Message: m},
		{Kind: session.PutDelivery, Client: "moved", Delivery: session.Delivery{Msg: m, QoS: 1, Seq: 1}},
	})
	if !errors.Is(err, errCrashed) {
		t.Fatalf("Commit: %v, want the crash after the DeleteSession", err)
	}
	if _, err := n2.Fetch(ctx, "moved"); !errors.Is(err, ErrNoSession) {
		t.Fatalf("the half-applied move: Fetch %v, want ErrNoSession", err)
	}
	return n1, n2
}

// Finishing another node's commit writes what it wrote, whatever this
// node's fence says of the session: n2 lost "moved" to n1, and still
// must put back the record of n1's half-applied move. Before, n2 skipped
// every write of a session it had lost, and the client, reconnecting to
// n2, found no session and started a fresh one (TestFaultKill9 seed
// 1796089859341961506).
func TestFinishingAnotherNodesCommitIsNotFencedByThisNodes(t *testing.T) {
	_, n2 := halfMoved(t)
	ctx := context.Background()
	if err := n2.FinishCommitsOf(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	h, err := n2.Fetch(ctx, "moved")
	if err != nil {
		t.Fatalf("after finishing n1's commit: %v", err)
	}
	if h.Node != "n1" || len(h.Record.Queued) != 1 || h.Record.Expiry != 60 {
		t.Fatalf("session of %q, %d queued, expiry %d; want n1's, its one delivery, expiry 60", h.Node, len(h.Record.Queued), h.Record.Expiry)
	}
}

// Several CONNECTs finishing one dead node's commit at once apply it
// once: the others wait, then find it done. Before, each applied it again
// (seed 1796089859341961506: six replays of one commit on one node, each
// a DeleteSession and a PutSession that other nodes could read between).
func TestConcurrentFinishesOfOneCommitApplyItOnce(t *testing.T) {
	_, n2 := halfMoved(t)
	ctx := context.Background()
	var replays atomic.Int32
	n2.mu.Lock()
	n2.crash = func(stage string, i int) bool {
		if stage == "apply" && i == 0 {
			replays.Add(1)
		}
		return false
	}
	n2.mu.Unlock()
	errs := make(chan error, 8)
	for range cap(errs) {
		go func() {
			if err := n2.FinishCommitsOf(ctx, "n1"); err != nil {
				errs <- err
				return
			}
			_, err := n2.Fetch(ctx, "moved")
			errs <- err
		}()
	}
	for range cap(errs) {
		if err := <-errs; err != nil {
			t.Fatalf("a finish, then a fetch: %v", err)
		}
	}
	if n := replays.Load(); n != 1 {
		t.Fatalf("n1's commit applied %d times by %d concurrent finishes; want once", n, cap(errs))
	}
}
