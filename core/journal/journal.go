// Package journal turns the broker's changes to durable state into
// session.Store commits: every change is appended to the open batch, one
// goroutine commits batches in order, and whoever must not answer a client
// before its change is durable (a PUBACK, a SUBACK) waits for the batch that
// holds it. Concurrent publishers share one commit, and so one fsync: group
// commit (docs/decisions/0019-durable-store.md).
package journal

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/plumemq/plume/core/latency"
	"github.com/plumemq/plume/core/session"
)

// MaxBacklog is how many ops may wait in the open batch before readers stop
// reading until it is committed (Backlogged): a store slower than the
// publishers slows the publishers, instead of the batch growing without bound.
const MaxBacklog = 1 << 16

// Journal gathers ops and commits them through a Store. Safe for concurrent use.
type Journal struct {
	store session.Store
	log   zerolog.Logger

	pending atomic.Int64  // len(ops), for Backlogged without the lock
	seq     atomic.Uint64 // the last delivery Seq handed out
	msgID   atomic.Uint64 // the last Message.ID handed out

	// group keeps the ops of one change (a publish: its inbound id, its
	// message, its deliveries) in one batch, so that one Commit makes them
	// durable together: a changer holds it shared (Begin, End), the
	// committer exclusively while it takes the open batch.
	group sync.RWMutex

	mu  sync.Mutex
	ops []session.Op // the open batch
	// open is its number (batches are numbered from 1) and appended the ops
	// appended since the start: written under mu, read without it by Mark.
	open     atomic.Uint64
	appended atomic.Uint64
	done     uint64   // the last batch the committer finished, committed or given up
	failed   []Ticket // ranges of batches given up (retry.go), ascending
	waiters  []waiter
	changed  chan struct{} // closed and replaced when a batch is finished
	// The puts of the open batch by key, so that a later change in the same
	// batch replaces or cancels them (cancel.go).
	puts    map[uint64]put // delivery Seq -> its PutDelivery
	msgPuts map[uint64]put // Message.ID -> its PutMessage
	// positions is where each shard's Position op sits in the open batch
	// (cluster.go): a later one replaces it.
	positions map[uint32]int
	closed    bool

	wake    chan struct{} // the committer has work
	quit    chan struct{} // closed by Close: stop waiting out the window
	stopped chan struct{} // closed when the committer has exited
	// window is the store's loss window (session.WindowOf): with one, the
	// committer takes a batch only every half window, answers do not wait
	// (Holds), and most changes cancel out before they are written.
	window time.Duration
	// commits is the latency of store.Commit, one observation per batch
	// (CommitLatency): with a disk store, the fsync that makes it durable.
	commits latency.Histogram
	busy    bool // the last batch was large: let the next gather (busyLinger); the committer's
	// retry holds the ops of batches whose Commit failed until one lands
	// them (retry.go); the committer's.
	retry retry
}

// A Waiter is told when the batches of a Ticket are finished.
type Waiter interface {
	// Durable is called once, from the committer, without locks held: err is
	// nil when every batch of the ticket was committed.
	Durable(err error)
}

type waiter struct {
	t Ticket
	w Waiter
}

// Mark is the state of the journal at one moment, for Since.
type Mark struct{ batch, appended uint64 }

// Ticket names the batches that may hold a set of changes: From to To.
type Ticket struct{ From, To uint64 }

// New starts a journal that commits to store. Seq and message ids continue
// after the largest ones in snap, what store held at start, and after its
// IDFloor.
func New(store session.Store, snap *session.Snapshot, log zerolog.Logger) *Journal {
	j := &Journal{store: store, log: log, changed: make(chan struct{}), quit: make(chan struct{}),
		window: session.WindowOf(store),
		puts:   map[uint64]put{}, msgPuts: map[uint64]put{}, positions: map[uint32]int{},
		wake: make(chan struct{}, 1), stopped: make(chan struct{})}
	seq, id := snap.IDFloor, snap.IDFloor
	for i := range snap.Sessions {
		r := &snap.Sessions[i]
		for _, ds := range [][]session.Delivery{r.Inflight, r.Queued} {
			for k := range ds {
				seq = max(seq, ds[k].Seq)
				if ds[k].Msg != nil {
					id = max(id, ds[k].Msg.ID)
				}
			}
		}
	}
	j.seq.Store(seq)
	j.msgID.Store(id)
	j.open.Store(1)
	go j.commitLoop()
	return j
}

// append adds ops to the open batch; the caller holds j.mu.
func (j *Journal) append(ops ...session.Op) {
	if j.closed {
		return // after Shutdown's last commit: nothing is left to keep it
	}
	j.ops = append(j.ops, ops...)
	j.pending.Store(int64(len(j.ops)))
	j.appended.Add(uint64(len(ops)))
	if len(j.ops) == len(ops) {
		select {
		case j.wake <- struct{}{}:
		default:
		}
	}
}

// Mark returns the journal's state now, for Since. It takes no lock: it
// runs for every packet a reader handles. The batch is read first, so that
// whatever is appended after the mark is in it or a later one.
func (j *Journal) Mark() Mark {
	batch := j.open.Load()
	return Mark{batch: batch, appended: j.appended.Load()}
}

// Since returns the ticket of the changes appended since m, by anyone, and
// false when there were none: a caller with nothing to wait for answers at once.
func (j *Journal) Since(m Mark) (Ticket, bool) {
	if j.appended.Load() == m.appended {
		return Ticket{}, false
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	return Ticket{From: m.batch, To: j.last()}, true
}

// Latest returns a ticket covering every change appended so far by the
// caller: for a change just made under another lock, without a Mark.
func (j *Journal) Latest() Ticket {
	j.mu.Lock()
	defer j.mu.Unlock()
	to := j.last()
	return Ticket{From: max(to, 2) - 1, To: to}
}

// last is the newest batch that holds ops: the open one unless it is empty.
func (j *Journal) last() uint64 {
	if len(j.ops) == 0 {
		return j.open.Load() - 1
	}
	return j.open.Load()
}

// Check reports whether t's batches are finished, and the error if one failed.
func (j *Journal) Check(t Ticket) (finished bool, err error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.check(t)
}

func (j *Journal) check(t Ticket) (bool, error) {
	if t.To > j.done {
		return false, nil
	}
	for _, f := range j.failed {
		if f.From <= t.To && t.From <= f.To {
			return true, errCommitFailed
		}
	}
	return true, nil
}

// Watch reports whether t's batches are finished, and the error if one
// failed; when they are not, it arranges for w.Durable to be called once
// they are.
func (j *Journal) Watch(t Ticket, w Waiter) (finished bool, err error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if finished, err = j.check(t); !finished {
		j.waiters = append(j.waiters, waiter{t, w})
	}
	return finished, err
}

// Wait blocks until t's batches are finished or timeout passes; it reports
// whether they were all committed.
func (j *Journal) Wait(t Ticket, timeout time.Duration) bool {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		j.mu.Lock()
		finished, err := j.check(t)
		ch := j.changed
		j.mu.Unlock()
		if finished {
			return err == nil
		}
		select {
		case <-ch:
		case <-timer.C:
			return false
		}
	}
}

// Backlogged returns a channel closed when the committer next finishes a
// batch if the open batch holds more than MaxBacklog ops, nil otherwise.
// The ops of failed batches waiting to be committed again count too: a
// store that keeps failing stops the readers instead of filling memory.
func (j *Journal) Backlogged() <-chan struct{} {
	if j.pending.Load()+j.retry.held.Load() <= MaxBacklog {
		return nil
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.changed
}

// Begin starts a change whose ops must be committed together; End ends it.
// Changes do not nest, and nothing between them waits for the committer.
func (j *Journal) Begin() { j.group.RLock() }

// End ends the change Begin started.
func (j *Journal) End() { j.group.RUnlock() }

// commitLoop commits the open batch whenever it holds ops, one at a time:
// while one batch is being made durable the next one fills.
func (j *Journal) commitLoop() {
	defer close(j.stopped)
	var spare []session.Op
	for range j.wake {
		if j.window > 0 {
			j.waitOut(j.window / 2)
		} else if j.busy {
			j.waitOut(busyLinger)
		}
		spare = j.drain(spare)
	}
	j.drain(spare) // what Close left
}

// waitOut lets the open batch gather for d, or until Close.
func (j *Journal) waitOut(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-j.quit:
	}
}

// On a busy broker (the last batch held busyBatch ops or more) the
// committer lets the next batch gather for busyLinger before it takes it:
// more of the changes that cancel out (a delivery acknowledged before it is
// stored) meet in one batch and are never written. Publishers whose
// messages their subscribers already acknowledged do not wait for it (their
// gate, core/broker/durable.go); a quiet broker commits at once.
const (
	busyBatch  = 256
	busyLinger = 2 * time.Millisecond
)

// Holds reports whether answers wait for their changes to be committed:
// true unless the store promises a loss window instead (session.WindowedStore).
func (j *Journal) Holds() bool { return j.window == 0 }

// drain commits batches until the open one is empty and no failed batch
// waits to be committed again.
func (j *Journal) drain(spare []session.Op) []session.Op {
	for {
		j.group.Lock()
		j.mu.Lock()
		if len(j.ops) == 0 && j.retry.empty() {
			j.mu.Unlock()
			j.group.Unlock()
			return spare
		}
		batch, n := j.ops, j.open.Load()
		j.ops = spare[:0]
		j.open.Store(n + 1)
		if !j.retry.empty() { // they join the held ops: counted there from now on
			j.retry.held.Add(int64(len(batch)))
		}
		j.pending.Store(0)
		clear(j.puts)
		clear(j.msgPuts)
		clear(j.positions)
		j.mu.Unlock()
		j.group.Unlock()

		ops := j.retry.merge(compact(batch), n)
		var err error
		if len(ops) > 0 {
			began := time.Now()
			err = j.store.Commit(ops)
			j.commits.Observe(time.Since(began))
		}
		if err != nil && !j.giveUp(err) {
			// Kept for the next attempt (retry.go): nothing is finished,
			// the waiters wait for the commit that lands the ops.
			j.retry.failed(ops, err, n, j.log)
			clear(batch)
			spare = batch
			j.waitOut(j.retry.backoff())
			continue
		}
		from := j.retry.landed(ops, err, j.closing(), j.log)
		busy := len(batch) >= busyBatch
		clear(batch)
		spare = batch
		j.finish(from, n, err)
		j.busy = busy
		if j.window > 0 || j.busy {
			return spare // the next batch gathers for a while first
		}
	}
}

// CommitLatency is the histogram of the store's commits so far, one per
// batch that had ops left after compaction, failed ones included.
func (j *Journal) CommitLatency() latency.Snapshot { return j.commits.Snapshot() }

// finish records batches from to n as finished, committed or (err) given
// up, and tells the waiters it completes.
func (j *Journal) finish(from, n uint64, err error) {
	j.mu.Lock()
	j.done = n
	if err != nil {
		j.failed = append(j.failed, Ticket{From: from, To: n})
	}
	close(j.changed)
	j.changed = make(chan struct{})
	var ready []waiter
	keep := j.waiters[:0]
	for _, w := range j.waiters {
		if w.t.To <= n {
			ready = append(ready, w)
		} else {
			keep = append(keep, w)
		}
	}
	clear(j.waiters[len(keep):])
	j.waiters = keep
	results := make([]error, len(ready))
	for i, w := range ready {
		_, results[i] = j.check(w.t)
	}
	j.mu.Unlock()
	for i, w := range ready {
		w.w.Durable(results[i])
	}
}

// Close commits what is pending, stops the committer and reports whether
// everything appended was committed: a store still failing at Close gets
// one more attempt, and what it does not take is given up and reported
// (how many ops, and the store's error). The journal takes no ops after it.
func (j *Journal) Close() error {
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		<-j.stopped
		return nil
	}
	j.closed = true
	before := len(j.failed)
	j.mu.Unlock()
	close(j.quit)
	close(j.wake)
	<-j.stopped
	j.mu.Lock()
	defer j.mu.Unlock()
	if len(j.failed) > before { // the last batches, committed by Close, failed
		if lost := j.retry.lostAtClose; lost.err != nil {
			return fmt.Errorf("%w: %d ops never committed: %w", errCommitFailed, lost.ops, lost.err)
		}
		return errCommitFailed
	}
	return nil
}

type journalError string

func (e journalError) Error() string { return string(e) }

// errCommitFailed is what waiters of a failed batch get; the store's own
// error was logged when it happened.
const errCommitFailed = journalError("session store commit failed")
