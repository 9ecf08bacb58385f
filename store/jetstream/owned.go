package jetstream

import (
	"context"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/plumemq/plume/core/session"
)

// Owned returns the client ids of the sessions whose record node wrote
// last: what a survivor adopts when node left the cluster (decision 0056).
// It reads the whole sessions bucket with one ephemeral consumer, as Load
// does.
func (s *Store) Owned(ctx context.Context, node string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, fmt.Errorf("jetstream store: %w", session.ErrClosed)
	}
	var ids []string
	err := s.readAll(ctx, s.kvStream(), []string{s.names.kvStem + ">"}, s.names.kvBarrier(), func(m jetstream.Msg) error {
		if tombstone(m.Headers()) || m.Headers().Get(hdrBarrier) != "" {
			return nil
		}
		owner, _, err := readString(m.Data())
		if err != nil || owner != node {
			return nil //nolint:nilerr // a damaged record is Load's to report, not adoption's
		}
		id, err := untoken(strings.TrimPrefix(m.Subject(), s.names.kvStem))
		if err == nil {
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("jetstream store: sessions of %q: %w", node, err)
	}
	return ids, nil
}
