package jetstream

import (
	"context"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/plumemq/plume/core/session"
)

// The journal commits the ops of a failed Commit again, with the ops made
// since after them (decision 0059): the store must take ops that already
// happened in part — a Commit that failed while logging (nothing applied)
// or while applying (its log entry pending, finished first) — and end in
// the state after all of them, without counting this node's own sessions
// as taken by another (the record writes are conditional, fence.go).
func TestACommitFailedMidwayIsTakenAgainWithLaterOps(t *testing.T) {
	nc := connect(t, runServer(t))
	first, second := crashOps()
	m3 := &session.Message{Topic: "c", Payload: []byte("three"), QoS: 1, ID: 3}
	later := []session.Op{
		{Kind: session.PutMessage, Message: m3},
		{Kind: session.PutDelivery, Client: "kept", Delivery: session.Delivery{Msg: m3, QoS: 1, Seq: 6}},
		{Kind: session.PutSession, Record: &session.Record{Version: session.FormatVersion, ID: "new", Expiry: 90}},
		{Kind: session.Position, Shard: 1, Seq: 42},
	}
	want := expected(t, first, second, later)
	for _, stage := range []string{"log", "apply"} {
		for i := 0; ; i++ {
			s := openT(t, nc, freshConfig("n1"))
			var lost atomic.Int32
			s.SetOnLost(func(string) { lost.Add(1) })
			if err := s.Commit(first); err != nil {
				t.Fatal(err)
			}
			failed := false
			s.crash = func(st string, j int) bool { // one write fails, once; the process lives on
				if st == stage && j == i && !failed {
					failed = true
					return true
				}
				return false
			}
			err := s.Commit(second)
			if !failed {
				if err != nil {
					t.Fatal(err)
				}
				break // past the Commit's last write
			}
			if err == nil {
				t.Fatalf("%s write %d failed, and Commit returned nil", stage, i)
			}
			if err := s.Commit(append(append([]session.Op(nil), second...), later...)); err != nil {
				t.Fatalf("%s write %d failed; the Commit given again: %v", stage, i, err)
			}
			got := load(t, s)
			for len(got.Positions) > len(want.Positions) && got.Positions[len(got.Positions)-1] == 0 {
				got.Positions = got.Positions[:len(got.Positions)-1] // the shards past the last position: at 0 either way
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%s write %d failed, then the ops were given again: loaded\n%s%v\nwant\n%s%v", stage, i, dump(got), got.Positions, dump(want), want.Positions)
			}
			if n := lost.Load(); n != 0 {
				t.Fatalf("%s write %d failed: %d sessions counted as taken by another node", stage, i, n)
			}
		}
	}
}

// A record write that was stored but never answered (its stream's leader
// killed after the replicas had it) is asked again, by republish or by the
// journal's next Commit, conditional on the revision before it: the server
// refuses that as a wrong last sequence. The record holding this very write
// is not another node's claim: the session stays this node's, and its next
// writes land (before, it counted as lost and every later write of the
// client was dropped).
func TestARecordWriteStoredUnansweredIsNoLoss(t *testing.T) {
	a, b := twoNodes(t)
	lost := make(chan string, 4)
	a.SetOnLost(func(client string) { lost <- client })
	if err := a.Commit(withQueue("c", 1)); err != nil {
		t.Fatal(err)
	}
	again := []session.Op{{Kind: session.PutSession, Record: &session.Record{Version: session.FormatVersion, ID: "c", Expiry: 77}}}
	// The write stored behind the store's back, as if unanswered.
	acts, _, err := a.plan(again)
	if err != nil {
		t.Fatal(err)
	}
	m := nats.NewMsg(acts[0].subject)
	m.Data = acts[0].data
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	storeBehind(ctx, t, a, m)
	if err := a.Commit(again); err != nil {
		t.Fatalf("the write given again: %v", err)
	}
	later := &session.Record{Version: session.FormatVersion, ID: "c", Expiry: 88}
	if err := a.Commit([]session.Op{{Kind: session.PutSession, Record: later}}); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-lost:
		t.Fatalf("session %q counted as taken by another node after its own write came back", c)
	default:
	}
	got, err := b.Fetch(ctx, "c")
	if err != nil {
		t.Fatal(err)
	}
	if got.Record.Expiry != 88 {
		t.Fatalf("stored record has expiry %d, want 88: the later write was dropped", got.Record.Expiry)
	}
}

// A move's first write, the tombstone of the client's record (journal.Adopt:
// DeleteSession, then PutSession), is stored but never answered, and asked
// again on the revision before it: the server refuses that. The tombstone
// found is this very one, written by this node on that revision, not
// another node's: the session stays this node's and the PutSession after it
// lands. Before, every tombstone looked alike, the session counted as lost,
// the PutSession was dropped, and the session was left deleted
// (TestFaultKill9 seed 1796106328003761796: p1q1's client, kicked, came
// back to a fresh session).
func TestATombstoneStoredUnansweredIsNoLoss(t *testing.T) {
	a, b := twoNodes(t)
	lost := make(chan string, 4)
	a.SetOnLost(func(client string) { lost <- client })
	if err := a.Commit(withQueue("c", 1)); err != nil {
		t.Fatal(err)
	}
	move := []session.Op{{Kind: session.DeleteSession, Client: "c"},
		{Kind: session.PutSession, Record: &session.Record{Version: session.FormatVersion, ID: "c", Expiry: 77}}}
	acts, _, err := a.plan(move)
	if err != nil {
		t.Fatal(err)
	}
	// The tombstone stored behind the store's back, as its apply writes it.
	m := nats.NewMsg(acts[0].subject)
	m.Header.Set(kvOperation, "DEL")
	tok, _ := a.fenceTarget(acts[0].subject)
	a.mu.Lock()
	a.condition(tok, m)
	a.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	storeBehind(ctx, t, a, m)
	if err := a.Commit(move); err != nil {
		t.Fatalf("the move given again: %v", err)
	}
	select {
	case c := <-lost:
		t.Fatalf("session %q counted as taken by another node after its own tombstone came back", c)
	default:
	}
	got, err := b.Fetch(ctx, "c")
	if err != nil {
		t.Fatalf("the session after the move: %v", err)
	}
	if got.Record.Expiry != 77 {
		t.Fatalf("stored record has expiry %d, want 77", got.Record.Expiry)
	}
}

// storeBehind writes m to a's JetStream without a's store knowing: a
// write stored whose answer never came.
func storeBehind(ctx context.Context, t *testing.T, a *Store, m *nats.Msg) {
	t.Helper()
	if _, err := a.js.PublishMsg(ctx, m); err != nil {
		t.Fatal(err)
	}
}
