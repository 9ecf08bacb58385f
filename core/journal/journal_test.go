package journal_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/plumemq/plume/core/journal"
	"github.com/plumemq/plume/core/latency"
	"github.com/plumemq/plume/core/session"
)

// recordingStore remembers every Commit; a commit may be held at a gate.
type recordingStore struct {
	*session.MemoryStore
	mu      sync.Mutex
	commits [][]session.Op
	gate    chan struct{}
	entered chan struct{}
	fail    error
}

func newRecordingStore() *recordingStore {
	return &recordingStore{MemoryStore: session.NewMemoryStore(), entered: make(chan struct{}, 16)}
}

func (s *recordingStore) Commit(ops []session.Op) error {
	s.mu.Lock()
	gate, fail := s.gate, s.fail
	s.mu.Unlock()
	select {
	case s.entered <- struct{}{}:
	default:
	}
	if gate != nil {
		<-gate
	}
	s.mu.Lock()
	s.commits = append(s.commits, append([]session.Op(nil), ops...))
	s.mu.Unlock()
	return fail
}

func (s *recordingStore) batches() [][]session.Op {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]session.Op(nil), s.commits...)
}

func newJournal(t *testing.T, s session.Store) *journal.Journal {
	j := journal.New(s, &session.Snapshot{}, zerolog.Nop())
	t.Cleanup(func() { _ = j.Close() })
	return j
}

type waiterFunc func(error)

func (f waiterFunc) Durable(err error) { f(err) }

// While one batch is being committed, everything appended meanwhile goes
// into the next one: many writers, few commits (group commit).
func TestWritersShareACommit(t *testing.T) {
	s := newRecordingStore()
	s.gate = make(chan struct{})
	j := newJournal(t, s)
	j.DeleteRetained("first")
	<-s.entered // the first batch is in Commit, held at the gate

	const writers, each = 8, 50
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				j.Inbound("c", uint16(w*each+i+1), true)
			}
		}()
	}
	wg.Wait()
	m := j.Mark()
	j.DeleteRetained("last")
	ticket, changed := j.Since(m)
	if !changed {
		t.Fatal("Since reports no change after an append")
	}
	done := make(chan error, 1)
	if finished, _ := j.Watch(ticket, waiterFunc(func(err error) { done <- err })); finished {
		t.Fatal("Watch: already finished while the first commit is still held")
	}
	s.mu.Lock()
	close(s.gate)
	s.gate = nil
	s.mu.Unlock()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("waiter told %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the waiter was never told")
	}
	b := s.batches()
	if len(b) != 2 || len(b[0]) != 1 || len(b[1]) != writers*each+1 {
		sizes := []int{}
		for _, x := range b {
			sizes = append(sizes, len(x))
		}
		t.Fatalf("commits of sizes %v, want [1 %d]: the writers did not share one", sizes, writers*each+1)
	}
	if finished, err := j.Check(ticket); !finished || err != nil {
		t.Fatalf("Check after the commit: %v %v", finished, err)
	}
}

// Since reports nothing when nothing was appended, so an answer with no
// change behind it is not held.
func TestSinceWithoutChanges(t *testing.T) {
	j := newJournal(t, newRecordingStore())
	if _, changed := j.Since(j.Mark()); changed {
		t.Fatal("Since reports a change where there was none")
	}
}

// A commit the store rejects (the same ops would fail the same way again)
// is given up: its waiters are told, and no later ones.
func TestRejectedCommitIsReportedToItsWaiters(t *testing.T) {
	s := newRecordingStore()
	s.fail = fmt.Errorf("op 0: %w", session.ErrRejected)
	j := newJournal(t, s)
	m := j.Mark()
	j.DeleteRetained("x")
	bad, _ := j.Since(m)
	if ok := j.Wait(bad, 10*time.Second); ok {
		t.Fatal("Wait reports a rejected commit as committed")
	}
	s.mu.Lock()
	s.fail = nil
	s.mu.Unlock()
	m = j.Mark()
	j.DeleteRetained("y")
	good, _ := j.Since(m)
	if ok := j.Wait(good, 10*time.Second); !ok {
		t.Fatal("a commit after the rejected one is reported failed")
	}
	if b := s.batches(); len(b[len(b)-1]) != 1 || b[len(b)-1][0].Topic != "y" {
		t.Fatalf("last commit %v, want only the delete of y: the rejected op was given again", b[len(b)-1])
	}
}

// A message is stored with its first stored delivery and deleted with the
// last: once, however many sessions hold it.
func TestMessageStoredOnce(t *testing.T) {
	s := newRecordingStore()
	j := newJournal(t, s)
	msg := &session.Message{Topic: "t", Payload: []byte("p"), QoS: 1}
	a := session.Delivery{Msg: msg, QoS: 1}
	b := session.Delivery{Msg: msg, QoS: 1}
	j.Stored("a", &a)
	j.Stored("b", &b)
	if !j.Wait(j.Latest(), 10*time.Second) {
		t.Fatal("the first commit failed")
	}
	j.Removed("a", &a)
	j.Removed("b", &b)
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	want := [][]session.OpKind{
		{session.PutMessage, session.PutDelivery, session.PutDelivery},
		{session.DeleteDelivery, session.DeleteDelivery, session.DeleteMessage},
	}
	if got := kindsOf(s.batches()); !equalKinds(got, want) {
		t.Fatalf("committed %v, want %v", got, want)
	}
	if a.Seq == 0 || b.Seq <= a.Seq || msg.ID == 0 {
		t.Fatalf("seqs %d %d, message id %d: want increasing seqs and an id", a.Seq, b.Seq, msg.ID)
	}
}

// A delivery stored and acknowledged before its batch is committed costs
// the store nothing; one sent in the batch that stored it is stored once,
// sent. A delete of what an earlier batch stored is kept.
func TestChangesCancelWithinABatch(t *testing.T) {
	s := newRecordingStore()
	s.gate = make(chan struct{})
	j := newJournal(t, s)
	old := &session.Message{Topic: "old", Payload: []byte("o"), QoS: 1}
	kept := session.Delivery{Msg: old, QoS: 1}
	j.Stored("c", &kept)
	<-s.entered // batch 1 (kept) is in Commit; what follows fills batch 2

	quick := &session.Message{Topic: "quick", Payload: []byte("q"), QoS: 1}
	acked := session.Delivery{Msg: quick, QoS: 1}
	j.Stored("c", &acked)
	acked.PacketID = 1
	j.Changed("c", &acked)
	j.Removed("c", &acked) // acknowledged before batch 2 is committed

	slow := &session.Message{Topic: "slow", Payload: []byte("s"), QoS: 1}
	sent := session.Delivery{Msg: slow, QoS: 1}
	j.Stored("c", &sent)
	sent.PacketID = 2
	j.Changed("c", &sent)
	j.Removed("c", &kept) // stored by batch 1: its delete must be written
	close(s.gate)
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	b := s.batches()
	want := [][]session.OpKind{
		{session.PutMessage, session.PutDelivery},
		{session.PutMessage, session.PutDelivery, session.DeleteDelivery, session.DeleteMessage},
	}
	if got := kindsOf(b); !equalKinds(got, want) {
		t.Fatalf("committed %v, want %v", got, want)
	}
	if d := b[1][1].Delivery; d.Seq != sent.Seq || d.PacketID != 2 {
		t.Fatalf("batch 2 stores delivery %d with packet id %d, want %d sent as 2", d.Seq, d.PacketID, sent.Seq)
	}
	if b[1][0].Message != slow {
		t.Fatal("batch 2 stores a message other than the one still held")
	}
}

func kindsOf(batches [][]session.Op) [][]session.OpKind {
	var out [][]session.OpKind
	for _, b := range batches {
		var ks []session.OpKind
		for _, op := range b {
			ks = append(ks, op.Kind)
		}
		out = append(out, ks)
	}
	return out
}

func equalKinds(a, b [][]session.OpKind) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if len(a[i]) != len(b[i]) {
			return false
		}
		for k := range a[i] {
			if a[i][k] != b[i][k] {
				return false
			}
		}
	}
	return true
}

// Close commits what is pending before it returns.
func TestCloseCommitsWhatIsPending(t *testing.T) {
	s := newRecordingStore()
	j := journal.New(s, &session.Snapshot{}, zerolog.Nop())
	for i := range 100 {
		j.Inbound("c", uint16(i+1), true)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, b := range s.batches() {
		n += len(b)
	}
	if n != 100 {
		t.Fatalf("%d ops committed by Close, want 100", n)
	}
	j.Inbound("c", 999, true) // after Close: ignored, not a panic
}

// windowed is a store that promises a loss window (session.WindowedStore).
type windowed struct{ *recordingStore }

func (windowed) Window() time.Duration { return 200 * time.Millisecond }

// With a loss window, answers do not wait, and the committer gathers a half
// window of changes: what cancels out in it is never written.
func TestWindowedStoreGathersAndCancels(t *testing.T) {
	s := windowed{newRecordingStore()}
	j := newJournal(t, s)
	if j.Holds() {
		t.Fatal("Holds with a windowed store: answers would wait for commits the store does not promise")
	}
	m := j.Mark()
	for i := range 100 {
		msg := &session.Message{Topic: "t", Payload: []byte{byte(i)}, QoS: 1}
		d := session.Delivery{Msg: msg, QoS: 1}
		j.Stored("c", &d)
		j.Removed("c", &d) // acknowledged within the half window
	}
	j.DeleteRetained("kept")
	t1, _ := j.Since(m)
	if !j.Wait(t1, 10*time.Second) {
		t.Fatal("the batch failed")
	}
	b := s.batches()
	if len(b) != 1 || len(b[0]) != 1 || b[0][0].Kind != session.DeleteRetained {
		t.Fatalf("committed %v, want one batch with only the retained delete", kindsOf(b))
	}
}

// slowStore takes at least delay per Commit, as a disk's fsync does.
type slowStore struct {
	*session.MemoryStore
	delay time.Duration
}

func (s slowStore) Commit(ops []session.Op) error {
	time.Sleep(s.delay)
	return s.MemoryStore.Commit(ops)
}

// Each batch committed is one observation of CommitLatency, in a bucket no
// faster than the store took.
func TestCommitLatencyObservesEachBatch(t *testing.T) {
	const delay = 20 * time.Millisecond
	j := newJournal(t, slowStore{session.NewMemoryStore(), delay})
	if got := j.CommitLatency(); got.Count() != 0 {
		t.Fatalf("%d commits before any change", got.Count())
	}
	for _, topic := range []string{"a", "b"} {
		m := j.Mark()
		j.DeleteRetained(topic)
		tk, _ := j.Since(m)
		if !j.Wait(tk, 10*time.Second) {
			t.Fatal("the commit failed")
		}
	}
	s := j.CommitLatency()
	if s.Count() != 2 {
		t.Fatalf("%d commits observed, want 2", s.Count())
	}
	if s.Sum < 2*delay {
		t.Errorf("sum %v, want at least %v", s.Sum, 2*delay)
	}
	for i, c := range s.Counts {
		if c != 0 && i < len(latency.Bounds) && latency.Bounds[i] < delay {
			t.Errorf("%d commits in the bucket up to %v, faster than the store", c, latency.Bounds[i])
		}
	}
}

// Seqs and message ids continue above the snapshot's IDFloor, even when
// the snapshot's own deliveries are below it: a cluster store's Load
// leaves out sessions whose deliveries still name this node's ids.
func TestIDsContinueAboveTheFloor(t *testing.T) {
	s := newRecordingStore()
	m := &session.Message{Topic: "t", Payload: []byte("p"), QoS: 1, ID: 7}
	snap := &session.Snapshot{IDFloor: 1_000_000, Sessions: []session.Record{{ID: "a",
		Queued: []session.Delivery{{Msg: m, QoS: 1, Seq: 9}}}}}
	j := journal.New(s, snap, zerolog.Nop())
	t.Cleanup(func() { _ = j.Close() })
	d := session.Delivery{Msg: &session.Message{Topic: "t", Payload: []byte("q"), QoS: 1}, QoS: 1}
	j.Stored("a", &d)
	if d.Seq <= snap.IDFloor || d.Msg.ID <= snap.IDFloor {
		t.Fatalf("seq %d, message id %d: want both above the floor %d", d.Seq, d.Msg.ID, snap.IDFloor)
	}
}
