package session

import (
	"errors"
	"fmt"
	"slices"
	"sync"
)

// MemoryStore is a Store in maps, for tests and for embedders that restart a
// broker inside one process (hand the next broker the same MemoryStore).
// Durability: none past the value's life; a nil error means Load will return
// the write while the MemoryStore lives and is not closed. Safe for
// concurrent use.
type MemoryStore struct {
	mu         sync.Mutex
	sessions   map[string]Record // the session's own fields only
	deliveries map[string]map[uint64]Delivery
	inbound    map[string]map[uint16]struct{}
	messages   map[uint64]Message
	retained   map[string]Message
	positions  map[uint32]uint64
	closed     bool
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{
		sessions: map[string]Record{}, deliveries: map[string]map[uint64]Delivery{},
		inbound: map[string]map[uint16]struct{}{}, messages: map[uint64]Message{}, retained: map[string]Message{},
		positions: map[uint32]uint64{},
	}
}

// Commit applies ops in order, all or none.
func (m *MemoryStore) Commit(ops []Op) error {
	for i := range ops {
		if err := checkOp(&ops[i]); err != nil {
			if errors.Is(err, ErrUnknownVersion) {
				return err
			}
			return fmt.Errorf("%w: %w", ErrRejected, err)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	for i := range ops {
		m.apply(&ops[i])
	}
	return nil
}

// checkOp refuses what no store may write: an unknown kind or version.
func checkOp(op *Op) error {
	switch op.Kind {
	case PutSession:
		if op.Record.Version != FormatVersion {
			return fmt.Errorf("put session %q: version %d: %w (this store writes %d)", op.Record.ID, op.Record.Version, ErrUnknownVersion, FormatVersion)
		}
	case PutDelivery:
		if op.Delivery.Msg != nil && op.Delivery.Msg.ID == 0 {
			return fmt.Errorf("put delivery %d of %q: its message has no ID", op.Delivery.Seq, op.Client)
		}
	case PutMessage:
		if op.Message.ID == 0 {
			return fmt.Errorf("put message on %q: no ID", op.Message.Topic)
		}
	case Forward:
		if op.Forward == nil || op.Forward.Subject == "" {
			return fmt.Errorf("forward: no subject")
		}
	case DeleteSession, DeleteMessage, DeleteDelivery, PutInbound, DeleteInbound, PutRetained, DeleteRetained, Position:
	default:
		return fmt.Errorf("op %d: %s", op.Kind, op.Kind)
	}
	return nil
}

func (m *MemoryStore) apply(op *Op) {
	switch op.Kind {
	case PutSession:
		r := *op.Record
		r.Inflight, r.Queued, r.InboundQoS2 = nil, nil, nil
		m.sessions[r.ID] = r
	case DeleteSession:
		delete(m.sessions, op.Client)
		delete(m.deliveries, op.Client)
		delete(m.inbound, op.Client)
	case PutMessage:
		m.messages[op.Message.ID] = op.Message.Copy()
	case DeleteMessage:
		delete(m.messages, op.MessageID)
	case PutDelivery:
		ds := m.deliveries[op.Client]
		if ds == nil {
			ds = map[uint64]Delivery{}
			m.deliveries[op.Client] = ds
		}
		ds[op.Delivery.Seq] = op.Delivery
	case DeleteDelivery:
		delete(m.deliveries[op.Client], op.Seq)
	case PutInbound:
		in := m.inbound[op.Client]
		if in == nil {
			in = map[uint16]struct{}{}
			m.inbound[op.Client] = in
		}
		in[op.PacketID] = struct{}{}
	case DeleteInbound:
		delete(m.inbound[op.Client], op.PacketID)
	case PutRetained:
		m.retained[op.Message.Topic] = op.Message.Copy()
	case DeleteRetained:
		delete(m.retained, op.Topic)
	case Forward:
		// No other node reads this store: a forwarded message has nowhere
		// to go. Accepted, so that a cluster's broker runs on it in tests.
	case Position:
		m.positions[op.Shard] = op.Seq
	}
}

// Load returns everything stored, as the Store contract says.
func (m *MemoryStore) Load() (Snapshot, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return Snapshot{}, ErrClosed
	}
	var s Snapshot
	msgs := map[uint64]*Message{}
	for _, r := range m.sessions {
		var seqs []uint64
		for seq := range m.deliveries[r.ID] {
			seqs = append(seqs, seq)
		}
		slices.Sort(seqs)
		for _, seq := range seqs {
			d := m.deliveries[r.ID][seq]
			if id := idOf(d.Msg); id != 0 {
				msg, ok := msgs[id]
				if !ok {
					stored, found := m.messages[id]
					if !found {
						continue // its message is gone: see "What Load returns"
					}
					c := stored
					msg = &c
					msgs[id] = msg
				}
				d.Msg = msg
			}
			if d.PacketID != 0 {
				r.Inflight = append(r.Inflight, d)
			} else {
				r.Queued = append(r.Queued, d)
			}
		}
		for id := range m.inbound[r.ID] {
			r.InboundQoS2 = append(r.InboundQoS2, id)
		}
		slices.Sort(r.InboundQoS2)
		s.Sessions = append(s.Sessions, r)
	}
	for _, msg := range m.retained {
		s.Retained = append(s.Retained, msg.Copy())
	}
	for k, seq := range m.positions {
		for len(s.Positions) <= int(k) {
			s.Positions = append(s.Positions, 0)
		}
		s.Positions[k] = seq
	}
	return s, nil
}

func idOf(m *Message) uint64 {
	if m == nil {
		return 0
	}
	return m.ID
}

// Close makes later calls fail with ErrClosed; what was stored is dropped.
func (m *MemoryStore) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	m.sessions, m.deliveries, m.inbound, m.messages, m.retained, m.positions = nil, nil, nil, nil, nil, nil
	return nil
}
