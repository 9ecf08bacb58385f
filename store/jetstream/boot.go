package jetstream

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/plumemq/plume/store/internal/codec"
)

// Boot records (decision 0063). A node's ingest envelopes are numbered by
// a counter that goes on across its restarts: each process starts it at
// the clock, in ns (cluster/fabric). A catch-up from a dead node's
// positions skips that node's own messages — its sessions had them from
// the moment it accepted them — but only those of the processes that held
// the session: a process started after another node took the session did
// not route its own messages to it. So each process records, before it
// forwards anything, where its counter starts: one message per start under
// PREFIX.pos.<node>.boot.<counter> in the positions stream, where the
// stream's sequence orders them. A node that takes a dead node's session
// notes the sequence of that node's latest start (LastBoot); its catch-up
// asks for the start after it (BootAfter), whose counter is where the
// messages to skip end.

// bootSubject is the subject of this node's start at counter.
func (n *names) bootSubject(counter uint64) string {
	return n.prefix + ".pos." + n.node + ".boot." + strconv.FormatUint(counter, 10)
}

// bootFilter takes every start record of the node of nodeToken.
func (n *names) bootFilter(nodeToken string) string {
	return n.prefix + ".pos." + nodeToken + ".boot.>"
}

// WriteBoot records that this process numbers its ingest envelopes from
// counter on. Call it before the process forwards anything.
func (s *Store) WriteBoot(ctx context.Context, counter uint64) error {
	subject := s.names.bootSubject(counter)
	data := binary.BigEndian.AppendUint64(nil, counter)
	if _, err := request(ctx, s.cfg.Timeout, func(ctx context.Context) (*jetstream.PubAck, error) {
		return s.js.Publish(ctx, subject, data)
	}); err != nil {
		return fmt.Errorf("jetstream store: start record of %q: %w", s.cfg.Node, err)
	}
	return nil
}

// LastBoot returns the stream sequence of node's latest start record, as
// the stream's leader has it; 0 when it has none (a node of a version
// before decision 0063).
func (s *Store) LastBoot(ctx context.Context, node string) (uint64, error) {
	m, err := request(ctx, s.cfg.Timeout, func(ctx context.Context) (*jetstream.RawStreamMsg, error) {
		return s.lastOf(ctx, s.names.positionStream(), s.names.bootFilter(token(node)))
	})
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("jetstream store: latest start of %q: %w", node, err)
	}
	return m.Sequence, nil
}

// BootAfter returns the counter at which node's first start after the one
// recorded at sequence seq numbered its envelopes, and false when node has
// not started since.
func (s *Store) BootAfter(ctx context.Context, node string, seq uint64) (uint64, bool, error) {
	m, err := request(ctx, s.cfg.Timeout, func(ctx context.Context) (*jetstream.RawStreamMsg, error) {
		return s.nextOf(ctx, s.names.positionStream(), s.names.bootFilter(token(node)), seq+1)
	})
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("jetstream store: start of %q after %d: %w", node, seq, err)
	}
	if len(m.Data) != 8 {
		return 0, false, fmt.Errorf("jetstream store: start record %s: %d bytes: %w", m.Subject, len(m.Data), codec.ErrCorrupt)
	}
	return binary.BigEndian.Uint64(m.Data), true, nil
}
