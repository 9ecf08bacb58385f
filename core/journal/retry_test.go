package journal_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/plumemq/plume/core/journal"
	"github.com/plumemq/plume/core/session"
)

var errNoQuorum = errors.New("no quorum") // a store failure that passes

// flakyStore fails the Commits whose attempt number (from 1) fail says,
// with errNoQuorum, and applies the others to a MemoryStore; after each
// Commit that lands it checks the invariant of a cluster node's state
// (check), and it remembers what each one held.
type flakyStore struct {
	*session.MemoryStore
	fail func(attempt int) bool

	mu       sync.Mutex
	attempts int
	landed   [][]session.Op
	broken   []string // invariant violations seen after a commit
	attempt  chan int // each attempt's number, when someone listens
}

func newFlakyStore(fail func(int) bool) *flakyStore {
	return &flakyStore{MemoryStore: session.NewMemoryStore(), fail: fail, attempt: make(chan int, 1024)}
}

func (s *flakyStore) Commit(ops []session.Op) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.attempts++
	select {
	case s.attempt <- s.attempts:
	default:
	}
	if s.fail(s.attempts) {
		return fmt.Errorf("write to the ingest: %w", errNoQuorum)
	}
	if err := s.MemoryStore.Commit(ops); err != nil {
		return err
	}
	s.landed = append(s.landed, append([]session.Op(nil), ops...))
	s.check()
	return nil
}

// check holds the store to what a position means (decision 0055): every
// message of shard 0 up to the position has its delivery stored, none past
// it has. s.mu is held.
func (s *flakyStore) check() {
	snap, err := s.MemoryStore.Load()
	if err != nil {
		s.broken = append(s.broken, err.Error())
		return
	}
	pos := snap.Positions.At(0)
	stored := map[uint64]bool{}
	for _, r := range snap.Sessions {
		for _, d := range r.Queued {
			var k uint64
			fmt.Sscanf(d.Msg.Topic, "m/%d", &k)
			stored[k] = true
		}
	}
	for k := uint64(1); k <= pos; k++ {
		if !stored[k] {
			s.broken = append(s.broken, fmt.Sprintf("commit %d: position %d, message %d not stored", len(s.landed), pos, k))
			return
		}
	}
	for k := range stored {
		if k > pos {
			s.broken = append(s.broken, fmt.Sprintf("commit %d: message %d stored past position %d", len(s.landed), k, pos))
			return
		}
	}
}

// route does what the fabric does for ingest message k of shard 0: a
// delivery to the session, and the position, in one change.
func route(j *journal.Journal, k int) {
	j.Begin()
	defer j.End()
	d := session.Delivery{Msg: &session.Message{Topic: fmt.Sprintf("m/%d", k), QoS: 1}, QoS: 1}
	j.Stored("sub", &d)
	j.Position(0, uint64(k))
}

// A batch whose Commit failed is committed again ahead of later ones until
// it lands: every op lands, in order, and the position is never committed
// past deliveries that were not (round 2's fault runs: the ops of a failed
// batch were dropped, and a later batch committed a position past them).
func TestFailedBatchesAreCommittedAgainInOrder(t *testing.T) {
	s := newFlakyStore(func(a int) bool { return a >= 2 && a <= 4 || a >= 7 && a <= 8 || a == 11 })
	j := newJournal(t, s)
	j.PutSession(&session.Record{Version: session.FormatVersion, ID: "sub", Expiry: 3600})
	const n = 300
	for k := 1; k <= n; k++ {
		route(j, k)
		if k%25 == 0 { // let batches end here and there, some of them failing
			<-s.attempt
		}
	}
	if !j.Wait(j.Latest(), time.Minute) {
		t.Fatal("the last batch is reported failed")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.attempts < 12 {
		t.Fatalf("%d attempts: the failures the test meant to inject did not all happen", s.attempts)
	}
	if len(s.broken) > 0 {
		t.Fatalf("the store's state broke the position's promise: %s", strings.Join(s.broken, "; "))
	}
	snap, err := s.MemoryStore.Load()
	if err != nil {
		t.Fatal(err)
	}
	if got := snap.Positions.At(0); got != n {
		t.Errorf("position %d, want %d", got, n)
	}
	if len(snap.Sessions) != 1 || len(snap.Sessions[0].Queued) != n {
		t.Fatalf("%d sessions, want the one with %d deliveries", len(snap.Sessions), n)
	}
	for i, d := range snap.Sessions[0].Queued {
		if want := fmt.Sprintf("m/%d", i+1); d.Msg.Topic != want {
			t.Fatalf("delivery %d is %s, want %s: out of order", i, d.Msg.Topic, want)
		}
	}
	for i, ops := range s.landed {
		positions := 0
		for _, op := range ops {
			if op.Kind == session.Position {
				positions++
			}
		}
		if positions > 1 {
			t.Errorf("commit %d holds %d positions of shard 0: the earlier were not superseded", i, positions)
		}
	}
}

// The answers waiting for a failed batch wait for the commit that lands its
// ops, and are then told it succeeded: their clients need not resend what
// the broker keeps.
func TestWaitersOfAFailedBatchAreToldWhenItLands(t *testing.T) {
	s := newFlakyStore(func(a int) bool { return a <= 3 })
	j := newJournal(t, s)
	m := j.Mark()
	j.Inbound("pub", 7, true)
	tk, _ := j.Since(m)
	told := make(chan error, 1)
	landed := make(chan int, 1)
	if finished, _ := j.Watch(tk, waiterFunc(func(err error) {
		s.mu.Lock()
		landed <- len(s.landed)
		s.mu.Unlock()
		told <- err
	})); finished {
		t.Fatal("finished before any commit")
	}
	select {
	case err := <-told:
		if err != nil {
			t.Fatalf("waiter told %v, want the batch committed once the store took it", err)
		}
		if n := <-landed; n != 1 {
			t.Fatalf("waiter told after %d commits landed, want 1", n)
		}
	case <-time.After(time.Minute):
		t.Fatal("the waiter was never told")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.attempts != 4 || len(s.landed) != 1 || len(s.landed[0]) != 1 || s.landed[0][0].Kind != session.PutInbound {
		t.Fatalf("%d attempts, landed %v: want the inbound id landed by the 4th", s.attempts, s.landed)
	}
}

// While failed batches wait, their ops count toward the backlog: a store
// that keeps failing stops the readers instead of filling memory.
func TestFailedOpsCountTowardTheBacklog(t *testing.T) {
	s := newFlakyStore(func(int) bool { return true })
	j := journal.New(s, &session.Snapshot{}, zerolog.Nop())
	defer func() { _ = j.Close() }()
	for i := range journal.MaxBacklog + 1 {
		j.Inbound("pub", uint16(i), true)
	}
	for a := range s.attempt {
		if a >= 2 { // the first attempt failed: its ops are held
			break
		}
	}
	if j.Backlogged() == nil {
		t.Fatal("not backlogged with more than MaxBacklog ops held for another attempt")
	}
}

// Close makes one last attempt; what the store still refuses is given up,
// its waiters told, and Close says how many ops were lost and why.
func TestCloseReportsWhatStillFails(t *testing.T) {
	s := newFlakyStore(func(int) bool { return true })
	j := journal.New(s, &session.Snapshot{}, zerolog.Nop())
	m := j.Mark()
	j.Inbound("pub", 1, true)
	j.Inbound("pub", 2, true)
	tk, _ := j.Since(m)
	<-s.attempt
	closed := make(chan error, 1)
	go func() { closed <- j.Close() }()
	var err error
	select {
	case err = <-closed:
	case <-time.After(time.Minute):
		t.Fatal("Close did not return with the store failing")
	}
	if err == nil || !errors.Is(err, errNoQuorum) || !strings.Contains(err.Error(), "2 ops") {
		t.Fatalf("Close: %v, want the 2 ops given up and the store's error", err)
	}
	if finished, werr := j.Check(tk); !finished || werr == nil {
		t.Fatalf("Check after Close: %v %v, want finished and failed", finished, werr)
	}
}
