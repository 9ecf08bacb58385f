package journal

import (
	"errors"
	"math/bits"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/plumemq/plume/core/session"
)

// A batch whose Commit fails is not dropped (decision 0059): its ops are
// the only record of changes the broker already made in memory — a
// message routed, a delivery queued, a cluster node's position in an
// ingest shard — and a later batch committed without them would leave the
// store behind memory for good (a position committed past deliveries that
// never landed, so a restart or a move never reads them again). So the
// committer keeps them and commits them again, with whatever was appended
// meanwhile after them in one Commit, in order, until a Commit takes
// them: ops of one key later in the stream still supersede earlier ones,
// since the store applies them in order, and the store's state after each
// Commit is still the state after some prefix of the changes.
//
// Nothing is finished while the ops wait: the answers held for them (a
// PUBACK, a SUBACK) go when the ops land, as if the commit had been slow.
// Telling their clients of a failure instead would make them resend what
// the broker keeps anyway: a second copy for every subscriber, and through
// a cluster's ingest a second message under a new id for every node.
//
// What a retry cannot mend is given up as before, its waiters told of the
// failure (their connections close, and their clients resend): a Commit the
// store rejects (session.ErrRejected, ErrUnknownVersion: the same ops fail
// the same way again), a closed store, and what still fails at Close.

// Between two attempts the committer waits retryMin, doubling up to
// retryMax: a JetStream stream electing a leader after a kill -9 answers
// within seconds; a disk that filled up may take longer, and the attempts
// must not keep a core busy meanwhile.
const (
	retryMin = 10 * time.Millisecond
	retryMax = time.Second
)

// retry is the committer's record of failed batches; only the committer
// uses it, but held, read by Backlogged.
type retry struct {
	ops       []session.Op // the failed batches' ops, in order, compacted
	positions map[uint32]int
	from      uint64 // the first batch whose ops are in ops
	attempts  int    // Commits of ops that failed
	held      atomic.Int64
	// lostAtClose is what Close gave up, for its error.
	lostAtClose struct {
		ops int
		err error
	}
}

func (r *retry) empty() bool { return len(r.ops) == 0 }

// merge returns the ops to commit for batch n: live alone when nothing
// failed before, else the failed ops followed by live. A batch's position
// of a shard supersedes one of the failed ops (the same Commit holds both:
// the later position is as safe as the earlier, and one write).
func (r *retry) merge(live []session.Op, n uint64) []session.Op {
	if r.empty() {
		r.from = n
		return live
	}
	for i := range live {
		if live[i].Kind != session.Position {
			continue
		}
		if at, ok := r.positions[live[i].Shard]; ok {
			r.ops[at] = session.Op{Kind: dead}
		}
	}
	r.ops = append(compact(r.ops), live...)
	r.index()
	r.held.Store(int64(len(r.ops)))
	return r.ops
}

// index records where each shard's position sits in r.ops.
func (r *retry) index() {
	if r.positions == nil {
		r.positions = map[uint32]int{}
	}
	clear(r.positions)
	for i := range r.ops {
		if r.ops[i].Kind == session.Position {
			r.positions[r.ops[i].Shard] = i
		}
	}
}

// failed keeps ops, the Commit of batches r.from to n that failed with
// err, for the next attempt. The first failure of a run is logged at
// error, the next ones when the count of attempts is a power of two: a
// store down for an hour writes a dozen lines, each with the count.
func (r *retry) failed(ops []session.Op, err error, n uint64, log zerolog.Logger) {
	if r.empty() {
		r.ops = append(r.ops[:0], ops...) // ops is the batch's own slice, reused
		r.index()
	}
	r.attempts++
	r.held.Store(int64(len(r.ops)))
	if bits.OnesCount(uint(r.attempts)) == 1 {
		log.Error().Err(err).Int("ops", len(r.ops)).Int("attempts", r.attempts).
			Uint64("first_batch", r.from).Uint64("last_batch", n).
			Msg("session store commit failed: its ops are kept and committed again; the answers waiting for them wait")
	}
}

// backoff is how long to wait before the next attempt.
func (r *retry) backoff() time.Duration {
	d := retryMin << min(max(r.attempts-1, 0), 20)
	return min(d, retryMax)
}

// landed ends a run of attempts with a Commit that succeeded (err nil) or
// was given up, and returns the first batch it finished.
func (r *retry) landed(ops []session.Op, err error, closing bool, log zerolog.Logger) (from uint64) {
	switch {
	case err != nil:
		log.Error().Err(err).Int("ops", len(ops)).Int("attempts", r.attempts+1).
			Msg("session store commit given up: the acknowledgements waiting for it are withheld and their clients disconnected")
		if closing {
			r.lostAtClose.ops += len(ops)
			r.lostAtClose.err = err
		}
	case r.attempts > 0:
		log.Info().Int("ops", len(ops)).Int("attempts", r.attempts+1).
			Msg("session store commit landed after failing")
	}
	from = r.from
	clear(r.ops)
	r.ops = r.ops[:0]
	r.attempts = 0
	r.held.Store(0)
	return from
}

// giveUp reports whether a Commit that failed with err is given up rather
// than retried: the store rejects the ops or is closed, or the journal is
// closing (Close's last attempt failed).
func (j *Journal) giveUp(err error) bool {
	if errors.Is(err, session.ErrRejected) || errors.Is(err, session.ErrUnknownVersion) ||
		errors.Is(err, session.ErrClosed) {
		return true
	}
	select {
	case <-j.quit:
		return true
	default:
		return false
	}
}

// closing reports whether Close was called.
func (j *Journal) closing() bool {
	select {
	case <-j.quit:
		return true
	default:
		return false
	}
}
