package jetstream

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/plumemq/plume/core/session"
	"github.com/plumemq/plume/store/internal/codec"
)

// A Commit becomes a plan: the writes to JetStream that apply its ops, in
// order. The plan is what the commit log holds (log.go): replaying it after
// a crash repeats the same writes, and every write is idempotent — a put or
// a tombstone replaces the one message of its subject (MaxMsgsPerSubject
// 1), a purge of what is gone purges nothing.
type actKind byte

const (
	actPut   actKind = 1 // data becomes the subject's one message
	actDel   actKind = 2 // a tombstone replaces it, and expires (tombstoneTTL)
	actPurge actKind = 3 // subject is a filter; data names the stream
	// actForward appends to the ingest (decision 0055): data is the
	// Msg-Id (appendString) then the payload; the stream's dedup window
	// makes a repeated write count once.
	actForward actKind = 4
	// actMark follows a client's purge (purge.go): a marker every read
	// takes for the point before which that client's messages are gone.
	actMark actKind = 5
)

type action struct {
	kind    actKind
	subject string
	data    []byte
}

// planVersion starts every encoded plan.
const planVersion = 1

// plan turns ops into writes. It fails, before anything is written, on an
// op the store cannot keep (a record of an unknown version, a message with
// properties no store keeps). The Forwards to one ingest shard become one
// write (pack.go); the packer returned knows their batches, which a Commit
// that fails remembers for the next (Store.retried).
func (s *Store) plan(ops []session.Op) ([]action, *packer, error) {
	acts := make([]action, 0, len(ops))
	n := &s.names
	pk := s.newPacker()
	for i := range ops {
		op := &ops[i]
		switch op.Kind {
		case session.PutSession:
			v, err := codec.AppendRecord(appendCarried(appendString(nil, s.cfg.Node), op.Record.Carried), op.Record)
			if err != nil {
				return nil, nil, err
			}
			acts = append(acts, action{actPut, n.sessionSubject(op.Record.ID), v})
		case session.DeleteSession:
			acts = append(acts, action{actDel, n.sessionSubject(op.Client), nil},
				action{actPurge, n.clientPrefix(op.Client) + ">", []byte(n.queueStream(n.shardOf(op.Client)))},
				action{actMark, n.purgeMarker(op.Client), nil})
		case session.PutMessage:
			v, err := codec.AppendMessage(nil, op.Message)
			if err != nil {
				return nil, nil, err
			}
			acts = append(acts, action{actPut, n.messageSubject(n.node, op.Message.ID), v})
		case session.DeleteMessage:
			acts = append(acts, action{actDel, n.messageSubject(n.node, op.MessageID), nil})
		case session.PutDelivery:
			// The delivery names its message's node: message ids are each
			// node's own, and a session that moves keeps its deliveries.
			v := codec.AppendDelivery(appendString(nil, s.cfg.Node), &op.Delivery)
			acts = append(acts, action{actPut, s.deliverySubject(op.Client, op.Delivery.Seq), v})
		case session.DeleteDelivery:
			acts = append(acts, action{actDel, s.deliverySubject(op.Client, op.Seq), nil})
		case session.PutInbound:
			acts = append(acts, action{actPut, n.inboundSubject(op.Client, op.PacketID), []byte{}})
		case session.DeleteInbound:
			acts = append(acts, action{actDel, n.inboundSubject(op.Client, op.PacketID), nil})
		case session.PutRetained:
			v, err := codec.AppendMessage(nil, op.Message)
			if err != nil {
				return nil, nil, err
			}
			acts = append(acts, action{actPut, n.retainedSubject(op.Message.Topic), v})
		case session.DeleteRetained:
			acts = append(acts, action{actDel, n.retainedSubject(op.Topic), nil})
		case session.Forward:
			f := op.Forward
			if f == nil || !strings.HasPrefix(f.Subject, n.prefix+".in.") || f.ID == "" {
				return nil, nil, fmt.Errorf("op %d: forward to %v: not an ingest subject of this store, or no id", i, f)
			}
			var err error
			if acts, err = pk.add(acts, f); err != nil {
				return nil, nil, fmt.Errorf("op %d: %w", i, err)
			}
		case session.Position:
			if int(op.Shard) >= s.cfg.Shards {
				return nil, nil, fmt.Errorf("op %d: position of shard %d: the store has %d", i, op.Shard, s.cfg.Shards)
			}
			acts = append(acts, action{actPut, n.positionSubject(int(op.Shard)), binary.BigEndian.AppendUint64(nil, op.Seq)})
		default:
			return nil, nil, fmt.Errorf("op %d: %v (kind %d)", i, op.Kind, op.Kind)
		}
	}
	return pk.finish(acts), pk, nil
}

// legacyKey is a delivery this node loaded at its subject of before
// decision 0062.
type legacyKey struct {
	client string
	seq    uint64
}

// deliverySubject is where this node writes a delivery of client: where
// Load found it, for one an earlier version stored, so that its changes and
// its deletion replace it. s.mu is held.
func (s *Store) deliverySubject(client string, seq uint64) string {
	if _, ok := s.legacy[legacyKey{client, seq}]; ok {
		return s.names.legacyDeliverySubject(client, seq)
	}
	return s.names.deliverySubject(client, seq)
}

func appendString(dst []byte, s string) []byte {
	return append(binary.AppendUvarint(dst, uint64(len(s))), s...)
}

// readString reads what appendString wrote and returns the rest.
func readString(b []byte) (string, []byte, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return "", nil, fmt.Errorf("bad string prefix: %w", codec.ErrCorrupt)
	}
	return string(b[k : k+int(n)]), b[k+int(n):], nil
}

func encodePlan(acts []action) []byte {
	size := 8
	for _, a := range acts {
		size += 12 + len(a.subject) + len(a.data)
	}
	b := binary.AppendUvarint(make([]byte, 0, size), planVersion)
	b = binary.AppendUvarint(b, uint64(len(acts)))
	for _, a := range acts {
		b = append(b, byte(a.kind))
		b = appendString(b, a.subject)
		b = append(binary.AppendUvarint(b, uint64(len(a.data))), a.data...)
	}
	return b
}

func decodePlan(b []byte) ([]action, error) {
	v, k := binary.Uvarint(b)
	if k <= 0 || v != planVersion {
		return nil, fmt.Errorf("commit log entry of version %d: %w", v, session.ErrUnknownVersion)
	}
	b = b[k:]
	count, k := binary.Uvarint(b)
	if k <= 0 || count > uint64(len(b)) {
		return nil, fmt.Errorf("commit log entry: bad count: %w", codec.ErrCorrupt)
	}
	b = b[k:]
	acts := make([]action, 0, count)
	for range count {
		if len(b) == 0 || b[0] < byte(actPut) || b[0] > byte(actMark) {
			return nil, fmt.Errorf("commit log entry: bad action: %w", codec.ErrCorrupt)
		}
		a := action{kind: actKind(b[0])}
		var err error
		if a.subject, b, err = readString(b[1:]); err != nil {
			return nil, fmt.Errorf("commit log entry: %w", err)
		}
		var data string
		if data, b, err = readString(b); err != nil {
			return nil, fmt.Errorf("commit log entry: %w", err)
		}
		a.data = []byte(data)
		acts = append(acts, a)
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("commit log entry: %d bytes left over: %w", len(b), codec.ErrCorrupt)
	}
	return acts, nil
}
