package jetstream

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/plumemq/plume/core/session"
	"github.com/plumemq/plume/store/internal/codec"
)

// The commit log (decision 0054). A Commit's plan is written to the node's
// log before any of its writes, as one message or, when larger than a
// message may be, as chunks 0…k-1 (subjects p.log.<node>.<i>, each keeping
// only its latest message) carrying the Commit's number and k in headers.
// Once every write is acknowledged the node writes the number to
// p.log.<node>.done (waited for by the next Commit, not by this one). Open
// reads chunk 0 and done: a complete entry with a
// number above done was logged and maybe not applied whole, and is applied
// again; an incomplete one was never applied and Commit never returned nil
// for it. Commits of one node are serial, so only the latest can be
// unfinished, and a chunk left from an older, larger Commit is told apart
// by its number.
const (
	hdrCommit = "Plume-Commit"
	hdrChunks = "Plume-Chunks"
)

// writeLog writes a Commit's log entry and waits for every chunk's
// acknowledgement. Each chunk has a Msg-Id unique to the node, the Commit
// and the chunk, so that the one retry of a chunk whose acknowledgement
// was lost is not stored twice.
func (s *Store) writeLog(ctx context.Context, no uint64, entry []byte) error {
	k := max((len(entry)+s.chunk-1)/s.chunk, 1)
	msgs := make([]*nats.Msg, k)
	futs := make([]jetstream.PubAckFuture, k)
	id := func(i int) string { return s.names.node + "." + strconv.FormatUint(no, 10) + "." + strconv.Itoa(i) }
	for i := range msgs {
		if s.crash != nil && s.crash("log", i) {
			for _, f := range futs[:i] {
				<-f.Ok()
			}
			return errCrashed
		}
		m := nats.NewMsg(s.names.logChunk(i))
		m.Data = entry[i*s.chunk : min((i+1)*s.chunk, len(entry))]
		m.Header.Set(hdrCommit, strconv.FormatUint(no, 10))
		m.Header.Set(hdrChunks, strconv.Itoa(k))
		m.Header.Set(jetstream.MsgIDHeader, id(i)) // kept for a retry (republish)
		msgs[i] = m
		f, err := s.js.PublishMsgAsync(m)
		if err != nil {
			return fmt.Errorf("chunk %d of commit %d: %w", i, no, err)
		}
		futs[i] = f
	}
	for i, f := range futs {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			// Retried synchronously while the error passes (republish): the
			// Msg-Id makes a chunk that was stored after all count once.
			if _, err := s.republish(ctx, msgs[i], err); err != nil {
				return fmt.Errorf("chunk %d of commit %d: %w", i, no, err)
			}
		case <-ctx.Done():
			return fmt.Errorf("chunk %d of commit %d: %w", i, no, ctx.Err())
		}
	}
	return nil
}

// markDone records that Commit no is applied, without waiting: the next
// Commit waits for it (settleDone) before it writes anything.
func (s *Store) markDone(no uint64) {
	s.undone, s.done = no, nil
	if s.crash != nil && s.crash("done", 0) {
		return // the marker is lost
	}
	m := nats.NewMsg(s.names.logDone())
	m.Data = strconv.AppendUint(nil, no, 10)
	if f, err := s.js.PublishMsgAsync(m); err == nil {
		s.done = f
	}
	// On an error settleDone writes it again.
}

// settleDone makes sure the last logged Commit is marked done before any
// other write: Open applies a Commit not marked done again, and that must
// not undo a later write — a one-write Commit, which has no log entry of
// its own (TestLostDoneMarkerDoesNotUndoALaterCommit).
func (s *Store) settleDone(ctx context.Context) error {
	if s.undone == 0 {
		return nil
	}
	if f := s.done; f != nil {
		select {
		case <-f.Ok():
			s.undone, s.done = 0, nil
			return nil
		case err := <-f.Err():
			// The future gives its error once: forget it, or the next
			// Commit, should the rewrite below fail, waits on it for its
			// whole deadline, and so does every one after it.
			s.done = nil
			s.log.Warn().Err(err).Str("node", s.cfg.Node).Uint64("commit", s.undone).
				Msg("jetstream store: done marker not written; writing it again")
		case <-ctx.Done():
			return fmt.Errorf("done marker of commit %d: %w", s.undone, ctx.Err())
		}
	}
	if _, err := s.js.Publish(ctx, s.names.logDone(), strconv.AppendUint(nil, s.undone, 10)); err != nil {
		return fmt.Errorf("done marker of commit %d: %w", s.undone, err)
	}
	s.undone, s.done = 0, nil
	return nil
}

// recoverLog finishes this node's last Commit if a crash interrupted it,
// and sets the number of the next.
func (s *Store) recoverLog(ctx context.Context) error {
	next, err := s.replayLog(ctx, &s.names, func() func() { return func() {} })
	if err != nil {
		return err
	}
	s.next = next
	return nil
}

// FinishCommitsOf applies the last Commit another node logged and did not
// mark done, as that node's own Open would: a node killed between logging a
// Commit and applying it leaves its sessions' state half written (a
// Forward in the ingest, the publisher's inbound QoS 2 id not yet in its
// queue stream) until it restarts. A node that takes over or adopts the
// dead node's sessions calls it first, so that it reads them whole
// (decision 0056): without it a QoS 2 publisher's resend after the move
// was taken for a new message. Every write is idempotent; the dead node,
// should it come back meanwhile, applies the same entry again.
func (s *Store) FinishCommitsOf(ctx context.Context, node string) error {
	if node == s.cfg.Node {
		return nil
	}
	// One at a time per node: each CONNECT that finds the dead node's
	// session half moved calls this (seed 1796089859341961506: six at
	// once). Their applies already ran one after another (s.mu), but each
	// wrote the move's tombstone and then its record again, and another
	// node reading between two of them found no session. Waiting here,
	// the next one reads the done marker the first wrote, and applies
	// nothing.
	mu, _ := s.finishing.LoadOrStore(node, new(sync.Mutex))
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()
	n := newNames(s.cfg.Prefix, node, s.cfg.Shards)
	// The reads go without s.mu (a stream between leaders may keep them
	// waiting); the writes take it, as a Commit's do (fence.go).
	if _, err := s.replayLog(ctx, &n, func() func() {
		s.mu.Lock()
		return s.mu.Unlock
	}); err != nil {
		return fmt.Errorf("jetstream store: commits of %q: %w", node, err)
	}
	return nil
}

// replayLog applies the last Commit logged under n if it is not marked
// done, and returns the number the next Commit there takes. lock is held
// while it writes.
func (s *Store) replayLog(ctx context.Context, n *names, lock func() (unlock func())) (uint64, error) {
	// Room for a few attempts (logRead) through the leader election a
	// node's restart may cause.
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout*12)
	defer cancel()
	done, err := s.logNumber(ctx, n.logDone())
	if err != nil {
		return 0, err
	}
	first, err := s.logRead(ctx, n.logChunk(0))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return done + 1, nil
	}
	if err != nil {
		return 0, fmt.Errorf("chunk 0: %w", err)
	}
	no, k, err := chunkHeaders(first)
	if err != nil {
		return 0, err
	}
	next := max(no, done) + 1
	if no <= done {
		return next, nil
	}
	entry := append([]byte(nil), first.Data...)
	for i := 1; i < k; i++ {
		m, err := s.logRead(ctx, n.logChunk(i))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return next, s.incomplete(no, i, k)
		}
		if err != nil {
			return 0, fmt.Errorf("chunk %d: %w", i, err)
		}
		if c, _, err := chunkHeaders(m); err != nil {
			return 0, err
		} else if c != no {
			return next, s.incomplete(no, i, k)
		}
		entry = append(entry, m.Data...)
	}
	acts, err := decodePlan(entry)
	if err != nil {
		return 0, fmt.Errorf("commit %d: %w", no, err)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), s.deadline(len(acts)))
	defer cancel2()
	var replay *replayFence // nil: this node's own commit, fenced as its live writes are
	if n.node != s.names.node {
		replay = newReplayFence(n.node, no)
	}
	if acts, err = s.fenceReplay(ctx2, acts, replay); err != nil {
		return 0, fmt.Errorf("applying commit %d again: %w", no, err)
	}
	if s.crash != nil && s.crash("replay-read", 0) {
		return 0, errCrashed
	}
	unlock := lock()
	defer unlock()
	if s.closed {
		return 0, session.ErrClosed
	}
	if err := s.applyAs(ctx2, acts, replay); err != nil {
		return 0, fmt.Errorf("applying commit %d again: %w", no, err)
	}
	if _, err := s.js.Publish(ctx2, n.logDone(), strconv.AppendUint(nil, no, 10)); err != nil {
		return 0, fmt.Errorf("done marker of commit %d: %w", no, err)
	}
	s.log.Info().Str("node", untokenOr(n.node)).Uint64("commit", no).Int("writes", len(acts)).
		Msg("jetstream store: applied again the last commit, which a crash had interrupted")
	return next, nil
}

// fenceReplay fences the writes of a commit applied again after a crash
// as the node's live writes are fenced (fence.go): while this node was
// down another node may have claimed a session the commit writes — a
// survivor that took it from the store as it was — and the commit, applied
// whole or not before the crash, must not write that session again. It
// would bring back the deliveries the new owner has since completed
// (TestFaultKill9 seed 1796056886957813969: n3's replay put back s3's QoS 2
// deliveries that n1 had released, and n2 sent them again under the packet
// ids the client had finished). A session another node owns is marked lost
// (its writes are skipped, and the broker told, SetOnLost); one this node
// owns is written conditionally on its current revision.
//
// A node finishing a dead node's commit (FinishCommitsOf; replay is then
// not nil) drops the writes of the sessions the dead node no longer owns,
// notes the revision of every other record in replay, and leaves this
// node's own fencing state alone: it returns the writes to make.
func (s *Store) fenceReplay(ctx context.Context, acts []action, replay *replayFence) ([]action, error) {
	gone := map[string]bool{}
	seen := map[string]bool{}
	for _, a := range acts {
		tok, _ := s.fenceTarget(a.subject)
		if tok == "" || seen[tok] {
			continue
		}
		seen[tok] = true
		if replay != nil {
			last, err := request(ctx, s.cfg.Timeout, func(ctx context.Context) (*jetstream.RawStreamMsg, error) {
				return s.lastOf(ctx, "KV_"+s.names.bucket, s.names.kvStem+tok)
			})
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				last, err = nil, nil
			}
			if err != nil {
				return nil, fmt.Errorf("record of %s: %w", tok, err)
			}
			replay.expect(tok, last)
			if last != nil && !tombstone(last.Header) {
				owner, _, err := readString(last.Data)
				if err != nil {
					return nil, fmt.Errorf("owner of %s: %w", tok, err)
				}
				gone[tok] = token(owner) != replay.node
			}
			continue
		}
		e, err := request(ctx, s.cfg.Timeout, func(ctx context.Context) (keyEntry, error) {
			return s.getKey(ctx, tok)
		})
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("owner of %s: %w", tok, err)
		}
		owner, _, err := readString(e.value)
		if err != nil {
			return nil, fmt.Errorf("owner of %s: %w", tok, err)
		}
		s.mu.Lock()
		if owner != s.cfg.Node {
			s.lose(tok)
		} else {
			s.fence.revs[tok] = e.revision
		}
		s.mu.Unlock()
	}
	if replay == nil {
		return acts, nil
	}
	return slices.DeleteFunc(acts, func(a action) bool {
		tok, _ := s.fenceTarget(a.subject)
		return gone[tok]
	}), nil
}

// incomplete is a log entry whose writing a crash cut short: its Commit
// applied nothing and never returned nil.
func (s *Store) incomplete(no uint64, i, k int) error {
	s.log.Info().Str("node", s.cfg.Node).Uint64("commit", no).Int("chunks", i).Int("of", k).
		Msg("jetstream store: the last commit was not logged whole; nothing of it was applied")
	return nil
}

// logRead reads the log's last message on subject, each attempt with its
// own timeout (request): a stream between leaders leaves the read
// unanswered, which a restarted node meets (test/cluster's restart of n3
// waited out the whole recovery on one read).
func (s *Store) logRead(ctx context.Context, subject string) (*jetstream.RawStreamMsg, error) {
	return request(ctx, s.cfg.Timeout, func(ctx context.Context) (*jetstream.RawStreamMsg, error) {
		return s.logs.GetLastMsgForSubject(ctx, subject)
	})
}

func (s *Store) logNumber(ctx context.Context, subject string) (uint64, error) {
	m, err := s.logRead(ctx, subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("%s: %w", subject, err)
	}
	n, err := strconv.ParseUint(string(m.Data), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %q: %w", subject, m.Data, codec.ErrCorrupt)
	}
	return n, nil
}

func chunkHeaders(m *jetstream.RawStreamMsg) (no uint64, k int, err error) {
	no, err1 := strconv.ParseUint(m.Header.Get(hdrCommit), 10, 64)
	k, err2 := strconv.Atoi(m.Header.Get(hdrChunks))
	if err1 != nil || err2 != nil || k < 1 {
		return 0, 0, fmt.Errorf("log message %s (%s %q, %s %q): %w", m.Subject, hdrCommit, m.Header.Get(hdrCommit),
			hdrChunks, m.Header.Get(hdrChunks), codec.ErrCorrupt)
	}
	return no, k, nil
}

// untokenOr is t's node name for a log line, or t if it is not a token.
func untokenOr(t string) string {
	if s, err := untoken(t); err == nil {
		return s
	}
	return t
}
