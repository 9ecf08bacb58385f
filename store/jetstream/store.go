// Package jetstream is a session.Store in NATS JetStream: the state of a
// Plume cluster's sessions, queues and retained messages, replicated by
// JetStream (issue 14, decision 0054).
package jetstream

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/plumemq/plume/core/session"
	"github.com/plumemq/plume/store/internal/codec"
)

// tombstoneTTL is how long a delete's tombstone stays: it has already
// removed its subject's message (MaxMsgsPerSubject 1) when it is stored, so
// it only has to outlive the reads that might see the message before it.
// A variable for tests.
var tombstoneTTL = 10 * time.Second

// asyncWindow is how many writes a Commit has in flight before it waits
// for their acknowledgements: it bounds the memory a huge Commit holds and
// stays under nats.go's default of 4,000 pending async publishes.
const asyncWindow = 1024

// kvOperation is the header of a KV delete marker (nats.go does not export
// its name).
const kvOperation = "KV-Operation"

// Store is a session.Store in JetStream (decision 0054): a KV bucket of
// session records, queue streams sharded by client id for deliveries,
// inbound QoS 2 ids and messages, a stream of retained messages, and a
// commit log per node that makes each Commit atomic across them.
//
// Durability: Commit returns nil after JetStream acknowledged every write
// of it — on a replicated stream, after a quorum of replicas stored it. How
// soon the servers fsync what they stored is the NATS servers' sync
// setting (the cluster node's configuration, decision 0053), not this
// store's. Each Commit is atomic: it is written to the node's commit log
// first, and a crash while its writes are applied is repaired by Open,
// which applies the logged Commit again (all its writes are idempotent).
//
// Commit and Load are safe for concurrent use; they run one at a time. The
// store does not own the NATS connection: Close leaves it open.
type Store struct {
	cfg    Config
	names  names
	log    zerolog.Logger
	nc     *nats.Conn
	js     jetstream.JetStream
	queues []jetstream.Stream
	ret    jetstream.Stream
	pos    jetstream.Stream // this node's ingest positions (decision 0055)
	logs   jetstream.Stream
	kv     jetstream.KeyValue
	kvSt   jetstream.Stream // the bucket's stream, read whole by Load

	// chunk is the size of a commit log message: the connection's maximum
	// payload less room for headers.
	chunk int

	mu      sync.Mutex
	closed  bool
	next    uint64                 // number of the next Commit
	pending []action               // logged, not yet applied whole: applied before anything else
	pendNo  uint64                 // its number
	undone  uint64                 // a Commit applied, its done marker not yet acknowledged
	done    jetstream.PubAckFuture // that marker's acknowledgement, if it was sent

	fence fenceState // fence.go
	// retried are the forward batches of the last Commit, kept while it
	// has failed: the next writes them again as they were (pack.go). Under mu.
	retried map[string]*packed
	// posSeq is the stream sequence of each of this node's position
	// subjects as last written or read here (posfence.go). Under mu.
	posSeq map[string]uint64
	// legacy are the deliveries Load found at their subject of before
	// decision 0062 (plan.go). Under mu.
	legacy map[legacyKey]struct{}

	// finishing holds a mutex per node whose commit FinishCommitsOf
	// applies again: one replay of a node at a time (log.go).
	finishing sync.Map

	// crash, set by tests, plays the process dying: the log write or the
	// apply stops before write i when it returns true, after the writes
	// before it were acknowledged; a replay stops between its reads and
	// its writes ("replay-read"), where a test may also hold it.
	crash func(stage string, i int) bool
}

// errCrashed is what a write stopped by Store.crash returns.
var errCrashed = errors.New("crash (test)")

var _ session.Store = (*Store)(nil)

// Open opens the store cfg describes on nc, creating its streams and bucket
// if missing, and applies again the last Commit of this node if a crash
// interrupted it. cfg is validated first. A store created with another
// shard count is refused.
func Open(ctx context.Context, nc *nats.Conn, cfg Config, log zerolog.Logger) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncTimeout(cfg.Timeout))
	if err != nil {
		return nil, fmt.Errorf("jetstream store: %w", err)
	}
	s := &Store{cfg: cfg, names: newNames(cfg.Prefix, cfg.Node, cfg.Shards), log: log, nc: nc, js: js,
		fence:  fenceState{revs: map[string]uint64{}, lost: map[string]struct{}{}, tombs: map[string]struct{}{}},
		posSeq: map[string]uint64{}, legacy: map[legacyKey]struct{}{}}
	s.chunk = int(nc.MaxPayload()) - 4096
	if s.chunk < 4096 {
		return nil, fmt.Errorf("jetstream store: the server's max payload %d is too small", nc.MaxPayload())
	}
	if err := s.ensure(ctx); err != nil {
		return nil, fmt.Errorf("jetstream store %s: %w", cfg.Prefix, err)
	}
	if err := s.recoverLog(ctx); err != nil {
		return nil, fmt.Errorf("jetstream store %s, commit log of node %q: %w", cfg.Prefix, cfg.Node, err)
	}
	return s, nil
}

// Node is the node name the store writes as.
func (s *Store) Node() string { return s.cfg.Node }

// Config is the store's configuration, defaults filled in.
func (s *Store) Config() Config { return s.cfg }

// Commit applies ops atomically and in order, and returns when JetStream
// acknowledged every write (Store).
func (s *Store) Commit(ops []session.Op) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return session.ErrClosed
	}
	if len(ops) == 0 {
		return nil
	}
	acts, pk, err := s.plan(ops)
	if err != nil { // an op this store cannot write: the same again fails the same
		return fmt.Errorf("jetstream store: %w: %w", session.ErrRejected, err)
	}
	if err := s.commit(acts); err != nil {
		// Some of its batches may be stored, unanswered: the journal's
		// next attempt must write the same ones (pack.go).
		s.retried = pk.remembered()
		return err
	}
	s.retried = nil
	return nil
}

// commit applies a Commit's planned writes.
func (s *Store) commit(acts []action) error {
	ctx, cancel := context.WithTimeout(context.Background(), s.deadline(len(acts)))
	defer cancel()
	// A Commit whose writes failed midway is finished first: its log entry
	// is the only record of it, and the next one overwrites it.
	if s.pending != nil {
		if err := s.finish(ctx); err != nil {
			return fmt.Errorf("jetstream store: an earlier commit is still not applied: %w", err)
		}
	}
	if err := s.settleDone(ctx); err != nil {
		return fmt.Errorf("jetstream store: %w", err)
	}
	if !s.needsLog(acts) {
		// One write is atomic by itself (an acknowledgement's
		// DeleteDelivery, a subscription's PutSession), and so is a set of
		// writes each of which stands alone: no log.
		if err := s.apply(ctx, acts); err != nil {
			return fmt.Errorf("jetstream store: %w", err)
		}
		return nil
	}
	no := s.next
	s.next++
	if err := s.writeLog(ctx, no, encodePlan(acts)); err != nil {
		// Nothing applied. If the entry was stored whole after all, a
		// restart before the next Commit applies it: whole either way.
		return fmt.Errorf("jetstream store: commit log: %w", err)
	}
	s.pending, s.pendNo = acts, no
	if err := s.finish(ctx); err != nil {
		return fmt.Errorf("jetstream store: %w", err)
	}
	return nil
}

// needsLog reports whether acts go through the commit log, which makes
// them one atomic change at the price of two more replicated round trips
// (the entry, then the done marker the next Commit waits for). A single
// write does not; nor does a Commit of only Forwards and positions, the
// whole of what a node accepting QoS 1 messages from clean sessions and
// routing to clean subscribers commits: each such write stands alone —
// a Forward is idempotent by its Msg-Id and depends on no other write,
// and a position put without deliveries beside it records a point this
// node already passed. Anything else beside them (an inbound QoS 2 id
// that must land with its Forward, deliveries that must land with their
// position) keeps the log. A crash midway through an unlogged Commit
// leaves some of its writes; none was acknowledged, the journal commits
// the same ops again or the publishers send them again, as for a QoS 1
// message accepted and never acknowledged (bench-cluster pairs-q1: the
// log's two round trips were two thirds of every Commit's time).
func (s *Store) needsLog(acts []action) bool {
	if len(acts) == 1 {
		return acts[0].kind == actPurge
	}
	for _, a := range acts {
		if a.kind != actForward && !(a.kind == actPut && s.names.isPosition(a.subject)) {
			return true
		}
	}
	return false
}

// deadline is the time a Commit of n writes may take: the request timeout,
// and as much again per asyncWindow writes.
func (s *Store) deadline(n int) time.Duration {
	return s.cfg.Timeout * time.Duration(2+n/asyncWindow)
}

// finish applies the pending Commit and marks it done in the log.
func (s *Store) finish(ctx context.Context) error {
	if err := s.apply(ctx, s.pending); err != nil {
		return err
	}
	s.markDone(s.pendNo)
	s.pending = nil
	return nil
}

// apply makes the writes, at most asyncWindow in flight, and waits for
// every acknowledgement. A purge waits for the writes before it: it is an
// API request, not ordered with the publishes in flight.
func (s *Store) apply(ctx context.Context, acts []action) error { return s.applyAs(ctx, acts, nil) }

// applyAs is apply, fenced as this node's own writes (fence.go) or, for
// another node's commit applied again (FinishCommitsOf), by replay, on
// what the replay read (replayfence.go): this node's fencing state is
// about its own writes. A session this node lost, which the dead node had
// claimed since, must still get that node's writes (TestFaultKill9 seed
// 1796089859341961506: n1 had lost p2q2 to n3, and finishing n3's
// half-applied move of it skipped its PutSession; p2q2 then found no
// session and started a fresh one).
func (s *Store) applyAs(ctx context.Context, acts []action, replay *replayFence) error {
	fenced := replay == nil
	futs := make([]jetstream.PubAckFuture, 0, min(len(acts), asyncWindow))
	fws := make([]fenceWrite, 0, cap(futs)) // fence.go, one per future
	pws := make([]posWrite, 0, cap(futs))   // posfence.go, one per future
	defer s.forgetTombstones()
	wait := func() error {
		defer func() { futs, fws, pws = futs[:0], fws[:0], pws[:0] }()
		for i, f := range futs {
			var ack *jetstream.PubAck
			var err error
			select {
			case ack = <-f.Ok():
			case err = <-f.Err():
				ack, err = s.republish(ctx, f.Msg(), err)
			case <-ctx.Done():
				return fmt.Errorf("write to %s: %w", f.Msg().Subject, ctx.Err())
			}
			switch {
			case pws[i].subject != "":
				err = s.settlePosition(ctx, pws[i], ack, err)
			case fws[i].tok != "" && fenced:
				if refused(err) {
					ack, err = s.recheck(ctx, f.Msg(), fws[i].tok, err)
				}
				if s.settle(fws[i], ack, err) {
					continue // fenced: another node owns the session
				}
			case fws[i].tok != "":
				var dropped bool
				if dropped, err = replay.settle(ctx, s, fws[i].tok, f.Msg(), ack, err); dropped {
					continue
				}
			}
			if err != nil {
				return fmt.Errorf("write to %s: %w", f.Msg().Subject, err)
			}
		}
		return nil
	}
	for i, a := range acts {
		if s.crash != nil && s.crash("apply", i) {
			return errors.Join(errCrashed, wait())
		}
		tok, record := s.fenceTarget(a.subject)
		if a.kind == actPurge || tok != "" && (slices.Contains(fws, fenceWrite{tok: tok}) || slices.Contains(fws, fenceWrite{tok: tok, del: true})) {
			// A purge is not ordered with the publishes in flight; and a
			// write of the client's record in flight decides whether the
			// client's next write may go (fence.go).
			if err := wait(); err != nil {
				return err
			}
		}
		if tok != "" && (fenced && s.isLost(tok) || !fenced && replay.left[tok]) {
			continue
		}
		if a.kind == actPurge {
			if err := s.purge(ctx, string(a.data), a.subject); err != nil {
				return err
			}
			continue
		}
		m := nats.NewMsg(a.subject)
		m.Data = a.data
		if a.kind == actForward {
			id, data, err := readString(a.data)
			if err != nil {
				return errors.Join(fmt.Errorf("forward to %s: %w", a.subject, err), wait())
			}
			m.Data = data
			m.Header.Set(jetstream.MsgIDHeader, id) // a retried write counts once
		}
		switch a.kind {
		case actDel:
			// The KV's own delete marker, so that the sessions bucket reads
			// as a KV; the other streams use the same header.
			m.Header.Set(kvOperation, "DEL")
			m.Header.Set(jetstream.MsgTTLHeader, tombstoneTTL.String())
		case actMark:
			markPurge(m) // purge.go
		}
		fw, pw := fenceWrite{}, posWrite{}
		if record {
			if fenced {
				s.condition(tok, m)
			} else {
				replay.condition(tok, m)
			}
			fw = fenceWrite{tok: tok, del: a.kind == actDel} // a foreign one too: the next write of the record waits for it
		}
		if s.isOwnPosition(a) {
			s.conditionPosition(m)
			pw = posWrite{subject: a.subject, value: binary.BigEndian.Uint64(a.data)}
		}
		f, err := s.js.PublishMsgAsync(m)
		if err != nil {
			return errors.Join(fmt.Errorf("write to %s: %w", a.subject, err), wait())
		}
		futs, fws, pws = append(futs, f), append(fws, fw), append(pws, pw)
		if len(futs) == asyncWindow {
			if err := wait(); err != nil {
				return err
			}
		}
	}
	return wait()
}

// republish writes m again, as long as ctx allows, when its asynchronous
// write failed for a reason that passes: a stream whose leader died has
// none until its replicas elect one (seconds after a kill -9), and its
// writes go unanswered meanwhile. Every write is idempotent (a put or a
// tombstone replaces its subject's one message, a Forward carries its
// Msg-Id) but a record's conditional write: if the unanswered one was
// stored after all, the retry is refused as a wrong last sequence; the
// caller then finds the record holding this very write (recheck,
// fence.go) and takes its revision, rather than count the session lost.
func (s *Store) republish(ctx context.Context, m *nats.Msg, err error) (*jetstream.PubAck, error) {
	if !transient(err) || ctx.Err() != nil {
		return nil, err
	}
	first := err
	ack, err := request(ctx, s.cfg.Timeout, func(c context.Context) (*jetstream.PubAck, error) {
		again := nats.NewMsg(m.Subject)
		again.Data, again.Header = m.Data, m.Header
		return s.js.PublishMsg(c, again)
	})
	if err != nil {
		return nil, fmt.Errorf("%w (asked again: %w)", first, err)
	}
	return ack, nil
}

func (s *Store) purge(ctx context.Context, stream, filter string) error {
	var st jetstream.Stream
	for _, q := range s.queues {
		if q.CachedInfo().Config.Name == stream {
			st = q
		}
	}
	if st == nil {
		return fmt.Errorf("purge %s in %s: not a queue stream of this store: %w", filter, stream, codec.ErrCorrupt)
	}
	if err := st.Purge(ctx, jetstream.WithPurgeSubject(filter)); err != nil {
		return fmt.Errorf("purge %s in %s: %w", filter, stream, err)
	}
	return nil
}

// Close stops the store; the connection stays open (its owner closes it).
// A second Close returns nil.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	// No js.CleanupPublisher: in nats.go v1.55 it races with the goroutine
	// the first async publish starts, which then blocks forever on a nil
	// channel (goleak caught it). The reply subscription goes with the
	// connection.
	if s.pending != nil {
		s.log.Warn().Str("node", s.cfg.Node).Uint64("commit", s.pendNo).
			Msg("jetstream store closed with a commit not yet applied; the next Open applies it")
	}
	return nil
}
