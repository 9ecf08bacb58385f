package jetstream

import (
	"context"
	"encoding/binary"
	"errors"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// A node's ingest positions (decision 0055) are last-value puts, one
// subject per shard, and must never go back: a position behind the
// deliveries committed with it makes the node read those messages again
// after a restart and deliver them as new — QoS 2 twice (TestFaultKill9
// seed 1796068220581931229: a position write of the shard timed out while
// stream leaders were elected, and the subscriber got 45 completed QoS 2
// messages again after the next restart). A write whose acknowledgement
// timed out may still be stored later, after newer ones. So each position
// write is conditional on the subject's sequence as this node last wrote
// or read it: a stale write that lands late is refused by the server, and
// a refusal of this node's own write is settled by reading what is there
// (reconcilePosition).

// posWrite is a position write in flight, for wait: value is what it puts.
type posWrite struct {
	subject string
	value   uint64
}

// isOwnPosition reports whether a is a put of one of this node's positions.
func (s *Store) isOwnPosition(a action) bool {
	return a.kind == actPut && len(a.data) == 8 && s.names.isPosition(a.subject)
}

// conditionPosition makes m, a put of this node's position, conditional on
// the subject's last sequence as known here (0: none stored). s.mu is held.
func (s *Store) conditionPosition(m *nats.Msg) {
	m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(s.posSeq[m.Subject], 10))
}

// settlePosition records a position write's outcome. A refusal of the
// condition is this node's own write whose sequence it did not learn (an
// attempt unanswered, then stored) or a stale one: what is stored decides
// (reconcilePosition). It returns the error that remains. s.mu is held.
func (s *Store) settlePosition(ctx context.Context, w posWrite, ack *jetstream.PubAck, err error) error {
	if err == nil {
		s.posSeq[w.subject] = ack.Sequence
		return nil
	}
	if !refused(err) {
		return err
	}
	return s.reconcilePosition(ctx, w)
}

// reconcilePosition reads the position stored for w's subject: at or past
// w's value, it stands (w was stale, or stored already); behind it, w is
// written again on the sequence read. s.mu is held.
func (s *Store) reconcilePosition(ctx context.Context, w posWrite) error {
	for range 3 {
		last, err := request(ctx, s.cfg.Timeout, func(ctx context.Context) (*jetstream.RawStreamMsg, error) {
			return s.pos.GetLastMsgForSubject(ctx, w.subject)
		})
		var seq uint64
		switch {
		case errors.Is(err, jetstream.ErrMsgNotFound):
		case err != nil:
			return err
		default:
			seq = last.Sequence
			if len(last.Data) == 8 && binary.BigEndian.Uint64(last.Data) >= w.value {
				s.posSeq[w.subject] = seq
				return nil
			}
		}
		m := nats.NewMsg(w.subject)
		m.Data = binary.BigEndian.AppendUint64(nil, w.value)
		m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(seq, 10))
		ack, err := request(ctx, s.cfg.Timeout, func(ctx context.Context) (*jetstream.PubAck, error) {
			return s.js.PublishMsg(ctx, m)
		})
		if err == nil {
			s.posSeq[w.subject] = ack.Sequence
			return nil
		}
		if !refused(err) {
			return err
		}
	}
	return errors.New("position " + w.subject + ": refused three times")
}
