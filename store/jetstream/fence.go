package jetstream

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Fencing (decision 0056). Once another node claimed a session (Claim, on
// the record's revision), this node's writes of that session must not
// overwrite the new owner's: a node cut off, or slow to let go, may still be
// committing for it. So every write of a session record that this node
// knows the revision of is conditional on it (the stream leader checks
// Nats-Expected-Last-Subject-Sequence); the server refusing it means
// another node wrote the record since: the session is lost to this node.
// From then on the store drops every write of that client (record,
// deliveries, inbound ids, the purge of a DeleteSession, which would empty
// the new owner's queue) and tells the broker (SetOnLost), which drops the
// session without writing anything more.
//
// Not fenced: a record this node has not loaded, written or claimed since
// it opened the store (its revision is unknown until the first write is
// acknowledged), the writes of a Commit replayed from the log after a crash
// (the log does not keep revisions; fenceReplay drops those of sessions
// the node no longer owns), and deliveries written between the claim and
// this node's next write of the record. Another node's Commit applied
// again (FinishCommitsOf) is fenced on its own terms (replayfence.go).

// fenceState is the store's view of which sessions it owns; under Store.mu.
type fenceState struct {
	revs   map[string]uint64   // token(client) -> revision of the record as this node last wrote or claimed it
	lost   map[string]struct{} // token(client) of sessions another node took
	tombs  map[string]struct{} // revs that are a tombstone's: forgotten after the Commit
	onLost func(client string)
}

// forgetTombstones forgets the revisions of the tombstones the last apply
// wrote (settle). s.mu is held.
func (s *Store) forgetTombstones() {
	for tok := range s.fence.tombs {
		delete(s.fence.revs, tok)
		delete(s.fence.tombs, tok)
	}
}

// SetOnLost sets what the store calls, on a goroutine of its own, when it
// finds that another node took a session over: the broker forgets it
// (broker.Forget). Sessions found lost before — by the commit a restart
// applies again, before the broker exists — are reported at once: the
// broker loaded them, and would otherwise route to them and resume their
// clients from a stale copy (TestFaultKill9 seed 1796056886957813969: a
// restarted n2 served s2 its old queue, ~470 messages a second time).
func (s *Store) SetOnLost(fn func(client string)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fence.onLost = fn
	if fn == nil {
		return
	}
	for tok := range s.fence.lost {
		if client, err := untoken(tok); err == nil {
			go fn(client)
		}
	}
}

// fenceTarget is a write's client, for the fence: its token ("" when the
// write is nobody's: messages, retained, the log) and whether it is the
// session record.
func (s *Store) fenceTarget(subject string) (tok string, record bool) {
	if rest, ok := strings.CutPrefix(subject, s.names.kvStem); ok {
		return rest, true
	}
	rest, ok := strings.CutPrefix(subject, s.names.prefix+".q.")
	if !ok {
		return "", false
	}
	_, rest, _ = strings.Cut(rest, ".") // the shard
	if rest, ok = strings.CutPrefix(rest, "c."); !ok {
		return "", false
	}
	tok, _, _ = strings.Cut(rest, ".")
	return tok, false
}

// isLost says whether another node took the session of tok. s.mu is held.
func (s *Store) isLost(tok string) bool {
	_, ok := s.fence.lost[tok]
	return ok
}

// condition makes m, a write of tok's record, conditional on the revision
// this node knows. s.mu is held.
func (s *Store) condition(tok string, m *nats.Msg) {
	rev, ok := s.fence.revs[tok]
	if ok {
		m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(rev, 10))
	}
	if m.Header.Get(kvOperation) != "" {
		// A tombstone has no data to know it by: recheck finds this very
		// one by who wrote it on which revision.
		m.Header.Set(hdrTombstoneBy, s.cfg.Node+"@"+strconv.FormatUint(rev, 10))
	}
}

// hdrTombstoneBy names the node that wrote a record's tombstone, and the
// revision it was written on (condition).
const hdrTombstoneBy = "Plume-Tombstone-By"

// fenceWrite is a record write in flight, for settle.
type fenceWrite struct {
	tok string // "" for any other write
	del bool
}

// settle notes the outcome of a record write: its revision, or, when the
// server refused its condition, the session lost. It reports whether err
// is that refusal (the write is then dropped, not failed). s.mu is held.
func (s *Store) settle(w fenceWrite, ack *jetstream.PubAck, err error) bool {
	if w.tok == "" {
		return false
	}
	if err == nil {
		s.fence.revs[w.tok] = ack.Sequence
		if w.del {
			// The server replaces an expired tombstone with a marker of its
			// own, whose revision no later write can know: the tombstone's
			// holds for the rest of this Commit (a PutSession after the
			// DeleteSession of a move), and is forgotten after it.
			s.fence.tombs[w.tok] = struct{}{}
		} else {
			delete(s.fence.tombs, w.tok)
		}
		return false
	}
	if !refused(err) {
		return false
	}
	s.lose(w.tok)
	return true
}

// lose marks the session of tok taken by another node. s.mu is held.
func (s *Store) lose(tok string) {
	if s.isLost(tok) {
		return
	}
	s.fence.lost[tok] = struct{}{}
	delete(s.fence.revs, tok)
	client, _ := untoken(tok)
	s.log.Warn().Str("client_id", client).Str("node", s.cfg.Node).
		Msg("jetstream store: session claimed by another node; this node's writes of it are dropped")
	if fn := s.fence.onLost; fn != nil {
		go fn(client)
	}
}

// owned records that this node claimed tok's record at rev. s.mu is held.
func (s *Store) owned(tok string, rev uint64) {
	delete(s.fence.lost, tok)
	s.fence.revs[tok] = rev
}

// loadedRevision notes the revision of a record of this node that Load
// read, so that the node's first write of it after a restart is fenced
// too. s.mu is held.
func (s *Store) loadedRevision(m jetstream.Msg) {
	if md, err := m.Metadata(); err == nil {
		s.fence.revs[strings.TrimPrefix(m.Subject(), s.names.kvStem)] = md.Sequence.Stream
	}
}

// forgetRevision forgets the revision Load noted for the key of m when a
// later message of the key (a tombstone, another node's claim) replaces
// the record it noted it for. s.mu is held.
func (s *Store) forgetRevision(m jetstream.Msg) {
	if m.Headers().Get(hdrBarrier) == "" {
		delete(s.fence.revs, strings.TrimPrefix(m.Subject(), s.names.kvStem))
	}
}

// refused reports whether err is the server refusing a write's condition.
func refused(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence
}

// recheck reads a record once after the server refused a write of it as a
// wrong last sequence (err), and tells what came between:
//   - this very write, stored by an earlier attempt — unanswered (a leader
//     killed after its replicas had it), or answered after its Commit
//     failed, which the journal then gives again (decision 0059): it took,
//     and its sequence is the revision;
//   - a record that still names this node: the write in between was this
//     node's own — one whose acknowledgement timed out and that republish
//     sent again on the old revision, or this node's last commit applied
//     again by another node (FinishCommitsOf) — so the session is not lost
//     (TestFaultKill9 seed 1796066723011425782: declared lost, s1 lost 88
//     messages the broker dropped with it); the revision is noted, and the
//     Commit fails, to be given again on it;
//   - this very tombstone, stored by an earlier attempt: it names the node
//     and the revision it was written on (hdrTombstoneBy);
//   - anything else (another node's claim, another tombstone): err as it
//     is, and settle counts the session lost.
//
// s.mu is held.
func (s *Store) recheck(ctx context.Context, m *nats.Msg, tok string, err error) (*jetstream.PubAck, error) {
	last, rerr := request(ctx, s.cfg.Timeout, func(ctx context.Context) (*jetstream.RawStreamMsg, error) {
		return s.lastOf(ctx, "KV_"+s.names.bucket, m.Subject)
	})
	if rerr != nil {
		return nil, err
	}
	if sameWrite(m, last) {
		// This very write, stored by an earlier attempt; a tombstone too
		// (TestFaultKill9 seed 1796106328003761796: a move's tombstone of
		// p1q1, counted lost, left the session deleted, and its client
		// got a fresh one).
		return &jetstream.PubAck{Sequence: last.Sequence}, nil // settle reads the sequence
	}
	if last.Header.Get(kvOperation) != "" {
		return nil, err
	}
	if owner, _, oerr := readString(last.Data); oerr == nil && owner == s.cfg.Node {
		s.fence.revs[tok] = last.Sequence
		return nil, fmt.Errorf("record %s: this node's own earlier write came between (%v); written again on its revision", m.Subject, err)
	}
	return nil, err
}
