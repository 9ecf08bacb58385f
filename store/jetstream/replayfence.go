package jetstream

import (
	"bytes"
	"context"
	"errors"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Another node's commit applied again (FinishCommitsOf) is fenced on what
// its sessions' records were when the replay read them (decision 0069).
// The replay's reads and writes are seconds apart when streams are between
// leaders, and in those seconds the dead node may come back and write the
// session again (its own replay, a let-go, a move), or a second node may
// finish the same commit. Written blind, the replay's tombstone of a move
// landed after those writes, and the next CONNECT found no session. So
// every record write of the replay is conditional on the revision the
// replay expects, which its own acknowledged writes advance; refused, the
// replay leaves that session alone: the rest of its writes of it are
// dropped. The one exception is the same write made by another node
// finishing the same commit: the replay takes it as its own and goes on.

// replayFence is the fencing state of one foreign replay.
type replayFence struct {
	revs    map[string]uint64 // token -> the record's revision as the replay expects it (0: no message)
	deleted map[string]bool   // the expected revision is a tombstone's, or the server's marker
	left    map[string]bool   // written by someone else since: the replay drops the rest
	node    string            // token of the node whose commit this is
	by      string            // names the commit's tombstones, the same from any replaying node
}

// newReplayFence starts the fence of commit, logged by node (its token).
func newReplayFence(node string, commit uint64) *replayFence {
	return &replayFence{revs: map[string]uint64{}, deleted: map[string]bool{}, left: map[string]bool{},
		node: node, by: untokenOr(node) + "#" + strconv.FormatUint(commit, 10)}
}

// expect notes the record of tok as the replay read it: last, or nil when
// the subject holds no message.
func (f *replayFence) expect(tok string, last *jetstream.RawStreamMsg) {
	if last == nil {
		f.revs[tok], f.deleted[tok] = 0, true
		return
	}
	f.revs[tok], f.deleted[tok] = last.Sequence, tombstone(last.Header)
}

// condition makes m, a record write of tok, conditional on the revision
// the replay expects.
func (f *replayFence) condition(tok string, m *nats.Msg) {
	rev := f.revs[tok]
	m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(rev, 10))
	if m.Header.Get(kvOperation) != "" {
		m.Header.Set(hdrTombstoneBy, f.by+"@"+strconv.FormatUint(rev, 10))
	}
}

// settle notes the outcome of a record write of tok, and reports whether
// the replay dropped it (and drops the rest of tok's writes): refused, and
// not the same write stored by another replay of the commit. A refusal
// because the tombstone the replay expected expired meanwhile (the server
// removes it, then its own marker) is no write in between: m is written
// again on an empty subject. s.mu is held.
func (f *replayFence) settle(ctx context.Context, s *Store, tok string, m *nats.Msg, ack *jetstream.PubAck, err error) (bool, error) {
	if err == nil {
		f.revs[tok], f.deleted[tok] = ack.Sequence, m.Header.Get(kvOperation) != ""
		return false, nil
	}
	if !refused(err) {
		return false, err
	}
	last, rerr := request(ctx, s.cfg.Timeout, func(ctx context.Context) (*jetstream.RawStreamMsg, error) {
		return s.lastOf(ctx, "KV_"+s.names.bucket, m.Subject)
	})
	switch {
	case errors.Is(rerr, jetstream.ErrMsgNotFound) && f.deleted[tok]:
		f.revs[tok], f.deleted[tok] = 0, false // once: an empty subject is not refused twice
		again := nats.NewMsg(m.Subject)
		again.Data, again.Header = m.Data, m.Header
		f.condition(tok, again)
		ack, err = s.js.PublishMsg(ctx, again)
		return f.settle(ctx, s, tok, again, ack, err)
	case rerr != nil:
		return false, errors.Join(err, rerr)
	case sameWrite(m, last):
		f.revs[tok], f.deleted[tok] = last.Sequence, tombstone(last.Header)
		return false, nil
	}
	f.left[tok] = true
	client, _ := untoken(tok)
	s.log.Info().Str("client_id", client).Str("commit", f.by).Uint64("revision", last.Sequence).
		Msg("jetstream store: a dead node's commit applied again found its session written since; that session's writes are left out")
	return true, nil
}

// sameWrite reports whether last, a record's last message, is m: the same
// put, or the same tombstone (hdrTombstoneBy names the commit and the
// revision it was written on).
func sameWrite(m *nats.Msg, last *jetstream.RawStreamMsg) bool {
	if by := m.Header.Get(hdrTombstoneBy); by != "" {
		return last.Header.Get(hdrTombstoneBy) == by
	}
	return !tombstone(last.Header) && bytes.Equal(last.Data, m.Data)
}
