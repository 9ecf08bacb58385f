package journal_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/plumemq/plume/core/journal"
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
	if !j.Notify(ticket, waiterFunc(func(err error) { done <- err })) {
		t.Fatal("Notify: already finished while the first commit is still held")
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

// A failed commit is reported to the waiters of its batch, and to no later
// ones.
func TestFailedCommitIsReportedToItsWaiters(t *testing.T) {
	s := newRecordingStore()
	s.fail = errors.New("disk full")
	j := newJournal(t, s)
	m := j.Mark()
	j.DeleteRetained("x")
	bad, _ := j.Since(m)
	if ok := j.Wait(bad, 10*time.Second); ok {
		t.Fatal("Wait reports a failed commit as committed")
	}
	s.mu.Lock()
	s.fail = nil
	s.mu.Unlock()
	m = j.Mark()
	j.DeleteRetained("y")
	good, _ := j.Since(m)
	if ok := j.Wait(good, 10*time.Second); !ok {
		t.Fatal("a commit after the failed one is reported failed")
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
	j.Removed("a", &a)
	j.Removed("b", &b)
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	var kinds []session.OpKind
	for _, batch := range s.batches() {
		for _, op := range batch {
			kinds = append(kinds, op.Kind)
		}
	}
	want := []session.OpKind{session.PutMessage, session.PutDelivery, session.PutDelivery,
		session.DeleteDelivery, session.DeleteDelivery, session.DeleteMessage}
	if len(kinds) != len(want) {
		t.Fatalf("ops %v, want %v", kinds, want)
	}
	for i := range want {
		if kinds[i] != want[i] {
			t.Fatalf("ops %v, want %v", kinds, want)
		}
	}
	if a.Seq == 0 || b.Seq <= a.Seq || msg.ID == 0 {
		t.Fatalf("seqs %d %d, message id %d: want increasing seqs and an id", a.Seq, b.Seq, msg.ID)
	}
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
